/**
 * @module
 * Declarative scenario plans over the simulator, in the spirit of commonware's `Plan`:
 *
 * ```ts
 * const run = await new Scenario({ seed: 'rotation', n: 3 })
 *   .genesis()
 *   .reshare({ add: 3 })                   // one newcomer per session at 3, 4, 5 holders
 *   .reshare()
 *   .reshare()
 *   .reshare({ remove: [0, 1, 2] })        // the leavers still run and deal
 *   .run();
 * run.rounds[4].outcome                      // 'completed'
 * ```
 *
 * A plan is a list of rounds. `genesis()` and `reshare()` start a round; every other method
 * modifies the round declared last (faults and behaviours last for that round only, unless
 * they say otherwise). Running a round means: apply its set-up (registrations, governance,
 * faults), wait for the next session to open (at most two intervals; `openSession`
 * refusals seen meanwhile are reported), run until the session is closed on-chain and every
 * live node has finished its part (at most until the next boundary, whose session belongs to
 * the next round), then undo the round's faults.
 *
 * Node indices are registration order: the first `n` operators are 0 … n−1, each `add`
 * appends more. One seed reproduces one run exactly (`ScenarioResult.digest`).
 */
import type { Behaviour } from './byzantine.ts';
import * as fr from '../crypto/fr.ts';
import type { VersionStatus } from '../node/key-store.ts';
import { bytesToHex } from '../protocol/hex.ts';
import { ZERO_HASH, type Hex, type LedgerErrorCode, type LedgerWriter, type Session, type SessionOutcome, type SessionSnapshot } from '../protocol/ledger.ts';
import type { RoundOutcome } from '../protocol/round-outcome.ts';
import { initRound, roundFinished, type RoundState } from '../protocol/round-driver.ts';
import { parseRoundState } from '../protocol/round-state-codec.ts';
import { phaseAt } from '../protocol/session-rules.ts';
import { Simulator, type CrashPoint, type SimOperator, type SimOptions } from './simulator.ts';

/** A node's stored key version as a scenario reports it (the share is secret: tests only). */
export interface KeyVersion {
  readonly id: number;
  /** This node's share (hex scalar). Secret. */
  readonly share: Hex;
  readonly publicPolyHash: Hex;
  readonly threshold: number;
  readonly status: VersionStatus;
}

export interface ScenarioOptions extends Partial<Omit<SimOptions, 'seed'>> {
  readonly seed: string;
  /** Operators registered (allow-listed, with proof of possession) before the first round. */
  readonly n: number;
}

export interface ReshareOptions {
  /** New operators to allow and register before the round. */
  readonly add?: number;
  /** Operators that deregister themselves (they become leaving: deal, receive nothing). */
  readonly remove?: readonly number[];
  /** Operators governance ejects (leaving, like `remove`). */
  readonly eject?: readonly number[];
  /** Governance threshold override to set before the round (0 = default). */
  readonly threshold?: number;
  /** Governance churn cap to set before the round (0 = default). */
  readonly churnCap?: number;
}

export interface GenesisOptions {
  /** Whether governance arms genesis (default true). */
  readonly arm?: boolean;
  /** `armGenesis(minOperators)`; default n. */
  readonly minOperators?: number;
  readonly threshold?: number;
}

export interface NodeReport {
  readonly index: number;
  readonly label: string;
  readonly dealer: string | null;
  readonly recipient: string | null;
  /** The node's stored version for this session, if any (share is secret: tests only). */
  readonly version: KeyVersion | null;
}

export interface RoundReport {
  readonly label: string;
  /** Session id, or null when no session opened. */
  readonly session: number | null;
  readonly outcome: SessionOutcome | 'not-opened';
  /** `openSession` refusals seen while waiting for the session (deduplicated, in order). */
  readonly refusals: readonly LedgerErrorCode[];
  readonly snapshot: SessionSnapshot | null;
  readonly completedPolyHash: Hex | null;
  /** The chain-derived outcome every honest node must compute (QUAL, exclusions, void complaints). */
  readonly chain: RoundOutcome | null;
  readonly nodes: readonly NodeReport[];
}

export interface ScenarioResult {
  readonly sim: Simulator;
  readonly rounds: readonly RoundReport[];
  /** SHA-256 over the whole transcript. */
  readonly digest: Hex;
  readonly mpk: Hex | null;
}

type Hook = (sim: Simulator) => Promise<void> | void;

interface RoundPlan {
  readonly label: string;
  readonly setup: Hook[];
  readonly teardown: Hook[];
}

export class Scenario {
  readonly #opts: ScenarioOptions;
  readonly #rounds: RoundPlan[] = [];
  /** Steps declared before the first round: they run right after the initial registrations. */
  readonly #prelude: Hook[] = [];

