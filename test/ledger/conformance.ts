/**
 * The ledger conformance suite (SPEC 3; issue 3 "ledger rules", issue 4 "conformance suite
 * green on both ledgers"). One set of cases, run against every `Ledger` implementation: the
 * in-memory ledger (`test/ledger/memory-ledger.test.ts`) and the registry contract on anvil.
 *
 * Every refusal is asserted by its exact `LedgerError` code. Proofs of possession use the real
 * crypto (BN254 and ECDSA, `src/crypto/operator-sig.ts`); deals, acks and polynomials are
 * well-sized filler bytes, because the ledger checks sizes and membership, never the maths.
 * Session keys, ephemeral keys and complaint points are real compressed secp256k1 points, so a
 * ledger that also checks the curve still passes.
 *
 * ## The harness
 * `makeHarness()` is called once per test case and must return an independent, fresh ledger
 * (a new registry deployment on a shared chain is fine): no operators, no allow-list entries,
 * no sessions, no apps, governance as in `config` with no threshold override, churn cap 0 and
 * genesis unarmed. Chain time only moves forward, and the suite never assumes a starting time:
 * every schedule is computed from `now()`.
 *
 * - `txAt(t)`: the next write call, accepted or refused, is executed in a block with timestamp
 *   `t` (an implementation that simulates before sending must simulate at `t`). The suite
 *   always passes a `t` strictly greater than every time it used before and than `now()`.
 *   After a refused write the suite never reads time-dependent state before its next `txAt`
 *   or `mineAt`, so a refusal may or may not mine a block.
 * - `mineAt(t)`: after it, reads see chain time `t` (an empty block at `t`; `t` strictly
 *   greater than every earlier time).
 * - Writes not preceded by `txAt` (registrations, governance) land at whatever time the
 *   implementation picks (anvil: its own clock, memory: the current time); the suite uses
 *   them only where time does not matter.
 * - `now()`: chain time of the latest block, as `ledger.now()`.
 * - `accounts`: at least 12 distinct accounts other than `owner`, each usable with
 *   `ledger.writer()`. Any letter case; the suite compares lowercase.
 * - `makeHarness(overrides)`: a case that tests the governance delay asks for a deployment
 *   with `governanceDelay` (otherwise the harness's own, which must be 0: with no delay
 *   every governance change applies at once, which the other cases rely on).
 *
 * Session tests set the interval to 1000 s and every window to 100 s (skipped when already
 * so), so the harness's inclusion margin must be at most 100 s. In total about 285
 * accepted writes, 150 refused ones, 165 `txAt` and 8 `mineAt` (a harness whose config
 * already is 1000/100/100/100 saves ~20 governance writes).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeAbiParameters, keccak256 } from 'viem';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, numberToBytesBE } from '@noble/curves/utils.js';
import { makeDomain, toHex } from '../../src/crypto/domain.ts';
import {
  createOperatorSigner,
  generateOperatorSecretKey,
  type OperatorKeyType,
  type OperatorSigner,
} from '../../src/crypto/operator-sig.ts';
import { encodeEcdsaSignature, parseEcdsaSignature, SECP256K1_N } from '../../src/crypto/operator-sig-ecdsa.ts';
import { seededRng, type Rng } from '../../src/crypto/rng.ts';
import {
  LedgerError,
  ZERO_HASH,
  type Address,
  type Complaint,
  type DealSubmission,
  type Hex,
  type Ledger,
  type LedgerErrorCode,
  type LedgerWriter,
  type RecordedSubmission,
  type RegisterParams,
  type Release,
  type Session,
  type SessionSnapshot,
  type Submission,
} from '../../src/protocol/ledger.ts';
import { MAX_OPERATORS, SIZES, windowsFit } from '../../src/protocol/session-rules.ts';
import { snapshotHash } from '../../src/protocol/snapshot-hash.ts';
import { digestOf } from '../../src/protocol/submission-digest.ts';

export interface LedgerHarnessConfig {
  readonly interval: number;
  readonly dealWindow: number;
  readonly ackWindow: number;
  readonly confirmWindow: number;
  readonly inclusionMargin: number;
  readonly governanceDelay: number;
}

/** What a case may ask of a deployment (see the module comment). */
export interface LedgerHarnessOverrides {
  readonly governanceDelay?: number;
}

export interface LedgerHarness {
  readonly ledger: Ledger;
  /** The registry owner (governance account). */
  readonly owner: Address;
  /** At least 12 distinct non-owner accounts usable with `ledger.writer()`. */
  readonly accounts: readonly Address[];
  /** The next write (accepted or refused) executes at chain time `t` (> every earlier time). */
  txAt(t: number): Promise<void>;
  /** Reads see chain time `t` from now on (> every earlier time). */
  mineAt(t: number): Promise<void>;
  /** Chain time of the latest block. */
  now(): Promise<number>;
  /** Governance at deployment (overrides applied); `getGovernance()` must report exactly this. */
  readonly config: LedgerHarnessConfig;
  close(): Promise<void>;
}

/** Interval and window lengths every session test runs with. */
const INTERVAL = 1000;
const WINDOW = 100;
/** Governance delay of the cases that test it. */
const DELAY = 500;
const ZERO_ADDRESS: Address = `0x${'0'.repeat(40)}`;

const lc = (a: string): Address => a.toLowerCase() as Address;

async function refuses(p: Promise<unknown>, code: LedgerErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof LedgerError, `expected LedgerError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got: ${e.message}`);
    return true;
  });
}

/** Everything one test case works with: the harness, deterministic randomness, key books. */
class Run {
  readonly l: Ledger;
  readonly A: Address[];
  readonly owner: Address;
  readonly rng: Rng;
  readonly domain: Uint8Array;
  /** The session key each operator registered or last rotated to (as the suite sent it). */
  readonly sessionKeys = new Map<Address, Hex>();
  /** What the suite saw accepted, per session, in order: the expected log. */
  readonly logs = new Map<number, RecordedSubmission[]>();
  #last = 0;

  constructor(readonly h: LedgerHarness, seed: string) {
    this.l = h.ledger;
    this.A = h.accounts.map(lc);
    this.owner = lc(h.owner);
    this.rng = seededRng(`ledger-conformance/${seed}`);
    this.domain = makeDomain({ chainId: h.ledger.chainId, registry: h.ledger.registry });
  }

  w(account: Address): LedgerWriter {
    return this.l.writer(account);
  }

  get gov(): LedgerWriter {
    return this.l.writer(this.owner);
  }

  bytes(n: number): Hex {
    return toHex(this.rng(n));
  }

  /** A real compressed secp256k1 point (fresh key, private half discarded). */
  point(): Hex {
    return toHex(secp256k1.getPublicKey(generateOperatorSecretKey('ecdsa', this.rng), true));
  }

  signer(type: OperatorKeyType, domain = this.domain): OperatorSigner {
    return createOperatorSigner(type, generateOperatorSecretKey(type, this.rng), domain);
  }

  /** Valid registration parameters for `account`. */
  params(account: Address, type: OperatorKeyType = 'ecdsa', signer = this.signer(type)): RegisterParams {
    return {
      socket: `https://${account.slice(2, 10)}.operators.example:8443`,
      sigKeyType: type,
      sigPublicKey: toHex(signer.publicKey),
      proofOfPossession: toHex(signer.proofOfPossession(account)),
      sessionKey: this.point(),
    };
  }

  async register(account: Address, type: OperatorKeyType = 'ecdsa'): Promise<RegisterParams> {
    await this.gov.allowOperator(account, true);
    return this.registerAllowed(account, type);
  }

  /** Registers an account governance already allowed (its entry in effect). */
  async registerAllowed(account: Address, type: OperatorKeyType = 'ecdsa'): Promise<RegisterParams> {
    const p = this.params(account, type);
    await this.w(account).register(p);
    this.sessionKeys.set(account, p.sessionKey);
    return p;
  }

  /** Allow-lists `accounts` one second apart on a deployment with a governance `delay`, waits it out, registers them. */
  async allowThenRegister(accounts: readonly Address[], delay: number): Promise<void> {
    const t = (await this.h.now()) + 10;
    for (const [i, a] of accounts.entries()) await this.at(t + i, () => this.gov.allowOperator(a, true));
    await this.mine(t + delay + 10);
    for (const a of accounts) await this.registerAllowed(a);
  }

  async registerAll(accounts: readonly Address[], firstType: OperatorKeyType = 'ecdsa'): Promise<void> {
    for (const [i, a] of accounts.entries()) await this.register(a, i === 0 ? firstType : 'ecdsa');
  }

  /** Interval 1000 s, windows 100 s each (only the setters that change something). */
  async useSessionTimes(): Promise<void> {
    const g = await this.l.getGovernance();
    assert.ok(g.inclusionMargin <= WINDOW, `the suite needs an inclusion margin of at most ${WINDOW} s, the harness has ${g.inclusionMargin} s`);
    assert.equal(g.governanceDelay, 0, 'useSessionTimes needs governance changes to apply at once');
    const windowsOk = g.dealWindow === WINDOW && g.ackWindow === WINDOW && g.confirmWindow === WINDOW;
    if (windowsOk && g.interval === INTERVAL) return;
    // Change first whichever setting keeps the other one fitting.
    if (windowsFit(WINDOW, WINDOW, WINDOW, g.inclusionMargin, g.interval)) {
      if (!windowsOk) await this.gov.setWindows(WINDOW, WINDOW, WINDOW);
      if (g.interval !== INTERVAL) await this.gov.setInterval(INTERVAL);
    } else {
      await this.gov.setInterval(INTERVAL);
      await this.gov.setWindows(WINDOW, WINDOW, WINDOW);
    }
  }

  /** The first interval boundary strictly after the current chain time. */
  async nextBoundary(): Promise<number> {
    const now = await this.h.now();
    return (Math.floor(now / INTERVAL) + 1) * INTERVAL;
  }

