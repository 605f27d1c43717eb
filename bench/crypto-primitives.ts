/**
 * @module
 * Benchmark of every primitive of `src/crypto` as the protocol and the client call it (ops/s).
 * The BLS12-381 ones run on BOTH backends with the same seeded inputs (noble, the reference,
 * with fewer timed runs) and print the ratio mcl/noble; the others use no BLS12-381 backend
 * (`n/a`: node:crypto, @noble/curves secp256k1/BN254, @scure/bip39) and are measured once.
 *
 * Sizes are the production ones: t = 20 of n = 30, app id "bench-app", a 1 KiB IBE payload.
 * - BLS: partial sign (hash to G1 + G1 mul), verify one partial (one 2-pairing check),
 *   batch-verify 20 partials (two MSMs + one 2-pairing check), combine 20 partials (Lagrange +
 *   G1 MSM), verifyAppKey, verify + combine 20 partials against the public polynomial in one
 *   check (`verifyAndCombinePartials`: what the client runs), IBE envelope encrypt/decrypt, Feldman deal (t = 20 G2 muls, n = 30
 *   evaluations), public share (G2 MSM of 20), verifyShare (one dealer), verifyShares (20
 *   dealers for one recipient, one MSM of 401 terms).
 * - n/a: seal/open one share (node:crypto ECDH + HKDF + AES-GCM), open with a revealed K,
 *   DLEQ prove/verify (complaint reveal), BN254 sign/verify, ECDSA sign/recover, app
 *   mnemonic (HKDF + BIP39), operator x (keccak256 mod r).
 * Every input is checked once before timing, so each figure is that of the accepting path.
 * Timing: `./timing.ts`.
 *
 * Native yardstick (issue 7): `@chainsafe/blst` (devDependency, prebuilt N-API binary). Its
 * `verify` (min-pk: PK in G1, signature in G2) decodes and subgroup-checks the signature,
 * hashes the message to G2 and runs one 2-pairing check — the same shape as our partial
 * verification (decode σ in G1, hash to G1, 2-pairing check), with the groups swapped (its
 * hash to G2 is the dearer one). It cannot verify our G1 signatures, so it is only a yardstick:
 * the suite prints `blst verify` and the ratio "our verifyPartial (mcl) / blst verify" (time
 * per op; budget ≤ 5×), measured interleaved (mcl run, blst run, … ; median of the per-pair
 * ratios) so that the noise of a shared machine hits both sides alike. Without the package the
 * row is skipped with a note.
 */
import { getMclBackend, nobleBackend, type Bls12381, type G2 } from '../src/crypto/bls12381/index.ts';
import { revealForComplaint, verifyComplaintReveal } from '../src/crypto/chaum-pedersen.ts';
import { makeDomain, toHex, type Hex } from '../src/crypto/domain.ts';
import * as fr from '../src/crypto/fr.ts';
import { decryptFromApp, encryptToApp } from '../src/crypto/ibe.ts';
import { appMnemonic } from '../src/crypto/mnemonic.ts';
import { bn254GenerateSecretKey, bn254PublicKeyG2, bn254Sign, bn254Verify } from '../src/crypto/operator-sig-bn254.ts';
import { ecdsaAddress, ecdsaGenerateSecretKey, ecdsaRecoverAddress, ecdsaSign } from '../src/crypto/operator-sig-ecdsa.ts';
import { operatorX, operatorXs } from '../src/crypto/operator-x.ts';
import { seededRng } from '../src/crypto/rng.ts';
import { encodeSealContext, generateSealKeyPair, open, openWithRevealedKey, seal, type SealContext } from '../src/crypto/seal.ts';
import {
  batchVerifyPartials,
  combinePartials,
  partialSign,
  verifyAndCombinePartials,
  verifyAppKey,
  verifyPartial,
} from '../src/crypto/threshold.ts';
import { deal, publicShare, verifyShare, verifyShares } from '../src/crypto/vss.ts';
import type * as BlstTypes from '@chainsafe/blst';
import { measure, measureAll, printTable, type BenchOptions, type BenchResult, type Op } from './timing.ts';

