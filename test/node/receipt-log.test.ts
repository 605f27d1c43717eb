// The operator's receipt log store (src/node/receipt-log.ts): append-only, chained, bounded
// listing, and — for the SQLite file — surviving restarts and refusing a damaged file.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { makeDomain, toHex, type Hex } from '../../src/crypto/domain.ts';
import { createOperatorSigner } from '../../src/crypto/operator-sig.ts';
import { decodeReceipt, encodeReceipt, entryHash, ZERO_HEAD, type Receipt } from '../../src/crypto/receipt.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { BACKGROUND_SYNC_MS, MemoryReceiptLog, openSqliteReceiptLog, ReceiptLogError, type ReceiptLog } from '../../src/node/receipt-log.ts';

const REGISTRY = '0x5fbdb2315678afecb367f032d93f642f64180aa3' as const;
const OPERATOR = '0x1111111111111111111111111111111111111111' as const;
const SCOPE = { chainId: 31337n, registry: REGISTRY, operator: OPERATOR } as const;
const DOMAIN = makeDomain({ chainId: 31337, registry: REGISTRY });
const signer = createOperatorSigner('ecdsa', new Uint8Array(32).fill(5), DOMAIN);
const rng = seededRng('receipt-log-tests');
const APPS: Hex[] = [toHex(rng(32)), toHex(rng(32))];

function receipt(position: number, prevHash: Hex, appId: Hex): Uint8Array {
  const r: Receipt = {
    operator: OPERATOR, position, prevHash, appId, epoch: 0, version: 1, route: '/app/sign', method: 'ecdsa', requestHash: toHex(rng(32)),
    responseKeyHash: toHex(rng(32)), block: position, time: 1_800_000_000, partialHash: toHex(rng(32)),
  };
  return encodeReceipt(r);
}

/** Appends n entries alternating between the two apps. */
function fill(log: ReceiptLog, n: number): void {
  for (let i = 0; i < n; i++) {
    const h = log.head();
    const bytes = receipt(h.count, h.hash, APPS[h.count % 2] as Hex);
    log.append(bytes, signer.sign(bytes));
  }
}

