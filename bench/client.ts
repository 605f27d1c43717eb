/**
 * @module
 * The client's work for one key release (issue 7, item 5) for t = 3, 7, 20 (n = ⌈1.5 t⌉
 * holders, answers from the first t), mcl backend (the default), 1 KiB IBE envelope. Figures
 * are medians in ms per operation: CPU time of this process (`process.cpuUsage`, user + system)
 * for the steps, wall and CPU time for the interleaved totals. CPU time is the steadier figure
 * on a shared machine (it does not count the time other processes hold the core).
 *
 * 1. Verify + combine + decrypt, before and after, measured INTERLEAVED (old run, new run, × 11;
 *    the ratio is the median of the per-pair ratios, so the noise of a shared machine hits both;
 *    in wall time and in this process's CPU time):
 *    - old: `batchVerifyPartials` against PK_j (G1 MSM + G2 MSM of t 128-bit terms + one
 *      2-pairing check), `combinePartials` (decode again + Lagrange + G1 MSM), `verifyAppKey`
 *      (hash Q(id) again + 2-pairing check), `decryptFromApp` with the key bytes (decoded again).
 *      Each step is also timed alone. PK_j is NOT in this total (cacheable per version; timed
 *      apart as `PK_j for t`) — but the client computed it on every request (`release.ts`).
 *    - new: `verifyAndCombinePartials` against the public polynomial (Q(id) hashed once, each
 *      partial decoded once, the first t combined, ONE 2-pairing check for every partial and the
 *      app key: G1 MSM of t+1 full-size terms Σ u_i·σ_i + ρ'·d, G2 MSM of t+1 128-bit terms
 *      Σ ρ_k·A_k + ρ'·MPK, no PK_j at all), then `decryptFromApp` with the key point.
 * 2. What else the real client does per request (`src/client/release.ts`): open t sealed answers
 *    (X25519 + HKDF + AES-GCM, `openAnswer`) and check t operator signatures — BN254 one by one
 *    (`verifyOperatorSignature`, what the client did) against batched (`verifyOperatorSignatures`:
 *    one multi-pairing, keys' Miller-loop lines cached; `cold` = first request, keys not yet
 *    decoded), ECDSA one by one (address recovery, nothing to batch).
 * 3. At t = 20, where the time of the new path goes (its steps on the facade, one by one).
 */
import { bls, APP_ID_DST, type G1, type G2 } from '../src/crypto/bls12381/index.ts';
import { makeDomain, toHex } from '../src/crypto/domain.ts';
import * as fr from '../src/crypto/fr.ts';
import { decryptFromApp, encryptToApp } from '../src/crypto/ibe.ts';
import { encodeAnswer, generateResponseKeyPair, openAnswer, sealResponse } from '../src/crypto/key-release.ts';
import { createOperatorSigner, generateOperatorSecretKey, verifyOperatorSignature, type OperatorKeyType } from '../src/crypto/operator-sig.ts';
import { operatorXs } from '../src/crypto/operator-x.ts';
import { lagrangeAtZero } from '../src/crypto/polynomial.ts';
import { seededRng } from '../src/crypto/rng.ts';
import {
  batchVerifyPartials,
  combinePartials,
  partialSign,
  verifyAndCombinePartials,
  verifyAppKey,
} from '../src/crypto/threshold.ts';
import { deal, publicShare, randomWeights } from '../src/crypto/vss.ts';
import { verifyOperatorSignatures, type OperatorSignatureToVerify } from '../src/client/operator-signatures.ts';
import type { BenchOptions } from './timing.ts';

const TS = [3, 7, 20] as const;
const APP_ID = '0x8f2a559490b1c7d3a7e0ad6b1bf05e0b5c7a4cf3f7e2b2d84c2c8b1a5d6e7f80';
const DOMAIN = makeDomain({ chainId: 31337, registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });

/** ms per op: CPU time, except the wall-time totals (`totalMs`, `newTotalMs`, `speedup`) and the cold batch. */
export interface ClientResult {
  readonly t: number;
  readonly n: number;
  /** Old path, each step alone. */
  readonly batchVerifyMs: number;
  readonly combineMs: number;
  readonly verifyAppKeyMs: number;
  readonly decryptMs: number;
  /** Old path: the four steps as one operation (PK_j cached), wall time. */
  readonly totalMs: number;
  /** New path: verifyAndCombinePartials alone (CPU), and with decrypt as one operation (wall). */
  readonly verifyCombineMs: number;
  readonly newTotalMs: number;
  /** Median of the interleaved per-pair ratios old TOTAL / new TOTAL. */
  readonly speedup: number;
  /** The same three in CPU time of this process (ms per op). */
  readonly totalCpuMs: number;
  readonly newTotalCpuMs: number;
  readonly speedupCpu: number;
  /** Once per key version in the old path (and per request in the old client): PK_j of the t holders. */
  readonly publicSharesMs: number;
  /** Per request: opening t sealed answers, re-deriving the response public key each time (before). */
  readonly openAnswersMs: number;
  /** The same with the public key the client holds (what the client does). */
  readonly openAnswersKnownKeyMs: number;
  /** Per request: t BN254 operator signatures one by one / batched (warm key cache) / batched cold. */
  readonly bn254OneByOneMs: number;
  readonly bn254BatchMs: number;
  readonly bn254BatchColdMs: number;
  /** Per request: t ECDSA operator signatures (one by one). */
  readonly ecdsaMs: number;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`bench client: setup check failed: ${what}`);
}

