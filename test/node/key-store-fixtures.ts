// Fixtures shared by the key-store test files that attack the SQLite file (row
// authentication, upgrade from schema 1, secure deletion, forensics).
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { createECDH, createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { R } from '../../src/crypto/fr.ts';
import type { Address, Hex } from '../../src/protocol/ledger.ts';
import { KeyStoreError, type KeyStoreErrorCode, type StoreScope, type StoredSessionKey, type StoredVersion } from '../../src/node/key-store.ts';
import { openSqliteKeyStore, type SqliteKeyStore } from '../../src/node/sqlite-key-store.ts';
import { generateStorageKeyHex, parseStorageKey } from '../../src/node/store-crypto.ts';

export const SCOPE: StoreScope = {
  chainId: 31337n,
  registry: '0x5fbdb2315678afecb367f032d93f642f64180aa3',
  operator: '0x00000000000000000000000000000000000000a1',
};
export const OTHER_OPERATOR: Address = '0x00000000000000000000000000000000000000a2';
export const HOLDERS: Address[] = ['0x00000000000000000000000000000000000000a1', '0x00000000000000000000000000000000000000a2'];
// Stand-ins for compressed G2 points: the store checks lengths and A_0, not the curve.
export const MPK = `0x${'a1'.repeat(96)}` as Hex;
export const STORAGE_KEY = parseStorageKey(generateStorageKeyHex());
export const OTHER_STORAGE_KEY = parseStorageKey(generateStorageKeyHex());

/** A random canonical scalar: distinctive bytes to look for. */
export const randomShare = (): bigint => BigInt(`0x${randomBytes(32).toString('hex')}`) % R;

export function poly(t: number, a0: Hex = MPK): Hex {
  return `${a0}${'b2'.repeat(96 * (t - 1))}` as Hex;
}

export function version(id: number, over: Partial<StoredVersion> = {}): StoredVersion {
  const status = over.status ?? 'active';
  return {
    id,
    status,
    share: randomShare(),
    publicPoly: poly(2),
    publicPolyHash: `0x${createHash('sha256').update(`poly ${id}`).digest('hex')}`,
    threshold: 2,
    holders: HOLDERS,
    confirmedAt: 1000 + id * 60,
    activatedAt: status === 'pending' ? null : 1010 + id * 60,
    ...over,
  };
}

export function sessionKey(createdAt: number): StoredSessionKey {
  const ecdh = createECDH('secp256k1');
  ecdh.generateKeys();
  // getPrivateKey drops leading zero bytes; the store wants exactly 32.
  const secretKey = Uint8Array.from(Buffer.from(ecdh.getPrivateKey('hex').padStart(64, '0'), 'hex'));
  return { publicKey: `0x${ecdh.getPublicKey('hex', 'compressed')}`, secretKey, createdAt };
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Asserts fn throws KeyStoreError(code) whose message (optionally) equals `message` and names no storage key and none of `secrets`. */
export function expectKsError(fn: () => unknown, code: KeyStoreErrorCode, message?: string | RegExp, secrets: readonly string[] = []): KeyStoreError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof KeyStoreError, `expected KeyStoreError(${code}), got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else if (message) assert.match(caught.message, message);
  for (const s of [hex(STORAGE_KEY), hex(OTHER_STORAGE_KEY), ...secrets]) {
    assert.ok(!caught.message.toLowerCase().includes(s.toLowerCase()), 'error message contains a secret');
  }
  return caught;
}

const tmpRoots: string[] = [];
export function tmpDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kms-key-store-'));
  tmpRoots.push(d);
  return d;
}
after(() => {
  for (const d of tmpRoots) rmSync(d, { recursive: true, force: true });
});

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

/** Hash of the store file and of whatever side files exist: what a refused open must not change. */
export function fingerprint(path: string): string {
  const dir = join(path, '..');
  return JSON.stringify({ files: readdirSync(dir).sort(), main: sha(path), wal: existsSync(`${path}-wal`) ? sha(`${path}-wal`) : null });
}

export function openAt(path: string, over: Partial<{ storageKey: Uint8Array; scope: StoreScope }> = {}): SqliteKeyStore {
  return openSqliteKeyStore({ path, storageKey: over.storageKey ?? STORAGE_KEY, scope: over.scope ?? SCOPE, busyTimeoutMs: 50 });
}

export interface Populated {
  readonly path: string;
  readonly v1: StoredVersion;
  readonly v2: StoredVersion;
  readonly v3: StoredVersion;
  readonly k1: StoredSessionKey;
  readonly k2: StoredSessionKey;
}

/**
 * A closed store with something in every table: versions 1 (retired), 2 (active), 3
 * (pending), two session keys, round states 2 and 3, two kv rows, the MPK bound.
 */
export function populated(path: string = join(tmpDir(), 'keys.sqlite')): Populated {
  const s = openAt(path);
  const v1 = version(1, { status: 'retired' });
  const v2 = version(2);
  const v3 = version(3, { status: 'pending' });
  const k1 = sessionKey(100);
  const k2 = sessionKey(200);
  s.transaction(() => {
    s.bindMpk(MPK);
    for (const v of [v1, v2, v3]) s.putVersion(v);
    s.putSessionKey(k1);
    s.putSessionKey(k2);
    s.putRoundState(2, { phase: 'done' });
    s.putRoundState(3, { phase: 'ack', myShare: `0x${'cd'.repeat(32)}` });
    s.setMeta('lastProcessedBoundary', '120');
    s.setMeta('openRounds', '[3]');
  });
  s.close();
  return { path, v1, v2, v3, k1, k2 };
}

/** A copy of a closed store's file at a new path in a fresh directory (an attacker's or a backup's copy). */
export function copyStore(path: string): string {
  // A read-only connection leaves an empty -wal behind; a non-empty one holds commits.
  assert.ok(!existsSync(`${path}-wal`) || statSync(`${path}-wal`).size === 0, 'copy a closed store (no -wal)');
  const to = join(tmpDir(), 'keys.sqlite');
  copyFileSync(path, to);
  return to;
}
