// Deleted secrets leave no bytes on disk (security review, finding 1: "rows are overwritten/
// deleted so that SQLite's free pages do not keep them"). secure_delete zeroes what SQLite
// writes, but in WAL mode the older page images stay in the -wal (and the database file keeps
// its old page) until a checkpoint: each test deletes or overwrites a secret in an open store
// and, as soon as the call returns, searches the database, its -wal and its -shm for any
// piece of the old sealed blob, and the carved plaintext of every possible blob for the
// secret itself.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { shareToBytes } from '../../src/node/store-crypto.ts';
import { SCOPE, STORAGE_KEY, hex, openAt, populated, sessionKey, version } from './key-store-fixtures.ts';
import { dumpSqliteFiles, findSecrets } from './store-forensics.ts';

/** The sealed blob of a row, read raw from a closed store. */
function blobOf(path: string, table: string, column: string, keyColumn: string, key: unknown): Buffer {
  const raw = new Database(path, { readonly: true });
  try {
    const row = raw.prepare(`SELECT ${column} AS b FROM ${table} WHERE ${keyColumn} = ?`).get(key) as { b: Buffer } | undefined;
    assert.ok(row, `no ${table} row ${String(key)}`);
    return row.b;
  } finally {
    raw.close();
  }
}

const files = (path: string): Buffer[] => [path, `${path}-wal`, `${path}-shm`].filter(existsSync).map((f) => readFileSync(f));

/** Pieces of a sealed blob that must not survive: nonce, start and end of the ciphertext, tag, the whole. */
function pieces(blob: Buffer): Buffer[] {
  const body = blob.subarray(13, blob.length - 16);
  return [blob, blob.subarray(1, 13), body.subarray(0, 16), body.subarray(Math.max(0, body.length - 16)), body.subarray(Math.floor(body.length / 2), Math.floor(body.length / 2) + 16), blob.subarray(blob.length - 16)];
}

/** Asserts that the blobs are on disk now (the search works) — call before the delete. */
function assertPresent(path: string, blobs: readonly Buffer[]): void {
  const all = files(path);
  for (const b of blobs) assert.ok(all.some((f) => f.includes(b.subarray(1, 13))), 'sanity: the blob is on disk before the delete');
}

/** Asserts no piece of any blob, and no secret (carved), is in the store's files. */
function assertGone(path: string, blobs: readonly Buffer[], secrets: readonly Uint8Array[]): void {
  const all = files(path);
  for (const b of blobs) {
    for (const p of pieces(b)) assert.ok(!all.some((f) => f.includes(p)), 'a piece of a deleted sealed value is still in the database, its WAL or its -shm');
  }
  const found = findSecrets(dumpSqliteFiles(path, STORAGE_KEY), secrets);
  assert.deepEqual(found, [], 'a deleted secret can still be decrypted from the files');
}

