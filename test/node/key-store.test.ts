// The operator key store (SPEC 4, 5; issue 5 "Key store"): one suite run against both
// implementations, then what only the SQLite file has (encryption at rest, refusing to open
// under the wrong key or scope without touching the file, row binding, permissions), then
// the storage-key parsing and sealing in store-crypto.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { R } from '../../src/crypto/fr.ts';
import type { Address, Hex } from '../../src/protocol/ledger.ts';
import {
  type KeyStore,
  type StoreScope,
  type StoredSessionKey,
  type StoredVersion,
} from '../../src/node/key-store.ts';
import { MemoryKeyStore } from '../../src/node/memory-key-store.ts';
import { expectKsError, hex, HOLDERS, MPK, OTHER_OPERATOR, OTHER_STORAGE_KEY, poly, SCOPE, sessionKey, STORAGE_KEY, tmpDir, version } from './key-store-fixtures.ts';
import { openSqliteKeyStore, type SqliteKeyStore } from '../../src/node/sqlite-key-store.ts';
import {
  KEY_CHECK_AAD,
  SEALED_FORMAT_V1,
  SEALED_FORMAT_V2,
  deriveStoreKeys,
  rowAadV2,
  rowMac,
  importStorageKey,
  makeKeyCheck,
  openValue,
  parseStorageKey,
  rowAad,
  sealValue,
  shareToBytes,
  verifyKeyCheck,
} from '../../src/node/store-crypto.ts';

// ---------------------------------------------------------------------------------------
// Fixtures

const OTHER_REGISTRY: Address = '0xe7f1725e7734ce288f8367e1bb143e90bb3f0512';
const OTHER_MPK = `0x${'a2'.repeat(96)}` as Hex;
const STORE_ID = Uint8Array.from(randomBytes(16));

interface Impl {
  readonly name: string;
  open(): KeyStore;
}

const IMPLS: Impl[] = [
  { name: 'memory', open: () => new MemoryKeyStore(SCOPE) },
  { name: 'sqlite', open: () => openSqliteKeyStore({ path: join(tmpDir(), 'keys.sqlite'), storageKey: STORAGE_KEY, scope: SCOPE }) },
];

// ---------------------------------------------------------------------------------------
// The shared suite

