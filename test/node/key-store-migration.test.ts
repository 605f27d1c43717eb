// The upgrade of a schema-1 key store to schema 2 (sqlite-store-v1.ts). Operators have v1
// stores holding live shares: the upgrade must lose nothing, be atomic under a crash at any
// point, refuse a v1 store that fails its checks without touching it, and leave no v1
// ciphertext behind. The v1 files are built by the frozen v1 code (test/node/fixtures).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Hex } from '../../src/protocol/ledger.ts';
import { buildV1Store, type V1StoreContents } from './fixtures/key-store-v1/build-v1-store.ts';
import { openSqliteKeyStoreV1 } from './fixtures/key-store-v1/sqlite-key-store-v1.ts';
import { MPK, OTHER_STORAGE_KEY, SCOPE, STORAGE_KEY, expectKsError, fingerprint, hex, openAt, sessionKey, tmpDir, version } from './key-store-fixtures.ts';
import { dumpSqliteStore, findSecrets } from './store-forensics.ts';
import { shareToBytes } from '../../src/node/store-crypto.ts';

function contents(): V1StoreContents {
  return {
    mpk: MPK,
    versions: [version(1, { status: 'retired' }), version(2), version(3, { status: 'pending' })],
    sessionKeys: [sessionKey(100), sessionKey(200)],
    roundStates: [
      [2, { phase: 'done' }],
      // Larger than a page: SQLite spreads it over overflow pages.
      [3, { phase: 'ack', myShare: `0x${'cd'.repeat(32)}`, deals: randomBytes(6000).toString('hex') }],
    ],
    kv: [
      ['lastProcessedBoundary', '120'],
      ['openRounds', '[3]'],
    ],
  };
}

function v1Store(c: V1StoreContents = contents()): string {
  const path = join(tmpDir(), 'keystore.sqlite');
  buildV1Store(path, STORAGE_KEY, SCOPE, c);
  return path;
}

/** The schema version the file says, read raw (the WAL included). */
function schemaVersion(path: string): unknown {
  const raw = new Database(path, { readonly: true });
  try {
    return (raw.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: unknown }).value;
  } finally {
    raw.close();
  }
}

/** Asserts a store (v1 or v2 API alike) holds exactly `c`. */
function assertHolds(
  s: {
    mpk(): Hex | null;
    listVersions(): unknown;
    activeVersion(): unknown;
    versionAt(t: number): unknown;
    listSessionKeys(): unknown;
    getRoundState(n: number): unknown;
    getMeta(k: string): string | null;
  },
  c: V1StoreContents,
): void {
  assert.equal(s.mpk(), c.mpk);
  assert.deepEqual(s.listVersions(), c.versions);
  assert.deepEqual(s.activeVersion(), c.versions[1]);
  assert.deepEqual(s.versionAt(1071), c.versions[0]);
  assert.deepEqual(s.listSessionKeys(), c.sessionKeys);
  for (const [session, state] of c.roundStates) assert.deepEqual(s.getRoundState(session), state);
  for (const [k, v] of c.kv) assert.equal(s.getMeta(k), v);
}