const T = 20;
const N = 30;
const BATCH = 20;
const APP_ID = 'bench-app';
const DOMAIN = makeDomain({ chainId: 31337, registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });

/** Throws unless `ok`: a benchmark of a rejecting path would measure the wrong thing. */
function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`bench crypto: setup check failed: ${what}`);
}

function addresses(rng: (n: number) => Uint8Array, n: number): Hex[] {
  return Array.from({ length: n }, () => toHex(rng(20)));
}

/** The BLS12-381 primitives on backend `b`; the same seed gives the same inputs on both backends. */
function blsOps(b: Bls12381): Op[] {
  const rng = seededRng('bench-crypto/bls');
  const xs = operatorXs(addresses(rng, N));
  const d = deal(rng, T, xs, undefined, b);
  const mpk = d.commitments[0] as G2;
  const pks = xs.slice(0, BATCH).map((x) => publicShare(d.commitments, x, b));
  const partials = d.shares.slice(0, BATCH).map((s) => partialSign(s, APP_ID, b));
  const toVerify = partials.map((partial, i) => ({ x: xs[i] as bigint, publicShare: pks[i] as G2, partial }));
  const toCombine = partials.map((partial, i) => ({ x: xs[i] as bigint, partial }));
  const appKey = combinePartials(toCombine, b);
  const payload = rng(1024);
  const envelope = encryptToApp(mpk, APP_ID, payload, rng, b);
  // 20 dealers' deals to the same 30 recipients; recipient 0 checks its 20 shares at once.
  const deals = Array.from({ length: BATCH }, () => deal(rng, T, xs, undefined, b));
  const x0 = xs[0] as bigint;
  const dealerCommitments = deals.map((e) => e.commitments);
  const sharesOf0 = deals.map((e) => e.shares[0] as bigint);
  const s0 = d.shares[0] as bigint;
  const weights = seededRng('bench-crypto/weights');

  check(verifyPartial(pks[0] as G2, APP_ID, partials[0] as Uint8Array, b), 'partial 0 verifies');
  check(batchVerifyPartials(toVerify, APP_ID, weights, b).length === 0, 'batch of 20 partials verifies');
  check(verifyAppKey(mpk, APP_ID, appKey, b), 'combined app key verifies');
  const vc = verifyAndCombinePartials(d.commitments, mpk, APP_ID, toCombine, weights, b);
  check(vc.bad.length === 0 && vc.appKeyValid && toHex(vc.appKey as Uint8Array) === toHex(appKey), 'one check: partials and key verify');
  check(toHex(decryptFromApp(appKey, APP_ID, envelope, b)) === toHex(payload), 'envelope opens');
  check(verifyShare(d.commitments, x0, s0, b), 'share verifies');
  check(verifyShares(dealerCommitments, x0, sharesOf0, weights, b).ok, '20 dealers verify');

  return [
    ['partial sign', () => partialSign(s0, APP_ID, b)],
    ['verify 1 partial', () => verifyPartial(pks[0] as G2, APP_ID, partials[0] as Uint8Array, b)],
    [`batch-verify ${BATCH} partials`, () => batchVerifyPartials(toVerify, APP_ID, weights, b)],
    [`combine ${BATCH} partials`, () => combinePartials(toCombine, b)],
    ['verifyAppKey', () => verifyAppKey(mpk, APP_ID, appKey, b)],
    [`verify+combine ${BATCH} partials (one check)`, () => verifyAndCombinePartials(d.commitments, mpk, APP_ID, toCombine, weights, b)],
    ['IBE encrypt 1 KiB', () => encryptToApp(mpk, APP_ID, payload, undefined, b)],
    ['IBE decrypt 1 KiB', () => decryptFromApp(appKey, APP_ID, envelope, b)],
    [`Feldman deal t=${T} n=${N}`, () => deal(rng, T, xs, undefined, b)],
    [`public share (t=${T})`, () => publicShare(d.commitments, x0, b)],
    [`verifyShare (t=${T})`, () => verifyShare(d.commitments, x0, s0, b)],
    [`verifyShares ${BATCH} dealers`, () => verifyShares(dealerCommitments, x0, sharesOf0, weights, b)],
  ];
}