for (const impl of IMPLS) {
  describe(`key store (${impl.name}): shared behaviour`, () => {
    let store: KeyStore;
    beforeEach(() => {
      store = impl.open();
    });
    afterEach(() => store.close());

    it('starts empty', () => {
      assert.deepEqual(store.scope, SCOPE);
      assert.equal(store.mpk(), null);
      assert.deepEqual(store.listVersions(), []);
      assert.equal(store.activeVersion(), null);
      assert.equal(store.versionAt(1e9), null);
      assert.equal(store.getVersion(1), null);
      assert.deepEqual(store.listSessionKeys(), []);
      assert.equal(store.getRoundState(1), null);
      assert.equal(store.getMeta('lastProcessedBoundary'), null);
    });

    it('versions: put, get, replace, list in ascending id', () => {
      const v3 = version(3);
      const v1 = version(1, { status: 'retired' });
      const v2 = version(2, { status: 'pending' });
      for (const v of [v3, v1, v2]) store.putVersion(v);
      assert.deepEqual(store.getVersion(3), v3);
      assert.deepEqual(store.listVersions(), [v1, v2, v3]);
      const v3b = version(3, { share: 5n, confirmedAt: 7 });
      store.putVersion(v3b);
      assert.deepEqual(store.getVersion(3), v3b);
      assert.equal(store.listVersions().length, 3);
    });

    it('versions: hex and addresses are stored lowercase', () => {
      const v = version(1);
      store.putVersion({ ...v, publicPolyHash: v.publicPolyHash.toUpperCase().replace('0X', '0x') as Hex, holders: ['0x00000000000000000000000000000000000000A1'] });
      const got = store.getVersion(1);
      assert.equal(got?.publicPolyHash, v.publicPolyHash);
      assert.deepEqual(got?.holders, ['0x00000000000000000000000000000000000000a1']);
    });

    it('activeVersion is the newest active; versionAt is the newest activated by t, retired included', () => {
      store.putVersion(version(1, { status: 'retired', activatedAt: 100 }));
      store.putVersion(version(2, { status: 'active', activatedAt: 200 }));
      store.putVersion(version(3, { status: 'pending' }));
      assert.equal(store.activeVersion()?.id, 2);
      assert.equal(store.versionAt(99), null);
      assert.equal(store.versionAt(100)?.id, 1);
      assert.equal(store.versionAt(199)?.id, 1);
      assert.equal(store.versionAt(200)?.id, 2);
      assert.equal(store.versionAt(1e12)?.id, 2, 'a pending version is never "active at" any time');
    });

    it('setVersionStatus moves pending → active → retired and never back', () => {
      store.putVersion(version(1, { status: 'pending' }));
      expectKsError(() => store.setVersionStatus(1, 'active'), 'bad-argument', 'version 1: becoming active needs activatedAt (the chain time its session completed)');
      store.setVersionStatus(1, 'active', 500);
      assert.equal(store.getVersion(1)?.status, 'active');
      assert.equal(store.getVersion(1)?.activatedAt, 500);
      store.setVersionStatus(1, 'retired');
      assert.deepEqual([store.getVersion(1)?.status, store.getVersion(1)?.activatedAt], ['retired', 500]);
      expectKsError(() => store.setVersionStatus(1, 'active'), 'bad-argument', 'version 1 is retired and cannot become active');
      expectKsError(() => store.setVersionStatus(1, 'pending'), 'bad-argument', 'version 1 is retired and cannot become pending');
      expectKsError(() => store.setVersionStatus(9, 'active', 1), 'not-found', 'version 9 is not in the key store');
      store.putVersion(version(2, { status: 'pending' }));
      store.setVersionStatus(2, 'retired', 700); // learnt late: activated and already superseded
      assert.equal(store.versionAt(700)?.id, 2);
    });

    it('deleteVersion removes one version and is idempotent', () => {
      store.putVersion(version(1));
      store.putVersion(version(2));
      store.deleteVersion(1);
      store.deleteVersion(1);
      store.deleteVersion(42);
      assert.deepEqual(store.listVersions().map((v) => v.id), [2]);
    });

    it('refuses malformed versions with a message that never shows the share', () => {
      const v = version(1);
      const s = v.share.toString(16);
      expectKsError(() => store.putVersion({ ...v, share: R }), 'bad-argument', 'version 1: share must be a bigint with 0 ≤ share < r', [s]);
      expectKsError(() => store.putVersion({ ...v, share: -1n }), 'bad-argument', /share/);
      expectKsError(() => store.putVersion({ ...v, share: 5 as unknown as bigint }), 'bad-argument', /share/);
      expectKsError(() => store.putVersion({ ...v, publicPoly: poly(3) }), 'bad-argument', 'version 1: publicPoly (threshold 2 × 96 bytes): expected 192 bytes, got 288', [s]);
      expectKsError(() => store.putVersion({ ...v, publicPolyHash: '0x12' }), 'bad-argument', /publicPolyHash: expected 32 bytes/, [s]);
      expectKsError(() => store.putVersion({ ...v, threshold: 0, publicPoly: '0x' }), 'bad-argument', /threshold must be at least 1/);
      expectKsError(() => store.putVersion({ ...v, holders: ['0x1234'] }), 'bad-argument', /holders\[0\]: expected 20 bytes/);
      expectKsError(() => store.putVersion({ ...v, status: 'pending' }), 'bad-argument', 'version 1: activatedAt must be null exactly while the version is pending', [s]);
      expectKsError(() => store.putVersion({ ...v, activatedAt: null }), 'bad-argument', /activatedAt must be null exactly/);
      expectKsError(() => store.putVersion({ ...v, status: 'done' as 'active' }), 'bad-argument', /status: expected pending, active or retired/);
      expectKsError(() => store.putVersion({ ...v, id: -1 }), 'bad-argument', 'version.id: expected a non-negative safe integer');
      assert.deepEqual(store.listVersions(), []);
    });

    it('MPK: binds once, rebinding to the same is a no-op, to another is refused', () => {
      store.bindMpk(MPK.toUpperCase().replace('0X', '0x') as Hex);
      assert.equal(store.mpk(), MPK);
      store.bindMpk(MPK);
      expectKsError(
        () => store.bindMpk(OTHER_MPK),
        'scope-mismatch',
        `this key store is bound to master public key ${MPK.slice(0, 18)}…, not ${OTHER_MPK.slice(0, 18)}…`,
      );
      expectKsError(() => store.bindMpk('0x1234'), 'bad-argument', 'mpk: expected 96 bytes, got 2');
      assert.equal(store.mpk(), MPK);
    });

    it('once bound, a version whose A_0 is not the MPK is refused (SPEC 1.2)', () => {
      store.putVersion(version(1, { publicPoly: poly(2, OTHER_MPK) })); // before binding: e.g. a failed genesis attempt
      store.bindMpk(MPK);
      expectKsError(
        () => store.putVersion(version(2, { publicPoly: poly(2, OTHER_MPK) })),
        'scope-mismatch',
        'version 2: its constant term A_0 is not the master public key this key store is bound to',
      );
      store.putVersion(version(2));
      assert.deepEqual(store.listVersions().map((v) => v.id), [1, 2]);
    });

    it('session keys: put, get (any case), list by createdAt, delete', () => {
      const a = sessionKey(300);
      const b = sessionKey(100);
      const c = sessionKey(200);
      for (const k of [a, b, c]) store.putSessionKey(k);
      assert.deepEqual(store.getSessionKey(a.publicKey), a);
      assert.deepEqual(store.getSessionKey(a.publicKey.toUpperCase().replace('0X', '0x') as Hex), a);
      assert.deepEqual(store.listSessionKeys(), [b, c, a]);
      store.deleteSessionKey(c.publicKey);
      store.deleteSessionKey(c.publicKey);
      assert.deepEqual(store.listSessionKeys(), [b, a]);
      assert.equal(store.getSessionKey(c.publicKey), null);
    });

    it('session keys: a secret that does not belong to the public key is refused', () => {
      const a = sessionKey(1);
      const b = sessionKey(2);
      expectKsError(
        () => store.putSessionKey({ ...a, secretKey: b.secretKey }),
        'bad-argument',
        `session key ${a.publicKey}: the secret key does not belong to this public key`,
        [hex(a.secretKey), hex(b.secretKey)],
      );
      expectKsError(() => store.putSessionKey({ ...a, secretKey: new Uint8Array(32) }), 'bad-argument', /not a valid secp256k1 scalar/);
      expectKsError(() => store.putSessionKey({ ...a, secretKey: a.secretKey.subarray(1) }), 'bad-argument', /secretKey must be 32 bytes/);
      expectKsError(() => store.putSessionKey({ ...a, publicKey: `0x04${a.publicKey.slice(4)}` }), 'bad-argument', /compressed secp256k1 point/);
      assert.deepEqual(store.listSessionKeys(), []);
    });

    it('round state: put, get, replace, delete; absent is null', () => {
      const state = { phase: 'ack', shares: { '0xa1': '0x' + 'cd'.repeat(32) }, list: [1, 'x', null, true] };
      store.putRoundState(7, state);
      assert.deepEqual(store.getRoundState(7), state);
      store.putRoundState(7, { phase: 'confirm' });
      assert.deepEqual(store.getRoundState(7), { phase: 'confirm' });
      store.deleteRoundState(7);
      store.deleteRoundState(7);
      assert.equal(store.getRoundState(7), null);
    });

    it('round state: what JSON cannot carry is refused with a clear error', () => {
      const e = expectKsError(() => store.putRoundState(3, { share: 123456789n }), 'bad-argument', 'round state of session 3 is not JSON-serializable (a bigint or a cycle?)', ['123456789']);
      assert.ok(e.cause instanceof TypeError);
      const cyclic: Record<string, unknown> = {};
      cyclic['self'] = cyclic;
      expectKsError(() => store.putRoundState(3, cyclic), 'bad-argument', /not JSON-serializable/);
      expectKsError(() => store.putRoundState(3, null), 'bad-argument', 'round state of session 3: must not be null or undefined');
      expectKsError(() => store.putRoundState(3, () => 1), 'bad-argument', /function or symbol/);
      assert.equal(store.getRoundState(3), null);
    });

    it('meta: set, overwrite, get', () => {
      store.setMeta('lastProcessedBoundary', '120');
      store.setMeta('lastProcessedBoundary', '180');
      store.setMeta('openRounds', '[4,5]');
      assert.equal(store.getMeta('lastProcessedBoundary'), '180');
      assert.equal(store.getMeta('openRounds'), '[4,5]');
      expectKsError(() => store.setMeta('', 'x'), 'bad-argument', /meta key/);
      expectKsError(() => store.setMeta('k', 5 as unknown as string), 'bad-argument', 'meta k: value must be a string');
    });

    it('transaction: commits all writes and returns the result', () => {
      const out = store.transaction(() => {
        store.putVersion(version(1));
        store.setMeta('m', '1');
        return 42;
      });
      assert.equal(out, 42);
      assert.equal(store.listVersions().length, 1);
      assert.equal(store.getMeta('m'), '1');
    });

    it('transaction: a throw keeps nothing it wrote, of any kind, and rethrows the same error', () => {
      store.putVersion(version(1, { status: 'pending' }));
      const k0 = sessionKey(1);
      store.putSessionKey(k0);
      store.putRoundState(1, { a: 1 });
      store.setMeta('m', 'before');
      const before = { versions: store.listVersions(), keys: store.listSessionKeys() };
      const boom = new Error('boom');
      assert.throws(
        () =>
          store.transaction(() => {
            store.bindMpk(MPK);
            store.putVersion(version(2));
            store.setVersionStatus(1, 'active', 99);
            store.deleteSessionKey(k0.publicKey);
            store.putSessionKey(sessionKey(2));
            store.putRoundState(1, { a: 2 });
            store.putRoundState(2, { b: 1 });
            store.setMeta('m', 'after');
            throw boom;
          }),
        (e: unknown) => e === boom,
      );
      assert.equal(store.mpk(), null);
      assert.deepEqual(store.listVersions(), before.versions);
      assert.deepEqual(store.listSessionKeys(), before.keys);
      assert.deepEqual(store.getRoundState(1), { a: 1 });
      assert.equal(store.getRoundState(2), null);
      assert.equal(store.getMeta('m'), 'before');
    });

    it('transaction: nested calls are savepoints (an inner throw undoes only the inner writes)', () => {
      store.transaction(() => {
        store.setMeta('outer', '1');
        assert.throws(() =>
          store.transaction(() => {
            store.setMeta('inner', '1');
            throw new Error('inner');
          }),
        );
        store.setMeta('outer2', '1');
      });
      assert.deepEqual([store.getMeta('outer'), store.getMeta('inner'), store.getMeta('outer2')], ['1', null, '1']);
    });

    it('transaction: a promise-returning function is refused and its writes undone', () => {
      expectKsError(
        () =>
          store.transaction(async () => {
            store.setMeta('m', 'async');
          }),
        'bad-argument',
        'transaction: the function must be synchronous (it returned a promise)',
      );
      assert.equal(store.getMeta('m'), null);
    });

    it('returned values are copies, and so are stored ones', () => {
      const v = version(1);
      const holders = [...HOLDERS];
      store.putVersion({ ...v, holders });
      holders[0] = OTHER_OPERATOR; // the caller mutates its input after the put
      // The types say readonly; a careless caller may still cast that away.
      const writable = (x: StoredVersion | null | undefined): Address[] => {
        assert.ok(x);
        return x.holders as Address[];
      };
      writable(store.getVersion(1)).push(OTHER_OPERATOR);
      writable(store.listVersions()[0]).length = 0;
      writable(store.activeVersion()).length = 0;
      assert.deepEqual(store.getVersion(1)?.holders, HOLDERS);

      const k = sessionKey(1);
      const input = Uint8Array.from(k.secretKey);
      store.putSessionKey({ ...k, secretKey: input });
      input.fill(0);
      store.getSessionKey(k.publicKey)?.secretKey.fill(0);
      store.listSessionKeys()[0]?.secretKey.fill(0);
      assert.deepEqual(store.getSessionKey(k.publicKey)?.secretKey, k.secretKey);

      const state = { nested: { list: [1, 2] } };
      store.putRoundState(1, state);
      state.nested.list.push(3);
      (store.getRoundState(1) as typeof state).nested.list.push(4);
      assert.deepEqual(store.getRoundState(1), { nested: { list: [1, 2] } });
    });

    it('after close every call is refused; close is idempotent', () => {
      store.close();
      store.close();
      expectKsError(() => store.listVersions(), 'closed', 'the key store is closed');
      expectKsError(() => store.setMeta('a', 'b'), 'closed');
      expectKsError(() => store.transaction(() => 1), 'closed');
    });
  });
}

