/**
 * @module
 * Benchmark of the SQLite key store (`src/node/sqlite-key-store.ts`) on the calls the node
 * makes: the release path's version lookups (every `POST /app/sign`, `/secrets`), the round
 * state persisted before every submission, the confirmation transaction, retention's deletes,
 * and opening the store at start-up.
 *
 * The store holds what a node holds in steady state at t = 20 of n = 30: three versions
 * (public polynomial 20 × 96 bytes, 30 holders), three session keys, `KMS_BENCH_ROUNDS`
 * (default 50) round states of 4 KiB, and a few kv rows. The file lives in the OS temporary
 * directory (here on the same disk as the data directory would be): every write is a real
 * `synchronous=FULL` commit, so write figures are dominated by fsync and vary with the disk.
 */
import { createECDH, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { R } from '../src/crypto/fr.ts';
import type { Address, Hex } from '../src/protocol/ledger.ts';
import type { StoredSessionKey, StoredVersion } from '../src/node/key-store.ts';
import { openSqliteKeyStore, type SqliteKeyStore } from '../src/node/sqlite-key-store.ts';
import { measure, type BenchOptions } from './timing.ts';

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

export interface KeyStoreBenchResult {
  readonly op: string;
  readonly msPerOp: number;
}

export async function benchKeyStore(opts: BenchOptions): Promise<KeyStoreBenchResult[]> {
  const rounds = Number(process.env['KMS_BENCH_ROUNDS'] ?? '50');
  const runs = opts.runs ?? 5;
  const minMs = opts.minMs ?? 300;
  const dir = mkdtempSync(join(tmpdir(), 'kms-bench-store-'));
  const path = join(dir, 'keystore.sqlite');
  const open = (): SqliteKeyStore => openSqliteKeyStore({ path, storageKey: STORAGE_KEY, scope: SCOPE });
  const results: KeyStoreBenchResult[] = [];
  try {
    let store = open();
    store.bindMpk(MPK);
    store.putVersion(version(1, 'retired'));
    store.putVersion(version(2, 'active'));
    store.putVersion(version(3, 'pending'));
    for (let i = 0; i < 3; i++) store.putSessionKey(sessionKey(100 + i));
    for (let s = 1; s <= rounds; s++) store.putRoundState(s, roundState());
    store.setMeta('lastProcessedBoundary', '120');
    store.setMeta('openRounds', '[3]');

    const extra = sessionKey(1);
    const state = roundState();
    let n = 0;
    const ops: [string, () => unknown][] = [
      ['getVersion (release path)', () => store.getVersion(2)],
      ['activeVersion (release path)', () => store.activeVersion()],
      ['versionAt (release path)', () => store.versionAt(1200)],
      ['getRoundState (4 KiB)', () => store.getRoundState(3)],
      ['putRoundState, replacing (persist)', () => store.putRoundState(rounds, state)],
      [
        'transaction: round state + meta (persist)',
        () =>
          store.transaction(() => {
            store.putRoundState(rounds, state);
            store.setMeta('openRounds', `[${n++}]`);
          }),
      ],
      ['setMeta (kv)', () => store.setMeta('lastProcessedBoundary', String(n++))],
      ['putSessionKey new + deleteSessionKey', () => (store.putSessionKey(extra), store.deleteSessionKey(extra.publicKey))],
      [
        `close + open (${rounds} round states)`,
        () => {
          store.close();
          store = open();
        },
      ],
    ];
    for (const [op, f] of ops) {
      const opsPerSec = measure(f, runs, minMs);
      results.push({ op, msPerOp: 1000 / opsPerSec });
    }
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (opts.json) {
    console.log(JSON.stringify({ suite: 'key-store', rounds, results }));
  } else {
    console.log(`key store (SQLite, t = ${T}, n = ${N}, ${rounds} round states; ms per call, median of ${runs} runs)`);
    const width = Math.max(...results.map((r) => r.op.length)) + 2;
    for (const r of results) console.log(`${r.op.padEnd(width)}${r.msPerOp.toFixed(3).padStart(10)}`);
  }
  return results;
}