/** The primitives that use no BLS12-381 backend. `appKey`: any valid 48-byte app key. */
function otherOps(appKey: Uint8Array): Op[] {
  const rng = seededRng('bench-crypto/other');
  const [dealer, recipient] = addresses(rng, 2) as [Hex, Hex];
  const ctx: SealContext = { domain: DOMAIN, session: 7, dealer, recipient };
  const ctxBytes = encodeSealContext(ctx);
  const ephemeral = generateSealKeyPair(rng);
  const session = generateSealKeyPair(rng);
  const share = fr.toBytes(fr.random(rng));
  const sealed = seal(ephemeral.secretKey, session.publicKey, ctx, share);
  const { revealedKey, proof } = revealForComplaint(session.secretKey, ephemeral.publicKey, ctxBytes, rng);
  const payload = rng(100); // a confirmation-sized payload
  const bnSk = bn254GenerateSecretKey(rng);
  const bnPk = bn254PublicKeyG2(bnSk);
  const bnSig = bn254Sign(bnSk, DOMAIN, payload);
  const ecSk = ecdsaGenerateSecretKey(rng);
  const ecSig = ecdsaSign(ecSk, DOMAIN, payload);

  check(toHex(open(session.secretKey, ephemeral.publicKey, ctx, sealed)) === toHex(share), 'sealed share opens');
  check(verifyComplaintReveal(session.publicKey, ephemeral.publicKey, revealedKey, proof, ctxBytes), 'DLEQ verifies');
  check(toHex(openWithRevealedKey(revealedKey, ctx, sealed)) === toHex(share), 'revealed K opens');
  check(bn254Verify(bnPk, DOMAIN, payload, bnSig), 'BN254 signature verifies');
  check(toHex(ecdsaRecoverAddress(DOMAIN, payload, ecSig)) === toHex(ecdsaAddress(ecSk)), 'ECDSA recovers');

  return [
    ['seal 1 share (node ECDH)', () => seal(ephemeral.secretKey, session.publicKey, ctx, share)],
    ['open 1 share (node ECDH)', () => open(session.secretKey, ephemeral.publicKey, ctx, sealed)],
    ['open with revealed K', () => openWithRevealedKey(revealedKey, ctx, sealed)],
    ['DLEQ prove (reveal)', () => revealForComplaint(session.secretKey, ephemeral.publicKey, ctxBytes, rng)],
    ['DLEQ verify', () => verifyComplaintReveal(session.publicKey, ephemeral.publicKey, revealedKey, proof, ctxBytes)],
    ['BN254 sign', () => bn254Sign(bnSk, DOMAIN, payload)],
    ['BN254 verify', () => bn254Verify(bnPk, DOMAIN, payload, bnSig)],
    ['ECDSA sign', () => ecdsaSign(ecSk, DOMAIN, payload)],
    ['ECDSA recover', () => ecdsaRecoverAddress(DOMAIN, payload, ecSig)],
    ['app mnemonic', () => appMnemonic(appKey)],
    ['operator x', () => operatorX(dealer)],
  ];
}

/** The native yardstick and its ratio to our verifyPartial (mcl); null when blst is absent. */
export interface BlstYardstick {
  /** blst verify (sig decode + group check, hash to G2, 2 pairings), ops/s, median. */
  readonly blstVerifyOpsPerSec: number;
  /** Our verifyPartial on mcl, ops/s, median of the runs interleaved with blst's. */
  readonly mclVerifyPartialOpsPerSec: number;
  /** Median over interleaved pairs of (our ms/op) / (blst ms/op). */
  readonly ratio: number;
}

type BlstModule = typeof BlstTypes;

async function loadBlst(): Promise<BlstModule | null> {
  try {
    return await import('@chainsafe/blst');
  } catch {
    return null;
  }
}

/**
 * blst verify vs our verifyPartial (mcl), interleaved: `runs` pairs of (mcl run, blst run) of
 * >= `minMs` each; each figure is the median of its runs, the ratio the median of the per-pair
 * ratios.
 */