  constructor(opts: ScenarioOptions) {
    if (!Number.isInteger(opts.n) || opts.n < 0) throw new RangeError(`scenario: n must be a non-negative integer, got ${opts.n}`);
    this.#opts = opts;
  }

  /** A round in which governance arms genesis (unless `arm: false`) and the first DKG should run. */
  genesis(opts: GenesisOptions = {}): this {
    const setup: Hook[] = [];
    if (opts.threshold !== undefined) setup.push((sim) => sim.gov.setThresholdOverride(opts.threshold as number));
    if (opts.arm ?? true) setup.push((sim) => sim.gov.armGenesis(opts.minOperators ?? this.#opts.n));
    this.#rounds.push({ label: 'genesis', setup, teardown: [] });
    return this;
  }

  /** A round after governance and membership changes (applied in the order of the options' doc). */
  reshare(opts: ReshareOptions = {}): this {
    const setup: Hook[] = [];
    if (opts.churnCap !== undefined) setup.push((sim) => sim.gov.setChurnCap(opts.churnCap as number));
    for (let k = 0; k < (opts.add ?? 0); k++) setup.push(async (sim) => void (await sim.addOperator()));
    for (const i of opts.remove ?? []) {
      setup.push(async (sim) => {
        const code = await sim.operatorWrite(i, 'deregister', (w) => w.deregister());
        if (code) throw new Error(`scenario: op${i} could not deregister (${code})`);
      });
    }
    for (const i of opts.eject ?? []) setup.push((sim) => sim.gov.ejectOperator(sim.op(i).address));
    if (opts.threshold !== undefined) setup.push((sim) => sim.gov.setThresholdOverride(opts.threshold as number));
    const parts = [opts.add ? `add ${opts.add}` : '', opts.remove?.length ? `remove ${opts.remove.join(',')}` : '', opts.eject?.length ? `eject ${opts.eject.join(',')}` : '', opts.threshold !== undefined ? `t=${opts.threshold}` : ''].filter(Boolean);
    this.#rounds.push({ label: `reshare${parts.length ? ` (${parts.join('; ')})` : ''}`, setup, teardown: [] });
    return this;
  }

  /** Any set-up step for the last round (governance, registrations, …); before any round, a prelude step. */
  before(f: Hook): this {
    (this.#rounds.length === 0 ? this.#prelude : this.#last('before').setup).push(f);
    return this;
  }

  /** Governance acts before the last round (or, before any round, right after registration). */
  governance(f: (gov: LedgerWriter, sim: Simulator) => Promise<void>): this {
    return this.before((sim) => f(sim.gov, sim));
  }

  /** Node `i` runs these behaviours during the last round. */
  byzantine(i: number, ...behaviours: Behaviour[]): this {
    const r = this.#last('byzantine');
    r.setup.push((sim) => void sim.op(i).behaviours.push(...behaviours));
    r.teardown.push((sim) => void (sim.op(i).behaviours = sim.op(i).behaviours.filter((b) => !behaviours.includes(b))));
    return this;
  }

  /**
   * Node `i` crashes at a protocol point of the last round's session and restarts
   * `restartAfter` seconds later (default 20), at the start of the next round
   * ('next-round'), or never (null).
   */
  crash(i: number, opts: { at: CrashPoint; restartAfter?: number | null | 'next-round' }): this {
    const r = this.#last('crash');
    const restart = opts.restartAfter === undefined ? 20 : opts.restartAfter;
    r.setup.push((sim) => void sim.op(i).crashPlans.push({ point: opts.at, restartAfter: typeof restart === 'number' ? restart : null }));
    if (restart === 'next-round') r.teardown.push((sim) => sim.restart(i));
    return this;
  }

  /** Node `i` cannot reach its RPC for the whole last round (reads or writes). */
  offline(i: number): this {
    const r = this.#last('offline');
    r.setup.push((sim) => void sim.op(i).outages.push([sim.simMs, Number.POSITIVE_INFINITY]));
    r.teardown.push((sim) => {
      const o = sim.op(i).outages;
      const k = o.findIndex(([, b]) => b === Number.POSITIVE_INFINITY);
      if (k >= 0) o[k] = [(o[k] as readonly [number, number])[0], sim.simMs];
    });
    return this;
  }

  /** Node `i`'s view lags the chain head by `seconds` during the last round. */
  lag(i: number, seconds: number): this {
    const r = this.#last('lag');
    r.setup.push((sim) => void (sim.op(i).lag = seconds));
    r.teardown.push((sim) => void (sim.op(i).lag = 0));
    return this;
  }

  /** Node `i`'s local clock is off by `ms` from this round on (it must not matter). */
  skew(i: number, ms: number): this {
    this.#last('skew').setup.push((sim) => void (sim.op(i).skewMs = ms));
    return this;
  }

  /** Node `i` is gone for good from the last round on (never runs again). */
  stop(i: number): this {
    this.#last('stop').setup.push((sim) => sim.stop(i));
    return this;
  }

  /** Node `i` runs with `--threshold-override t` from the last round on (null: no override). */
  consent(i: number, t: number | null): this {
    this.#last('consent').setup.push((sim) => sim.consent(i, t));
    return this;
  }

  /** Builds a fresh simulator from the seed and runs every round. */
  async run(): Promise<ScenarioResult> {
    const { seed, n, ...simOpts } = this.#opts;
    const sim = new Simulator({ seed, ...simOpts });
    for (let i = 0; i < n; i++) await sim.addOperator();
    for (const f of this.#prelude) await f(sim);
    const rounds: RoundReport[] = [];
    for (const plan of this.#rounds) rounds.push(await runRound(sim, plan));
    return { sim, rounds, digest: sim.digest(), mpk: await sim.ledger.getMpk() };
  }

  #last(what: string): RoundPlan {
    const r = this.#rounds.at(-1);
    if (!r) throw new Error(`scenario: ${what}() must follow genesis() or reshare()`);
    return r;
  }
}

async function runRound(sim: Simulator, plan: RoundPlan): Promise<RoundReport> {
  const interval = (await sim.ledger.getGovernance()).interval;
  sim.note(`round: ${plan.label}`);
  for (const f of plan.setup) await f(sim);
  const before = await sim.ledger.latestSessionId();
  const mark = sim.transcript.length;
  const didOpen = await sim.runUntil(async () => (await sim.ledger.latestSessionId()) > before, 2 * interval);
  const refusals = [...new Set(sim.transcript.slice(mark).flatMap((e) => {
    const m = e.kind === 'refused' && /^openSession: (\w+)$/.exec(e.detail);
    return m ? [m[1] as LedgerErrorCode] : [];
  }))];
  if (!didOpen) {
    for (const f of plan.teardown) await f(sim);
    return { label: plan.label, session: null, outcome: 'not-opened', refusals, snapshot: null, completedPolyHash: null, chain: null, nodes: [] };
  }
  const id = await sim.ledger.latestSessionId();
  const opened = await sim.ledger.getSession(id);
  // Never wait into the next interval: its session belongs to the next round.
  const endBy = (opened?.snapshot.boundary ?? sim.chainTime) + interval - 1;
  await sim.runUntil(async () => {
    // The round is over when its session is closed at the head (not merely completed: late
    // confirmations are still accepted until the confirm window ends).
    const s = await sim.ledger.getSession(id);
    // The ledger's own block time: its lazily computed outcome must agree with this check.
    if (!s || phaseAt(s, sim.ledger.time) !== 'closed') return false;
    return sim.operators.every((op) => {
      // A lagging node may not have seen the session yet: wait for it too (bounded below).
      if (!sim.live(op.index)) return true;
      const st = storedRound(op, id, s);
      return st === 'no-role' || (st !== null && roundFinished(st));
    });
  }, Math.max(1, endBy - sim.chainTime));
  const s = await sim.ledger.getSession(id);
  const chain = await sim.chainOutcome(id);
  for (const f of plan.teardown) await f(sim);
  const nodes = sim.operators.map((op): NodeReport => {
    const st = s ? storedRound(op, id, s) : null;
    const r = st === 'no-role' ? null : st;
    const v = op.store.getVersion(id);
    const version: KeyVersion | null = v && { id: v.id, share: bytesToHex(fr.toBytes(v.share)), publicPolyHash: v.publicPolyHash, threshold: v.threshold, status: v.status };
    return { index: op.index, label: op.label, dealer: r?.dealer?.status ?? null, recipient: r?.recipient?.status ?? null, version };
  });
  return {
    label: plan.label,
    session: id,
    outcome: s?.progress.outcome ?? 'pending',
    refusals,
    snapshot: s?.snapshot ?? null,
    completedPolyHash: s?.progress.completedPolyHash ?? null,
    chain,
    nodes,
  };
}

/**
 * Node `op`'s round of session `id` as its key store holds it (what survives a crash), or
 * 'no-role' when the session gives it none (the loop stores nothing then).
 */
function storedRound(op: SimOperator, id: number, session: Session): RoundState | 'no-role' | null {
  const st = parseRoundState(op.store.getRoundState(id), id, ZERO_HASH);
  if (st !== null) return st;
  const fresh = initRound(session, op.address, op.consentThreshold);
  return fresh.dealer === null && fresh.recipient === null ? 'no-role' : null;
}
