// Row authentication of the SQLite key store (security review, issue 12, finding 9: "someone
// who can write the file can mark a retired version active"). Each test is an attack on a
// closed store file with the sqlite3 API — what someone with write access to the data
// directory but without the storage key can do — followed by the node's open, which must
// refuse, say which table and row, and leave the file as it found it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { KeyStoreErrorCode } from '../../src/node/key-store.ts';
import { TABLES, openRows } from '../../src/node/sqlite-store-rows.ts';
import { SCHEMA_V1 } from '../../src/node/sqlite-store-v1.ts';
import { deriveStoreKeys } from '../../src/node/store-crypto.ts';
import { openSqliteKeyStoreV1 } from './fixtures/key-store-v1/sqlite-key-store-v1.ts';
import {
  MPK,
  SCOPE,
  STORAGE_KEY,
  copyStore,
  expectKsError,
  fingerprint,
  openAt,
  populated,
  sessionKey,
  tmpDir,
  version,
} from './key-store-fixtures.ts';

type Value = null | number | string | Buffer;
type RawRow = Record<string, Value>;
const TABLE_KEYS: Record<string, string> = { meta: 'key', versions: 'id', session_keys: 'public_key', round_states: 'session', kv: 'key' };

/** Runs `edit` on a raw read-write connection to the (closed) store at `path`. */
function tamper(path: string, edit: (raw: Database.Database) => void): void {
  const raw = new Database(path);
  try {
    edit(raw);
  } finally {
    raw.close();
  }
}

function rows(path: string, table: string): RawRow[] {
  const raw = new Database(path, { readonly: true });
  try {
    return raw.prepare(`SELECT * FROM ${table}`).all() as RawRow[];
  } finally {
    raw.close();
  }
}

/** How an error names a row (integer keys bare, text keys quoted). */
const named = (table: string, key: Value): string => `${table} row ${typeof key === 'string' ? JSON.stringify(key) : String(key)}`;

