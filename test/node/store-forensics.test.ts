// The forensic helper (./store-forensics.ts) finds what it is meant to find: a planted
// share, in each form a secret can be written, in a live row, in a table it does not know,
// and in stale ciphertext SQLite left in the database file or the WAL; and nothing else.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { R } from '../../src/crypto/fr.ts';
import type { KeyStore } from '../../src/node/key-store.ts';
import { MemoryKeyStore } from '../../src/node/memory-key-store.ts';
import { SEALED_FORMAT_V2, deriveStoreKeys, rowAadV2, sealValue, shareToBytes } from '../../src/node/store-crypto.ts';
import { SCOPE, STORAGE_KEY, fingerprint, openAt, populated, sessionKey, version } from './key-store-fixtures.ts';
import { dumpMemoryStore, dumpSqliteStore, findSecrets, type StoreDump } from './store-forensics.ts';

/** A share whose big-endian encoding starts with a zero byte (its bigint hex is shorter). */
const shortShare = (): bigint => BigInt(`0x00${randomBytes(31).toString('hex')}`) % R;

interface Impl {
  readonly name: string;
  /** Runs `fill` on a fresh store, then dumps it. */
  dump(fill: (s: KeyStore) => void): StoreDump;
}

const IMPLS: Impl[] = [
  {
    name: 'memory',
    dump: (fill) => {
      const s = new MemoryKeyStore(SCOPE);
      fill(s);
      return dumpMemoryStore(s);
    },
  },
  {
    name: 'sqlite',
    dump: (fill) => {
      const { path } = populated();
      const s = openAt(path);
      fill(s);
      s.close();
      return dumpSqliteStore(path, STORAGE_KEY);
    },
  },
];

for (const impl of IMPLS) {
  describe(`store forensics (${impl.name})`, () => {
    it('finds a planted share held as a version, and a session secret, decrypted', () => {
      const v = version(9, { status: 'pending' });
      const k = sessionKey(900);
      const dump = impl.dump((s) => {
        s.putVersion(v);
        s.putSessionKey(k);
      });
      const found = findSecrets(dump, [shareToBytes(v.share), k.secretKey]);
      assert.ok(found.some((f) => f.needle === 0 && f.form === 'binary' && /^versions\[id=9\]\.share/.test(f.where)), JSON.stringify(found));
      assert.ok(found.some((f) => f.needle === 1 && f.form === 'binary' && /^session_keys\[.*\]\.secret/.test(f.where)), JSON.stringify(found));
    });

    it('finds a share written into a round state or a kv value in every textual form', () => {
      const share = shortShare();
      const bytes = shareToBytes(share);
      const h = Buffer.from(bytes).toString('hex');
      const planted: [string, string][] = [
        ['hex 0x lower', `0x${h}`],
        ['hex upper', h.toUpperCase()],
        ['hex mixed case', `${h.slice(0, 32)}${h.slice(32).toUpperCase()}`],
        ['hex without leading zeros 0x lower', `0x${share.toString(16)}`],
        ['decimal', share.toString()],
        ['byte list', JSON.stringify(Buffer.from(bytes))],
      ];
      planted.forEach(([form, text], i) => {
        const dump = impl.dump((s) => (i % 2 === 0 ? s.putRoundState(40 + i, { phase: 'dealt', secret: text }) : s.setMeta('note', `share=${text};`)));
        const forms = findSecrets(dump, [bytes]).filter((f) => !f.where.startsWith('file ') && !f.where.startsWith('carved')).map((f) => f.form);
        assert.ok(forms.includes(form), `${form}: found only as ${JSON.stringify(forms)}`);
      });
    });

    it('finds nothing that is not there', () => {
      const dump = impl.dump((s) => s.putVersion(version(9)));
      assert.deepEqual(findSecrets(dump, [randomBytes(32), randomBytes(32), shareToBytes(shortShare())]), []);
    });
  });
}

describe('store forensics (sqlite files)', () => {
  it('carving finds a deleted share in stale ciphertext left in the database file (secure_delete off)', () => {
    const { path, v1 } = populated();
    const raw = new Database(path);
    raw.pragma('secure_delete = OFF');
    raw.prepare('DELETE FROM versions WHERE id = 1').run();
    raw.close(); // checkpoints: the page without the row, but with its bytes, is in the file
    const found = findSecrets(dumpSqliteStore(path, STORAGE_KEY), [shareToBytes(v1.share)]);
    assert.ok(found.length > 0, 'not found');
    for (const f of found) assert.match(f.where, /^carved db @ \d+ \(format 0x02\) @ 0$/);
  });

  it('carving finds a share sealed into a WAL frame, and the dump reads a table the store does not know', () => {
    const { path } = populated();
    const share = shareToBytes(shortShare());
    const raw = new Database(path);
    const storeId = (raw.prepare("SELECT value FROM meta WHERE key = 'store_id'").get() as { value: Buffer }).value;
    raw.pragma('wal_autocheckpoint = 0');
    const blob = sealValue(deriveStoreKeys(STORAGE_KEY).enc, rowAadV2(SCOPE, storeId, 'versions', '9'), share, SEALED_FORMAT_V2);
    raw.exec('CREATE TABLE loot (x BLOB)');
    raw.prepare('INSERT INTO loot VALUES (?)').run(Buffer.from(share).toString('hex'));
    raw.prepare("INSERT INTO versions VALUES (9, 'pending', '0x', '0x', 1, '[]', 0, NULL, ?, x'00')").run(blob);
    try {
      const dump = dumpSqliteStore(path, STORAGE_KEY); // while the writer still holds the WAL
      const where = findSecrets(dump, [share]).map((f) => f.where);
      assert.ok(where.some((w) => /^carved wal @ \d+ \(format 0x02\) @ 0$/.test(w)), JSON.stringify(where));
      assert.ok(where.includes('versions[id=9].share (decrypted) @ 0'), JSON.stringify(where));
      assert.ok(where.some((w) => /^loot\[#0\]\.x @ 0$/.test(w)), JSON.stringify(where));
      assert.ok(where.some((w) => /^file wal @ \d+$/.test(w)), 'the hex in the unknown table is in the raw WAL');
    } finally {
      raw.close();
    }
  });

  it('the dump leaves the store as it found it, and the store still opens', () => {
    const { path, v2 } = populated();
    const before = fingerprint(path);
    const dump = dumpSqliteStore(path, STORAGE_KEY);
    assert.ok(dump.values.length > 40 && dump.files.has('db'));
    assert.equal(fingerprint(path), before);
    const s = openAt(path);
    assert.deepEqual(s.activeVersion(), v2);
    s.close();
  });
});
