/**
 * @module
 * The client's work for one key release (issue 7, item 5): given t partials from t operators,
 * batch-verify them against PK_j (one 2-pairing check after two MSMs), combine them (Lagrange
 * at 0 + G1 MSM), check the app key against MPK (one 2-pairing check) and open a 1 KiB IBE
 * envelope with it — for t = 3, 7, 20 (n = ⌈1.5 t⌉ holders, partials from the first t),
 * mcl backend (the default). `verify + combine + decrypt` is timed as ONE operation (the four
 * steps back to back), and each step on its own; figures are `measure` medians (`./timing.ts`).
 *
 * PK_j (a G2 MSM of t terms over the version's public polynomial, per holder) is the same for
 * every request of a key version, so a client computes it once per version; it is timed
 * separately (`PK_j for t holders`) and is not in the per-request total. Not timed: the HTTP
 * round trips, opening the t sealed answers (X25519 + AES-GCM each, ~0.1 ms) and checking the
 * t operator signatures.
 */
import { bls, type G2 } from '../src/crypto/bls12381/index.ts';
import { toHex } from '../src/crypto/domain.ts';
import * as fr from '../src/crypto/fr.ts';
import { decryptFromApp, encryptToApp } from '../src/crypto/ibe.ts';
import { operatorXs } from '../src/crypto/operator-x.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { batchVerifyPartials, combinePartials, partialSign, verifyAppKey } from '../src/crypto/threshold.ts';
import { deal, publicShare } from '../src/crypto/vss.ts';
import { measure, type BenchOptions } from './timing.ts';

const TS = [3, 7, 20] as const;
const APP_ID = '0x8f2a559490b1c7d3a7e0ad6b1bf05e0b5c7a4cf3f7e2b2d84c2c8b1a5d6e7f80';

export interface ClientResult {
  readonly t: number;
  readonly n: number;
  readonly batchVerifyMs: number;
  readonly combineMs: number;
  readonly verifyAppKeyMs: number;
  readonly decryptMs: number;
  /** The four steps as one operation. */
  readonly totalMs: number;
  /** Once per key version: PK_j of the t holders from the public polynomial. */
  readonly publicSharesMs: number;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`bench client: setup check failed: ${what}`);
}

function one(t: number, runs: number, minMs: number): ClientResult {
  const rng = seededRng(`bench-client/${t}`);
  const n = Math.ceil(1.5 * t);
  const xs = operatorXs(Array.from({ length: n }, () => toHex(rng(20))));
  const d = deal(rng, t, xs, fr.random(rng));
  const mpk = d.commitments[0] as G2;
  const signers = xs.slice(0, t);
  const pks = signers.map((x) => publicShare(d.commitments, x));
  const partials = d.shares.slice(0, t).map((s) => partialSign(s, APP_ID));
  const toVerify = partials.map((partial, i) => ({ x: signers[i] as bigint, publicShare: pks[i] as G2, partial }));
  const toCombine = partials.map((partial, i) => ({ x: signers[i] as bigint, partial }));
  const payload = rng(1024);
  const envelope = encryptToApp(mpk, APP_ID, payload, rng);
  const weights = seededRng('bench-client/weights');
  const appKey = combinePartials(toCombine);
  check(batchVerifyPartials(toVerify, APP_ID, weights).length === 0, 'partials verify');
  check(verifyAppKey(mpk, APP_ID, appKey), 'app key verifies');
  check(toHex(decryptFromApp(appKey, APP_ID, envelope)) === toHex(payload), 'envelope opens');

  const ms = (f: () => unknown): number => 1000 / measure(f, runs, minMs);
  const total = (): Uint8Array => {
    if (batchVerifyPartials(toVerify, APP_ID, weights).length !== 0) throw new Error('bad partial');
    const key = combinePartials(toCombine);
    if (!verifyAppKey(mpk, APP_ID, key)) throw new Error('bad app key');
    return decryptFromApp(key, APP_ID, envelope);
  };
  return {
    t, n,
    totalMs: ms(total),
    batchVerifyMs: ms(() => batchVerifyPartials(toVerify, APP_ID, weights)),
    combineMs: ms(() => combinePartials(toCombine)),
    verifyAppKeyMs: ms(() => verifyAppKey(mpk, APP_ID, appKey)),
    decryptMs: ms(() => decryptFromApp(appKey, APP_ID, envelope)),
    publicSharesMs: ms(() => signers.map((x) => publicShare(d.commitments, x))),
  };
}

export async function benchClient(opts: BenchOptions): Promise<ClientResult[]> {
  const runs = opts.runs ?? 5;
  const minMs = opts.minMs ?? 300;
  const results = TS.map((t) => one(t, runs, minMs));
  if (opts.json) {
    console.log(JSON.stringify({ suite: 'client', backend: bls.name, results }));
    return results;
  }
  const f = (v: number): string => v.toFixed(2).padStart(10);
  console.log(`Client verify + combine + decrypt (ms, median of ${runs} runs of >= ${minMs} ms, backend ${bls.name}, 1 KiB envelope)`);
  console.log(`${'t'.padStart(3)}${'n'.padStart(4)}${'batch-verify'.padStart(14)}${'combine'.padStart(10)}${'verifyAppKey'.padStart(14)}${'decrypt'.padStart(10)}${'TOTAL'.padStart(10)}${'  PK_j for t (per version)'}`);
  for (const r of results) {
    console.log(`${String(r.t).padStart(3)}${String(r.n).padStart(4)}${f(r.batchVerifyMs).padStart(14)}${f(r.combineMs)}${f(r.verifyAppKeyMs).padStart(14)}${f(r.decryptMs)}${f(r.totalMs)}${f(r.publicSharesMs)}`);
  }
  const t20 = results.find((r) => r.t === 20);
  if (t20 !== undefined) console.log(`budget: total at t = 20 <= 60 ms: ${t20.totalMs <= 60 ? 'met' : 'missed'} (${t20.totalMs.toFixed(1)} ms)`);
  return results;
}
