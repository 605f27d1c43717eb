/**
 * @module
 * `kms-server backup` and `kms-server restore` (issue 15, item 2), below the CLI.
 *
 * **Backup** opens the key store read-only (it never writes, and it refuses while a node holds
 * the store: the node locks it exclusively) and writes an encrypted file (`format.ts`) holding
 * only what a restore needs: the store's identity (chain, registry, operator, MPK), the shares
 * of its `active` versions and its session keys. Retired versions are left out (a share the
 * network has moved on from must not outlive its store), and so are pending ones (without their
 * round state a restored node could never make them active).
 *
 * **Restore** fills an empty (or missing) data directory: it decrypts and validates the file,
 * checks every share against its version's public polynomial (s·G2 = Σ A_k·x^k) and every
 * session secret against its public key, builds the new store under a temporary name inside
 * the directory, and renames it into place only when complete; any failure leaves the
 * directory as it was (removed again if the restore created it). The new store may use a new
 * storage key. A restored store older than the chain serves nothing stale: the node sees the
 * chain's newer version at start-up (`stale-store.ts`), retires what the chain has retired and
 * rejoins as a recipient at the next reshare.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { keccak256 } from 'viem';
import { operatorX } from '../../crypto/operator-x.ts';
import { verifyShare } from '../../crypto/vss.ts';
import { mustHex } from '../../protocol/hex.ts';
import type { Address, Hex } from '../../protocol/ledger.ts';
import { decodePoly } from '../../protocol/round-outcome.ts';
import { KeyStoreError, type StoreScope } from '../key-store.ts';
import { openSqliteKeyStore, openSqliteKeyStoreReadOnly, peekStoreScope } from '../sqlite-key-store.ts';
import { backupScope, decryptBackup, encryptBackup, type BackupFile, type BackupKey, type BackupPayload, type BackupSecret } from './format.ts';

/** The store file inside a data directory (as `startNode` names it). */
export const STORE_FILE = 'keystore.sqlite';

export type BackupErrorCode =
  /** The data directory holds no store, or the given identity is not the store's / the file's. */
  | 'usage'
  /** A node holds the store. */
  | 'in-use'
  /** The restore target is not empty. */
  | 'not-empty'
  /** The store or the file failed a check. */
  | 'invalid';

