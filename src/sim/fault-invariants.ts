/**
 * @module
 * The invariants a fault run checks after every block (issue 13 item 3; SPEC 1, 4 v3). A
 * broken one is recorded as a violation (a sentence naming the block, the node and the fact),
 * never thrown: a run always ends with its report.
 *
 *  1. the MPK never changes: once a final block pinned it, the final and the head MPK are it;
 *  2. every share a node stores is valid for its version (s·G2 == PK_j = Σ A_k·x_j^k, the
 *     polynomial matches its hash, A_0 == MPK), and every completed version's shares, t of
 *     them, interpolate to the genesis secret (the simulator can see them all);
 *  3. all honest nodes that computed a session's outcome computed the same one: recipients of
 *     one (session, snapshot) that confirmed or activated hold one polynomial hash, and an
 *     active one holds the hash the chain completed with;
 *  4. no round state holds a share or a session secret; no node retires a version before a
 *     later completion is final, or deletes one whose completion is final before a later
 *     version was the source of a completed reshare; a share deleted early never turns out
 *     final (no share lost);
 *  5. nothing throws unhandled (the run reports ticks that threw anything but an injected
 *     fault);
 *  6. at the end, once every node settled on the final chain: retention holds — no version
 *     older than the newest source of a final completed reshare, no pending version of a
 *     session whose final outcome is another hash or a failure, no session secret the rules
 *     say is deleted.
 * The liveness check (a reshare completes within two intervals once faults stop) is the run's.
 */
import { keccak256 } from 'viem';
import { bls } from '../crypto/bls12381/index.ts';
import { operatorX } from '../crypto/operator-x.ts';
import { interpolateAtZero } from '../crypto/polynomial.ts';
import { verifyShare } from '../crypto/vss.ts';
import { sessionKeysToDelete } from '../node/retention.ts';
import type { StoredVersion } from '../node/key-store.ts';
import { mustHex } from '../protocol/hex.ts';
import type { Address, Hex, LedgerReader, Session, VersionRecord } from '../protocol/ledger.ts';
import { ZERO_HASH } from '../protocol/ledger.ts';
import { decodePoly } from '../protocol/round-outcome.ts';
import { parseRoundState } from '../protocol/round-state-codec.ts';
import { SIZES } from '../protocol/session-rules.ts';
import { versionsToDelete } from '../protocol/version-lifecycle.ts';
import type { ForkChain } from './fork-chain.ts';
import type { RunNode } from './fault-run.ts';

const MPK_HEX = 2 + 2 * SIZES.g2;
const MAX_VIOLATIONS = 25;

export class FaultInvariants {
  readonly violations: string[] = [];
  readonly #chain: ForkChain;
  readonly #nodes: readonly RunNode[];
  #mpk: Hex | null = null;
  #secret: bigint | null = null;
  readonly #validShares = new Set<string>();
  readonly #interpolated = new Set<string>();
  readonly #gate = new FinalityGate();
  readonly #seen = new Set<string>();

  constructor(chain: ForkChain, nodes: readonly RunNode[], _domain: Uint8Array) {
    this.#chain = chain;
    this.#nodes = nodes;
  }

  /** Records a violation; the same fact at later blocks is said once (the first block names it). */
  violate(msg: string): void {
    const key = (msg.split('\n')[0] as string).replace(/^block \d+ \(final \d+\): /, '');
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    if (this.violations.length < MAX_VIOLATIONS) this.violations.push(msg);
  }

  /** The node lost its store (an injected fault): what it held is not a loss to report. */
  forget(n: RunNode): void {
    this.#gate.forget(n.address);
  }

