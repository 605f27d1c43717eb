/**
 * @module
 * `<dir>/devnet.json`: what a running devnet tells the CLIs and people. `kms-client`,
 * `kms-admin` (`--devnet`) read `rpc`, `registry` and `chainId` from it (src/cli/common.ts);
 * the rest is for people and scripts (`jq -r .demo.appId .devnet/devnet.json`).
 *
 * It holds the demo app owner's key (a devnet key), so it is written 0600, atomically.
 */
import { chmodSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Address, Hex } from '../../src/protocol/ledger.ts';

export const DEVNET_JSON = 'devnet.json';

export interface DevnetFile {
  readonly rpc: string;
  readonly registry: Address;
  readonly chainId: number;
  /** Reshare interval (s). */
  readonly interval: number;
  /** The devnet script's pid. */
  readonly pid: number;
  /** `url`: the public API; `opsUrl`: the operations listener (/healthz, /status, /metrics), loopback. */
  readonly operators: ReadonlyArray<{ readonly name: string; readonly address: Address; readonly url: string; readonly opsUrl: string; readonly log: string }>;
  /** Governance owner (anvil account 0) and its key file. */
  readonly governance: { readonly address: Address; readonly keyFile: string };
  /** The pinned master public key, null until genesis. */
  readonly mpk: Hex | null;
  /** The demo app, null until it is created. `ownerKey` is a devnet key. */
  readonly demo: { readonly appId: Hex; readonly owner: Address; readonly ownerKey: Hex; readonly ownerKeyFile: string } | null;
}

export function writeDevnetFile(dir: string, f: DevnetFile): void {
  const path = join(dir, DEVNET_JSON);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(f, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
