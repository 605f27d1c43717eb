/**
 * @module
 * Benchmark of the SQLite key store (`src/node/sqlite-key-store.ts`) on the calls the node
 * makes: the release path's version lookups (every `POST /app/sign`, `/secrets`), reading
 * and persisting the round state (before every submission), a kv write, retention's deletes,
 * and opening the store at start-up.
 *
 * It measures the current store (schema 2: every row MAC'd and listed in a manifest; a WAL
 * checkpoint after every write that deletes or replaces a secret) against the schema-1 code
 * it replaced (frozen in `test/node/fixtures/key-store-v1`), both holding the same contents,
 * interleaved run by run (v1, v2, v1, v2, …) so that the load of a shared machine hits both
 * alike; the ratio v2/v1 is the median of the per-pair ratios.
 *
 * Contents, what a node holds in steady state at t = 20 of n = 30: three versions (public
 * polynomial 20 × 96 bytes, 30 holders), three session keys, `KMS_BENCH_ROUNDS` (default 50)
 * round states of 4 KiB, a few kv rows. The files live in the OS temporary directory (here on
 * the same disk as a data directory would be): every write is a real `synchronous=FULL`
 * commit, so write figures are dominated by fsync and vary with the disk and the load.
 */
import { createECDH, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { R } from '../src/crypto/fr.ts';
import type { Address, Hex } from '../src/protocol/ledger.ts';
import type { StoredSessionKey, StoredVersion } from '../src/node/key-store.ts';
import { openSqliteKeyStore } from '../src/node/sqlite-key-store.ts';
import { openSqliteKeyStoreV1 } from '../test/node/fixtures/key-store-v1/sqlite-key-store-v1.ts';
import type { BenchOptions } from './timing.ts';

const T = 20;
const N = 30;
const SCOPE = { chainId: 31337n, registry: '0x5fbdb2315678afecb367f032d93f642f64180aa3' as Address, operator: '0x00000000000000000000000000000000000000a1' as Address };
const STORAGE_KEY = Uint8Array.from(randomBytes(32));
const MPK = `0x${'a1'.repeat(96)}` as Hex;

const share = (): bigint => BigInt(`0x${randomBytes(32).toString('hex')}`) % R;

function version(id: number, status: StoredVersion['status']): StoredVersion {
  return {
    id,
    status,
    share: share(),
    publicPoly: `${MPK}${randomBytes(96 * (T - 1)).toString('hex')}` as Hex,
    publicPolyHash: `0x${randomBytes(32).toString('hex')}`,
    threshold: T,
    holders: Array.from({ length: N }, () => `0x${randomBytes(20).toString('hex')}` as Address),
    confirmedAt: 1000 + id * 60,
    activatedAt: status === 'pending' ? null : 1010 + id * 60,
  };
}

function sessionKey(createdAt: number): StoredSessionKey {
  const ecdh = createECDH('secp256k1');
  ecdh.generateKeys();
  return {
    publicKey: `0x${ecdh.getPublicKey('hex', 'compressed')}`,
    secretKey: Uint8Array.from(Buffer.from(ecdh.getPrivateKey('hex').padStart(64, '0'), 'hex')),
    createdAt,
  };
}

const roundState = (): unknown => ({ phase: 'acked', blob: randomBytes(2048).toString('hex') });

/** The calls measured; both store versions have them with these signatures. */
interface BenchStore {
  getVersion(id: number): unknown;
  activeVersion(): unknown;
  versionAt(t: number): unknown;
  getRoundState(session: number): unknown;
  putRoundState(session: number, state: unknown): void;
  setMeta(key: string, value: string): void;
  putSessionKey(k: StoredSessionKey): void;
  deleteSessionKey(publicKey: Hex): void;
  bindMpk(mpk: Hex): void;
  putVersion(v: StoredVersion): void;
  transaction<T>(fn: () => T): T;
  close(): void;
}

interface Subject {
  store: BenchStore;
  readonly open: () => BenchStore;
}

export interface KeyStoreBenchResult {
  readonly op: string;
  readonly v1Ms: number;
  readonly v2Ms: number;
  /** Median of the per-pair ratios v2/v1. */
  readonly ratio: number;
}

const median = (v: readonly number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;

/** Milliseconds per call of `f`, repeated for at least `minMs`. */
function msPerCall(f: () => unknown, minMs: number): number {
  let n = 0;
  const t0 = performance.now();
  let dt = 0;
  do {
    f();
    n++;
    dt = performance.now() - t0;
  } while (dt < minMs);
  return dt / n;
}

export async function benchKeyStore(opts: BenchOptions): Promise<KeyStoreBenchResult[]> {
  const rounds = Number(process.env['KMS_BENCH_ROUNDS'] ?? '50');
  const runs = opts.runs ?? 7;
  const minMs = opts.minMs ?? 250;
  const dirs: string[] = [];
  const versions = [version(1, 'retired'), version(2, 'active'), version(3, 'pending')];
  const keys = [sessionKey(100), sessionKey(101), sessionKey(102)];
  const states = Array.from({ length: rounds }, roundState);
  const subject = (which: 'v1' | 'v2'): Subject => {
    const dir = mkdtempSync(join(tmpdir(), `kms-bench-store-${which}-`));
    dirs.push(dir);
    const path = join(dir, 'keystore.sqlite');
    const open = (): BenchStore => (which === 'v1' ? openSqliteKeyStoreV1 : openSqliteKeyStore)({ path, storageKey: STORAGE_KEY, scope: SCOPE });
    const store = open();
    store.transaction(() => {
      store.bindMpk(MPK);
      for (const v of versions) store.putVersion(v);
      for (const k of keys) store.putSessionKey(k);
      states.forEach((s, i) => store.putRoundState(i + 1, s));
      store.setMeta('lastProcessedBoundary', '120');
      store.setMeta('openRounds', '[3]');
    });
    return { store, open };
  };
  const results: KeyStoreBenchResult[] = [];
  try {
    const v1 = subject('v1');
    const v2 = subject('v2');
    const extra = sessionKey(1);
    const state = roundState();
    let n = 0;
    const ops: [string, (x: Subject) => unknown][] = [
      ['getVersion (release path)', (x) => x.store.getVersion(2)],
      ['activeVersion (release path)', (x) => x.store.activeVersion()],
      ['versionAt (release path)', (x) => x.store.versionAt(1200)],
      ['getRoundState (4 KiB)', (x) => x.store.getRoundState(3)],
      ['putRoundState, replacing (persist)', (x) => x.store.putRoundState(rounds, state)],
      ['setMeta (kv; frees no secret)', (x) => x.store.setMeta('lastProcessedBoundary', String(n++))],
      ['putSessionKey new + deleteSessionKey', (x) => (x.store.putSessionKey(extra), x.store.deleteSessionKey(extra.publicKey))],
      [
        `close + open (${rounds} round states)`,
        (x) => {
          x.store.close();
          x.store = x.open();
        },
      ],
    ];
    for (const [op, f] of ops) {
      msPerCall(() => f(v1), minMs); // warm-up
      msPerCall(() => f(v2), minMs);
      const a: number[] = [];
      const b: number[] = [];
      const ratios: number[] = [];
      for (let i = 0; i < runs; i++) {
        const x = msPerCall(() => f(v1), minMs);
        const y = msPerCall(() => f(v2), minMs);
        a.push(x);
        b.push(y);
        ratios.push(y / x);
      }
      results.push({ op, v1Ms: median(a), v2Ms: median(b), ratio: median(ratios) });
    }
    v1.store.close();
    v2.store.close();
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  if (opts.json) {
    console.log(JSON.stringify({ suite: 'key-store', rounds, results }));
  } else {
    console.log(`key store (SQLite, t = ${T}, n = ${N}, ${rounds} round states; ms per call, median of ${runs} interleaved runs)`);
    const width = Math.max(...results.map((r) => r.op.length)) + 2;
    console.log(`${'call'.padEnd(width)}${'schema 1'.padStart(10)}${'schema 2'.padStart(10)}${'2 / 1'.padStart(8)}`);
    for (const r of results) console.log(`${r.op.padEnd(width)}${r.v1Ms.toFixed(3).padStart(10)}${r.v2Ms.toFixed(3).padStart(10)}${`${r.ratio.toFixed(2)}×`.padStart(8)}`);
  }
  return results;
}