  /** Runs `f` as the write executed at chain time `t`. */
  async at<T>(t: number, f: () => Promise<T>): Promise<T> {
    assert.ok(t > this.#last, `suite bug: time ${t} is not after ${this.#last}`);
    this.#last = t;
    await this.h.txAt(t);
    return f();
  }

  async refusedAt(t: number, code: LedgerErrorCode, f: () => Promise<unknown>): Promise<void> {
    await refuses(this.at(t, f), code);
  }

  async mine(t: number): Promise<void> {
    assert.ok(t > this.#last, `suite bug: time ${t} is not after ${this.#last}`);
    this.#last = t;
    await this.h.mineAt(t);
  }

  async session(id: number): Promise<Session> {
    const s = await this.l.getSession(id);
    assert.ok(s, `session ${id} should exist`);
    // Both ledgers name a session's snapshot by the contract's hash (reorg-safe round keys).
    assert.equal(s.snapshotHash, snapshotHash(s.snapshot), `session ${id}: snapshotHash is keccak256(abi.encode(snapshot))`);
    return s;
  }

  async open(who: Address, t: number): Promise<SessionSnapshot> {
    const id = await this.at(t, () => this.w(who).openSession());
    assert.equal(id, await this.l.latestSessionId());
    return (await this.session(id)).snapshot;
  }

  dealFor(snap: SessionSnapshot): Omit<DealSubmission, 'type' | 'from'> {
    return {
      session: snap.id,
      commitments: this.bytes(snap.tNew * SIZES.g2),
      ephemeralKey: this.point(),
      sealedShares: snap.recipients.map(() => this.bytes(SIZES.sealedShare)),
    };
  }

  complaint(dealer: Address): Complaint {
    return { dealer, sharedKey: this.point(), proof: this.bytes(SIZES.dleqProof) };
  }

  /** A public polynomial of t filler G2 points; A_0 = `mpk` when given. */
  poly(t: number, mpk?: Hex): { poly: Hex; hash: Hex } {
    const rest = this.bytes(t * SIZES.g2);
    const poly = mpk === undefined ? rest : (`${mpk}${rest.slice(2 + 2 * SIZES.g2)}` as Hex);
    return { poly, hash: keccak256(poly) };
  }

  #logged(s: Submission, at: number): void {
    const log = this.logs.get(s.session) ?? [];
    log.push({ ...s, seq: log.length + 1, at });
    this.logs.set(s.session, log);
  }

  async deal(who: Address, t: number, d: Omit<DealSubmission, 'type' | 'from'>): Promise<void> {
    await this.at(t, () => this.w(who).submitDeal(d));
    this.#logged({ type: 'deal', from: who, ...d }, t);
  }

  async ack(who: Address, t: number, session: number, complaints: readonly Complaint[] = []): Promise<void> {
    await this.at(t, () => this.w(who).submitAck({ session, complaints }));
    this.#logged({ type: 'ack', session, from: who, complaints }, t);
  }

  async confirm(who: Address, t: number, session: number, hash: Hex, poly: Hex, nextSessionKey: Hex = this.point(), receiptHead?: Hex): Promise<Hex> {
    await this.at(t, () => this.w(who).submitConfirmation({ session, publicPolyHash: hash, publicPoly: poly, nextSessionKey, ...(receiptHead !== undefined ? { receiptHead } : {}) }));
    this.#logged({ type: 'confirm', session, from: who, publicPolyHash: hash, publicPoly: poly, nextSessionKey, receiptHead: (receiptHead ?? ZERO_HASH).toLowerCase() as Hex }, t);
    this.sessionKeys.set(who, nextSessionKey);
    return nextSessionKey;
  }

  /** The ledger's log equals what the suite saw accepted, and counter and digest agree with it. */
  async checkLog(id: number): Promise<void> {
    const subs = await this.l.getSubmissions(id);
    assert.deepEqual(subs, this.logs.get(id) ?? []);
    const { progress } = await this.session(id);
    assert.equal(progress.counter, subs.length);
    assert.equal(progress.digest, digestOf(subs));
  }

  /**
   * Genesis over `ops` with every window closed early: all deal, all ack, all confirm
   * (registration and arming included). Returns the session and the version's polynomial.
   */
  async genesis(ops: readonly Address[]): Promise<{ snap: SessionSnapshot; poly: Hex; hash: Hex; mpk: Hex; completedAt: number }> {
    await this.registerAll(ops);
    await this.useSessionTimes();
    await this.gov.armGenesis(2);
    let t = (await this.nextBoundary()) + 1;
    const snap = await this.open(ops[0] as Address, t);
    for (const d of snap.dealers) await this.deal(d, ++t, this.dealFor(snap));
    for (const r of snap.recipients) await this.ack(r, ++t, snap.id);
    const { poly, hash } = this.poly(snap.tNew);
    let completedAt = 0;
    for (const [i, r] of snap.recipients.entries()) {
      await this.confirm(r, ++t, snap.id, hash, i === 0 ? poly : '0x');
      if (i + 1 === snap.quorum) completedAt = t;
    }
    const s = await this.session(snap.id);
    assert.equal(s.progress.outcome, 'completed');
    return { snap, poly, hash, mpk: poly.slice(0, 2 + 2 * SIZES.g2) as Hex, completedAt };
  }
}

/**
 * Registers the conformance cases under `describe(name)`. `makeHarness` is called once per
 * case; the harness is closed when the case ends.
 */
export function ledgerConformance(name: string, makeHarness: (overrides?: LedgerHarnessOverrides) => Promise<LedgerHarness>): void {
  const test = (title: string, body: (r: Run) => Promise<void>, overrides?: LedgerHarnessOverrides) =>
    it(title, async () => {
      const h = await makeHarness(overrides);
      try {
        await body(new Run(h, title));
      } finally {
        await h.close();
      }
    });

  describe(`ledger conformance: ${name}`, () => {
    describe('initial state', () => {
      test('a fresh ledger is empty and reports the deployment governance', async (r) => {
        const { l, h } = r;
        assert.ok(h.accounts.length >= 12, 'the harness must provide at least 12 accounts');
        assert.equal(new Set(r.A).size, r.A.length, 'harness accounts must be distinct');
        assert.ok(!r.A.includes(r.owner), 'harness accounts must not include the owner');
        const g = await l.getGovernance();
        assert.deepEqual(g, {
          owner: r.owner,
          pendingOwner: null,
          thresholdOverride: 0,
          interval: h.config.interval,
          dealWindow: h.config.dealWindow,
          ackWindow: h.config.ackWindow,
          confirmWindow: h.config.confirmWindow,
          inclusionMargin: h.config.inclusionMargin,
          governanceDelay: 0,
          churnCap: 0,
          genesisMinOperators: 0,
          protocolVersion: 1,
          queued: [],
        });
        assert.equal(await l.now(), await h.now());
        assert.equal(await l.isAllowed(r.A[0] as Address), false);
        assert.deepEqual(await l.getOperators(), []);
        assert.equal(await l.getOperator(r.A[0] as Address), null);
        assert.equal(await l.latestSessionId(), 0);
        assert.equal(await l.getSession(1), null);
        await refuses(l.getSubmissions(1), 'UnknownSession');
        assert.equal(await l.getMpk(), null);
        assert.equal(await l.activeVersion(), null);
        assert.equal(await l.getVersion(1), null);
        assert.equal(await l.getApp(ZERO_HASH), null);
        assert.equal(await l.getRelease(ZERO_HASH, 0), null);
      });
    });

    describe('governance', () => {
      test('only the owner governs; ownership moves in two steps (propose, then the proposed owner accepts)', async (r) => {
        const [a0, a1] = r.A as [Address, Address];
        const g = await r.l.getGovernance();
        const x = r.w(a0);
        await refuses(x.allowOperator(a0, true), 'NotOwner');
        await refuses(x.ejectOperator(a1), 'NotOwner');
        await refuses(x.setThresholdOverride(0), 'NotOwner');
        await refuses(x.setInterval(g.interval), 'NotOwner');
        await refuses(x.setWindows(g.dealWindow, g.ackWindow, g.confirmWindow), 'NotOwner');
        await refuses(x.setChurnCap(1), 'NotOwner');
        await refuses(x.setProtocolVersion(2), 'NotOwner');
        await refuses(x.armGenesis(2), 'NotOwner');
        await refuses(x.transferOwnership(a0), 'NotOwner');
        await refuses(x.cancelGovernanceChange('ownership'), 'NotOwner');
        await refuses(x.acceptOwnership(), 'NotPendingOwner'); // nothing proposed
        assert.deepEqual(await r.l.getGovernance(), g, 'refused calls change nothing');

        // A proposal changes nothing until it is accepted; a new one replaces it; it can be withdrawn.
        await r.gov.transferOwnership(a0);
        assert.deepEqual([(await r.l.getGovernance()).owner, (await r.l.getGovernance()).pendingOwner], [r.owner, a0]);
        await refuses(r.w(a1).acceptOwnership(), 'NotPendingOwner');
        await r.gov.setChurnCap(1); // the proposer keeps its rights
        await refuses(x.setChurnCap(2), 'NotOwner');
        await r.gov.transferOwnership(a1);
        await refuses(x.acceptOwnership(), 'NotPendingOwner');
        await r.gov.cancelGovernanceChange('ownership');
        assert.equal((await r.l.getGovernance()).pendingOwner, null);
        await refuses(r.w(a1).acceptOwnership(), 'NotPendingOwner');
        await refuses(r.gov.cancelGovernanceChange('ownership'), 'NothingQueued');

        await r.gov.transferOwnership(a0);
        await x.acceptOwnership();
        const after = await r.l.getGovernance();
        assert.deepEqual([after.owner, after.pendingOwner], [a0, null]);
        await refuses(x.acceptOwnership(), 'NotPendingOwner'); // a proposal is accepted once
        await refuses(r.gov.setChurnCap(1), 'NotOwner');
        await x.setChurnCap(2);
        assert.equal((await r.l.getGovernance()).churnCap, 2);
        await refuses(x.transferOwnership(ZERO_ADDRESS), 'BadParameter');
      });

      test('windows plus the inclusion margin must fit in one interval; churn cap and genesis stay within the operator limit', async (r) => {
        await r.useSessionTimes();
        const margin = (await r.l.getGovernance()).inclusionMargin;
        const third = INTERVAL - 600 - margin;
        await refuses(r.gov.setWindows(300, 300, third + 1), 'WindowsDoNotFit');
        await refuses(r.gov.setWindows(0, 100, 100), 'WindowsDoNotFit');
        await r.gov.setWindows(300, 300, third); // exactly fills the interval
        let g = await r.l.getGovernance();
        assert.deepEqual([g.dealWindow, g.ackWindow, g.confirmWindow, g.interval], [300, 300, third, INTERVAL]);
        await refuses(r.gov.setInterval(INTERVAL - 1), 'WindowsDoNotFit');
        await r.gov.setInterval(2 * INTERVAL);
        await refuses(r.gov.setChurnCap(MAX_OPERATORS + 1), 'BadParameter');
        await r.gov.setChurnCap(3);
        await refuses(r.gov.armGenesis(1), 'BadParameter');
        await refuses(r.gov.armGenesis(0), 'BadParameter');
        await refuses(r.gov.armGenesis(MAX_OPERATORS + 1), 'BadParameter'); // a genesis no registry can reach
        await r.gov.armGenesis(3);
        g = await r.l.getGovernance();
        assert.deepEqual([g.interval, g.churnCap, g.genesisMinOperators], [2 * INTERVAL, 3, 3]);
      });

      test('the threshold override stays within bounds for the operators a DKG would admit; one that no longer fits stops openSession plainly', async (r) => {
        const ops = r.A.slice(0, 4);
        await refuses(r.gov.setThresholdOverride(2), 'ThresholdOutOfBounds'); // no operators: no valid threshold
        await r.gov.setThresholdOverride(0);
        await r.registerAll(ops);
        // n = 4: max(2, floor(4/2)+1) = 3 ≤ t ≤ 4
        await refuses(r.gov.setThresholdOverride(2), 'ThresholdOutOfBounds');
        await refuses(r.gov.setThresholdOverride(5), 'ThresholdOutOfBounds');
        await r.gov.setThresholdOverride(3);
        await r.gov.setThresholdOverride(4);
        assert.equal((await r.l.getGovernance()).thresholdOverride, 4);
        await r.useSessionTimes();
        await r.gov.armGenesis(2);
        await r.w(ops[3] as Address).deregister(); // 3 active: the override 4 no longer fits
        const b = await r.nextBoundary();
        // Not a routine "not now": governance must act, and the refusal says so.
        await r.refusedAt(b + 1, 'ThresholdOverrideNoLongerFits', () => r.w(ops[0] as Address).openSession());
        await refuses(r.gov.setThresholdOverride(4), 'ThresholdOutOfBounds');
        await r.at(b + 2, () => r.gov.setThresholdOverride(0));
        const snap = await r.open(ops[1] as Address, b + 3);
        assert.deepEqual(
          { kind: snap.kind, dealers: snap.dealers, recipients: snap.recipients, tNew: snap.tNew, quorum: snap.quorum },
          { kind: 'dkg', dealers: ops.slice(0, 3), recipients: ops.slice(0, 3), tNew: 2, quorum: 2 },
          'default t = ceil(2·3/3) = 2; the leaving operator neither deals nor receives in a DKG',
        );
      });

      test('the threshold override is checked against the recipients the next reshare will admit (after the churn cap), not the active count', async (r) => {
        const ops = r.A.slice(0, 4) as Address[];
        const newcomers = r.A.slice(4, 7) as Address[];
        const g = await r.genesis(ops);
        for (const a of newcomers) await r.register(a);
        // 7 active, but the next reshare admits the 4 holders + max(1, floor(4/3)) = 1 newcomer: n = 5, 3 ≤ t ≤ 5.
        await refuses(r.gov.setThresholdOverride(6), 'ThresholdOutOfBounds'); // fits 7 active, not 5 recipients
        await r.gov.setThresholdOverride(3); // below 7 active's minimum of 4, fits 5 recipients
        const snap = await r.open(ops[0] as Address, g.snap.boundary + INTERVAL);
        assert.deepEqual([snap.recipients, snap.tNew, snap.quorum], [[...ops, newcomers[0]], 3, 3]);
      });

      test('governance cannot hand the key to addresses it controls: allowing k, capping churn at k admits at most max(1, floor(holders/3)) newcomers, below t_new', async (r) => {
        // The attack of issue 12 §3: with an unbounded cap, k allowed addresses would all enter
        // the next reshare, and k ≥ t_new of them would hold enough shares to rebuild the key.
        const holders = r.A.slice(0, 6) as Address[];
        const attackers = r.A.slice(6, 12) as Address[];
        const g = await r.genesis(holders);
        for (const a of attackers) await r.register(a);
        await r.gov.setChurnCap(attackers.length); // accepted, but bounded at every session
        assert.equal((await r.l.getGovernance()).churnCap, attackers.length);
        const snap = await r.open(holders[0] as Address, g.snap.boundary + INTERVAL);
        const admitted = snap.recipients.filter((a) => attackers.includes(a));
        assert.deepEqual(admitted, attackers.slice(0, 2), 'max(1, floor(6/3)) = 2 newcomers, in registration order');
        assert.equal(snap.tNew, 6, 'ceil(2·8/3)');
        assert.ok(admitted.length < snap.tNew, 'the newcomers together hold fewer shares than the threshold');
        assert.deepEqual(snap.recipients, [...holders, ...attackers.slice(0, 2)]);
      });
    });

    describe('governance delay', () => {
      test('a delayed change is announced with its time, in effect only from then on, replaced or withdrawn before it', async (r) => {
        const [a0, a1, a2] = r.A as [Address, Address, Address];
        const g0 = await r.l.getGovernance();
        assert.equal(g0.governanceDelay, DELAY);
        let t = (await r.h.now()) + 10;

        // Allow-listing: queued per address; registration is refused until its time.
        await r.at(t, () => r.gov.allowOperator(a0, true));
        await r.at(t + 1, () => r.gov.allowOperator(a1, true));
        await r.at(t + 2, () => r.gov.allowOperator(a0, true)); // already queued: keeps its time
        await r.at(t + 3, () => r.gov.allowOperator(a1, false)); // revoking acts at once, queued entries too
        let g = await r.l.getGovernance();
        assert.deepEqual(g.queued, [{ kind: 'allowOperator', operator: a0, effectiveAt: t + DELAY }]);
        assert.equal(await r.l.isAllowed(a0), false);
        const p0 = r.params(a0);
        await r.refusedAt(t + DELAY - 1, 'NotAllowed', () => r.w(a0).register(p0));
        await r.at(t + DELAY, () => r.w(a0).register(p0)); // exactly at its time
        await r.refusedAt(t + DELAY + 1, 'NotAllowed', () => r.w(a1).register(r.params(a1)));
        assert.equal(await r.l.isAllowed(a0), true);
        assert.deepEqual((await r.l.getGovernance()).queued, []);

        // Churn cap, threshold override and the schedule: queued, visible, applied lazily.
        t += DELAY + 10;
        await r.at(t, () => r.gov.setChurnCap(2));
        await r.at(t + 1, () => r.gov.setInterval(INTERVAL));
        // The windows are checked against the queued interval (they would not fit the current one).
        await r.at(t + 2, () => r.gov.setWindows(WINDOW, WINDOW, WINDOW));
        await r.at(t + 3, () => r.gov.setThresholdOverride(0));
        g = await r.l.getGovernance();
        assert.deepEqual(
          [g.churnCap, g.interval, g.dealWindow, g.thresholdOverride],
          [0, g0.interval, g0.dealWindow, 0],
          'nothing applies before its time',
        );
        assert.deepEqual(g.queued, [
          { kind: 'thresholdOverride', value: 0, effectiveAt: t + 3 + DELAY },
          { kind: 'churnCap', value: 2, effectiveAt: t + DELAY },
          { kind: 'schedule', interval: INTERVAL, dealWindow: WINDOW, ackWindow: WINDOW, confirmWindow: WINDOW, protocolVersion: 1, effectiveAt: t + 2 + DELAY },
        ]);
        await r.mine(t + DELAY - 1);
        assert.equal((await r.l.getGovernance()).churnCap, 0, 'one second early: not yet');
        await r.mine(t + DELAY);
        g = await r.l.getGovernance();
        assert.equal(g.churnCap, 2, 'in effect at its time, without any transaction');
        assert.equal(g.interval, g0.interval, 'the setWindows call restarted the schedule\'s delay');
        assert.deepEqual(g.queued.map((c) => c.kind), ['thresholdOverride', 'schedule']);

        // Withdrawn before its time: the value in effect stays; nothing left to withdraw after.
        await r.at(t + DELAY + 1, () => r.gov.cancelGovernanceChange('schedule'));
        await refuses(r.gov.cancelGovernanceChange('schedule'), 'NothingQueued');
        await refuses(r.gov.cancelGovernanceChange('churnCap'), 'NothingQueued'); // already in effect
        await r.mine(t + 2 * DELAY);
        g = await r.l.getGovernance();
        assert.deepEqual([g.interval, g.dealWindow, g.churnCap, g.queued], [g0.interval, g0.dealWindow, 2, []]);

        // A newer change replaces a queued one and restarts its delay.
        t += 2 * DELAY + 10;
        await r.at(t, () => r.gov.setChurnCap(1));
        await r.at(t + 100, () => r.gov.setChurnCap(3));
        await r.mine(t + DELAY);
        g = await r.l.getGovernance();
        assert.deepEqual([g.churnCap, g.queued], [2, [{ kind: 'churnCap', value: 3, effectiveAt: t + 100 + DELAY }]]);
        await refuses(r.w(a2).cancelGovernanceChange('churnCap'), 'NotOwner');
      }, { governanceDelay: DELAY });

      test('openSession snapshots only governance in effect: a queued schedule and threshold wait for their time', async (r) => {
        const ops = r.A.slice(0, 3) as Address[];
        await r.allowThenRegister(ops, DELAY);
        const t = (await r.h.now()) + 10;
        await r.at(t, () => r.gov.setInterval(INTERVAL));
        await r.at(t + 1, () => r.gov.setWindows(WINDOW, WINDOW, WINDOW));
        await r.at(t + 2, () => r.gov.setThresholdOverride(3));
        await r.at(t + 3, () => r.gov.armGenesis(2)); // not delayed
        const eta = t + 2 + DELAY;
        const old = r.h.config;
        // The first boundary of the current interval after arming, long before the queued changes apply.
        const b1 = (Math.floor((t + 3) / old.interval) + 1) * old.interval;
        assert.ok(b1 + old.dealWindow + old.ackWindow + old.confirmWindow < t + 1 + DELAY, 'suite bug: the first session must end before the schedule applies');
        const s1 = await r.open(ops[0] as Address, b1);
        assert.deepEqual(
          [s1.kind, s1.boundary, s1.dealWindow, s1.ackWindow, s1.confirmWindow, s1.tNew],
          ['dkg', b1, old.dealWindow, old.ackWindow, old.confirmWindow, 2],
          'the windows and the default threshold in effect, not the queued ones',
        );
        // Nobody deals: the session fails. The next one opens after the queued changes apply.
        const b2 = Math.ceil(eta / INTERVAL) * INTERVAL;
        const s2 = await r.open(ops[1] as Address, b2);
        assert.deepEqual(
          [s2.id, s2.boundary, s2.dealWindow, s2.ackWindow, s2.confirmWindow, s2.tNew],
          [2, b2, WINDOW, WINDOW, WINDOW, 3],
        );
      }, { governanceDelay: DELAY });
    });

    describe('protocol version', () => {
      test('sessions require the protocol version in effect when they open: 1 at deployment, queued with the schedule, withdrawn with it, never 0', async (r) => {
        const ops = r.A.slice(0, 3) as Address[];
        await r.allowThenRegister(ops, DELAY);
        let t: number;
        const g0 = await r.l.getGovernance();
        assert.equal(g0.protocolVersion, 1);
        await refuses(r.gov.setProtocolVersion(0), 'BadParameter');
        await refuses(r.gov.setProtocolVersion(0x10000), 'BadParameter');

        // Queued like the schedule (it is part of it): the interval and windows stay as they are.
        t = (await r.h.now()) + 10;
        await r.at(t, () => r.gov.setProtocolVersion(3));
        let g = await r.l.getGovernance();
        assert.equal(g.protocolVersion, 1, 'not before its time');
        assert.deepEqual(g.queued, [{ kind: 'schedule', interval: g0.interval, dealWindow: g0.dealWindow, ackWindow: g0.ackWindow, confirmWindow: g0.confirmWindow, protocolVersion: 3, effectiveAt: t + DELAY }]);
        // A schedule change queued after it keeps the queued version; withdrawing the schedule withdraws both.
        await r.at(t + 1, () => r.gov.setWindows(g0.dealWindow + 1, g0.ackWindow, g0.confirmWindow));
        g = await r.l.getGovernance();
        assert.deepEqual(g.queued.map((c) => (c.kind === 'schedule' ? [c.dealWindow, c.protocolVersion] : null)), [[g0.dealWindow + 1, 3]]);
        await r.at(t + 2, () => r.gov.cancelGovernanceChange('schedule'));
        assert.deepEqual((await r.l.getGovernance()).queued, []);

        // Armed before the change applies: the first session requires version 1.
        t = (await r.h.now()) + 10;
        await r.at(t, () => r.gov.setProtocolVersion(2));
        await r.at(t + 1, () => r.gov.armGenesis(2));
        const eta = t + DELAY;
        const old = r.h.config;
        const b1 = (Math.floor((t + 1) / old.interval) + 1) * old.interval;
        assert.ok(b1 + old.dealWindow + old.ackWindow + old.confirmWindow < eta, 'suite bug: the first session must end before the version applies');
        const s1 = await r.open(ops[0] as Address, b1);
        assert.equal(s1.protocolVersion, 1, 'the version in effect at opening, not the queued one');
        // Nobody dealt: it failed. The next session opens after the change applied and requires 2.
        const b2 = Math.ceil((eta + 1) / old.interval) * old.interval;
        const s2 = await r.open(ops[1] as Address, b2);
        assert.deepEqual([s2.id, s2.protocolVersion, (await r.l.getGovernance()).protocolVersion], [2, 2, 2]);
        // The session's hash covers it: both ledgers hash the same snapshot the same way.
        assert.equal((await r.l.getSession(2))?.snapshotHash, snapshotHash(s2));
        // Lowering it again is allowed (the way back from a premature raise).
        await r.gov.setProtocolVersion(1);
      }, { governanceDelay: DELAY });
    });

    describe('registration', () => {
      test('only allow-listed addresses register, once', async (r) => {
        const [a0, a1] = r.A as [Address, Address];
        const p0 = r.params(a0);
        await refuses(r.w(a0).register(p0), 'NotAllowed');
        await r.gov.allowOperator(a0, true);
        assert.equal(await r.l.isAllowed(a0), true);
        await r.gov.allowOperator(a0, false);
        assert.equal(await r.l.isAllowed(a0), false);
        await refuses(r.w(a0).register(p0), 'NotAllowed');
        await r.gov.allowOperator(a0, true);
        await r.w(a0).register(p0);
        await refuses(r.w(a0).register(r.params(a0)), 'AlreadyRegistered');
        await r.register(a1, 'bn254');
        const rec0 = await r.l.getOperator(a0);
        assert.deepEqual(rec0, {
          address: a0,
          socket: p0.socket,
          sigKeyType: 'ecdsa',
          sigPublicKey: p0.sigPublicKey,
          sessionKey: p0.sessionKey,
          status: 'active',
          registeredSeq: rec0?.registeredSeq,
        });
        const all = await r.l.getOperators();
        assert.deepEqual(all.map((o) => o.address), [a0, a1]);
        assert.ok((all[0]?.registeredSeq ?? 0) < (all[1]?.registeredSeq ?? 0), 'registration order');
        assert.equal(all[1]?.sigKeyType, 'bn254');
      });

      for (const type of ['bn254', 'ecdsa'] as const) {
        test(`${type}: a signing key registers only with its own proof of possession for this address and registry`, async (r) => {
          const [a0, a1] = r.A as [Address, Address];
          await r.gov.allowOperator(a0, true);
          await r.gov.allowOperator(a1, true);
          const k0 = r.signer(type);
          const good = r.params(a0, type, k0);
          const sigLen = type === 'bn254' ? 64 : 65;
          const withPop = (pop: Uint8Array | Hex): RegisterParams => ({ ...good, proofOfPossession: typeof pop === 'string' ? pop : toHex(pop) });
          const bad = async (pop: Uint8Array | Hex) => refuses(r.w(a0).register(withPop(pop)), 'BadProofOfPossession');

          await bad(r.bytes(sigLen)); // random bytes
          await bad(new Uint8Array(sigLen)); // zeros (ecrecover's failure value; the G1 identity)
          await bad(r.bytes(sigLen - 1)); // wrong length
          const otherChain = makeDomain({ chainId: r.l.chainId + 1n, registry: r.l.registry });
          await bad(r.signer(type, otherChain).proofOfPossession(a0)); // another key entirely
          const k0OtherChain = createOperatorSigner(type, generateOperatorSecretKey(type, seededRng('same-key')), otherChain);
          const k0OtherRegistry = createOperatorSigner(type, generateOperatorSecretKey(type, seededRng('same-key')), makeDomain({ chainId: r.l.chainId, registry: `0x${'ab'.repeat(20)}` }));
          const k0Here = createOperatorSigner(type, generateOperatorSecretKey(type, seededRng('same-key')), r.domain);
          const sameKey = (pop: Uint8Array) => refuses(r.w(a0).register({ ...good, sigPublicKey: toHex(k0Here.publicKey), proofOfPossession: toHex(pop) }), 'BadProofOfPossession');
          await sameKey(k0OtherChain.proofOfPossession(a0)); // right key, another chain id
          await sameKey(k0OtherRegistry.proofOfPossession(a0)); // right key, another registry
          await sameKey(k0Here.proofOfPossession(a1)); // right key and domain, another operator
          if (type === 'ecdsa') {
            // The same signature with s' = n − s and the other v: valid for ecrecover, refused as non-canonical (high s).
            const { r: sr, s, v } = parseEcdsaSignature(k0.proofOfPossession(a0));
            await bad(encodeEcdsaSignature({ r: sr, s: SECP256K1_N - s, v: v === 27 ? 28 : 27 }));
            // Zero signer: ecrecover returns address(0) for invalid signatures.
            await refuses(r.w(a0).register({ ...good, sigPublicKey: toHex(new Uint8Array(20)), proofOfPossession: toHex(new Uint8Array(65)) }), 'BadProofOfPossession');
          }

          // a1 registers k1 legitimately; its key and PoP are now public. Copying them to a0 fails.
          const k1 = r.signer(type);
          const p1 = r.params(a1, type, k1);
          await r.w(a1).register(p1);
          await refuses(r.w(a0).register({ ...good, sigPublicKey: p1.sigPublicKey, proofOfPossession: p1.proofOfPossession }), 'BadProofOfPossession');
          assert.equal(await r.l.getOperator(a0), null, 'refused registrations leave no record');

          await r.w(a0).register(good);
          const rec = await r.l.getOperator(a0);
          assert.equal(rec?.sigKeyType, type);
          assert.equal(rec?.sigPublicKey, toHex(k0.publicKey));
        });
      }

      test('sockets and keys are checked for size; sockets and session keys update; leaving is final', async (r) => {
        const [a0, a1] = r.A as [Address, Address];
        await r.gov.allowOperator(a0, true);
        const good = r.params(a0);
        const reg = (p: Partial<RegisterParams>) => r.w(a0).register({ ...good, ...p });
        await refuses(reg({ socket: '' }), 'BadSocket');
        await refuses(reg({ socket: 'x'.repeat(SIZES.maxSocket + 1) }), 'BadSocket');
        await refuses(reg({ sigPublicKey: r.bytes(19) }), 'BadKey');
        await refuses(reg({ sigPublicKey: r.bytes(21) }), 'BadKey');
        await refuses(reg({ sigKeyType: 'bn254' }), 'BadKey'); // a 20-byte key is no BN254 G2 key
        await refuses(reg({ sigKeyType: 'bn254', sigPublicKey: r.bytes(127) }), 'BadKey');
        await refuses(reg({ sessionKey: r.bytes(32) }), 'BadKey');
        await refuses(reg({ sessionKey: r.bytes(34) }), 'BadKey');
        await refuses(reg({ sessionKey: `0x04${r.point().slice(4)}` }), 'BadKey');
        await refuses(reg({ sessionKey: toHex(secp256k1.getPublicKey(generateOperatorSecretKey('ecdsa', r.rng), false)) }), 'BadKey');
        const longest = 'x'.repeat(SIZES.maxSocket);
        await reg({ socket: longest });
        assert.equal((await r.l.getOperator(a0))?.socket, longest);

        const w0 = r.w(a0);
        await refuses(w0.updateSocket(''), 'BadSocket');
        await refuses(w0.updateSocket('y'.repeat(SIZES.maxSocket + 1)), 'BadSocket');
        await w0.updateSocket('https://moved.example');
        await refuses(w0.rotateSessionKey(r.bytes(SIZES.secpPoint - 1)), 'BadKey');
        const rotated = r.point();
        await w0.rotateSessionKey(rotated);
        const rec = await r.l.getOperator(a0);
        assert.deepEqual([rec?.socket, rec?.sessionKey], ['https://moved.example', rotated]);

        const w1 = r.w(a1);
        await refuses(w1.updateSocket('https://nobody.example'), 'NotRegistered');
        await refuses(w1.rotateSessionKey(r.point()), 'NotRegistered');
        await refuses(w1.deregister(), 'NotRegistered');
        await refuses(w1.openSession(), 'NotRegistered');
        await refuses(r.gov.ejectOperator(a1), 'NotRegistered');

        await w0.deregister();
        assert.equal((await r.l.getOperator(a0))?.status, 'leaving');
        await refuses(w0.deregister(), 'NotActiveOperator');
        await refuses(r.gov.ejectOperator(a0), 'NotActiveOperator');
        await w0.updateSocket('https://still-serving.example'); // a leaving operator still serves clients
        assert.equal((await r.l.getOperator(a0))?.socket, 'https://still-serving.example');
      });
      test('an off-curve session key is refused at register, rotate and confirm', async (r) => {
        // One operator's key with no point made every honest dealer's sealing throw, so no
        // session could complete (issue 12 §2). Both ledgers take exactly the valid
        // compressed secp256k1 points: x < p and x³ + 7 a square mod p.
        const p = secp256k1.Point.Fp.ORDER;
        const withX = (prefix: string, x: bigint): Hex => `0x${prefix}${bytesToHex(numberToBytesBE(x, 32))}`;
        const valid = r.point();
        const bad: readonly [string, Hex][] = [
          ['x = 5 (x³ + 7 is not a square mod p)', withX('02', 5n)],
          ['x = 0', withX('03', 0n)],
          ['x = p', withX('02', p)],
          ['x = p + 1 (≡ 1, whose point exists)', withX('03', p + 1n)],
          ['x = 2²⁵⁶ − 1', withX('02', (1n << 256n) - 1n)],
          ['prefix 04', `0x04${valid.slice(4)}`],
          ['prefix 00', `0x00${valid.slice(4)}`],
          ['32 bytes', `0x${valid.slice(4)}`],
          ['34 bytes', `${valid}00`],
          ['65-byte uncompressed point', toHex(secp256k1.getPublicKey(generateOperatorSecretKey('ecdsa', r.rng), false))],
        ];
        assert.ok(secp256k1.Point.fromHex(withX('02', 1n).slice(2)), 'suite bug: x = 1 must have a point');
        /** A valid key with the given prefix (about half of all keys have each). */
        const ofParity = (prefix: '02' | '03'): Hex => {
          for (;;) {
            const k = r.point();
            if (k.slice(2, 4) === prefix) return k;
          }
        };
        const [a0, a1] = r.A as [Address, Address];
        await r.gov.allowOperator(a0, true);
        const good = r.params(a0);
        for (const [what, key] of bad) {
          await assert.rejects(r.w(a0).register({ ...good, sessionKey: key }), (e: unknown) => e instanceof LedgerError && e.code === 'BadKey', `register: ${what}`);
        }
        assert.equal(await r.l.getOperator(a0), null);
        const even = ofParity('02');
        await r.w(a0).register({ ...good, sessionKey: even });
        r.sessionKeys.set(a0, even);
        for (const [what, key] of bad) {
          await assert.rejects(r.w(a0).rotateSessionKey(key), (e: unknown) => e instanceof LedgerError && e.code === 'BadKey', `rotate: ${what}`);
        }
        assert.equal((await r.l.getOperator(a0))?.sessionKey, even);
        const odd = ofParity('03');
        await r.w(a0).rotateSessionKey(odd);
        r.sessionKeys.set(a0, odd);
        assert.equal((await r.l.getOperator(a0))?.sessionKey, odd);

        // A confirmation's next session key, in a DKG's confirm window.
        await r.register(a1);
        await r.useSessionTimes();
        await r.gov.armGenesis(2);
        let t = await r.nextBoundary();
        const snap = await r.open(a0, t);
        for (const d of snap.dealers) await r.deal(d, ++t, r.dealFor(snap));
        for (const x of snap.recipients) await r.ack(x, ++t, snap.id);
        const { poly, hash } = r.poly(snap.tNew);
        for (const [what, key] of bad) {
          await assert.rejects(
            r.at(++t, () => r.w(a0).submitConfirmation({ session: snap.id, publicPolyHash: hash, publicPoly: poly, nextSessionKey: key })),
            (e: unknown) => e instanceof LedgerError && e.code === 'BadKey',
            `confirm: ${what}`,
          );
        }
        for (const [who, prefix] of [[a0, '02'], [a1, '03']] as const) {
          const next = ofParity(prefix);
          await r.confirm(who, ++t, snap.id, hash, who === a0 ? poly : '0x', next);
          assert.equal((await r.l.getOperator(who))?.sessionKey, next);
        }
        assert.equal((await r.session(snap.id)).progress.outcome, 'completed');
        await r.checkLog(snap.id);
      });
    });

    describe('sessions', () => {
      test('genesis needs arming and at least max(2, minOperators) active operators', async (r) => {
        // The first session has no boundary rule, so nothing here depends on time.
        const [a0, a1, a2] = r.A as [Address, Address, Address];
        await r.register(a0);
        await refuses(r.w(a0).openSession(), 'GenesisNotArmed');
        await r.gov.armGenesis(2);
        await refuses(r.w(a0).openSession(), 'NotEnoughOperators'); // a single operator never makes a genesis
        await r.register(a1);
        await r.gov.armGenesis(3);
        await refuses(r.w(a1).openSession(), 'NotEnoughOperators');
        await r.register(a2);
        assert.equal(await r.l.latestSessionId(), 0);
        assert.equal(await r.w(a2).openSession(), 1);
        assert.equal(await r.l.latestSessionId(), 1);
        const { snapshot } = await r.session(1);
        assert.deepEqual([snapshot.kind, snapshot.dealers, snapshot.recipients], ['dkg', [a0, a1, a2], [a0, a1, a2]]);
        assert.equal(snapshot.openedAt, await r.h.now());
      });

      test('DKG: snapshot, deal/ack/confirm window edges, refusals, quorum, MPK pin, log', async (r) => {
        const ops = r.A.slice(0, 4) as [Address, Address, Address, Address];
        const [a0, a1, a2, a3] = ops;
        const stranger = r.A[4] as Address; // never registered
        await r.registerAll(ops, 'bn254');
        await r.useSessionTimes();
        await r.gov.armGenesis(4);
        const b = await r.nextBoundary();
        const o = b + 5;
        const snap = await r.open(a0, o);
        assert.deepEqual(snap, {
          id: 1,
          kind: 'dkg',
          boundary: b,
          openedAt: o,
          dealers: ops,
          recipients: ops,
          recipientKeys: ops.map((a) => r.sessionKeys.get(a)),
          tNew: 3, // ceil(2·4/3)
          tOld: 0,
          sourceVersion: 0,
          sourcePolyHash: ZERO_HASH,
          dealWindow: WINDOW,
          ackWindow: WINDOW,
          confirmWindow: WINDOW,
          quorum: 3, // max(3, floor(4/2)+1)
          protocolVersion: 1,
        });
        assert.deepEqual((await r.session(1)).progress, {
          dealClosedAt: null, ackClosedAt: null, confirmClosedAt: null, dealCount: 0, ackCount: 0, confirmCount: 0,
          counter: 0, digest: ZERO_HASH, outcome: 'pending', completedPolyHash: null,
        });
        // Governance changes after opening do not reach the snapshot.
        await r.at(o + 1, () => r.gov.setWindows(50, 50, 50));
        assert.deepEqual((await r.session(1)).snapshot, snap);

        // deal window [o, o+100)
        const d0 = r.dealFor(snap);
        await r.refusedAt(o + 2, 'NotDealer', () => r.w(stranger).submitDeal(r.dealFor(snap)));
        await r.refusedAt(o + 3, 'WrongPhase', () => r.w(a0).submitAck({ session: 1, complaints: [] })); // early ack
        const early = r.poly(3);
        await r.refusedAt(o + 4, 'WrongPhase', () => r.w(a0).submitConfirmation({ session: 1, publicPolyHash: early.hash, publicPoly: early.poly, nextSessionKey: r.point() }));
        await r.refusedAt(o + 5, 'BadLength', () => r.w(a0).submitDeal({ ...d0, commitments: r.bytes(4 * SIZES.g2) })); // oversized: tNew+1 points
        await r.refusedAt(o + 6, 'BadLength', () => r.w(a0).submitDeal({ ...d0, commitments: r.bytes(2 * SIZES.g2) })); // undersized
        await r.refusedAt(o + 7, 'BadLength', () => r.w(a0).submitDeal({ ...d0, sealedShares: d0.sealedShares.slice(1) }));
        await r.refusedAt(o + 8, 'BadLength', () => r.w(a0).submitDeal({ ...d0, sealedShares: [...d0.sealedShares.slice(1), r.bytes(SIZES.sealedShare + 1)] }));
        await r.refusedAt(o + 9, 'BadLength', () => r.w(a0).submitDeal({ ...d0, ephemeralKey: r.bytes(SIZES.secpPoint - 1) }));
        await r.refusedAt(o + 10, 'UnknownSession', () => r.w(a0).submitDeal({ ...d0, session: 2 }));
        await r.deal(a0, o + 11, d0);
        await r.refusedAt(o + 12, 'AlreadySubmitted', () => r.w(a0).submitDeal(r.dealFor(snap)));
        await r.deal(a1, o + WINDOW - 1, r.dealFor(snap)); // last second of the deal window
        await r.refusedAt(o + WINDOW, 'WrongPhase', () => r.w(a2).submitDeal(r.dealFor(snap))); // late deal
        let s = await r.session(1);
        assert.deepEqual([s.progress.dealCount, s.progress.dealClosedAt], [2, null]);

        // ack window [o+100, o+200)
        const ackStart = o + WINDOW;
        await r.ack(a3, ackStart + 1, 1);
        await r.refusedAt(ackStart + 2, 'NotRecipient', () => r.w(stranger).submitAck({ session: 1, complaints: [] }));
        const ackWith = (complaints: Complaint[]) => () => r.w(a0).submitAck({ session: 1, complaints });
        await r.refusedAt(ackStart + 3, 'BadComplaint', ackWith([r.complaint(a2)])); // a2 has not dealt
        await r.refusedAt(ackStart + 4, 'BadComplaint', ackWith([r.complaint(stranger)])); // not a dealer at all
        await r.refusedAt(ackStart + 5, 'BadComplaint', ackWith([r.complaint(a1), r.complaint(a1)])); // duplicate
        await r.refusedAt(ackStart + 6, 'BadComplaint', ackWith([{ ...r.complaint(a1), sharedKey: r.bytes(SIZES.secpPoint - 1) }]));
        await r.refusedAt(ackStart + 7, 'BadComplaint', ackWith([{ ...r.complaint(a1), proof: r.bytes(SIZES.dleqProof - 1) }]));
        await r.refusedAt(ackStart + 8, 'PreviousSessionOpen', () => r.w(a1).openSession());
        await r.ack(a0, ackStart + 9, 1, [r.complaint(a1)]);
        await r.refusedAt(ackStart + 10, 'AlreadySubmitted', ackWith([]));
        await r.ack(a1, ackStart + WINDOW - 1, 1, [r.complaint(a0)]); // last second of the ack window
        await r.refusedAt(ackStart + WINDOW, 'WrongPhase', () => r.w(a2).submitAck({ session: 1, complaints: [] })); // late ack
        s = await r.session(1);
        assert.deepEqual([s.progress.ackCount, s.progress.ackClosedAt], [3, null]);

        // confirm window [o+200, o+300)
        const cStart = o + 2 * WINDOW;
        const p1 = r.poly(3);
        const p2 = r.poly(3);
        const confirmBy = (who: Address, hash: Hex, poly: Hex, nextSessionKey = r.point()) => () =>
          r.w(who).submitConfirmation({ session: 1, publicPolyHash: hash, publicPoly: poly, nextSessionKey });
        await r.refusedAt(cStart + 1, 'PolyRequired', confirmBy(a0, p1.hash, '0x')); // first confirmer of p1 must publish it
        await r.refusedAt(cStart + 2, 'PolyHashMismatch', confirmBy(a0, p1.hash, p2.poly));
        const long = r.poly(4);
        await r.refusedAt(cStart + 3, 'BadLength', confirmBy(a0, long.hash, long.poly)); // tNew+1 points
        await r.refusedAt(cStart + 4, 'BadKey', confirmBy(a0, p1.hash, p1.poly, r.bytes(SIZES.secpPoint - 1)));
        await r.refusedAt(cStart + 5, 'NotRecipient', confirmBy(stranger, p1.hash, p1.poly));
        await r.confirm(a0, cStart + 6, 1, p1.hash, p1.poly);
        await r.refusedAt(cStart + 7, 'AlreadySubmitted', confirmBy(a0, p1.hash, '0x'));
        await r.confirm(a1, cStart + 8, 1, p1.hash, '0x'); // published already: may omit it
        await r.confirm(a2, cStart + 9, 1, p2.hash, p2.poly); // a split vote
        s = await r.session(1);
        assert.equal(s.progress.outcome, 'pending', 'quorum − 1 confirmations do not complete');
        assert.equal(s.progress.completedPolyHash, null);
        assert.equal(await r.l.getMpk(), null);
        assert.equal(await r.l.activeVersion(), null);
        assert.equal(await r.l.getVersion(1), null);

        const last = cStart + WINDOW - 1;
        await r.confirm(a3, last, 1, p1.hash, p1.poly); // last second; a re-sent polynomial is accepted
        s = await r.session(1);
        assert.deepEqual(s.progress, {
          dealClosedAt: null, ackClosedAt: null, confirmClosedAt: last, dealCount: 2, ackCount: 3, confirmCount: 4,
          counter: 9, digest: s.progress.digest, outcome: 'completed', completedPolyHash: p1.hash,
        });
        assert.equal(await r.l.getMpk(), p1.poly.slice(0, 2 + 2 * SIZES.g2), 'the MPK is A_0 of the winning polynomial');
        const version = { id: 1, publicPolyHash: p1.hash, publicPoly: p1.poly, threshold: 3, holders: ops, completedAt: last };
        assert.deepEqual(await r.l.getVersion(1), version);
        assert.deepEqual(await r.l.activeVersion(), version);
        for (const a of ops) assert.equal((await r.l.getOperator(a))?.sessionKey, r.sessionKeys.get(a), 'confirmations rotate session keys');
        await r.checkLog(1);

        // Every recipient confirmed, so the window closed at `last`; the boundary is still b.
        await r.refusedAt(last + 1, 'BoundaryNotReached', () => r.w(a0).openSession());
      });

      test('a confirmation commits the sender\'s receipt-log head: recorded with it, kept as its latest, outside the digest', async (r) => {
        const ops = r.A.slice(0, 3) as [Address, Address, Address];
        const [a0, a1, a2] = ops;
        assert.equal(await r.l.getReceiptHead?.(a0), ZERO_HASH, 'no head before any confirmation');
        await r.registerAll(ops);
        await r.useSessionTimes();
        await r.gov.armGenesis(3);
        let t = (await r.nextBoundary()) + 1;
        const snap = await r.open(a0, t);
        for (const d of snap.dealers) await r.deal(d, ++t, r.dealFor(snap));
        for (const x of snap.recipients) await r.ack(x, ++t, snap.id);
        const p = r.poly(snap.tNew);
        const head0 = r.bytes(32);
        const confirmBy = (who: Address, receiptHead: unknown) => () =>
          r.w(who).submitConfirmation({ session: 1, publicPolyHash: p.hash, publicPoly: p.poly, nextSessionKey: r.point(), receiptHead: receiptHead as Hex });
        await r.refusedAt(++t, 'BadLength', confirmBy(a0, r.bytes(31)));
        await r.refusedAt(++t, 'BadLength', confirmBy(a0, 'head'));
        await r.confirm(a0, ++t, 1, p.hash, p.poly, r.point(), head0.toUpperCase().replace('0X', '0x') as Hex);
        await r.confirm(a1, ++t, 1, p.hash, '0x'); // no head given: the zero head
        await r.confirm(a2, ++t, 1, p.hash, '0x', r.point(), ZERO_HASH);
        assert.equal(await r.l.getReceiptHead?.(a0), head0.toLowerCase());
        assert.equal(await r.l.getReceiptHead?.(a1), ZERO_HASH);
        const subs = await r.l.getSubmissions(1);
        assert.deepEqual(subs.filter((s) => s.type === 'confirm').map((s) => (s.type === 'confirm' ? s.receiptHead : null)), [head0.toLowerCase(), ZERO_HASH, ZERO_HASH]);
        await r.checkLog(1); // the digest is the one without heads (digestOf ignores them)
      });

      test('each window closes early when every expected party has submitted', async (r) => {
        const ops = r.A.slice(0, 3) as [Address, Address, Address];
        const [a0, a1, a2] = ops;
        const quitter = r.A[3] as Address;
        await r.register(quitter);
        await r.w(quitter).deregister(); // leaving before genesis: never a member, removed at completion
        await r.registerAll(ops);
        await r.useSessionTimes();
        await r.gov.armGenesis(3);
        const o = (await r.nextBoundary()) + 1;
        const snap = await r.open(a0, o);
        assert.deepEqual([snap.dealers, snap.tNew, snap.quorum], [ops, 2, 2]);
        await r.deal(a0, o + 1, r.dealFor(snap));
        await r.deal(a1, o + 2, r.dealFor(snap));
        assert.equal((await r.session(1)).progress.dealClosedAt, null);
        const dealClose = o + 3;
        await r.deal(a2, dealClose, r.dealFor(snap));
        assert.equal((await r.session(1)).progress.dealClosedAt, dealClose);

        // ack window [dealClose, dealClose+100): open long before the nominal o+100
        await r.ack(a0, dealClose + 1, 1);
        await r.ack(a1, dealClose + 2, 1);
        assert.equal((await r.session(1)).progress.ackClosedAt, null);
        const ackClose = dealClose + WINDOW - 1; // last second of the shifted ack window
        await r.ack(a2, ackClose, 1);
        assert.equal((await r.session(1)).progress.ackClosedAt, ackClose);

        // confirm window [ackClose, ackClose+100)
        const p = r.poly(2);
        await r.confirm(a0, ackClose + 1, 1, p.hash, p.poly);
        await r.confirm(a1, ackClose + WINDOW - 1, 1, p.hash, '0x');
        const s = await r.session(1);
        assert.deepEqual([s.progress.outcome, s.progress.confirmClosedAt], ['completed', null]);
        await r.refusedAt(ackClose + WINDOW, 'WrongPhase', () =>
          r.w(a2).submitConfirmation({ session: 1, publicPolyHash: p.hash, publicPoly: '0x', nextSessionKey: r.point() }));
        await r.mine(ackClose + WINDOW + 1);
        assert.equal((await r.session(1)).progress.outcome, 'completed');
        assert.equal(await r.l.getOperator(quitter), null, 'a leaving operator without a share is removed at completion');
        assert.deepEqual((await r.l.getOperators()).map((x) => x.address), ops);
        await r.checkLog(1);
      });

      test('a session without quorum fails at confirmEnd; the next boundary opens a new DKG', async (r) => {
        const ops = r.A.slice(0, 3) as [Address, Address, Address];
        const [a0, a1] = ops;
        await r.registerAll(ops);
        await r.useSessionTimes();
        await r.gov.armGenesis(2);
        const b = await r.nextBoundary();
        const o = b + 1;
        await r.open(a0, o);
        // Nobody deals or acks; the windows pass by their deadlines.
        const p = r.poly(2);
        await r.confirm(a0, o + 2 * WINDOW + 50, 1, p.hash, p.poly);
        const confirmEnd = o + 3 * WINDOW;
        await r.refusedAt(confirmEnd - 2, 'PreviousSessionOpen', () => r.w(a1).openSession());
        await r.mine(confirmEnd - 1);
        assert.equal((await r.session(1)).progress.outcome, 'pending');
        await r.mine(confirmEnd);
        const s = await r.session(1);
        assert.deepEqual([s.progress.outcome, s.progress.confirmClosedAt, s.progress.completedPolyHash], ['failed', null, null]);
        assert.equal(await r.l.getMpk(), null);
        assert.equal(await r.l.activeVersion(), null);
        assert.equal(await r.l.getVersion(1), null);
        await r.refusedAt(confirmEnd + 1, 'WrongPhase', () =>
          r.w(a1).submitConfirmation({ session: 1, publicPolyHash: p.hash, publicPoly: '0x', nextSessionKey: r.point() }));
        await r.refusedAt(confirmEnd + 2, 'BoundaryNotReached', () => r.w(a1).openSession());
        await r.refusedAt(b + INTERVAL - 1, 'BoundaryNotReached', () => r.w(a1).openSession());
        const next = await r.open(a1, b + INTERVAL);
        assert.deepEqual([next.id, next.kind, next.boundary, next.sourceVersion], [2, 'dkg', b + INTERVAL, 0]);
        await r.checkLog(1);
      });

      test('reshare: leavers deal but do not receive, newcomers enter by registration order within the churn cap, the MPK is kept', async (r) => {
        const ops = r.A.slice(0, 4) as [Address, Address, Address, Address];
        const [a0, a1, a2, a3] = ops;
        const [n6, n5, n4] = [r.A[6], r.A[5], r.A[4]] as [Address, Address, Address];
        const g = await r.genesis(ops);
        const b1 = g.snap.boundary;
        // Newcomers register in the order n6, n5, n4 (not the accounts' order).
        await r.register(n6);
        await r.register(n5);
        await r.register(n4);
        const rotated = r.point();
        await r.w(n6).rotateSessionKey(rotated);
        r.sessionKeys.set(n6, rotated);
        await r.gov.ejectOperator(a3);
        assert.equal((await r.l.getOperator(a3))?.status, 'leaving');

        const b2 = b1 + INTERVAL;
        await r.refusedAt(b2 - 1, 'BoundaryNotReached', () => r.w(a0).openSession());
        const snap = await r.open(n4, b2);
        const recipients = [a0, a1, a2, n6]; // default cap max(1, floor(4/3)) = 1: the first-registered newcomer
        assert.deepEqual(snap, {
          id: 2,
          kind: 'reshare',
          boundary: b2,
          openedAt: b2,
          dealers: ops, // holders of version 1, the ejected a3 included
          recipients,
          recipientKeys: recipients.map((a) => r.sessionKeys.get(a)),
          tNew: 3,
          tOld: 3,
          sourceVersion: 1,
          sourcePolyHash: g.hash,
          dealWindow: WINDOW,
          ackWindow: WINDOW,
          confirmWindow: WINDOW,
          quorum: 3,
          protocolVersion: 1,
        });

        let t = b2;
        await r.refusedAt(++t, 'NotDealer', () => r.w(n6).submitDeal(r.dealFor(snap))); // receives, holds nothing to deal
        for (const d of ops) await r.deal(d, ++t, r.dealFor(snap)); // a3 deals while leaving
        assert.equal((await r.session(2)).progress.dealClosedAt, t);
        await r.at(++t, () => r.w(a2).deregister()); // a recipient leaves mid-session: it still holds version 2
        await r.refusedAt(++t, 'NotRecipient', () => r.w(a3).submitAck({ session: 2, complaints: [] }));
        await r.refusedAt(++t, 'NotRecipient', () => r.w(n4).submitAck({ session: 2, complaints: [] }));
        for (const x of recipients) await r.ack(x, ++t, 2);

        const foreign = r.poly(3); // A_0 is not the MPK
        await r.refusedAt(++t, 'MpkMismatch', () =>
          r.w(a0).submitConfirmation({ session: 2, publicPolyHash: foreign.hash, publicPoly: foreign.poly, nextSessionKey: r.point() }));
        const q = r.poly(3, g.mpk);
        await r.confirm(a0, ++t, 2, q.hash, q.poly);
        await r.confirm(a1, ++t, 2, q.hash, '0x');
        assert.ok(await r.l.getOperator(a3), 'a3 stays until the session completes');
        await r.confirm(n6, ++t, 2, q.hash, '0x');
        assert.equal((await r.session(2)).progress.outcome, 'completed');
        assert.equal(await r.l.getMpk(), g.mpk, 'the MPK never changes');
        assert.deepEqual(await r.l.activeVersion(), { id: 2, publicPolyHash: q.hash, publicPoly: q.poly, threshold: 3, holders: recipients, completedAt: t });
        assert.deepEqual(await r.l.getVersion(1), { id: 1, publicPolyHash: g.hash, publicPoly: g.poly, threshold: 3, holders: ops, completedAt: g.completedAt });
        assert.equal(await r.l.getOperator(a3), null, 'the leaver is removed once a version without it completes');
        const operators = await r.l.getOperators();
        assert.deepEqual(operators.map((x) => [x.address, x.status]), [
          [a0, 'active'], [a1, 'active'], [a2, 'leaving'], [n6, 'active'], [n5, 'active'], [n4, 'active'],
        ]);
        await r.checkLog(2);

        // Session 3 with a cap of 2: still max(1, floor(4/3)) = 1 newcomer, the next in registration order (n5).
        await r.gov.setChurnCap(2);
        const snap3 = await r.open(a2, b2 + INTERVAL); // any registered operator may open, a leaving one too
        assert.deepEqual(
          [snap3.kind, snap3.dealers, snap3.recipients, snap3.tNew, snap3.tOld, snap3.quorum, snap3.sourceVersion, snap3.sourcePolyHash],
          ['reshare', recipients, [a0, a1, n6, n5], 3, 3, 3, 2, q.hash],
          'a2 (leaving) deals but does not receive; a cap above the bound admits no more; t = ceil(2·4/3) = 3',
        );
      });

      test('failed reshares keep the source version: its holders deal in every later session until one completes, a recipient of a failed one does not', async (r) => {
        // The registry keeps only each operator's latest role (issue 14): the holders of the
        // source version must survive sessions that failed after giving everyone a new role.
        const ops = r.A.slice(0, 3) as [Address, Address, Address];
        const n3 = r.A[3] as Address;
        const g = await r.genesis(ops);
        await r.register(n3); // a newcomer: recipient of the next sessions (cap max(1, floor(3/3)) = 1), never a dealer of them
        let b = g.snap.boundary;
        for (const id of [2, 3]) {
          b += INTERVAL;
          const snap = await r.open(n3, b);
          assert.deepEqual([snap.id, snap.dealers, snap.recipients, snap.sourceVersion, snap.sourcePolyHash], [id, ops, [...ops, n3], 1, g.hash]);
          await r.refusedAt(b + 1, 'NotDealer', () => r.w(n3).submitDeal(r.dealFor(snap)));
          for (const [i, d] of ops.entries()) await r.deal(d, b + 2 + i, r.dealFor(snap));
          await r.ack(n3, b + 10, id); // the deal window closed early at b + 4; nobody confirms
          await r.mine(b + 3 * WINDOW);
          assert.equal((await r.session(id)).progress.outcome, 'failed');
          await r.checkLog(id);
        }
        b += INTERVAL;
        const snap4 = await r.open(n3, b);
        assert.deepEqual([snap4.dealers, snap4.recipients, snap4.sourceVersion], [ops, [...ops, n3], 1]);
        let t = b;
        for (const d of ops) await r.deal(d, ++t, r.dealFor(snap4));
        for (const x of snap4.recipients) await r.ack(x, ++t, 4);
        const q = r.poly(snap4.tNew, g.mpk);
        for (const [i, x] of snap4.recipients.entries()) await r.confirm(x, ++t, 4, q.hash, i === 0 ? q.poly : '0x');
        assert.equal((await r.session(4)).progress.outcome, 'completed');
        await r.checkLog(4);
        const snap5 = await r.open(ops[0], b + INTERVAL);
        assert.deepEqual([snap5.dealers, snap5.sourceVersion, snap5.sourcePolyHash], [[...ops, n3], 4, q.hash], 'version 4\'s holders deal now, the newcomer included');
      });
    });

    describe('apps', () => {
      test('app ids are assigned per creator and salt; only the app owner publishes', async (r) => {
        const [a0, a1] = r.A as [Address, Address];
        const salt = r.bytes(32);
        const expectedId = keccak256(encodeAbiParameters(
          [{ type: 'uint256' }, { type: 'address' }, { type: 'address' }, { type: 'bytes32' }],
          [r.l.chainId, r.l.registry, a0, salt],
        ));
        const id0 = await r.w(a0).createApp(salt, ['ecdsa']);
        assert.equal(id0, expectedId);
        assert.deepEqual(await r.l.getApp(id0), { id: id0, owner: a0, methods: ['ecdsa'], releaseCount: 0, frozen: false, epoch: 0, pendingOwner: null });
        // Squatting: the same salt from another creator is another app; the same creator cannot reuse it.
        const id1 = await r.w(a1).createApp(salt, ['jwt']);
        assert.notEqual(id1, id0);
        assert.equal((await r.l.getApp(id1))?.owner, a1);
        await refuses(r.w(a0).createApp(salt, ['jwt']), 'AppExists');

        const release: Release = { imageDigest: r.bytes(32), launchPolicy: r.bytes(32), encryptedEnv: r.bytes(200), publicEnv: 'LOG_LEVEL=info' };
        await refuses(r.w(a1).publishRelease(id0, release), 'NotAppOwner');
        await refuses(r.w(a1).setAttestationMethods(id0, ['jwt']), 'NotAppOwner');
        const unknown = r.bytes(32);
        await refuses(r.w(a0).publishRelease(unknown, release), 'UnknownApp');
        await refuses(r.w(a0).setAttestationMethods(unknown, ['jwt']), 'UnknownApp');

        await r.w(a0).publishRelease(id0, release);
        const second: Release = { ...release, imageDigest: r.bytes(32), publicEnv: '' };
        await r.w(a0).publishRelease(id0, second);
        await r.w(a0).setAttestationMethods(id0, ['ecdsa', 'jwt']);
        assert.deepEqual(await r.l.getApp(id0), { id: id0, owner: a0, methods: ['ecdsa', 'jwt'], releaseCount: 2, frozen: false, epoch: 0, pendingOwner: null });
        assert.deepEqual(await r.l.getRelease(id0, 0), release);
        assert.deepEqual(await r.l.getRelease(id0, 1), second);
        assert.equal(await r.l.getRelease(id0, 2), null);
        assert.equal((await r.l.getApp(id1))?.releaseCount, 0);
      });

      test('transfer is two-step: the old owner keeps every right until acceptance and loses every one at it', async (r) => {
        const [a0, a1, a2] = r.A as [Address, Address, Address];
        const id = await r.w(a0).createApp(r.bytes(32), ['ecdsa']);
        const release: Release = { imageDigest: r.bytes(32), launchPolicy: '0x01', encryptedEnv: '0x', publicEnv: '' };
        // Only the owner proposes; nobody but the proposed owner accepts (an unknown app has no proposed owner).
        await refuses(r.w(a1).transferApp(id, a1), 'NotAppOwner');
        await refuses(r.w(a0).transferApp(r.bytes(32), a1), 'UnknownApp');
        await refuses(r.w(a1).acceptApp(id), 'NotPendingOwner');
        await refuses(r.w(a1).acceptApp(r.bytes(32)), 'NotPendingOwner');
        await r.w(a0).transferApp(id, a2);
        assert.equal((await r.l.getApp(id))?.pendingOwner, a2);
        // A new proposal replaces the old one; the zero address withdraws it.
        await r.w(a0).transferApp(id, a1);
        await refuses(r.w(a2).acceptApp(id), 'NotPendingOwner');
        await r.w(a0).transferApp(id, ZERO_ADDRESS);
        assert.equal((await r.l.getApp(id))?.pendingOwner, null);
        await refuses(r.w(a1).acceptApp(id), 'NotPendingOwner');
        // Until acceptance the old owner acts as before.
        await r.w(a0).transferApp(id, a1);
        await r.w(a0).publishRelease(id, release);
        await r.w(a1).acceptApp(id);
        assert.deepEqual(await r.l.getApp(id), { id, owner: a1, methods: ['ecdsa'], releaseCount: 1, frozen: false, epoch: 0, pendingOwner: null });
        // The previous owner has no right left; the new one has them all.
        await refuses(r.w(a0).publishRelease(id, release), 'NotAppOwner');
        await refuses(r.w(a0).setAttestationMethods(id, ['jwt']), 'NotAppOwner');
        await refuses(r.w(a0).setAppFrozen(id, true), 'NotAppOwner');
        await refuses(r.w(a0).rotateAppKey(id, 1, release), 'NotAppOwner');
        await refuses(r.w(a0).transferApp(id, a0), 'NotAppOwner');
        await refuses(r.w(a1).acceptApp(id), 'NotPendingOwner');
        await r.w(a1).setAttestationMethods(id, ['jwt']);
        await r.w(a1).publishRelease(id, release);
        assert.equal((await r.l.getApp(id))?.releaseCount, 2);
      });

      test('freeze and unfreeze are the owner\'s alone and change nothing else', async (r) => {
        const [a0, a1] = r.A as [Address, Address];
        const id = await r.w(a0).createApp(r.bytes(32), ['ecdsa', 'jwt']);
        await refuses(r.w(a1).setAppFrozen(id, true), 'NotAppOwner');
        await refuses(r.w(a0).setAppFrozen(r.bytes(32), true), 'UnknownApp');
        await r.w(a0).setAppFrozen(id, true);
        assert.deepEqual(await r.l.getApp(id), { id, owner: a0, methods: ['ecdsa', 'jwt'], releaseCount: 0, frozen: true, epoch: 0, pendingOwner: null });
        // A frozen app can still be administered (publish, rotate) by its owner.
        const release: Release = { imageDigest: r.bytes(32), launchPolicy: '0x', encryptedEnv: '0x', publicEnv: '' };
        await r.w(a0).publishRelease(id, release);
        await r.w(a0).setAppFrozen(id, true);
        assert.equal((await r.l.getApp(id))?.frozen, true, 'freezing twice is harmless');
        await r.w(a0).setAppFrozen(id, false);
        assert.deepEqual(await r.l.getApp(id), { id, owner: a0, methods: ['ecdsa', 'jwt'], releaseCount: 1, frozen: false, epoch: 0, pendingOwner: null });
      });

      test('a key rotation raises the epoch by exactly one and publishes its release in the same step; a repeated one is refused', async (r) => {
        const [a0, a1] = r.A as [Address, Address];
        const id = await r.w(a0).createApp(r.bytes(32), ['ecdsa']);
        const release: Release = { imageDigest: r.bytes(32), launchPolicy: r.bytes(8), encryptedEnv: r.bytes(150), publicEnv: 'A=1' };
        await refuses(r.w(a1).rotateAppKey(id, 1, release), 'NotAppOwner');
        await refuses(r.w(a0).rotateAppKey(r.bytes(32), 1, release), 'UnknownApp');
        await refuses(r.w(a0).rotateAppKey(id, 0, release), 'AppEpochMismatch');
        await refuses(r.w(a0).rotateAppKey(id, 2, release), 'AppEpochMismatch');
        // A refused release changes nothing: no epoch bump without its release.
        await refuses(r.w(a0).rotateAppKey(id, 1, { ...release, imageDigest: r.bytes(31) }), 'BadLength');
        assert.equal((await r.l.getApp(id))?.epoch, 0);
        await r.w(a0).rotateAppKey(id, 1, release);
        assert.deepEqual(await r.l.getApp(id), { id, owner: a0, methods: ['ecdsa'], releaseCount: 1, frozen: false, epoch: 1, pendingOwner: null });
        assert.deepEqual(await r.l.getRelease(id, 0), release);
        // The same call again (a re-run after an interruption) cannot rotate twice.
        await refuses(r.w(a0).rotateAppKey(id, 1, release), 'AppEpochMismatch');
        const second: Release = { ...release, encryptedEnv: r.bytes(150) };
        await r.w(a0).rotateAppKey(id, 2, second);
        assert.deepEqual([(await r.l.getApp(id))?.epoch, (await r.l.getApp(id))?.releaseCount], [2, 2]);
        assert.deepEqual(await r.l.getRelease(id, 1), second);
      });
    });
  });
}
