// Cryptographic truth for protocol tests: reconstruct the secret from nodes' shares (only a
// test ever does this), compare x·G2 with the pinned MPK, and combine app keys through the
// threshold API exactly as a client would.
import assert from 'node:assert/strict';
import { bls } from '../../src/crypto/bls12381/index.ts';
import { toHex } from '../../src/crypto/domain.ts';
import * as fr from '../../src/crypto/fr.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { interpolateAtZero } from '../../src/crypto/polynomial.ts';
import { combinePartials, partialSign, verifyAppKey } from '../../src/crypto/threshold.ts';
import { publicShare } from '../../src/crypto/vss.ts';
import { hexToBytes } from '../../src/protocol/hex.ts';
import type { Address, Hex } from '../../src/protocol/ledger.ts';
import { decodePoly } from '../../src/protocol/round-outcome.ts';
import type { RoundReport, ScenarioResult } from '../../src/sim/scenario.ts';

export interface HeldShare {
  readonly index: number;
  readonly address: Address;
  readonly x: bigint;
  readonly share: bigint;
}

/** Shares of `session`'s version as reported at the end of that round (active ones only). */
export function sharesOf(round: RoundReport, run: ScenarioResult): HeldShare[] {
  return round.nodes.flatMap((n) => {
    if (!n.version || n.version.status !== 'active') return [];
    const address = run.sim.op(n.index).address;
    return [{ index: n.index, address, x: operatorX(address), share: fr.fromBytes(hexToBytes(n.version.share) as Uint8Array) }];
  });
}

export function reconstruct(shares: readonly HeldShare[]): bigint {
  return interpolateAtZero(shares.map((s) => s.x), shares.map((s) => s.share));
}

export function g2Hex(secret: bigint): Hex {
  return toHex(bls.g2.encode(bls.g2.mul(bls.g2.generator, secret)));
}

/** Every k-subset of `items` (small n only). */
export function subsets<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [head, ...rest] = items as [T, ...T[]];
  return [...subsets(rest, k - 1).map((s) => [head, ...s]), ...subsets(rest, k)];
}

/** The app key d = x·Q(appId) combined from these holders' partial signatures. */
export function appKey(shares: readonly HeldShare[], appId: string): Hex {
  return toHex(combinePartials(shares.map((s) => ({ x: s.x, partial: partialSign(s.share, appId) }))));
}

export function mpkPoint(mpk: Hex) {
  return bls.g2.decode(hexToBytes(mpk) as Uint8Array);
}

/**
 * The acceptance check of a completed round: every listed node holds an active version with
 * the on-chain hash; its share matches its public share in the version's polynomial; any t
 * shares (all subsets up to `maxSubsets`) reconstruct x with x·G2 == MPK and no t−1 do.
 */
export async function assertVersionSound(run: ScenarioResult, round: RoundReport, holders: readonly number[]): Promise<HeldShare[]> {
  assert.equal(round.outcome, 'completed', `${round.label}: expected completed, got ${round.outcome}`);
  assert.ok(run.mpk, 'MPK pinned');
  const version = await run.sim.ledger.getVersion(round.session as number);
  assert.ok(version, 'version recorded');
  assert.equal(version.publicPoly.slice(0, 2 + 192), run.mpk, 'A_0 of the version is the pinned MPK');
  const poly = decodePoly(hexToBytes(version.publicPoly) as Uint8Array);
  const t = version.threshold;
  const shares = sharesOf(round, run);
  assert.deepEqual(shares.map((s) => s.index).sort((a, b) => a - b), [...holders].sort((a, b) => a - b), `${round.label}: active holders`);
  for (const n of round.nodes.filter((n) => holders.includes(n.index))) {
    assert.equal(n.version?.publicPolyHash, round.completedPolyHash, `${n.label} confirmed the winning hash`);
  }
  for (const s of shares) {
    assert.ok(bls.g2.equals(bls.g2.mul(bls.g2.generator, s.share), publicShare(poly, s.x)), `op${s.index}: s_j·G2 == PK_j`);
  }
  const some = (k: number) => subsets(shares, k).slice(0, 12);
  for (const set of some(t)) assert.equal(g2Hex(reconstruct(set)), run.mpk, `any ${t} shares reconstruct x (set ${set.map((s) => s.index)})`);
  for (const set of some(t - 1)) assert.notEqual(g2Hex(reconstruct(set)), run.mpk, `${t - 1} shares do not (set ${set.map((s) => s.index)})`);
  return shares;
}

/** The app key from the first t holders, checked against the MPK. */
export function checkedAppKey(run: ScenarioResult, shares: readonly HeldShare[], t: number, appId: string): Hex {
  const d = appKey(shares.slice(0, t), appId);
  assert.ok(verifyAppKey(mpkPoint(run.mpk as Hex), appId, hexToBytes(d) as Uint8Array), 'e(d, G2) == e(Q(id), MPK)');
  return d;
}

/**
 * No honest node's share was revealed: every complaint by an honest node was upheld (its
 * revealed share came from an excluded cheater and is used nowhere), and no complaint against
 * an honest dealer was upheld.
 */
export async function assertNoHonestShareRevealed(run: ScenarioResult, round: RoundReport, cheaters: readonly number[]): Promise<void> {
  const cheat = new Set(cheaters.map((i) => run.sim.op(i).address));
  const subs = await run.sim.ledger.getSubmissions(round.session as number);
  const chain = round.chain;
  assert.ok(chain);
  const upheld = new Set(chain.excluded.filter((e) => e.fault === 'complaint-upheld').map((e) => e.dealer));
  for (const s of subs) {
    if (s.type !== 'ack') continue;
    for (const c of s.complaints) {
      if (!cheat.has(s.from)) assert.ok(cheat.has(c.dealer) && upheld.has(c.dealer), `honest ${s.from} revealed its share from ${c.dealer}, which was not upheld against a cheater`);
    }
  }
  for (const e of chain.excluded) assert.ok(cheat.has(e.dealer), `honest dealer ${e.dealer} excluded (${e.fault})`);
}

/** Honest nodes agree: each is active on the winning hash (or all agree it failed). */
export function assertHonestAgree(round: RoundReport, honest: readonly number[]): void {
  for (const n of round.nodes.filter((n) => honest.includes(n.index))) {
    if (round.outcome === 'completed') {
      assert.equal(n.recipient, 'active', `${n.label} is active after ${round.label}`);
      assert.equal(n.version?.publicPolyHash, round.completedPolyHash, `${n.label} holds the winning hash`);
    } else {
      assert.notEqual(n.recipient, 'active', `${n.label} must not activate a failed round`);
      assert.equal(n.version, null, `${n.label} keeps no version of a failed round`);
    }
  }
}

export function range(n: number, from = 0): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}