// ---------------------------------------------------------------------------------------
// SQLite only

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

/** Hash of the store file and of whatever side files exist: what a refused open must not change. */
function fingerprint(path: string): string {
  const dir = join(path, '..');
  return JSON.stringify({
    files: readdirSync(dir).sort(),
    main: sha(path),
    wal: existsSync(`${path}-wal`) ? sha(`${path}-wal`) : null,
  });
}

/** All bytes SQLite holds for this store on disk (main file plus WAL). */
function rawBytes(path: string): Buffer {
  return Buffer.concat([readFileSync(path), existsSync(`${path}-wal`) ? readFileSync(`${path}-wal`) : Buffer.alloc(0)]);
}

function openAt(path: string, over: Partial<{ storageKey: Uint8Array; scope: StoreScope }> = {}): SqliteKeyStore {
  return openSqliteKeyStore({ path, storageKey: over.storageKey ?? STORAGE_KEY, scope: over.scope ?? SCOPE, busyTimeoutMs: 50 });
}

/** A store with one of everything, closed. */
function populated(): { path: string; v1: StoredVersion; v2: StoredVersion; k: StoredSessionKey } {
  const path = join(tmpDir(), 'keys.sqlite');
  const s = openAt(path);
  const v1 = version(1, { status: 'retired' });
  const v2 = version(2);
  const k = sessionKey(100);
  s.bindMpk(MPK);
  s.putVersion(v1);
  s.putVersion(v2);
  s.putSessionKey(k);
  s.putRoundState(2, { phase: 'done' });
  s.putRoundState(3, { phase: 'ack' });
  s.setMeta('lastProcessedBoundary', '120');
  s.close();
  return { path, v1, v2, k };
}