function tmp(): { dir: string; path: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'receipt-log-'));
  return { dir, path: join(dir, 'receipts.sqlite'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

const IMPLS: readonly [string, () => { log: ReceiptLog; done: () => void }][] = [
  ['memory', () => ({ log: new MemoryReceiptLog(), done: () => undefined })],
  ['sqlite', () => {
    const t = tmp();
    const log = openSqliteReceiptLog({ path: t.path, scope: SCOPE });
    return { log, done: () => { log.close(); t.done(); } };
  }],
];

for (const [name, make] of IMPLS) {
  describe(`receipt log: ${name}`, () => {
    it('appends chained entries; the head is the last entry\'s hash and count', () => {
      const { log, done } = make();
      try {
        assert.deepEqual(log.head(), { count: 0, hash: ZERO_HEAD });
        fill(log, 5);
        const all = log.list({ from: 0, limit: 100 });
        assert.deepEqual(all.map((e) => e.position), [0, 1, 2, 3, 4]);
        assert.deepEqual(log.head(), { count: 5, hash: all[4]?.hash });
        for (const [i, e] of all.entries()) {
          assert.equal(e.hash, entryHash(e.receipt));
          assert.equal(decodeReceipt(e.receipt).prevHash, i === 0 ? ZERO_HEAD : all[i - 1]?.hash);
        }
      } finally {
        done();
      }
    });

    it('refuses an entry that is not the next one (position, chain, size) and changes nothing', () => {
      const { log, done } = make();
      try {
        fill(log, 2);
        const before = log.head();
        const wrongPos = receipt(3, before.hash, APPS[0] as Hex);
        const wrongPrev = receipt(2, toHex(rng(32)), APPS[0] as Hex);
        for (const bytes of [wrongPos, wrongPrev, new Uint8Array(10)]) {
          assert.throws(() => log.append(bytes, signer.sign(bytes)), (e: unknown) => e instanceof ReceiptLogError && e.code === 'not-next');
        }
        assert.deepEqual(log.head(), before);
        assert.equal(log.list({ from: 0, limit: 10 }).length, 2);
      } finally {
        done();
      }
    });

    it('lists from a position, at most limit entries, optionally of one app', () => {
      const { log, done } = make();
      try {
        fill(log, 7);
        assert.deepEqual(log.list({ from: 2, limit: 3 }).map((e) => e.position), [2, 3, 4]);
        assert.deepEqual(log.list({ from: 6, limit: 3 }).map((e) => e.position), [6]);
        assert.deepEqual(log.list({ from: 9, limit: 3 }), []);
        assert.deepEqual(log.list({ from: 0, limit: 10, appId: APPS[1] }).map((e) => e.position), [1, 3, 5]);
        assert.deepEqual(log.list({ from: 2, limit: 2, appId: APPS[0] }).map((e) => e.position), [2, 4]);
        const copy = log.list({ from: 0, limit: 1 })[0];
        copy?.receipt.fill(0);
        assert.notEqual(log.list({ from: 0, limit: 1 })[0]?.receipt[0], 0, 'returned entries are copies');
      } finally {
        done();
      }
    });
  });
}

describe('receipt log: sqlite file', () => {
  it('survives a restart: the same entries and head after reopening, and appending continues the chain', () => {
    const t = tmp();
    try {
      const a = openSqliteReceiptLog({ path: t.path, scope: SCOPE });
      fill(a, 4);
      const head = a.head();
      const entries = a.list({ from: 0, limit: 10 });
      a.close();
      const b = openSqliteReceiptLog({ path: t.path, scope: SCOPE });
      assert.deepEqual(b.head(), head);
      assert.deepEqual(b.list({ from: 0, limit: 10 }), entries);
      fill(b, 1);
      assert.equal(decodeReceipt(b.list({ from: 4, limit: 1 })[0]?.receipt as Uint8Array).prevHash, head.hash);
      b.close();
    } finally {
      t.done();
    }
  });

  it('background (the node\'s mode): answers never wait for a sync, and the head a confirmation may commit is only ever one on stable storage', async () => {
    const t = tmp();
    try {
      const log = openSqliteReceiptLog({ path: t.path, scope: SCOPE });
      assert.deepEqual(log.durableHead(), log.head(), 'an empty log is durable');
      fill(log, 3);
      const appended = log.head();
      // durable() resolves at once; the committable head still lags until the background sync ran.
      await log.durable();
      assert.equal(log.durableHead().count, 0, 'nothing is committable before its fdatasync');
      const deadline = Date.now() + 5_000;
      while (log.durableHead().count < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(log.durableHead(), appended, `synced within ${BACKGROUND_SYNC_MS} ms of the append (plus the disk)`);
      // A later batch moves it again; entries appended during a sync wait for the next one.
      fill(log, 2);
      assert.equal(log.durableHead().count, 3);
      while (log.durableHead().count < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(log.durableHead(), log.head());
      fill(log, 1);
      log.close(); // closes with one entry not yet synced by the timer: the close's checkpoint syncs it
      const again = openSqliteReceiptLog({ path: t.path, scope: SCOPE });
      assert.equal(again.head().count, 6);
      assert.deepEqual(again.durableHead(), again.head(), 'what a reopened file holds is durable');
      again.close();
    } finally {
      t.done();
    }
  });

  for (const sync of ['background', 'group', 'full', 'normal'] as const) {
    it(`${sync}: durable() resolves for concurrent callers and the entries are in the file`, async () => {
      const t = tmp();
      try {
        const log = openSqliteReceiptLog({ path: t.path, scope: SCOPE, synchronous: sync });
        const waits: Promise<void>[] = [];
        for (let i = 0; i < 5; i++) {
          fill(log, 1);
          waits.push(log.durable());
        }
        await Promise.all(waits);
        log.close();
        await assert.rejects(() => log.durable(), /closed/);
        const again = openSqliteReceiptLog({ path: t.path, scope: SCOPE });
        assert.equal(again.head().count, 5);
        again.close();
      } finally {
        t.done();
      }
    });
  }

  it('is append-only: the file refuses UPDATE and DELETE', () => {
    const t = tmp();
    try {
      const log = openSqliteReceiptLog({ path: t.path, scope: SCOPE });
      fill(log, 2);
      log.close();
      const db = new Database(t.path);
      try {
        assert.throws(() => db.prepare('UPDATE receipts SET app_id = ? WHERE position = 0').run(APPS[1]), /append-only/);
        assert.throws(() => db.prepare('DELETE FROM receipts WHERE position = 1').run(), /append-only/);
        assert.equal((db.prepare('SELECT count(*) AS n FROM receipts').get() as { n: number }).n, 2);
      } finally {
        db.close();
      }
    } finally {
      t.done();
    }
  });

  it('refuses to open a damaged log, naming the first broken position, and another operator\'s log', () => {
    const t = tmp();
    try {
      const log = openSqliteReceiptLog({ path: t.path, scope: SCOPE });
      fill(log, 3);
      log.close();
      assert.throws(() => openSqliteReceiptLog({ path: t.path, scope: { ...SCOPE, operator: '0x2222222222222222222222222222222222222222' } }),
        (e: unknown) => e instanceof ReceiptLogError && e.code === 'scope-mismatch');
      // Someone with the file drops the guard and rewrites entry 1 (re-hashed, so only the chain shows it).
      const db = new Database(t.path);
      db.exec('DROP TRIGGER receipts_append_only_update');
      const row = db.prepare('SELECT receipt FROM receipts WHERE position = 1').get() as { receipt: Buffer };
      const r = decodeReceipt(new Uint8Array(row.receipt));
      const forged = encodeReceipt({ ...r, time: r.time + 1 });
      db.prepare('UPDATE receipts SET receipt = ?, hash = ? WHERE position = 1').run(Buffer.from(forged), Buffer.from(entryHash(forged).slice(2), 'hex'));
      db.close();
      assert.throws(() => openSqliteReceiptLog({ path: t.path, scope: SCOPE }), (e: unknown) => e instanceof ReceiptLogError && e.code === 'corrupt' && /damaged at position 2/.test(e.message));
    } finally {
      t.done();
    }
  });

  it('refuses a file of a newer schema version instead of guessing', () => {
    const t = tmp();
    try {
      openSqliteReceiptLog({ path: t.path, scope: SCOPE }).close();
      const db = new Database(t.path);
      db.prepare("UPDATE meta SET value = '2' WHERE key = 'schema_version'").run();
      db.close();
      assert.throws(() => openSqliteReceiptLog({ path: t.path, scope: SCOPE }), /schema version 2; this build reads up to 1/);
    } finally {
      t.done();
    }
  });
});