/** [wall ms, CPU ms of this process] per op over one run of at least `minMs` (at least one op). */
function perOp(f: () => unknown, minMs: number): [number, number] {
  let k = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  do {
    f();
    k++;
  } while (performance.now() - t0 < minMs);
  const wall = (performance.now() - t0) / k;
  const c = process.cpuUsage(c0);
  return [wall, (c.user + c.system) / 1000 / k];
}

/**
 * Median CPU time of this process per op (ms, user + system) over `runs` runs of at least
 * `minMs` wall time each (at least one op), after one warm-up run.
 */
function cpuMs(f: () => unknown, runs: number, minMs: number): number {
  const run = (): number => perOp(f, minMs)[1];
  run();
  const v = Array.from({ length: runs }, run).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)] as number;
}

/**
 * Old and new timed alternately, max(runs, 11) times after one warm-up each: medians and median
 * ratio a/b, of wall time and of this process's CPU time (user + system, `process.cpuUsage`;
 * less sensitive than wall time to other processes taking the core on a shared machine).
 */
function interleaved(a: () => unknown, b: () => unknown, runs: number, minMs: number): { a: number; b: number; ratio: number; aCpu: number; bCpu: number; cpuRatio: number } {
  const run = (f: () => unknown): [number, number] => perOp(f, minMs);
  const wa: number[] = [];
  const wb: number[] = [];
  const ca: number[] = [];
  const cb: number[] = [];
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  run(a); // warm-up
  run(b);
  for (let i = 0; i < Math.max(runs, 11); i++) {
    const [x, xc] = run(a);
    const [y, yc] = run(b);
    wa.push(x);
    wb.push(y);
    ca.push(xc);
    cb.push(yc);
    ratios.push(x / y);
    cpuRatios.push(xc / yc);
  }
  const med = (v: number[]): number => [...v].sort((p, q) => p - q)[Math.floor(v.length / 2)] as number;
  return { a: med(wa), b: med(wb), ratio: med(ratios), aCpu: med(ca), bCpu: med(cb), cpuRatio: med(cpuRatios) };
}

function signatures(type: OperatorKeyType, t: number, seed: string): OperatorSignatureToVerify[] {
  const rng = seededRng(seed);
  return Array.from({ length: t }, (_, i) => {
    const signer = createOperatorSigner(type, generateOperatorSecretKey(type, rng), DOMAIN);
    const payload = rng(141); // the size of partialPayload
    payload[0] = i; // never PoP-shaped (that is 23 bytes anyway)
    return { type, publicKey: signer.publicKey, payload, signature: signer.sign(payload) };
  });
}