describe('key store (sqlite): the file', () => {
  it('is created 0600 in a 0700 directory, WAL, synchronous=FULL, exclusive, secure delete', () => {
    const root = tmpDir();
    const path = join(root, 'data', 'node-1', 'keys.sqlite');
    const s = openAt(path);
    s.putVersion(version(1)); // makes SQLite create its -wal
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(`${path}-wal`).mode & 0o777, 0o600);
    assert.equal(statSync(join(root, 'data', 'node-1')).mode & 0o777, 0o700);
    assert.equal(statSync(join(root, 'data')).mode & 0o777, 0o700);
    assert.deepEqual(s.settings(), { journalMode: 'wal', synchronous: 'full', lockingMode: 'exclusive', secureDelete: true });
    s.close();
    assert.deepEqual(readdirSync(join(root, 'data', 'node-1')), ['keys.sqlite'], 'no temporary or side files left behind');
    assert.equal(readFileSync(path)[18], 2, 'the file header says WAL');
  });

  it('a second open while the store is open is refused as in-use', () => {
    const path = join(tmpDir(), 'keys.sqlite');
    const s = openAt(path);
    try {
      expectKsError(() => openAt(path), 'in-use', `the key store ${path} is in use by another process`);
    } finally {
      s.close();
    }
    openAt(path).close();
  });

  it('reopened with the right key and scope, returns everything', () => {
    const { path, v1, v2, k } = populated();
    const s = openAt(path, { scope: { ...SCOPE, registry: SCOPE.registry.toUpperCase().replace('0X', '0x') as Address } });
    assert.equal(s.mpk(), MPK);
    assert.deepEqual(s.listVersions(), [v1, v2]);
    assert.deepEqual(s.activeVersion(), v2);
    assert.deepEqual(s.listSessionKeys(), [k]);
    assert.deepEqual(s.getRoundState(2), { phase: 'done' });
    assert.deepEqual(s.getRoundState(3), { phase: 'ack' });
    assert.equal(s.getMeta('lastProcessedBoundary'), '120');
    s.close();
  });

  it('keeps secrets encrypted at rest: no share, session secret or round state in the raw bytes', () => {
    const path = join(tmpDir(), 'keys.sqlite');
    const s = openAt(path);
    const v = version(1);
    const k = sessionKey(5);
    const marker = randomBytes(32).toString('hex');
    s.putVersion(v);
    s.putSessionKey(k);
    s.putRoundState(1, { myShare: `0x${marker}` });
    const needles = [Buffer.from(shareToBytes(v.share)), Buffer.from(k.secretKey), Buffer.from(marker), Buffer.from(v.share.toString(16)), Buffer.from(hex(k.secretKey))];
    const check = (when: string): void => {
      const raw = rawBytes(path);
      for (const n of needles) assert.equal(raw.indexOf(n), -1, `a secret is readable in the file (${when})`);
      // Sanity: the public fields are there in clear, so the search itself works.
      assert.notEqual(raw.indexOf(Buffer.from(v.publicPolyHash)), -1);
    };
    check('open, in the WAL');
    s.close();
    check('closed, checkpointed');
  });

  it('overwrites deleted secrets (secure_delete): not even the sealed blob stays in the file', () => {
    const { path, k } = populated();
    const raw = new Database(path, { readonly: true });
    const blob = (raw.prepare('SELECT secret FROM session_keys').get() as { secret: Buffer }).secret;
    raw.close();
    assert.notEqual(rawBytes(path).indexOf(blob), -1);
    const s = openAt(path);
    s.deleteSessionKey(k.publicKey);
    s.close();
    assert.equal(rawBytes(path).indexOf(blob), -1);
  });

  it('refuses a wrong storage key and leaves the file byte-identical', () => {
    const { path } = populated();
    const before = fingerprint(path);
    expectKsError(() => openAt(path, { storageKey: OTHER_STORAGE_KEY }), 'wrong-storage-key', 'the storage key does not open this key store');
    assert.equal(fingerprint(path), before);
  });

  const mismatches: [string, StoreScope, string][] = [
    ['chain', { ...SCOPE, chainId: 1n }, 'this key store belongs to chain 31337, not 1'],
    ['registry', { ...SCOPE, registry: OTHER_REGISTRY }, `this key store belongs to registry ${SCOPE.registry}, not ${OTHER_REGISTRY}`],
    ['operator', { ...SCOPE, operator: OTHER_OPERATOR }, `this key store belongs to operator ${SCOPE.operator}, not ${OTHER_OPERATOR}`],
  ];
  for (const [field, scope, message] of mismatches) {
    it(`refuses another ${field} by name and leaves the file byte-identical`, () => {
      const { path } = populated();
      const before = fingerprint(path);
      expectKsError(() => openAt(path, { scope }), 'scope-mismatch', message);
      assert.equal(fingerprint(path), before);
    });
  }

  it('refuses to rebind the MPK, also after a reopen', () => {
    const { path } = populated();
    const s = openAt(path);
    expectKsError(() => s.bindMpk(OTHER_MPK), 'scope-mismatch', /^this key store is bound to master public key 0xa1a1/);
    s.close();
    assert.equal(openAt(path).mpk(), MPK);
  });

  it('refuses an unknown schema version and a file that is not a key store, touching neither', () => {
    const { path } = populated();
    const raw = new Database(path);
    raw.prepare("UPDATE meta SET value = '7' WHERE key = 'schema_version'").run();
    raw.close();
    const before = fingerprint(path);
    expectKsError(() => openAt(path), 'corrupt', `${path} has key store schema version 7; this build reads version 2 (and upgrades version 1)`);
    assert.equal(fingerprint(path), before);

    const junk = join(tmpDir(), 'junk.sqlite');
    writeFileSync(junk, randomBytes(8192), { mode: 0o600 });
    const junkBefore = fingerprint(junk);
    expectKsError(() => openAt(junk), 'corrupt', `${junk} is not an eigenx-kms key store (not a SQLite database)`);
    assert.equal(fingerprint(junk), junkBefore);

    const other = join(tmpDir(), 'other.sqlite');
    const o = new Database(other);
    o.exec('CREATE TABLE t (x)');
    o.close();
    const otherBefore = fingerprint(other);
    expectKsError(() => openAt(other), 'corrupt', `${other} is not an eigenx-kms key store (it has no meta table)`);
    assert.equal(fingerprint(other), otherBefore);
  });

  it('refuses before touching anything even when a crash left committed pages in the WAL', () => {
    const path = join(tmpDir(), 'keys.sqlite');
    openAt(path).close();
    // A child process writes and dies without closing: the commit lives only in the -wal.
    const child = `
      import { openSqliteKeyStore } from ${JSON.stringify(new URL('../../src/node/sqlite-key-store.ts', import.meta.url).pathname)};
      const s = openSqliteKeyStore({ path: ${JSON.stringify(path)}, storageKey: Buffer.from(${JSON.stringify(hex(STORAGE_KEY))}, 'hex'),
        scope: { chainId: 31337n, registry: ${JSON.stringify(SCOPE.registry)}, operator: ${JSON.stringify(SCOPE.operator)} } });
      s.setMeta('lastProcessedBoundary', '600');
      process.kill(process.pid, 'SIGKILL');`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { encoding: 'utf8' });
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    assert.ok(statSync(`${path}-wal`).size > 0, 'the crash left a non-empty WAL');
    const before = fingerprint(path);
    expectKsError(() => openAt(path, { storageKey: OTHER_STORAGE_KEY }), 'wrong-storage-key');
    expectKsError(() => openAt(path, { scope: { ...SCOPE, chainId: 1n } }), 'scope-mismatch');
    assert.equal(fingerprint(path), before);
    const s = openAt(path);
    assert.equal(s.getMeta('lastProcessedBoundary'), '600', 'the committed write survived the crash');
    s.close();
  });

  it('binds every sealed value to its row: a value swapped between rows is refused at open', () => {
    const swaps: [string, string, string, (raw: Database.Database) => [unknown, unknown], string][] = [
      ['versions', 'share', 'id', () => [1, 2], 'versions row 1'],
      ['session_keys', 'secret', 'public_key', (raw) => {
        const keys = raw.prepare('SELECT public_key FROM session_keys ORDER BY created_at').all() as { public_key: string }[];
        return [keys[0]?.public_key, keys[1]?.public_key];
      }, 'session_keys row "0x0'],
      ['round_states', 'state', 'session', () => [2, 3], 'round_states row 2'],
    ];
    for (const [table, col, keyCol, pick, name] of swaps) {
      const { path } = populated();
      const s2 = openAt(path);
      s2.putSessionKey(sessionKey(200));
      s2.close();
      const raw = new Database(path);
      const [a, b] = pick(raw);
      const get = raw.prepare(`SELECT ${col} AS v FROM ${table} WHERE ${keyCol} = ?`);
      const va = (get.get(a) as { v: Buffer }).v;
      const vb = (get.get(b) as { v: Buffer }).v;
      const set = raw.prepare(`UPDATE ${table} SET ${col} = ? WHERE ${keyCol} = ?`);
      set.run(vb, a);
      set.run(va, b);
      raw.close();
      const before = fingerprint(path);
      const e = expectKsError(() => openAt(path), 'corrupt');
      assert.ok(e.message.startsWith(`${path} is damaged: ${name}`), e.message);
      assert.match(e.message, /was altered or copied from another store \(its contents do not match its authentication tag\)$/);
      assert.equal(fingerprint(path), before);
    }
  });

  it('binds every row to its store: a row copied from another operator’s store is refused at open', () => {
    const a = populated();
    const bPath = join(tmpDir(), 'keys.sqlite');
    const scopeB = { ...SCOPE, operator: OTHER_OPERATOR };
    const b = openAt(bPath, { scope: scopeB });
    b.putVersion(version(1));
    b.close();
    const rawA = new Database(a.path, { readonly: true });
    const share = (rawA.prepare('SELECT share FROM versions WHERE id = 1').get() as { share: Buffer }).share;
    rawA.close();
    const rawB = new Database(bPath);
    rawB.prepare('UPDATE versions SET share = ? WHERE id = 1').run(share);
    rawB.close();
    expectKsError(
      () => openAt(bPath, { scope: scopeB }),
      'corrupt',
      `${bPath} is damaged: versions row 1 was altered or copied from another store (its contents do not match its authentication tag)`,
    );
  });

  it('a public field edited by hand is refused at open, not passed on', () => {
    const { path } = populated();
    const raw = new Database(path);
    raw.prepare("UPDATE versions SET public_poly = '0x1234' WHERE id = 2").run();
    raw.close();
    expectKsError(() => openAt(path), 'corrupt', `${path} is damaged: versions row 2 was altered or copied from another store (its contents do not match its authentication tag)`);
  });

  it('refuses bad open arguments without creating anything', () => {
    const dir = tmpDir();
    const path = join(dir, 'keys.sqlite');
    expectKsError(() => openSqliteKeyStore({ path, storageKey: new Uint8Array(31), scope: SCOPE }), 'bad-argument', 'storage key: expected 32 bytes');
    expectKsError(() => openSqliteKeyStore({ path, storageKey: new Uint8Array(32), scope: SCOPE }), 'bad-argument', 'storage key: must not be all zeros');
    expectKsError(() => openSqliteKeyStore({ path, storageKey: STORAGE_KEY, scope: { ...SCOPE, chainId: 0n } }), 'bad-argument', 'scope.chainId: expected a bigint ≥ 1');
    expectKsError(() => openSqliteKeyStore({ path, storageKey: STORAGE_KEY, scope: { ...SCOPE, operator: '0x12' } }), 'bad-argument', 'scope.operator: expected 20 bytes, got 1');
    expectKsError(() => openSqliteKeyStore({ path: dir, storageKey: STORAGE_KEY, scope: SCOPE }), 'bad-argument', `key store path ${dir} is not a regular file`);
    assert.deepEqual(readdirSync(dir), []);
  });
});

