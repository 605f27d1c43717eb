/**
 * @module
 * The doctor's key-store checks: store, session-key and share. The store is opened through a
 * read-only connection (`openSqliteKeyStoreReadOnly`), never written; while a node runs it
 * holds the store exclusively, and the running node is asked for these three checks instead
 * (`GET /doctor` on its operations listener, where it runs them with its own store).
 */
import { join } from 'node:path';
import { operatorX } from '../../crypto/operator-x.ts';
import { verifyShare } from '../../crypto/vss.ts';
import { mustHex } from '../../protocol/hex.ts';
import type { Address } from '../../protocol/ledger.ts';
import { decodePoly } from '../../protocol/round-outcome.ts';
import { KeyStoreError, type KeyStore } from '../key-store.ts';
import { openSqliteKeyStoreReadOnly } from '../sqlite-key-store.ts';
import type { ChainFacts } from './chain-checks.ts';
import { fail, pass, warn, type DoctorCheck, type DoctorReport } from './report.ts';
import type { DoctorConfig } from './run-doctor.ts';

/** The store file in a data directory (as `startNode` names it). */
export const storePath = (dataDir: string): string => join(dataDir, 'keystore.sqlite');

const short = (h: string): string => `${h.slice(0, 10)}…${h.slice(-6)}`;
const STORE_IDS = ['store', 'session-key', 'share'] as const;

interface Http {
  readonly fetch: typeof fetch;
  readonly timeoutMs: number;
}

export async function storeChecks(config: DoctorConfig, me: Address, facts: ChainFacts | null, given: KeyStore | null, http: Http): Promise<DoctorCheck[]> {
  if (facts === null) return [warn('store', 'not checked: its scope (chain id) needs the chain', 'fix the rpc and registry checks first')];
  let store: KeyStore;
  if (given !== null) {
    store = given;
  } else {
    try {
      store = openSqliteKeyStoreReadOnly({
        path: storePath(config.dataDir), storageKey: config.storageKey, busyTimeoutMs: 300,
        scope: { chainId: facts.chainId, registry: config.registry, operator: me },
      });
    } catch (e) {
      if (e instanceof KeyStoreError && e.code === 'in-use') return fromRunningNode(config, http);
      return [refused(e, config, me, facts), ...(['session-key', 'share'] as const).map((id) => warn(id, 'not checked: the key store did not open', 'fix the store check first'))];
    }
  }
  try {
    return checksOn(store, me, facts);
  } finally {
    if (given === null) store.close();
  }
}

function refused(e: unknown, config: DoctorConfig, me: Address, facts: ChainFacts): DoctorCheck {
  const code = e instanceof KeyStoreError ? e.code : null;
  const message = e instanceof Error ? e.message : String(e);
  if (code === 'not-found') {
    const holder = facts.active?.holders.includes(me) ?? false;
    const text = `there is no key store in ${config.dataDir}`;
    return holder
      ? fail('store', `${text}, but this operator holds a share of the active version ${facts.active?.id}: that share is lost here`, 'restore the data directory from a backup (kms-server restore --in FILE), or start the node: it rejoins as a recipient at the next reshare')
      : warn('store', `${text} (a node creates it at its first start)`, 'start the node (or check --data-dir / KMS_DATA_DIR)');
  }
  if (code === 'wrong-storage-key') return fail('store', 'the storage key does not open the key store', 'give the storage key this store was created with (--store-key-file or KMS_STORE_KEY)');
  if (code === 'scope-mismatch') return fail('store', `the key store belongs elsewhere: ${message}`, 'check --rpc, --registry and --operator-key against this data directory (or --data-dir)');
  if (code === 'corrupt') return fail('store', message, 'restore the data directory from a backup (kms-server restore --in FILE); keep the damaged copy for analysis');
  return fail('store', `the key store cannot be opened: ${message}`, 'check --data-dir and its permissions');
}