  async afterBlock(): Promise<void> {
    const chain = this.#chain;
    const final = chain.finalView();
    const at = `block ${chain.head.number} (final ${chain.finalBlock.number})`;

    // 1. The MPK.
    const finalMpk = await final.getMpk();
    if (this.#mpk === null) this.#mpk = finalMpk;
    if (this.#mpk !== null) {
      if (finalMpk !== this.#mpk) this.violate(`${at}: the final MPK changed from ${this.#mpk} to ${finalMpk}`);
      const head = await chain.getMpk();
      if (head !== this.#mpk) this.violate(`${at}: the head MPK ${head} differs from the final one`);
    }

    const finalActive = await final.activeVersion();
    const finalLatest = await final.latestSessionId();
    const finalSessions: Session[] = [];
    for (let id = 1; id <= finalLatest; id++) {
      const s = await final.getSession(id);
      if (s) finalSessions.push(s);
    }
    // 2a. Every stored share is valid for its polynomial, whose constant term is the MPK.
    for (const n of this.#nodes) {
      const versions = n.store.listVersions();
      for (const v of versions) {
        const key = `${n.address}|${v.id}|${v.publicPolyHash}|${v.share}`;
        if (this.#validShares.has(key)) continue;
        if (keccak256(v.publicPoly) !== v.publicPolyHash) this.violate(`${at}: ${n.label}'s version ${v.id}: the polynomial does not match its hash`);
        else if (!verifyShare(decodePoly(mustHex(v.publicPoly, 'poly')), operatorX(n.address), v.share)) this.violate(`${at}: ${n.label}'s share of version ${v.id} fails s·G2 == PK_j`);
        else if (this.#mpk !== null && v.publicPoly.slice(0, MPK_HEX) !== this.#mpk) this.violate(`${at}: ${n.label}'s version ${v.id} has another constant term than the MPK`);
        else this.#validShares.add(key);
      }

      // 4a. Round states hold no share and no session secret.
      for (const id of n.store.listRoundStates()) {
        const raw = n.store.getRoundState(id);
        let st;
        try {
          st = parseRoundState(raw, id, ZERO_HASH);
        } catch (e) {
          this.violate(`${at}: ${n.label}'s stored round ${id} does not parse: ${(e as Error).message}`);
          continue;
        }
        const r = st?.recipient;
        if (raw !== null && typeof raw === 'object' && 'recipient' in raw && raw.recipient !== null && typeof raw.recipient === 'object' && 'share' in raw.recipient) {
          this.violate(`${at}: ${n.label}'s stored round ${id} holds a share`);
        }
        if (r && r.status !== 'acked' && r.shares && Object.keys(r.shares).length > 0) this.violate(`${at}: ${n.label}'s stored round ${id} keeps opened shares after the ack phase (${r.status})`);
      }

      // 4b. Retiring and deleting wait for final facts.
      // 4b. Retiring and deleting wait for final facts.
      await this.#gate.observe({ address: n.address, who: `${at}: ${n.label}`, label: n.label }, versions, { final, finalActive, finalSessions, block: chain.head.number }, (m) => this.violate(m));
    }
    await this.#gate.recheck(final, (node) => `${at}: ${node}`, (m) => this.violate(m));

    // 2b. Every final version's shares interpolate to the genesis secret.
    for (const s of finalSessions) {
      if (s.progress.outcome !== 'completed') continue;
      const v = await final.getVersion(s.snapshot.id);
      if (!v) continue;
      const key = `${v.id}|${v.publicPolyHash}`;
      if (this.#interpolated.has(key)) continue;
      const shares = this.#nodes.flatMap((n) => {
        const held = n.store.getVersion(v.id);
        return held && held.publicPolyHash === v.publicPolyHash ? [{ x: operatorX(n.address), s: held.share }] : [];
      });
      if (shares.length < v.threshold) continue;
      this.#interpolated.add(key);
      const t = shares.slice(0, v.threshold);
      const x = interpolateAtZero(t.map((p) => p.x), t.map((p) => p.s));
      if (this.#secret === null) {
        this.#secret = x;
        const mpk = `0x${Buffer.from(bls.g2.encode(bls.g2.mul(bls.g2.generator, x))).toString('hex')}`;
        if (this.#mpk !== null && mpk !== this.#mpk) this.violate(`${at}: version ${v.id}'s shares interpolate to a secret whose x·G2 is not the MPK`);
      } else if (x !== this.#secret) {
        this.violate(`${at}: version ${v.id}'s shares interpolate to another secret than the genesis one`);
      }
    }

    // 3. Honest nodes agree on every session's outcome.
    const byRound = new Map<string, Map<Hex, string[]>>();
    for (const n of this.#nodes) {
      for (const id of n.store.listRoundStates()) {
        if (n.cheatedIn.has(id)) continue;
        let st;
        try {
          st = parseRoundState(n.store.getRoundState(id), id, ZERO_HASH);
        } catch {
          continue;
        }
        const r = st?.recipient;
        if (!st || !r || (r.status !== 'confirmed' && r.status !== 'active') || !r.publicPolyHash) continue;
        const k = `${id}|${st.snapshotHash}`;
        const m = byRound.get(k) ?? new Map<Hex, string[]>();
        m.set(r.publicPolyHash, [...(m.get(r.publicPolyHash) ?? []), `${n.label} (${r.status})`]);
        byRound.set(k, m);
        if (r.status === 'active') {
          const s = await chain.getSession(id);
          if (s && s.snapshotHash === st.snapshotHash && s.progress.outcome === 'completed' && s.progress.completedPolyHash !== r.publicPolyHash) {
            // The head may be mid-reorg for a lagging node: only a final disagreement counts.
            const f = await final.getSession(id);
            if (f && f.snapshotHash === st.snapshotHash && f.progress.outcome === 'completed' && f.progress.completedPolyHash !== r.publicPolyHash) {
              this.violate(`${at}: ${n.label} is active in session ${id} with ${r.publicPolyHash}, the final chain completed it with ${f.progress.completedPolyHash}`);
            }
          }
        }
      }
    }
    for (const [k, m] of byRound) {
      if (m.size > 1) this.violate(`${at}: honest nodes computed different outcomes for session ${k.split('|')[0]}: ${[...m].map(([h, who]) => `${h.slice(0, 10)}… by ${who.join(', ')}`).join('; ')}`);
    }
  }

  /** 6. Retention, once every node settled on the final chain (call after the quiet phase). */
  async atEnd(): Promise<void> {
    const final = this.#chain.finalView();
    const completedSources = new Set<number>();
    const outcomes = new Map<number, Session>();
    for (let id = 1; id <= (await final.latestSessionId()); id++) {
      const s = await final.getSession(id);
      if (!s) continue;
      outcomes.set(id, s);
      if (s.snapshot.kind === 'reshare' && s.progress.outcome === 'completed') completedSources.add(s.snapshot.sourceVersion);
    }
    for (const n of this.#nodes) {
      if (!n.loop) continue;
      const versions = n.store.listVersions();
      const stale = versionsToDelete(versions, completedSources);
      if (stale.length > 0) this.violate(`end: ${n.label} still holds version(s) ${stale.join(', ')}, older than the newest source of a final completed reshare`);
      for (const v of versions) {
        const s = outcomes.get(v.id);
        if (v.status === 'pending' && s && s.progress.outcome !== 'pending' && !(s.progress.outcome === 'completed' && s.progress.completedPolyHash === v.publicPolyHash)) {
          this.violate(`end: ${n.label} still holds a pending share of session ${v.id}, whose final outcome is ${s.progress.outcome}`);
        }
      }
      const published = (await final.getOperator(n.address))?.sessionKey ?? null;
      const inUse = new Set<Hex>();
      for (const s of outcomes.values()) if (s.progress.outcome === 'pending') for (const k of s.snapshot.recipientKeys) inUse.add(k);
      const keys = sessionKeysToDelete(n.store.listSessionKeys(), published, inUse);
      if (keys.length > 0) this.violate(`end: ${n.label} still holds ${keys.length} session secret(s) older than its published key that no session needs`);
    }
  }
}

/** What the final view says, read once per check. */
export interface FinalFacts {
  readonly final: LedgerReader;
  readonly finalActive: VersionRecord | null;
  readonly finalSessions: readonly Session[];
  /** The head block number, recorded with a deletion of a version that is not final. */
  readonly block: number;
}

/**
 * Retiring and deleting wait for final facts (SPEC 4, v3), checked on each node's versions
 * between two looks: a version retired before a later completion was final, or a final
 * version deleted before a later version sourced a completed reshare that is final, is a
 * violation; a version deleted while not final is remembered and becomes one if its
 * completion turns final later (the share is lost). Shared by the fault runs and
 * test/sim/loop-cluster.ts.
 */
export class FinalityGate {
  readonly #held = new Map<Address, Map<number, { status: string; hash: Hex }>>();
  readonly #deletedUnfinal: { node: string; id: number; hash: Hex; block: number }[] = [];

  /** The node lost its store (an injected fault): what it held is not a loss to report. */
  forget(address: Address): void {
    this.#held.delete(address);
  }

  /** `who` prefixes this look's messages; `label` names the node in a later `recheck`. */
  async observe(node: { readonly address: Address; readonly who: string; readonly label: string }, versions: readonly StoredVersion[], f: FinalFacts, violate: (m: string) => void): Promise<void> {
    const prev = this.#held.get(node.address) ?? new Map<number, { status: string; hash: Hex }>();
    const now = new Map(versions.map((v) => [v.id, { status: v.status, hash: v.publicPolyHash }]));
    for (const [id, before] of prev) {
      const after = now.get(id);
      const gone = after === undefined || after.hash !== before.hash;
      const retired = !gone && after.status === 'retired' && before.status !== 'retired';
      if (!gone && !retired) continue;
      const fv = await f.final.getVersion(id);
      const finalMine = fv !== null && fv.publicPolyHash === before.hash;
      if (retired && !(f.finalActive && f.finalActive.id > id)) violate(`${node.who} retired version ${id} before a later completion was final`);
      if (gone && finalMine) {
        const sourced = f.finalSessions.some((s) => s.snapshot.kind === 'reshare' && s.progress.outcome === 'completed' && s.snapshot.sourceVersion > id);
        if (!sourced) violate(`${node.who} deleted version ${id} although no later version was the source of a completed reshare that is final`);
      } else if (gone) {
        this.#deletedUnfinal.push({ node: node.label, id, hash: before.hash, block: f.block });
      }
    }
    this.#held.set(node.address, now);
  }

  /** A version deleted while not final whose completion is final now: that share is lost. */
  async recheck(final: LedgerReader, who: (node: string) => string, violate: (m: string) => void): Promise<void> {
    for (const d of this.#deletedUnfinal) {
      const fv = await final.getVersion(d.id);
      if (fv && fv.publicPolyHash === d.hash) violate(`${who(d.node)} deleted its share of version ${d.id} at block ${d.block}, and that completion is final now: the share is lost`);
    }
  }
}