// ---------------------------------------------------------------------------------------
// store-crypto

describe('store-crypto: storage key parsing', () => {
  const k = 'a'.repeat(62) + '0b';
  it('accepts 64 hex characters, optionally 0x-prefixed, any case, surrounding whitespace', () => {
    for (const input of [k, `0x${k}`, `0X${k.toUpperCase()}`, `  ${k}\n`, `0x${k}\r\n`]) {
      assert.equal(hex(parseStorageKey(input)), k);
    }
  });

  it('refuses anything else with one line that never repeats the input', () => {
    const format = 'storage key: expected 64 hex characters (32 bytes), optionally prefixed with 0x';
    for (const input of [k.slice(2), `${k}00`, `${k.slice(1)}g`, '', '0x', `0x ${k}`, `${k} ${k}`, 'correct horse battery staple']) {
      const e = expectKsError(() => parseStorageKey(input), 'bad-argument', format);
      if (input.trim().length > 4) assert.ok(!e.message.includes(input.trim()));
    }
    expectKsError(() => parseStorageKey('0'.repeat(64)), 'bad-argument', 'storage key: must not be all zeros');
    expectKsError(() => parseStorageKey(42 as unknown as string), 'bad-argument', 'storage key: expected a string');
  });
});

const SCHEMES = [
  {
    name: 'v1 (storage key, format 0x01)',
    format: SEALED_FORMAT_V1,
    key: importStorageKey(STORAGE_KEY),
    otherKey: importStorageKey(OTHER_STORAGE_KEY),
    aad: (scope: StoreScope, table: string, row: string) => rowAad(scope, table, row),
    expectedAad: 'eigenx-kms/key-store/v1|31337|0x5fbdb2315678afecb367f032d93f642f64180aa3|0x00000000000000000000000000000000000000a1|versions|1',
  },
  {
    name: 'v2 (derived K_enc, format 0x02, store id)',
    format: SEALED_FORMAT_V2,
    key: deriveStoreKeys(STORAGE_KEY).enc,
    otherKey: deriveStoreKeys(OTHER_STORAGE_KEY).enc,
    aad: (scope: StoreScope, table: string, row: string) => rowAadV2(scope, STORE_ID, table, row),
    expectedAad: `eigenx-kms/key-store/v2|31337|0x5fbdb2315678afecb367f032d93f642f64180aa3|0x00000000000000000000000000000000000000a1|${hex(STORE_ID)}|versions|1`,
  },
] as const;