/** The store, session-key and share checks, from the node that holds the store. */
async function fromRunningNode(config: DoctorConfig, http: Http): Promise<DoctorCheck[]> {
  const notFromOutside = (why: string) => STORE_IDS.map((id) => warn(id, `not checked: the key store is in use by a running node, and ${why}`, 'run the doctor with the node\'s --ops-host/--ops-port (its operations listener answers /doctor), or stop the node'));
  if (config.opsUrl === null) return notFromOutside('its operations listener is unknown (--ops-port off or 0)');
  let report: DoctorReport;
  try {
    const res = await http.fetch(`${config.opsUrl}/doctor`, { signal: AbortSignal.timeout(Math.max(http.timeoutMs, 30_000)) });
    if (!res.ok) return notFromOutside(`its ${config.opsUrl}/doctor answered HTTP ${res.status}`);
    report = (await res.json()) as DoctorReport;
  } catch (e) {
    return notFromOutside(`${config.opsUrl}/doctor did not answer (${(e as Error).message})`);
  }
  const out: DoctorCheck[] = [];
  for (const id of STORE_IDS) {
    const c = Array.isArray(report.checks) ? report.checks.find((x) => x.id === id) : undefined;
    if (c && (c.status === 'pass' || c.status === 'warn' || c.status === 'fail') && typeof c.message === 'string') {
      out.push({ id, status: c.status, message: `${c.message} (checked by the running node)`, fix: typeof c.fix === 'string' ? c.fix : null });
    } else {
      out.push(warn(id, 'not checked: the running node\'s /doctor did not report it', 'upgrade the running node to this release'));
    }
  }
  return out;
}

/** The checks on an open store. */
export function checksOn(store: KeyStore, me: Address, facts: ChainFacts): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  const bound = store.mpk();
  if (bound !== null && bound !== facts.mpk) {
    checks.push(fail('store', `the key store holds shares of master public key ${short(bound)}, but this registry ${facts.mpk ? `pins ${short(facts.mpk)}` : 'has none'}: the node refuses to start`, 'wrong --registry or --rpc for this data directory?'));
  } else {
    const versions = store.listVersions();
    checks.push(pass('store', `the key store opens with the storage key; it belongs to chain ${store.scope.chainId}, registry ${store.scope.registry}, operator ${store.scope.operator}; ${bound ? `bound to MPK ${short(bound)}` : 'not bound to an MPK yet'}; versions ${versions.length ? versions.map((v) => `${v.id} ${v.status}`).join(', ') : 'none'}`));
  }

  const rec = facts.operator;
  if (rec === null) {
    checks.push(warn('session-key', 'not checked: the operator is not registered', 'register the operator first'));
  } else {
    let held = false;
    try {
      held = store.getSessionKey(rec.sessionKey) !== null;
    } catch {
      held = false; // a key that is not a valid point has no secret anywhere
    }
    checks.push(held
      ? pass('session-key', `the key store holds the secret of the session key registered on-chain (${short(rec.sessionKey)})`)
      : warn('session-key', `the key store does not hold the secret of the session key registered on-chain (${short(rec.sessionKey)}): deals sealed to it cannot be opened`, 'start (or restart) the node: it publishes a fresh session key at start-up and receives in the next session'));
  }

  const active = facts.active;
  if (active === null) {
    checks.push(pass('share', 'no version is active yet (genesis has not completed): no share to check'));
    return checks;
  }
  if (!active.holders.includes(me)) {
    checks.push(warn('share', `this operator is not a holder of the active version ${active.id}: it serves no partials until it receives a share`, 'keep the node running: it is a recipient of the next reshare it is admitted to (kms-admin status shows the operator set)'));
    return checks;
  }
  const v = store.getVersion(active.id);
  const newest = store.activeVersion();
  if (v === null) {
    checks.push(fail('share', `the key store does not hold version ${active.id}, the chain's active version${newest ? ` (its newest is version ${newest.id}, which the chain has retired)` : ''}: this node serves no partials`, 'keep the node running: it rejoins as a recipient at the next reshare (expected after restoring an older backup)'));
    return checks;
  }
  if (v.publicPolyHash.toLowerCase() !== active.publicPolyHash.toLowerCase()) {
    checks.push(fail('share', `the key store's version ${active.id} has another public polynomial than the chain's`, 'this store is not this deployment\'s: check --data-dir, or restore from a backup'));
    return checks;
  }
  let ok: boolean;
  try {
    ok = verifyShare(decodePoly(mustHex(active.publicPoly, 'publicPoly')), operatorX(me), v.share);
  } catch {
    ok = false;
  }
  if (!ok) {
    checks.push(fail('share', `the share of version ${active.id} does not match this operator's public share on-chain (s·G2 ≠ Σ A_k·x^k)`, 'the store is damaged: restore it from a backup, or let the node rejoin at the next reshare'));
  } else if (v.status === 'pending') {
    checks.push(warn('share', `the key store holds version ${active.id} (s·G2 equals its public share) but still as pending`, 'keep the node running: its next tick makes it active'));
  } else {
    checks.push(pass('share', `the key store holds version ${active.id} (${v.status}; threshold ${active.threshold} of ${active.holders.length}), and s·G2 equals this operator's public share from the on-chain polynomial`));
  }
  return checks;
}