function blstYardstick(blst: BlstModule, mcl: Bls12381, runs: number, minMs: number): BlstYardstick {
  const rng = seededRng('bench-crypto/blst');
  const sk = blst.SecretKey.fromKeygen(rng(32));
  const pk = sk.toPublicKey();
  const msg = new TextEncoder().encode(APP_ID);
  const sigBytes = sk.sign(msg).toBytes(true);
  const blstVerify = (): boolean => blst.verify(msg, pk, blst.Signature.fromBytes(sigBytes, true), false, true);
  check(blstVerify(), 'blst signature verifies');

  const xs = operatorXs(addresses(rng, 3));
  const d = deal(rng, 2, xs, undefined, mcl);
  const pk0 = publicShare(d.commitments, xs[0] as bigint, mcl);
  const partial = partialSign(d.shares[0] as bigint, APP_ID, mcl);
  const ours = (): boolean => verifyPartial(pk0, APP_ID, partial, mcl);
  check(ours(), 'mcl partial verifies');

  const oursRates: number[] = [];
  const blstRates: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < runs; i++) {
    const a = measure(ours, 1, minMs);
    const b = measure(blstVerify, 1, minMs);
    oursRates.push(a);
    blstRates.push(b);
    ratios.push(b / a); // (1/a) / (1/b): our ms/op over blst's
  }
  const median = (v: number[]): number => v.sort((x, y) => x - y)[Math.floor(v.length / 2)] as number;
  return { blstVerifyOpsPerSec: median(blstRates), mclVerifyPartialOpsPerSec: median(oursRates), ratio: median(ratios) };
}

/** Runs the primitive suite (BLS ones on both backends) and prints ops/s per primitive. */
export async function benchPrimitives(opts: BenchOptions): Promise<BenchResult[]> {
  const runs = opts.runs ?? 5;
  const nobleRuns = Math.min(runs, 3);
  const minMs = opts.minMs ?? 200;
  const mcl = await getMclBackend();
  const results = [
    ...measureAll(nobleBackend.name, blsOps(nobleBackend), nobleRuns, minMs),
    ...measureAll(mcl.name, blsOps(mcl), runs, minMs),
  ];
  const appKey = mcl.g1.encode(mcl.g1.mul(mcl.g1.generator, 7n));
  results.push(...measureAll('n/a', otherOps(appKey), runs, minMs));
  const blst = await loadBlst();
  const yardstick = blst === null ? null : blstYardstick(blst, mcl, runs, minMs);
  if (yardstick !== null) {
    const ms = 1000 / yardstick.blstVerifyOpsPerSec;
    results.push({ backend: 'blst', op: 'blst verify', opsPerSec: yardstick.blstVerifyOpsPerSec, msPerOp: ms });
  }
  if (opts.json) console.log(JSON.stringify({ suite: 'crypto', results, blst: yardstick }));
  else {
    printTable(
      `Crypto primitives (ops/s, median of ${runs} runs (noble: ${nobleRuns}) of >= ${minMs} ms; ` +
        `backend-free: no BLS12-381 backend involved)`,
      results.filter((r) => r.backend !== 'blst'),
    );
    console.log();
    if (yardstick === null) console.log('Native yardstick: @chainsafe/blst is not installed (npm i -D); skipped.');
    else {
      const f = (v: number): string => v.toFixed(1);
      console.log(`Native yardstick (interleaved, ${runs} pairs of >= ${minMs} ms runs):`);
      console.log(`  blst verify (native, hash to G2 + 2 pairings)  ${f(yardstick.blstVerifyOpsPerSec)} ops/s  ${(1000 / yardstick.blstVerifyOpsPerSec).toFixed(3)} ms`);
      console.log(`  our verifyPartial (mcl, hash to G1 + 2 pairings) ${f(yardstick.mclVerifyPartialOpsPerSec)} ops/s  ${(1000 / yardstick.mclVerifyPartialOpsPerSec).toFixed(3)} ms`);
      console.log(`  ratio our verifyPartial (mcl) / blst verify: ${yardstick.ratio.toFixed(2)}x  (budget <= 5x: ${yardstick.ratio <= 5 ? 'met' : 'missed'})`);
    }
  }
  return results;
}