for (const scheme of SCHEMES) {
  describe(`store-crypto: sealing ${scheme.name}`, () => {
    const { key, format } = scheme;
    const aad = scheme.aad(SCOPE, 'versions', '1');
    const pt = Uint8Array.from(randomBytes(32));

    it('round-trips, with a fresh nonce per write (1 + 12 + n + 16 bytes)', () => {
      const a = sealValue(key, aad, pt, format);
      const b = sealValue(key, aad, pt, format);
      assert.equal(a.length, 1 + 12 + 32 + 16);
      assert.equal(a[0], format);
      assert.notDeepEqual(a, b);
      assert.deepEqual(openValue(key, aad, a, 'x', format), pt);
      assert.deepEqual(openValue(key, aad, b, 'x', format), pt);
    });

    it('the row identity covers scope, table and row key (and, in v2, the store)', () => {
      assert.equal(aad, scheme.expectedAad);
      const blob = sealValue(key, aad, pt, format);
      const others = [
        scheme.aad(SCOPE, 'versions', '2'),
        scheme.aad(SCOPE, 'round_states', '1'),
        scheme.aad({ ...SCOPE, chainId: 1n }, 'versions', '1'),
        scheme.aad({ ...SCOPE, operator: OTHER_OPERATOR }, 'versions', '1'),
      ];
      if (format === SEALED_FORMAT_V2) others.push(rowAadV2(SCOPE, randomBytes(16), 'versions', '1'));
      for (const other of others) {
        expectKsError(() => openValue(key, other, blob, 'the thing', format), 'corrupt', 'could not decrypt the thing: the stored value was altered or moved from another row');
      }
    });

    it('any altered byte, a truncated blob, another key or the other format fails as corrupt', () => {
      const blob = sealValue(key, aad, pt, format);
      for (let i = 0; i < blob.length; i += 7) {
        const t = Buffer.from(blob);
        t[i] = (t[i] ?? 0) ^ 1;
        expectKsError(() => openValue(key, aad, t, 'x', format), 'corrupt');
      }
      expectKsError(() => openValue(key, aad, blob.subarray(0, 28), 'x', format), 'corrupt');
      expectKsError(() => openValue(scheme.otherKey, aad, blob, 'x', format), 'corrupt');
      const otherFormat = format === SEALED_FORMAT_V1 ? SEALED_FORMAT_V2 : SEALED_FORMAT_V1;
      expectKsError(() => openValue(key, aad, blob, 'x', otherFormat), 'corrupt');
    });

    it('key check: opens under its key and format only', () => {
      const check = makeKeyCheck(key, format);
      verifyKeyCheck(key, check, format);
      expectKsError(() => verifyKeyCheck(scheme.otherKey, check, format), 'wrong-storage-key', 'the storage key does not open this key store');
      expectKsError(() => verifyKeyCheck(key, check, format === SEALED_FORMAT_V1 ? SEALED_FORMAT_V2 : SEALED_FORMAT_V1), 'wrong-storage-key');
      // Sealed with its own associated data, so no row blob can pass for a key check.
      expectKsError(() => verifyKeyCheck(key, sealValue(key, aad, pt, format), format), 'wrong-storage-key');
      assert.deepEqual(Buffer.from(openValue(key, KEY_CHECK_AAD, check, 'check', format)).toString(), `eigenx-kms/key-store/key-check/v${format}`);
    });
  });
}

