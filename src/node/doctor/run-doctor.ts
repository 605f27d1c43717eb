/**
 * @module
 * `runDoctor(config, deps)`: every check of `kms-server doctor` (issue 15, item 1), as one
 * function the CLI and the operations listener's status page both call. It reads the chain,
 * the key store (read-only), the node's HTTP API and this machine; it **never writes**: no
 * transaction is sent, the store is opened through a read-only connection (or the running
 * node's own store is used, `deps.store`), nothing in the data directory changes.
 *
 * Checks that need something another check found missing (the chain, the store) are reported
 * as `warn` "not checked", so one cause fails once and the report still lists every check.
 *
 * While the node runs, its store is locked exclusively (`sqlite-key-store.ts`): the CLI then
 * asks the running node for its own store checks (`GET /doctor` on the operations listener),
 * which it runs with the store it holds.
 */
import { privateKeyToAccount } from 'viem/accounts';
import { createChainLedger, type ChainLedger } from '../../chain/chain-ledger.ts';
import { redactRpcUrl } from '../../chain/errors.ts';
import type { Finality } from '../../chain/profiles.ts';
import type { SpokenProtocol } from '../../protocol/protocol-version.ts';
import type { OperatorKeyType } from '../../crypto/operator-sig.ts';
import type { Address, Hex } from '../../protocol/ledger.ts';
import type { KeyStore } from '../key-store.ts';
import { chainChecks, chainUnreachable, type ChainFacts } from './chain-checks.ts';
import { hostChecks, type FreeBytes } from './host-checks.ts';
import { httpChecks } from './http-checks.ts';
import { doctorReport, warn, type DoctorCheck, type DoctorReport } from './report.ts';
import { storeChecks } from './store-checks.ts';

export interface DoctorConfig {
  /** The operator's transaction key: only its address is used (nothing is sent). */
  readonly operatorKey: Hex;
  readonly sigKeyType: OperatorKeyType;
  readonly sigKey: Hex;
  /** RPC URLs in order of preference (at least one). */
  readonly rpcUrls: readonly string[];
  readonly rpcQuorum: number;
  /** `--finality`; null: the chain profile's. */
  readonly finality: Finality | null;
  readonly registry: Address;
  readonly dataDir: string;
  /** The storage key; not needed (may be empty) when `deps.store` is given. */
  readonly storageKey: Uint8Array;
  /** The node's public API base URL (http://host:port), null when it cannot be known (--port 0). */
  readonly apiUrl: string | null;
  /** The node's operations listener base URL, null when off or unknown. */
  readonly opsUrl: string | null;
  /** The protocol versions to check against (default: this build's; tests model other builds). */
  readonly protocol?: SpokenProtocol;
}

export interface DoctorDeps {
  /** A ledger to read through (the running node's); default: a new one from the config. */
  readonly ledger?: ChainLedger;
  /** The running node's own key store; default: the store in `dataDir`, opened read-only. */
  readonly store?: KeyStore;
  /** HTTP client (default the global fetch). */
  readonly fetch?: typeof fetch;
  /** This machine's clock, ms (default Date.now). */
  readonly clock?: () => number;
  /** Free bytes of the file system holding a directory (default `fs.statfs`). */
  readonly freeBytes?: FreeBytes;
  /** Per HTTP request, ms (default 5000). */
  readonly httpTimeoutMs?: number;
}

/** Runs every check; never throws for what it finds (a failure is a `fail` entry). */
export async function runDoctor(config: DoctorConfig, deps: DoctorDeps = {}): Promise<DoctorReport> {
  const clock = deps.clock ?? Date.now;
  const me = privateKeyToAccount(config.operatorKey).address.toLowerCase() as Address;
  const checks: DoctorCheck[] = [];
  const http = { fetch: deps.fetch ?? fetch, timeoutMs: deps.httpTimeoutMs ?? 5000 };

  let ledger: ChainLedger | null = deps.ledger ?? null;
  if (ledger === null) {
    try {
      ledger = await createChainLedger({
        rpcUrl: config.rpcUrls[0] as string, rpcUrls: config.rpcUrls, rpcQuorum: config.rpcQuorum, registry: config.registry,
        ...(config.finality !== null ? { finality: config.finality } : {}),
        attempts: 1,
      });
    } catch (e) {
      checks.push(...(await chainUnreachable(config, e, http)));
    }
  }
  let facts: ChainFacts | null = null;
  if (ledger !== null) {
    const r = await chainChecks(ledger, config, me, clock);
    checks.push(...r.checks);
    facts = r.facts;
  }
  checks.push(...(await storeChecks(config, me, facts, deps.store ?? null, http)));
  checks.push(...(await httpChecks(config, facts, http)));
  checks.push(...(await hostChecks(config, deps.freeBytes)));
  const seen = new Set(checks.map((c) => c.id));
  // Whatever could not run at all (no chain) is listed as not checked.
  for (const id of ['registry', 'protocol', 'operator', 'signing-key', 'session-key', 'balance', 'clock', 'submissions', 'share', 'socket'] as const) {
    if (!seen.has(id)) checks.push(warn(id, 'not checked: the chain could not be read', 'fix the rpc check first'));
  }
  return doctorReport(me, checks, Math.floor(clock() / 1000));
}

/** The RPC URLs as they may be printed (credentials removed). */
export function printableRpcUrls(urls: readonly string[]): string {
  return urls.map(redactRpcUrl).join(', ');
}