describe('key store (sqlite): deleted secrets leave no bytes on disk', () => {
  it('a deleted share leaves no bytes in the database, its WAL or free pages', () => {
    const p = populated();
    const blob = blobOf(p.path, 'versions', 'share', 'id', 1);
    const s = openAt(p.path);
    s.getVersion(2); // the store is in use: pages cached, WAL open
    assertPresent(p.path, [blob]);
    s.deleteVersion(1);
    assertGone(p.path, [blob], [shareToBytes(p.v1.share)]);
    s.close();
    assertGone(p.path, [blob], [shareToBytes(p.v1.share)]);
  });

  it('a deleted session secret leaves no bytes in the database, its WAL or free pages', () => {
    const p = populated();
    const blob = blobOf(p.path, 'session_keys', 'secret', 'public_key', p.k1.publicKey);
    const s = openAt(p.path);
    s.deleteSessionKey(p.k1.publicKey);
    assertGone(p.path, [blob], [p.k1.secretKey]);
    s.close();
  });

  it('a deleted round state larger than a page (overflow pages) leaves no bytes in the database, its WAL or free pages', () => {
    const p = populated();
    const marker = randomBytes(32);
    const s = openAt(p.path);
    s.putRoundState(7, { phase: 'dealt', polynomial: [`0x${hex(marker)}`], padding: randomBytes(12000).toString('hex') });
    s.close();
    const blob = blobOf(p.path, 'round_states', 'state', 'session', 7);
    assert.ok(blob.length > 3 * 4096);
    const s2 = openAt(p.path);
    s2.deleteRoundState(7);
    assertGone(p.path, [blob], [marker]);
    s2.close();
  });

  it('an overwritten round state leaves no bytes of the old one', () => {
    const p = populated();
    const marker = randomBytes(32);
    const s = openAt(p.path);
    s.putRoundState(3, { phase: 'dealt', myShare: `0x${hex(marker)}` });
    s.close();
    const old = blobOf(p.path, 'round_states', 'state', 'session', 3);
    const s2 = openAt(p.path);
    s2.putRoundState(3, { phase: 'finished' });
    assertGone(p.path, [old], [marker]);
    assert.deepEqual(s2.getRoundState(3), { phase: 'finished' });
    s2.close();
  });

  it('a replaced version or session key leaves no bytes of the old secret', () => {
    const p = populated();
    const oldShare = blobOf(p.path, 'versions', 'share', 'id', 2);
    const oldSecret = blobOf(p.path, 'session_keys', 'secret', 'public_key', p.k2.publicKey);
    const s = openAt(p.path);
    s.putVersion(version(2)); // a new share for the same id
    s.putSessionKey({ ...p.k2, createdAt: 999 }); // same key pair, sealed again
    assertGone(p.path, [oldShare, oldSecret], [shareToBytes(p.v2.share)]);
    s.close();
  });

  it('deletions inside a transaction leave no bytes once the transaction returns', () => {
    const p = populated();
    const blobs = [blobOf(p.path, 'versions', 'share', 'id', 1), blobOf(p.path, 'session_keys', 'secret', 'public_key', p.k1.publicKey), blobOf(p.path, 'round_states', 'state', 'session', 3)];
    const s = openAt(p.path);
    s.transaction(() => {
      s.deleteVersion(1);
      s.deleteSessionKey(p.k1.publicKey);
      s.putRoundState(3, { phase: 'done' });
      s.putSessionKey(sessionKey(300));
    });
    assertGone(p.path, blobs, [shareToBytes(p.v1.share), p.k1.secretKey]);
    s.close();
  });

  it('a crash between a delete’s commit and the WAL checkpoint leaves no bytes once the store is opened again', () => {
    const p = populated();
    const blob = blobOf(p.path, 'versions', 'share', 'id', 1);
    const child = `
      import Database from 'better-sqlite3';
      import { openSqliteKeyStore } from ${JSON.stringify(new URL('../../src/node/sqlite-key-store.ts', import.meta.url).pathname)};
      const s = openSqliteKeyStore({ path: ${JSON.stringify(p.path)}, storageKey: Buffer.from(${JSON.stringify(hex(STORAGE_KEY))}, 'hex'),
        scope: { chainId: 31337n, registry: ${JSON.stringify(SCOPE.registry)}, operator: ${JSON.stringify(SCOPE.operator)} } });
      const pragma = Database.prototype.pragma;
      Database.prototype.pragma = function (text, ...rest) {
        if (String(text).includes('wal_checkpoint')) process.kill(process.pid, 'SIGKILL');
        return pragma.call(this, text, ...rest);
      };
      s.deleteVersion(1);`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { encoding: 'utf8', cwd: new URL('../..', import.meta.url).pathname });
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    assert.ok(files(p.path).some((f) => f.includes(blob.subarray(1, 13))), 'sanity: the crash left the old blob in the WAL');
    const s = openAt(p.path);
    assert.equal(s.getVersion(1), null, 'the delete was committed');
    assertGone(p.path, [blob], [shareToBytes(p.v1.share)]);
    s.close();
  });
});