describe('store-crypto: derived keys and row MACs', () => {
  const keys = deriveStoreKeys(STORAGE_KEY);
  const ctx = { scope: SCOPE, storeId: STORE_ID };
  const exported = (k: KeyObject): string => k.export().toString('hex');

  it('K_enc and K_mac are HKDF-SHA256 of the storage key under their own labels, distinct from it and each other', () => {
    const hkdf = (info: string): string => Buffer.from(hkdfSync('sha256', STORAGE_KEY, Buffer.alloc(0), info, 32)).toString('hex');
    assert.equal(exported(keys.enc), hkdf('eigenx-kms/key-store/v2/encryption-key'));
    assert.equal(exported(keys.mac), hkdf('eigenx-kms/key-store/v2/row-mac-key'));
    assert.equal(exported(keys.v1), hex(STORAGE_KEY));
    assert.equal(new Set([exported(keys.enc), exported(keys.mac), hex(STORAGE_KEY)]).size, 3);
  });

  it('a row MAC changes with any column, the table, the store id or the scope', () => {
    const row = [3, 'retired', '0xabcd', null, Buffer.from('sealed')];
    const base = rowMac(keys.mac, ctx, 'versions', row);
    assert.equal(base.length, 32);
    assert.deepEqual(rowMac(keys.mac, ctx, 'versions', row), base, 'deterministic');
    const variants: [string, Buffer][] = [
      ['another key', rowMac(keys.mac, ctx, 'versions', [4, ...row.slice(1)])],
      ['another status', rowMac(keys.mac, ctx, 'versions', [3, 'active', ...row.slice(2)])],
      ['another blob', rowMac(keys.mac, ctx, 'versions', [...row.slice(0, 4), Buffer.from('sealeD')])],
      ['another table', rowMac(keys.mac, ctx, 'round_states', row)],
      ['another store', rowMac(keys.mac, { ...ctx, storeId: randomBytes(16) }, 'versions', row)],
      ['another operator', rowMac(keys.mac, { ...ctx, scope: { ...SCOPE, operator: OTHER_OPERATOR } }, 'versions', row)],
      ['another chain', rowMac(keys.mac, { ...ctx, scope: { ...SCOPE, chainId: 1n } }, 'versions', row)],
      ['another storage key', rowMac(deriveStoreKeys(OTHER_STORAGE_KEY).mac, ctx, 'versions', row)],
    ];
    for (const [what, mac] of variants) assert.notDeepEqual(mac, base, what);
  });

  it('the encoding is injective: shifted boundaries, types and null all give different MACs', () => {
    const mac = (values: (string | number | null | Uint8Array)[]): string => rowMac(keys.mac, ctx, 'kv', values).toString('hex');
    const cases = [
      ['ab', 'c'],
      ['a', 'bc'],
      ['abc'],
      ['abc', null],
      ['abc', ''],
      ['1'],
      [1],
      [Buffer.from('1')],
      [1.5],
      [null],
      [''],
      [0],
    ];
    assert.equal(new Set(cases.map(mac)).size, cases.length);
  });

  it('no key shows in inspection, of the keys or of an open store', async () => {
    const { inspect } = await import('node:util');
    const secrets = [hex(STORAGE_KEY), exported(keys.enc), exported(keys.mac)];
    const s = openSqliteKeyStore({ path: join(tmpDir(), 'k.sqlite'), storageKey: STORAGE_KEY, scope: SCOPE });
    for (const o of [keys, importStorageKey(STORAGE_KEY), s]) {
      const text = inspect(o, { showHidden: true, depth: 8 });
      for (const secret of secrets) assert.ok(!text.includes(secret));
    }
    s.close();
  });
});