describe('key store (sqlite): upgrade from schema version 1', () => {
  it('a v1 store built by the v1 code opens under v2 with every value intact, upgraded once', () => {
    const c = contents();
    const path = v1Store(c);
    assert.equal(schemaVersion(path), '1');
    const s = openAt(path);
    assert.equal(s.upgradedFrom, 1);
    assertHolds(s, c);
    s.close();
    assert.equal(schemaVersion(path), '2');
    const again = openAt(path);
    assert.equal(again.upgradedFrom, null);
    assertHolds(again, c);
    // It is a full v2 store: it takes writes and reopens.
    again.setVersionStatus(3, 'active', 5000);
    again.close();
    const third = openAt(path);
    assert.equal(third.activeVersion()?.id, 3);
    third.close();
    // And an old build refuses it rather than misreading it.
    expectKsError(() => openSqliteKeyStoreV1({ path, storageKey: STORAGE_KEY, scope: SCOPE }), 'corrupt', `${path} has key store schema version 2; this build reads version 1`);
  });

  it('a v1 store whose last writes a crash left in its WAL is upgraded with them', () => {
    const c = contents();
    const path = v1Store(c);
    const child = `
      import { openSqliteKeyStoreV1 } from ${JSON.stringify(new URL('./fixtures/key-store-v1/sqlite-key-store-v1.ts', import.meta.url).pathname)};
      const s = openSqliteKeyStoreV1({ path: ${JSON.stringify(path)}, storageKey: Buffer.from(${JSON.stringify(hex(STORAGE_KEY))}, 'hex'),
        scope: { chainId: 31337n, registry: ${JSON.stringify(SCOPE.registry)}, operator: ${JSON.stringify(SCOPE.operator)} } });
      s.setMeta('lastProcessedBoundary', '600');
      s.deleteRoundState(2);
      process.kill(process.pid, 'SIGKILL');`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { encoding: 'utf8' });
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    assert.ok(statSync(`${path}-wal`).size > 0, 'the crash left a non-empty WAL');
    const s = openAt(path);
    assert.equal(s.upgradedFrom, 1);
    assert.equal(s.getMeta('lastProcessedBoundary'), '600');
    assert.equal(s.getRoundState(2), null);
    assert.deepEqual(s.listVersions(), c.versions);
    s.close();
  });

  // Where a child process is killed, by the first SQL (or pragma) containing the text.
  const CRASH_POINTS: [string, string, 'v1' | 'v2'][] = [
    ['at its first write (dropping the v1 tables)', 'DROP TABLE versions', 'v1'],
    ['half-way through copying rows', 'INSERT OR REPLACE INTO round_states', 'v1'],
    ['at its first row (the v2 header)', 'INSERT OR REPLACE INTO meta (key, value, mac) VALUES (?, ?, ?)', 'v1'],
    ['at its last write (the manifest)', "INSERT OR REPLACE INTO meta (key, value, mac) VALUES ('manifest', ?, ?)", 'v1'],
    ['while checking the result, before the commit', 'SELECT key, value, mac FROM meta', 'v1'],
    ['after the commit, before the WAL is emptied', 'wal_checkpoint(TRUNCATE)', 'v2'],
  ];
  for (const [when, sql, after] of CRASH_POINTS) {
    it(`the upgrade is one transaction: a crash ${when} leaves ${after === 'v1' ? 'the v1 store, which the next open upgrades' : 'the upgraded store'}; nothing is lost`, () => {
      const c = contents();
      const path = v1Store(c);
      const child = `
        import Database from 'better-sqlite3';
        import { openSqliteKeyStore } from ${JSON.stringify(new URL('../../src/node/sqlite-key-store.ts', import.meta.url).pathname)};
        const hit = (text) => { if (String(text).includes(${JSON.stringify(sql)})) process.kill(process.pid, 'SIGKILL'); };
        for (const m of ['exec', 'prepare', 'pragma']) {
          const original = Database.prototype[m];
          Database.prototype[m] = function (text, ...rest) { hit(text); return original.call(this, text, ...rest); };
        }
        openSqliteKeyStore({ path: ${JSON.stringify(path)}, storageKey: Buffer.from(${JSON.stringify(hex(STORAGE_KEY))}, 'hex'),
          scope: { chainId: 31337n, registry: ${JSON.stringify(SCOPE.registry)}, operator: ${JSON.stringify(SCOPE.operator)} } });
        console.log('not killed');`;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { encoding: 'utf8', cwd: new URL('../..', import.meta.url).pathname });
      assert.equal(r.signal, 'SIGKILL', `the child was not killed ${when}: ${r.stdout}${r.stderr}`);
      assert.equal(schemaVersion(path), after === 'v1' ? '1' : '2');
      if (after === 'v1') {
        // Still a whole v1 store: the v1 code reads every value.
        const old = openSqliteKeyStoreV1({ path, storageKey: STORAGE_KEY, scope: SCOPE });
        assertHolds(old, c);
        old.close();
      }
      const s = openAt(path);
      assert.equal(s.upgradedFrom, after === 'v1' ? 1 : null);
      assertHolds(s, c);
      s.close();
    });
  }

  it('a v1 store with a damaged row is refused, naming the row, and left untouched as v1', () => {
    const c = contents();
    const path = v1Store(c);
    const raw = new Database(path);
    const share = (raw.prepare('SELECT share FROM versions WHERE id = 2').get() as { share: Buffer }).share;
    share[20] = (share[20] ?? 0) ^ 1;
    raw.prepare('UPDATE versions SET share = ? WHERE id = 2').run(share);
    raw.close();
    const before = fingerprint(path);
    expectKsError(
      () => openAt(path),
      'corrupt',
      `${path} is damaged: versions row 2 (could not decrypt the share of version 2: the stored value was altered or moved from another row); this version-1 store cannot be upgraded until that row is repaired or deleted`,
    );
    assert.equal(fingerprint(path), before);
    assert.equal(schemaVersion(path), '1');
  });

  it('a v1 store is refused as before under another storage key or scope, untouched', () => {
    const path = v1Store();
    const before = fingerprint(path);
    expectKsError(() => openAt(path, { storageKey: OTHER_STORAGE_KEY }), 'wrong-storage-key', 'the storage key does not open this key store');
    expectKsError(() => openAt(path, { scope: { ...SCOPE, chainId: 1n } }), 'scope-mismatch', 'this key store belongs to chain 31337, not 1');
    assert.equal(fingerprint(path), before);
    assert.equal(schemaVersion(path), '1');
  });

  it('the upgrade leaves no v1 ciphertext, and no plaintext secret, in the database, its WAL or free pages', () => {
    const c = contents();
    const path = v1Store(c);
    const raw = new Database(path, { readonly: true });
    const blobs = [
      ...(raw.prepare('SELECT share AS b FROM versions').all() as { b: Buffer }[]),
      ...(raw.prepare('SELECT secret AS b FROM session_keys').all() as { b: Buffer }[]),
      ...(raw.prepare('SELECT state AS b FROM round_states').all() as { b: Buffer }[]),
    ].map((r) => r.b);
    raw.close();
    const files = (): Buffer[] => [path, `${path}-wal`, `${path}-shm`].filter(existsSync).map((f) => readFileSync(f));
    // Sanity: the search finds the v1 blobs before the upgrade.
    assert.ok(blobs.every((b) => files().some((f) => f.includes(b.subarray(0, 32)))));
    const s = openAt(path);
    // While the store is open (the upgrade has returned) and after it is closed.
    for (const when of ['open', 'closed']) {
      for (const b of blobs) {
        for (const part of [b.subarray(1, 13), b.subarray(13, 45), b.subarray(b.length - 16)]) {
          assert.ok(!files().some((f) => f.includes(part)), `a piece of a v1 blob is still on disk (${when})`);
        }
      }
      if (when === 'open') s.close();
    }
    // The secrets themselves are only where they belong: sealed v2 values, decrypted by the dump.
    const dump = dumpSqliteStore(path, STORAGE_KEY);
    const needles = [...c.versions.map((v) => shareToBytes(v.share)), ...c.sessionKeys.map((k) => k.secretKey)];
    for (const f of findSecrets(dump, needles)) {
      // Carving finds the live v2 values too (format 0x02); a v1 blob would carve as 0x01.
      assert.match(f.where, /^(versions\[id=\d+\]\.share|session_keys\[public_key="0x[0-9a-f]+"\]\.secret) \(decrypted\) @ 0$|^carved db @ \d+ \(format 0x02\) @ 0$/, `${f.form} at ${f.where}`);
    }
  });
});