export class BackupError extends Error {
  override readonly name = 'BackupError';
  constructor(readonly code: BackupErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface CreateBackupOptions {
  readonly dataDir: string;
  readonly storageKey: Uint8Array;
  /** When given, the store must be this operator's / this registry's. */
  readonly operator?: Address;
  readonly registry?: Address;
  readonly key: BackupKey;
  /** Unix seconds written as `createdAt`. */
  readonly now: number;
}

/** Reads the store (read-only) and returns the encrypted backup, with what it holds. */
export async function createBackup(o: CreateBackupOptions): Promise<BackupFile> {
  const path = join(resolve(o.dataDir), STORE_FILE);
  let payload: BackupPayload;
  let mpk: Hex | null;
  let scope: StoreScope;
  try {
    scope = peekStoreScope(path, 300);
    checkIdentity(scope.operator, scope.registry, o, 'the key store');
    const store = openSqliteKeyStoreReadOnly({ path, storageKey: o.storageKey, scope, busyTimeoutMs: 300 });
    try {
      mpk = store.mpk();
      payload = { versions: store.listVersions().filter((v) => v.status === 'active'), sessionKeys: store.listSessionKeys() };
    } finally {
      store.close();
    }
  } catch (e) {
    throw storeError(e, o.dataDir);
  }
  try {
    return await encryptBackup(scope, mpk, payload, o.key, o.now);
  } finally {
    for (const k of payload.sessionKeys) k.secretKey.fill(0);
  }
}

export interface RestoreBackupOptions {
  readonly dataDir: string;
  /** The storage key of the new store (need not be the old one). */
  readonly storageKey: Uint8Array;
  readonly file: BackupFile;
  readonly secret: BackupSecret;
  readonly operator?: Address;
  readonly registry?: Address;
}

export interface RestoreResult {
  readonly path: string;
  readonly versions: readonly { readonly id: number; readonly threshold: number }[];
  readonly sessionKeys: number;
}

/** Whether a directory is absent or empty (a restore target). */
export function isEmptyDir(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).length === 0;
}

/** Restores `file` into the empty data directory (module comment); all or nothing. */
export async function restoreBackup(o: RestoreBackupOptions): Promise<RestoreResult> {
  const dir = resolve(o.dataDir);
  if (!isEmptyDir(dir)) throw new BackupError('not-empty', `the data directory ${dir} is not empty: restore only fills an empty one (move it aside first; nothing was changed)`);
  const scope = backupScope(o.file);
  checkIdentity(scope.operator, scope.registry, o, 'the backup');
  const payload = await decryptBackup(o.file, o.secret).catch((e: unknown) => {
    throw new BackupError('invalid', (e as Error).message, { cause: e });
  });
  try {
    checkPayload(payload, scope.operator, o.file.mpk);
    const created = !existsSync(dir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.restoring-${randomBytes(6).toString('hex')}.sqlite`);
    const target = join(dir, STORE_FILE);
    try {
      const store = openSqliteKeyStore({ path: tmp, storageKey: o.storageKey, scope });
      try {
        store.transaction(() => {
          if (o.file.mpk !== null) store.bindMpk(o.file.mpk);
          for (const v of payload.versions) store.putVersion(v);
          for (const k of payload.sessionKeys) store.putSessionKey(k);
        });
      } finally {
        store.close();
      }
      // Closing the last connection checkpoints into the main file and removes the WAL; a
      // WAL left behind would hold rows the renamed file lacks.
      if (existsSync(`${tmp}-wal`) && statSync(`${tmp}-wal`).size > 0) throw new BackupError('invalid', 'the restored key store was not fully written (its WAL was not checkpointed); nothing was restored');
      renameSync(tmp, target);
      const fd = openSync(dir, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) if (existsSync(f)) unlinkSync(f);
      if (created) rmSync(dir, { recursive: true, force: true });
      throw e instanceof KeyStoreError ? new BackupError('invalid', `the restored key store could not be written: ${e.message}`, { cause: e }) : e;
    }
    return { path: target, versions: payload.versions.map((v) => ({ id: v.id, threshold: v.threshold })), sessionKeys: payload.sessionKeys.length };
  } finally {
    for (const k of payload.sessionKeys) k.secretKey.fill(0);
  }
}

/** Every share against its polynomial, every polynomial against its hash and the MPK. */
function checkPayload(p: BackupPayload, operator: Address, mpk: string | null): void {
  for (const v of p.versions) {
    if (keccak256(v.publicPoly) !== v.publicPolyHash) throw new BackupError('invalid', `backup file: version ${v.id}'s public polynomial does not hash to its publicPolyHash`);
    if (mpk !== null && v.publicPoly.slice(0, 2 + 192) !== mpk) throw new BackupError('invalid', `backup file: version ${v.id}'s constant term is not the backup's MPK`);
    if (!v.holders.includes(operator)) throw new BackupError('invalid', `backup file: version ${v.id} does not list ${operator} among its holders`);
    let ok = false;
    try {
      ok = verifyShare(decodePoly(mustHex(v.publicPoly, 'publicPoly')), operatorX(operator), v.share);
    } catch {
      ok = false;
    }
    if (!ok) throw new BackupError('invalid', `backup file: the share of version ${v.id} does not match ${operator}'s public share (s·G2 ≠ Σ A_k·x^k)`);
  }
}

function checkIdentity(operator: Address, registry: Address, o: { operator?: Address; registry?: Address }, what: string): void {
  if (o.operator !== undefined && o.operator !== operator) throw new BackupError('usage', `${what} belongs to operator ${operator}, not to ${o.operator} (the address of --operator-key)`);
  if (o.registry !== undefined && o.registry !== registry) throw new BackupError('usage', `${what} belongs to registry ${registry}, not to ${o.registry} (--registry)`);
}

function storeError(e: unknown, dataDir: string): unknown {
  if (e instanceof BackupError) return e;
  if (e instanceof KeyStoreError) {
    if (e.code === 'in-use') return new BackupError('in-use', `the key store in ${dataDir} is in use by a running node: stop it (between sessions), run the backup, start it again`, { cause: e });
    if (e.code === 'not-found') return new BackupError('usage', `there is no key store in ${dataDir} (check --data-dir / KMS_DATA_DIR)`, { cause: e });
    if (e.code === 'wrong-storage-key') return new BackupError('usage', 'the storage key does not open the key store (--store-key-file / KMS_STORE_KEY)', { cause: e });
    return new BackupError('invalid', e.message, { cause: e });
  }
  return e;
}