function one(t: number, runs: number, minMs: number): ClientResult {
  const rng = seededRng(`bench-client/${t}`);
  const n = Math.ceil(1.5 * t);
  const xs = operatorXs(Array.from({ length: n }, () => toHex(rng(20))));
  const d = deal(rng, t, xs, fr.random(rng));
  const poly = d.commitments;
  const mpk = poly[0] as G2;
  const signers = xs.slice(0, t);
  const pks = signers.map((x) => publicShare(poly, x));
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
  const vc = verifyAndCombinePartials(poly, mpk, APP_ID, toCombine, weights);
  check(vc.bad.length === 0 && vc.appKeyValid && toHex(vc.appKey as Uint8Array) === toHex(appKey), 'new path gives the same key');

  const oldTotal = (): Uint8Array => {
    if (batchVerifyPartials(toVerify, APP_ID, weights).length !== 0) throw new Error('bad partial');
    const key = combinePartials(toCombine);
    if (!verifyAppKey(mpk, APP_ID, key)) throw new Error('bad app key');
    return decryptFromApp(key, APP_ID, envelope);
  };
  const newTotal = (): Uint8Array => {
    const r = verifyAndCombinePartials(poly, mpk, APP_ID, toCombine, weights);
    if (r.appKeyPoint === undefined || !r.appKeyValid || r.bad.length !== 0) throw new Error('bad partial or key');
    return decryptFromApp(r.appKeyPoint, APP_ID, envelope);
  };
  const ms = (f: () => unknown, r = runs, m = minMs): number => cpuMs(f, r, m);
  const totals = interleaved(oldTotal, newTotal, runs, minMs);

  // The rest of the real client's request: t sealed answers, t operator signatures.
  const { secretKey, publicKey } = generateResponseKeyPair(rng);
  const reqHash = rng(32);
  const sealed = partials.map((partial) =>
    sealResponse(publicKey, reqHash, encodeAnswer({ kind: 'sign', appId: rng(32), operator: rng(20), version: 1, partial, signature: rng(64) }), rng),
  );
  const bn = signatures('bn254', t, `bench-client/bn254/${t}`);
  const ec = signatures('ecdsa', t, `bench-client/ecdsa/${t}`);
  const oneByOne = (items: readonly OperatorSignatureToVerify[]) => () => {
    for (const s of items) if (!verifyOperatorSignature(s.type, s.publicKey, DOMAIN, s.payload, s.signature)) throw new Error('bad signature');
  };
  const batched = (items: readonly OperatorSignatureToVerify[]) => () => {
    if (!verifyOperatorSignatures(items, DOMAIN, weights).every(Boolean)) throw new Error('bad signature');
  };
  // Cold: keys this process has never seen (fresh signers per call would time signing too, so
  // the first call on a fresh set is timed once).
  const cold = signatures('bn254', t, `bench-client/bn254-cold/${t}`);
  const t0 = performance.now();
  batched(cold)();
  const bn254BatchColdMs = performance.now() - t0;
  return {
    t, n,
    totalMs: totals.a,
    newTotalMs: totals.b,
    speedup: totals.ratio,
    totalCpuMs: totals.aCpu,
    newTotalCpuMs: totals.bCpu,
    speedupCpu: totals.cpuRatio,
    batchVerifyMs: ms(() => batchVerifyPartials(toVerify, APP_ID, weights)),
    combineMs: ms(() => combinePartials(toCombine)),
    verifyAppKeyMs: ms(() => verifyAppKey(mpk, APP_ID, appKey)),
    decryptMs: ms(() => decryptFromApp(appKey, APP_ID, envelope)),
    verifyCombineMs: ms(() => verifyAndCombinePartials(poly, mpk, APP_ID, toCombine, weights)),
    publicSharesMs: ms(() => signers.map((x) => publicShare(poly, x))),
    openAnswersMs: ms(() => sealed.map((s) => openAnswer(secretKey, reqHash, s))),
    openAnswersKnownKeyMs: ms(() => sealed.map((s) => openAnswer(secretKey, reqHash, s, publicKey))),
    bn254OneByOneMs: ms(oneByOne(bn), 3, 0),
    bn254BatchMs: ms(batched(bn), 3, minMs),
    bn254BatchColdMs,
    ecdsaMs: ms(oneByOne(ec)),
  };
}

/** The new path's steps at t = 20 on the facade (what limits it). */
function breakdown(runs: number, minMs: number): [string, number][] {
  const t = 20;
  const rng = seededRng('bench-client/steps');
  const xs = operatorXs(Array.from({ length: 30 }, () => toHex(rng(20))));
  const d = deal(rng, t, xs, fr.random(rng));
  const poly = d.commitments;
  const mpk = poly[0] as G2;
  const signers = xs.slice(0, t);
  const partials = d.shares.slice(0, t).map((s) => partialSign(s, APP_ID));
  const sigmas = partials.map((p) => bls.g1.decode(p));
  const q = bls.hashToG1(new TextEncoder().encode(APP_ID), APP_ID_DST);
  const lambdas = lagrangeAtZero(signers);
  const key = bls.g1.msm(sigmas, lambdas);
  const w = randomWeights(rng, t + 1);
  const u = Array.from({ length: t + 1 }, () => fr.random(rng));
  const negG2 = bls.g2.neg(bls.g2.generator);
  const s: G1 = bls.g1.msm([...sigmas, key], u);
  const p: G2 = bls.g2.msm([...poly, mpk], w);
  const envelope = encryptToApp(mpk, APP_ID, rng(1024), rng);
  const ms = (f: () => unknown): number => cpuMs(f, runs, minMs);
  return [
    [`decode ${t} partials (subgroup checks)`, ms(() => partials.map((b) => bls.g1.decode(b)))],
    ['hash Q(id) to G1', ms(() => bls.hashToG1(new TextEncoder().encode(APP_ID), APP_ID_DST))],
    [`Lagrange coefficients (${t}, Fr)`, ms(() => lagrangeAtZero(signers))],
    [`combine: G1 MSM of ${t} (full scalars)`, ms(() => bls.g1.msm(sigmas, lambdas))],
    [`check: G1 MSM of ${t + 1} (full scalars u_i)`, ms(() => bls.g1.msm([...sigmas, key], u))],
    [`check: G2 MSM of ${t + 1} (128-bit weights)`, ms(() => bls.g2.msm([...poly, mpk], w))],
    ['check: 2-pairing product', ms(() => bls.pairingCheck([[s, negG2], [q, p]]))],
    ['decrypt 1 KiB with the key point', ms(() => decryptFromApp(key, APP_ID, envelope))],
  ];
}