/** Expects the open to be refused with `code` (and `message`) and the file left as it was. */
function expectRefused(path: string, code: KeyStoreErrorCode, message: string | RegExp): void {
  const before = fingerprint(path);
  expectKsError(() => openAt(path), code, message);
  assert.equal(fingerprint(path), before, 'a refused open changed the file');
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A different value of the same SQLite type (and within the column's CHECK constraints). */
function mutate(column: string, v: Value): Value {
  if (column === 'status') return v === 'active' ? 'retired' : 'active';
  if (v === null) return 5;
  if (typeof v === 'number') return v + 1000;
  if (typeof v === 'string') {
    const last = v.at(-1) ?? '';
    return v.slice(0, -1) + (last === 'a' ? 'b' : /[0-9a-f]/.test(last) ? 'a' : 'z');
  }
  const b = Buffer.from(v);
  b[b.length - 1] = (b[b.length - 1] ?? 0) ^ 1;
  return b;
}

describe('key store (sqlite): every row is authenticated', () => {
  it('a retired version marked active by hand is refused at open, naming the row', () => {
    const { path } = populated();
    tamper(path, (raw) => raw.prepare("UPDATE versions SET status = 'active' WHERE id = 1").run());
    expectRefused(path, 'corrupt', `${path} is damaged: versions row 1 was altered or copied from another store (its contents do not match its authentication tag)`);
  });

  it('any change to any column of any row of any table is refused at open, naming the row (or the header check it fails)', () => {
    const base = populated().path;
    let cases = 0;
    for (const table of Object.keys(TABLE_KEYS)) {
      const keyCol = TABLE_KEYS[table] as string;
      for (const row of rows(base, table)) {
        const key = row[keyCol] ?? null;
        for (const column of Object.keys(row)) {
          const path = copyStore(base);
          const changed = mutate(column, row[column] ?? null);
          tamper(path, (raw) => raw.prepare(`UPDATE ${table} SET ${column} = ? WHERE ${keyCol} = ?`).run(changed, key));
          const newKey = column === keyCol ? changed : key;
          let code: KeyStoreErrorCode = 'corrupt';
          let message: RegExp;
          const header = table === 'meta' && column !== 'mac' ? String(key) : null;
          if (header === 'schema_version') message = /has key store schema version/;
          else if (header !== null && ['chain_id', 'registry', 'operator'].includes(header)) {
            if (column === 'key') message = new RegExp(`is damaged: meta ${header} is missing$`);
            else [code, message] = ['scope-mismatch', /^this key store belongs to /];
          } else if (header === 'key_check' || header === 'store_id') {
            if (column === 'key') message = new RegExp(`is damaged: meta ${header} is missing$`);
            else if (header === 'key_check') [code, message] = ['wrong-storage-key', /^the storage key does not open this key store$/];
            // Every MAC binds the store id: the first row checked, the manifest, fails.
            else message = /is damaged: meta row "manifest" was altered/;
          } else if (header === 'manifest' && column === 'key') message = /is damaged: meta row "manifest" is missing$/;
          else if (column === keyCol) message = new RegExp(`is damaged: ${esc(named(table, newKey))} was not written by this node`);
          else message = new RegExp(`is damaged: ${esc(named(table, key))} was altered`);
          expectRefused(path, code, message);
          cases++;
        }
      }
    }
    assert.ok(cases >= 70, `only ${cases} cases`);
  });

  it('two versions swapped between their ids are refused (a row cannot move to another key)', () => {
    const { path } = populated();
    tamper(path, (raw) => {
      raw.prepare('UPDATE versions SET id = 100 WHERE id = 1').run();
      raw.prepare('UPDATE versions SET id = 1 WHERE id = 2').run();
      raw.prepare('UPDATE versions SET id = 2 WHERE id = 100').run();
    });
    expectRefused(path, 'corrupt', `${path} is damaged: versions row 1 was altered or copied from another store (its contents do not match its authentication tag)`);
  });

  it('a row copied from another store of the same operator under the same storage key is refused', () => {
    // Both stores are this operator's (e.g. one made after a lost data directory, same key):
    // only the store id tells their rows apart.
    const a = populated();
    const b = populated();
    const [share] = rows(a.path, 'versions').filter((r) => r['id'] === 1);
    assert.ok(share);
    tamper(b.path, (raw) => raw.prepare('UPDATE versions SET share = ?, mac = ? WHERE id = 1').run(share['share'], share['mac']));
    expectRefused(b.path, 'corrupt', `${b.path} is damaged: versions row 1 was altered or copied from another store (its contents do not match its authentication tag)`);

    const c = populated();
    const [k] = rows(a.path, 'session_keys');
    assert.ok(k);
    tamper(c.path, (raw) => raw.prepare('INSERT INTO session_keys (public_key, created_at, secret, mac) VALUES (?, ?, ?, ?)').run(k['public_key'], k['created_at'], k['secret'], k['mac']));
    expectRefused(c.path, 'corrupt', new RegExp(`is damaged: ${esc(named('session_keys', k['public_key'] ?? null))} was not written by this node`));
  });

  it('a row deleted from any table is refused at open, naming it', () => {
    const deletions: [string, Value][] = [
      ['versions', 1],
      ['session_keys', null],
      ['round_states', 3],
      ['kv', 'lastProcessedBoundary'],
      ['meta', 'mpk'], // an unbound store would accept a version of another MPK
    ];
    for (const [table, k] of deletions) {
      const p = populated();
      const key = k ?? p.k1.publicKey;
      tamper(p.path, (raw) => raw.prepare(`DELETE FROM ${table} WHERE ${TABLE_KEYS[table]} = ?`).run(key));
      expectRefused(p.path, 'corrupt', `${p.path} is damaged: ${named(table, key)} is missing (deleted outside the node)`);
    }
  });

  it('an older copy of a row put back (one row rolled back) is refused at open, naming it', () => {
    const base = populated();
    const old = copyStore(base.path);
    const s = openAt(base.path);
    s.setVersionStatus(3, 'active', 2000);
    s.setMeta('lastProcessedBoundary', '180');
    s.putRoundState(3, { phase: 'confirm' });
    s.close();
    for (const [table, key] of [['versions', 3], ['kv', 'lastProcessedBoundary'], ['round_states', 3]] as const) {
      const path = copyStore(base.path);
      const [before] = rows(old, table).filter((r) => r[TABLE_KEYS[table] as string] === key);
      assert.ok(before);
      const cols = Object.keys(before);
      tamper(path, (raw) => raw.prepare(`INSERT OR REPLACE INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`).run(...cols.map((c) => before[c])));
      expectRefused(path, 'corrupt', `${path} is damaged: ${named(table, key)} is an older copy of that row, not the one last written (restored from a backup?)`);
    }
  });

  it('a row put back after the node deleted it is refused at open', () => {
    const base = populated();
    const old = copyStore(base.path);
    const s = openAt(base.path);
    s.deleteVersion(1);
    s.deleteSessionKey(base.k1.publicKey);
    s.close();
    for (const [table, key] of [['versions', 1], ['session_keys', base.k1.publicKey]] as const) {
      const path = copyStore(base.path);
      const [gone] = rows(old, table).filter((r) => r[TABLE_KEYS[table] as string] === key);
      assert.ok(gone);
      const cols = Object.keys(gone);
      tamper(path, (raw) => raw.prepare(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`).run(...cols.map((c) => gone[c])));
      expectRefused(
        path,
        'corrupt',
        `${path} is damaged: ${named(table, key)} was not written by this node (added by hand, copied from another store, or put back after it was deleted)`,
      );
    }
  });

  it('the manifest rolled back on its own is refused: the rows written since do not match it', () => {
    const base = populated();
    const old = copyStore(base.path);
    const s = openAt(base.path);
    s.putVersion(version(4, { status: 'pending' }));
    s.close();
    const [manifest] = rows(old, 'meta').filter((r) => r['key'] === 'manifest');
    assert.ok(manifest);
    tamper(base.path, (raw) => raw.prepare("UPDATE meta SET value = ?, mac = ? WHERE key = 'manifest'").run(manifest['value'], manifest['mac']));
    expectRefused(base.path, 'corrupt', /is damaged: versions row 4 was not written by this node/);
  });

  it('a schema object added by hand is refused: a trigger that keeps deleted shares, a table, an index, a view, a changed table', () => {
    const attacks: [string, string, RegExp][] = [
      [
        'trigger',
        "CREATE TRIGGER keep_shares AFTER DELETE ON versions BEGIN INSERT INTO kv (key, value, mac) VALUES ('loot' || old.id, hex(old.share), x'00'); END",
        /it has a schema object key store version 2 does not have: trigger keep_shares \(added by hand\?\)$/,
      ],
      ['table', 'CREATE TABLE loot (x BLOB)', /does not have: table loot/],
      ['index', 'CREATE INDEX by_status ON versions (status)', /does not have: index by_status/],
      ['view', 'CREATE VIEW shares AS SELECT share FROM versions', /does not have: view shares/],
      ['altered table', 'ALTER TABLE kv ADD COLUMN note TEXT', /is damaged: the definition of table kv is not that of key store version 2$/],
    ];
    for (const [, sql, message] of attacks) {
      const { path } = populated();
      tamper(path, (raw) => raw.exec(sql));
      expectRefused(path, 'corrupt', message);
    }
  });

  it('statistics from ANALYZE in the sqlite3 shell are not an attack: the store still opens', () => {
    const { path, v2 } = populated();
    tamper(path, (raw) => raw.exec('ANALYZE'));
    const s = openAt(path);
    assert.deepEqual(s.activeVersion(), v2);
    s.close();
  });

  it('a v2 store rewritten in the v1 layout (to be upgraded and vouched for again) is refused: its secrets do not open as v1', () => {
    // The attacker has an old v1 store of this operator (a backup) for a valid v1 key check,
    // and the current v2 store; they rebuild the v1 layout with the v2 rows, one status edited.
    const v1Path = join(tmpDir(), 'old.sqlite');
    openSqliteKeyStoreV1({ path: v1Path, storageKey: STORAGE_KEY, scope: SCOPE }).close();
    const [keyCheck] = rows(v1Path, 'meta').filter((r) => r['key'] === 'key_check');
    const { path: v2Path } = populated();
    const forged = join(tmpDir(), 'keys.sqlite');
    const raw = new Database(forged);
    raw.exec(SCHEMA_V1);
    const meta = raw.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
    for (const [k, v] of [['schema_version', '1'], ['chain_id', '31337'], ['registry', SCOPE.registry], ['operator', SCOPE.operator], ['mpk', MPK]]) meta.run(k, v);
    meta.run('key_check', keyCheck?.['value']);
    for (const r of rows(v2Path, 'versions')) {
      raw
        .prepare('INSERT INTO versions (id, status, public_poly, public_poly_hash, threshold, holders, confirmed_at, activated_at, share) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(r['id'], r['id'] === 1 ? 'active' : r['status'], r['public_poly'], r['public_poly_hash'], r['threshold'], r['holders'], r['confirmed_at'], r['activated_at'], r['share']);
    }
    raw.close();
    expectRefused(forged, 'corrupt', new RegExp(`^${esc(forged)} is damaged: versions row 1 \\(could not decrypt the share of version 1`));
  });

  it('a row altered, deleted or rolled back after the open is refused when it is read', () => {
    // The node holds its file exclusively, so this drives the row layer over an ordinary
    // connection and tampers through a second one, between the open's check and the reads.
    const base = populated();
    const old = rows(copyStore(base.path), 'kv').find((r) => r['key'] === 'lastProcessedBoundary');
    const s = openAt(base.path);
    s.setMeta('lastProcessedBoundary', '180');
    s.close();
    const db = new Database(base.path);
    try {
      const r = openRows(db, base.path, SCOPE, deriveStoreKeys(STORAGE_KEY));
      assert.equal(r.get(TABLES.versions, 1)?.['status'], 'retired');
      tamper(base.path, (raw) => {
        raw.prepare("UPDATE versions SET status = 'active' WHERE id = 1").run();
        raw.prepare('DELETE FROM round_states WHERE session = 3').run();
        raw.prepare('UPDATE kv SET value = ?, mac = ? WHERE key = ?').run(old?.['value'], old?.['mac'], 'lastProcessedBoundary');
      });
      const p = base.path;
      expectKsError(() => r.get(TABLES.versions, 1), 'corrupt', `${p} is damaged: versions row 1 was altered or copied from another store (its contents do not match its authentication tag)`);
      expectKsError(() => r.all(TABLES.versions, 'id'), 'corrupt', /versions row 1 was altered/);
      expectKsError(() => r.get(TABLES.round_states, 3), 'corrupt', `${p} is damaged: round_states row 3 is missing (deleted outside the node)`);
      expectKsError(() => r.all(TABLES.round_states, 'session'), 'corrupt', `${p} is damaged: round_states row 3 is missing (deleted outside the node)`);
      expectKsError(() => r.get(TABLES.kv, 'lastProcessedBoundary'), 'corrupt', `${p} is damaged: kv row "lastProcessedBoundary" is an older copy of that row, not the one last written (restored from a backup?)`);
    } finally {
      db.close();
    }
  });

  it('after rolled-back transactions and savepoints the store still opens and holds exactly what was committed', () => {
    const { path, k1, k2 } = populated();
    const s = openAt(path);
    assert.throws(() =>
      s.transaction(() => {
        s.putVersion(version(9));
        s.deleteSessionKey(k1.publicKey);
        throw new Error('rolled back');
      }),
    );
    const k3 = sessionKey(300);
    s.transaction(() => {
      s.setMeta('outer', '1');
      assert.throws(() =>
        s.transaction(() => {
          s.putSessionKey(k3);
          s.deleteRoundState(2);
          s.setMeta('inner', '1');
          throw new Error('inner rolled back');
        }),
      );
      s.deleteSessionKey(k2.publicKey);
    });
    s.close();
    const r = openAt(path); // the manifest on disk matches the rows on disk
    assert.equal(r.getVersion(9), null);
    assert.deepEqual(r.listSessionKeys(), [k1]);
    assert.deepEqual(r.getRoundState(2), { phase: 'done' });
    assert.deepEqual([r.getMeta('outer'), r.getMeta('inner')], ['1', null]);
    r.close();
  });
});
