/**
 * @module
 * Reading the devnet's progress from the chain, the way anyone could: the latest session,
 * its phase and submission counts, the active version and the pinned MPK. The devnet prints
 * from these what it waits for (genesis) and one line per finished round (reshares).
 */
import type { ChainLedger } from '../../src/chain/chain-ledger.ts';
import type { Hex, Session, VersionRecord } from '../../src/protocol/ledger.ts';
import { phaseAt, phaseEnds } from '../../src/protocol/session-rules.ts';
import { shortHex } from './output.ts';

export interface ChainView {
  /** Chain time (latest block timestamp). */
  readonly now: number;
  readonly interval: number;
  readonly latest: Session | null;
  readonly active: VersionRecord | null;
  readonly mpk: Hex | null;
  readonly activeOperators: number;
  readonly genesisMinOperators: number;
}

export async function readChainView(ledger: ChainLedger): Promise<ChainView> {
  const [now, gov, latestId, active, mpk, operators] = await Promise.all([
    ledger.now(),
    ledger.getGovernance(),
    ledger.latestSessionId(),
    ledger.activeVersion(),
    ledger.getMpk(),
    ledger.getOperators(),
  ]);
  const latest = latestId > 0 ? await ledger.getSession(latestId) : null;
  return {
    now,
    interval: gov.interval,
    latest,
    active,
    mpk,
    activeOperators: operators.filter((o) => o.status === 'active').length,
    genesisMinOperators: gov.genesisMinOperators,
  };
}

/** `4/4 dealt, 3/4 acked, 1/3 confirmations` up to the session's current phase. */
export function progressText(s: Session, now: number): string {
  const { snapshot: snap, progress: p } = s;
  const phase = phaseAt(s, now);
  const parts = [`${p.dealCount}/${snap.dealers.length} dealt`];
  if (phase !== 'deal') parts.push(`${p.ackCount}/${snap.recipients.length} acked`);
  if (phase === 'confirm' || phase === 'closed') parts.push(`${p.confirmCount}/${snap.quorum} confirmations`);
  return parts.join(', ');
}

/** When the next session may open (chain time): the boundary after the latest session's. */
export function nextBoundary(view: ChainView): number {
  const last = view.latest?.snapshot.boundary ?? Math.floor(view.now / view.interval) * view.interval - view.interval;
  return Math.max(last + view.interval, Math.floor(view.now / view.interval) * view.interval);
}

/** The status line while waiting for genesis (the first completed DKG). */
export function genesisStatus(view: ChainView): string {
  const s = view.latest;
  if (s === null) {
    return `waiting for genesis: session 1 not open yet (${view.activeOperators}/${view.genesisMinOperators} operators active; a node opens it on its next tick)`;
  }
  const id = s.snapshot.id;
  if (s.progress.outcome === 'failed') {
    const wait = Math.max(0, nextBoundary(view) - view.now);
    return `waiting for genesis: session ${id} (dkg) failed (${progressText(s, view.now)}); the next try opens at the next boundary, in ${wait} s`;
  }
  const phase = phaseAt(s, view.now);
  const ends = phaseEnds(s);
  const end = phase === 'deal' ? ends.dealEnd : phase === 'ack' ? ends.ackEnd : ends.confirmEnd;
  const left = Math.max(0, end - view.now);
  return `waiting for genesis: session ${id} phase ${phase}, ${progressText(s, view.now)} (window closes in ≤ ${left} s)`;
}

/** Tracks rounds and reports each one once it has an outcome. */
export class RoundReporter {
  readonly #genesisMpk: Hex;
  #reported: number;

  /** `reportedUpTo`: sessions up to this id are already reported (genesis). */
  constructor(genesisMpk: Hex, reportedUpTo: number) {
    this.#genesisMpk = genesisMpk.toLowerCase() as Hex;
    this.#reported = reportedUpTo;
  }

  get lastReported(): number {
    return this.#reported;
  }

  /**
   * Lines for every session after the last reported one that has finished, in order
   * (normally zero or one per poll). Reads the chain.
   */
  async poll(ledger: ChainLedger): Promise<RoundReport[]> {
    const latestId = await ledger.latestSessionId();
    const out: RoundReport[] = [];
    for (let id = this.#reported + 1; id <= latestId; id++) {
      const s = await ledger.getSession(id);
      if (s === null || s.progress.outcome === 'pending') break;
      const [active, mpk, version, now] = await Promise.all([ledger.activeVersion(), ledger.getMpk(), s.progress.outcome === 'completed' ? ledger.getVersion(id) : Promise.resolve(null), ledger.now()]);
      const mpkUnchanged =
        mpk !== null && mpk.toLowerCase() === this.#genesisMpk && (version === null || version.publicPoly.slice(0, 2 + 192).toLowerCase() === this.#genesisMpk);
      out.push({ session: s, active, version, mpkUnchanged, now });
      this.#reported = id;
    }
    return out;
  }
}

export interface RoundReport {
  readonly session: Session;
  /** The active version after the round. */
  readonly active: VersionRecord | null;
  /** The version the round created (completed rounds). */
  readonly version: VersionRecord | null;
  /** The pinned MPK is the genesis one and the new version's constant term equals it. */
  readonly mpkUnchanged: boolean;
  readonly now: number;
}

/** `session 3 reshare completed in 6 s → active version 3 (threshold 3, 4 holders), MPK unchanged ✓` */
export function roundLine(r: RoundReport): string {
  const snap = r.session.snapshot;
  const head = `session ${snap.id} ${snap.kind}`;
  const mpk = r.mpkUnchanged ? 'MPK unchanged ✓' : 'MPK CHANGED ✗ (invariant broken: report this)';
  const act = r.active ? `active version ${r.active.id} (threshold ${r.active.threshold}, ${r.active.holders.length} holders)` : 'no active version';
  if (r.session.progress.outcome === 'completed') {
    const took = r.version ? ` in ${Math.max(0, r.version.completedAt - snap.openedAt)} s` : '';
    return `${head} completed${took} → ${act}, ${mpk}`;
  }
  return `${head} FAILED (${progressText(r.session, r.now)}) → ${act} stays, ${mpk}`;
}

/** A one-line summary of a version for the genesis line. */
export function versionSummary(v: VersionRecord, mpk: Hex): string {
  return `version ${v.id}, threshold ${v.threshold} of ${v.holders.length}, MPK ${shortHex(mpk, 10, 8)}`;
}