export async function benchClient(opts: BenchOptions): Promise<ClientResult[]> {
  const runs = opts.runs ?? 5;
  const minMs = opts.minMs ?? 300;
  const results = TS.map((t) => one(t, runs, minMs));
  const steps = breakdown(runs, minMs);
  if (opts.json) {
    console.log(JSON.stringify({ suite: 'client', backend: bls.name, results, steps: Object.fromEntries(steps) }));
    return results;
  }
  const f = (v: number, w = 10): string => v.toFixed(1).padStart(w);
  console.log(`Client verify + combine + decrypt (backend ${bls.name}, 1 KiB envelope; steps: median CPU ms of ${runs} runs of >= ${minMs} ms;`);
  console.log('TOTALs: wall ms, old and new interleaved 11 times, old/new = median of the per-pair ratios)');
  console.log('old: batch-verify vs PK_j + combine + verifyAppKey + decrypt; new: one check vs the public polynomial + decrypt');
  console.log(`${'t'.padStart(3)}${'n'.padStart(4)}${'batchVerify'.padStart(12)}${'combine'.padStart(9)}${'appKey'.padStart(8)}${'decrypt'.padStart(9)}${'OLD TOTAL'.padStart(11)}${'verify+comb'.padStart(12)}${'NEW TOTAL'.padStart(11)}${'old/new'.padStart(9)}${'PK_j(t)'.padStart(9)}`);
  for (const r of results) {
    console.log(
      `${String(r.t).padStart(3)}${String(r.n).padStart(4)}${f(r.batchVerifyMs, 12)}${f(r.combineMs, 9)}${f(r.verifyAppKeyMs, 8)}${f(r.decryptMs, 9)}` +
        `${f(r.totalMs, 11)}${f(r.verifyCombineMs, 12)}${f(r.newTotalMs, 11)}${`${r.speedup.toFixed(2)}x`.padStart(9)}${f(r.publicSharesMs, 9)}`,
    );
  }
  console.log('\nThe TOTALs in CPU time of this process (ms per op; the same interleaved runs)');
  console.log(`${'t'.padStart(3)}${'OLD TOTAL'.padStart(11)}${'NEW TOTAL'.padStart(11)}${'old/new'.padStart(9)}`);
  for (const r of results) console.log(`${String(r.t).padStart(3)}${f(r.totalCpuMs, 11)}${f(r.newTotalCpuMs, 11)}${`${r.speedupCpu.toFixed(2)}x`.padStart(9)}`);
  console.log('\nRest of a real client request (CPU ms): t sealed answers, t operator signatures (cold: wall ms of one call)');
  console.log(`${'t'.padStart(3)}${'open t'.padStart(9)}${'(known pk)'.padStart(11)}${'bn254 1-by-1'.padStart(14)}${'bn254 batch'.padStart(13)}${'batch cold'.padStart(12)}${'ecdsa 1-by-1'.padStart(14)}`);
  for (const r of results) {
    console.log(`${String(r.t).padStart(3)}${f(r.openAnswersMs, 9)}${f(r.openAnswersKnownKeyMs, 11)}${f(r.bn254OneByOneMs, 14)}${f(r.bn254BatchMs, 13)}${f(r.bn254BatchColdMs, 12)}${f(r.ecdsaMs, 14)}`);
  }
  console.log('\nNew path at t = 20, step by step (CPU ms)');
  for (const [name, v] of steps) console.log(`${name.padEnd(44)}${f(v)}`);
  const t20 = results.find((r) => r.t === 20);
  if (t20 !== undefined) {
    console.log(`budget: total at t = 20 <= 60 ms: ${t20.newTotalMs <= 60 ? 'met' : 'missed'} (${t20.newTotalMs.toFixed(1)} ms wall, ${t20.newTotalCpuMs.toFixed(1)} ms CPU; old path ${t20.totalMs.toFixed(1)} / ${t20.totalCpuMs.toFixed(1)} ms)`);
  }
  return results;
}
