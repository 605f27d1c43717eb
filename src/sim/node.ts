/**
 * @module
 * One simulated operator node: its identity (transaction account, signing key), its stores,
 * and what it does each tick. It mirrors the `kms-server` runtime (SPEC 4, STYLE 3a: load,
 * transition, persist, then send) with the ledger view and randomness handed in.
 *
 * Stores (all in `NodeStore`, persisted as one unit; the real node encrypts it at rest):
 *   - session keys: secret halves by public key. The first is published at registration, the
 *     next inside each confirmation; a secret is dropped once no unfinished round lists it and
 *     it is no longer the operator's on-chain key.
 *   - key versions: version id → share, public polynomial hash, pending | active. Pending on
 *     confirm, active when the session completes with the hash this node confirmed, deleted
 *     when another hash wins or the session fails. Retention (SPEC 4): version v is deleted
 *     once a later version has been the source of a completed reshare.
 *   - rounds: the `RoundState` of every session this node took part in (secrets wiped when
 *     the round is over).
 *   - lastProcessedBoundary: a boundary is handled once.
 *
 * A crash drops the in-memory copy; a restart loads the persisted one. Everything else a node
 * knows comes from its ledger view, so a restarted node resumes by stepping its rounds again
 * (the round driver resends whatever the ledger does not show yet).
 */
import { makeDomain } from '../crypto/domain.ts';
import * as fr from '../crypto/fr.ts';
import type { OperatorSigner } from '../crypto/operator-sig.ts';
import type { Rng } from '../crypto/rng.ts';
import { bytesToHex, mustHex } from '../protocol/hex.ts';
import type { Address, Hex, Session, SessionSnapshot } from '../protocol/ledger.ts';
import type { RecipientProduced } from '../protocol/recipient.ts';
import { initRound, roundFinished, stepRound, type RoundState, type StepResult } from '../protocol/round-driver.ts';
import { boundaryOf, phaseAt } from '../protocol/session-rules.ts';
import type { ChainMemo, LedgerView } from './ledger-mirror.ts';

export interface KeyVersion {
  readonly id: number;
  /** This node's share (hex scalar). Secret. */
  readonly share: Hex;
  readonly publicPolyHash: Hex;
  readonly threshold: number;
  readonly status: 'pending' | 'active';
}

/** Everything a node persists. Plain data: `structuredClone` is the disk. */
export interface NodeStore {
  rounds: Record<number, RoundState>;
  /** Session-key secret halves by public key. Secret. */
  sessionKeys: Record<Hex, Hex>;
  versions: Record<number, KeyVersion>;
  lastProcessedBoundary: number;
}

export interface NodeIdentity {
  readonly index: number;
  /** Human label for transcripts ("op3"). */
  readonly label: string;
  /** The Ethereum account that sends the node's transactions. */
  readonly address: Address;
  readonly signer: OperatorSigner;
  /** The first session key (published at registration). */
  readonly firstSessionKey: { readonly public: Hex; readonly secret: Hex };
}

/** What a tick hands the node. */
export interface TickInput {
  readonly view: LedgerView;
  readonly memo: ChainMemo;
  /** A fresh rng for (node, session, tick): never reused, derived from the seed. */
  readonly rngFor: (session: number) => Rng;
}

/** What a node asks the simulator to do after a step (sent in order, after persisting). */
export interface StepEffects {
  readonly session: number;
  readonly snapshot: SessionSnapshot;
  readonly result: StepResult;
  /** Context Byzantine behaviours need to forge submissions. */
  readonly sourceShare: bigint | null;
  readonly sessionSecret: Uint8Array | null;
  readonly rng: Rng;
}

export function emptyStore(identity: NodeIdentity): NodeStore {
  return {
    rounds: {},
    sessionKeys: { [identity.firstSessionKey.public]: identity.firstSessionKey.secret },
    versions: {},
    lastProcessedBoundary: -1,
  };
}

export class SimNode {
  readonly id: NodeIdentity;
  readonly domain: Uint8Array;
  /** `--threshold-override N` (SPEC 6); null = any session threshold. */
  consentThreshold: number | null = null;
  /** The persisted store (survives crashes). */
  disk: NodeStore;
  /** The in-memory working copy; null while crashed. */
  mem: NodeStore | null;
  /** Sessions whose step threw (reported once, then skipped). */
  readonly #broken = new Set<number>();

  constructor(identity: NodeIdentity, chainId: bigint, registry: Address) {
    this.id = identity;
    this.domain = makeDomain({ chainId, registry });
    this.disk = emptyStore(identity);
    this.mem = structuredClone(this.disk);
  }

  get address(): Address {
    return this.id.address;
  }

  get up(): boolean {
    return this.mem !== null;
  }

  crash(): void {
    this.mem = null;
    this.#broken.clear();
  }

  restart(): void {
    this.mem = structuredClone(this.disk);
  }

  persist(): void {
    if (this.mem) this.disk = structuredClone(this.mem);
  }

  /** The share of an active version, if this node holds it. */
  activeShare(version: number): bigint | null {
    const v = this.mem?.versions[version];
    return v && v.status === 'active' ? fr.fromBytes(mustHex(v.share, 'share')) : null;
  }

  /** Whether this node should try `openSession` now (a boundary passed and nothing runs). */
  wantsToOpen(view: LedgerView): { open: boolean; boundary: number } {
    const mem = this.mem;
    const g = view.governance;
    const boundary = boundaryOf(view.now, g.interval);
    const me = view.operator(this.address);
    if (!mem || !me || me.status !== 'active' || boundary <= mem.lastProcessedBoundary) return { open: false, boundary };
    const latestId = view.latestSessionId();
    const latest = latestId > 0 ? view.session(latestId) : null;
    if (latest && latest.snapshot.boundary >= boundary) {
      mem.lastProcessedBoundary = boundary; // somebody opened this boundary's session
      return { open: false, boundary };
    }
    if (latest && phaseAt(latest, view.now) !== 'closed') return { open: false, boundary };
    return { open: true, boundary };
  }

  /**
   * Steps every unfinished round (oldest first, so a completion activates the source share
   * before the next session needs it) and joins the latest session. Returns one entry per
   * step that changed something or has something to send. Errors are returned, not thrown:
   * bad input must not crash a node (SPEC 1.7).
   */
  step(input: TickInput): { effects: StepEffects[]; errors: string[] } {
    const mem = this.mem;
    if (!mem) return { effects: [], errors: [] };
    const { view } = input;
    const effects: StepEffects[] = [];
    const errors: string[] = [];
    const latestId = view.latestSessionId();
    if (latestId > 0 && !(latestId in mem.rounds)) {
      const s = view.session(latestId);
      if (s) mem.rounds[latestId] = initRound(s, this.address, this.consentThreshold);
    }
    const ids = Object.keys(mem.rounds).map(Number).sort((a, b) => a - b);
    for (const id of ids) {
      const state = mem.rounds[id] as RoundState;
      if (roundFinished(state) || this.#broken.has(id)) continue;
      const session = view.session(id);
      if (!session) continue;
      try {
        const e = this.#stepOne(state, session, input);
        if (e) effects.push(e);
      } catch (err) {
        this.#broken.add(id);
        errors.push(`session ${id}: ${(err as Error).name}: ${(err as Error).message}`);
      }
    }
    this.#pruneSessionKeys(view);
    return { effects, errors };
  }

  #stepOne(state: RoundState, session: Session, input: TickInput): StepEffects | null {
    const mem = this.mem as NodeStore;
    const { view, memo } = input;
    const snapshot = session.snapshot;
    let sourcePoly = null;
    let sourceShare: bigint | null = null;
    if (snapshot.kind === 'reshare') {
      const sp = memo.sourcePoly(view, snapshot);
      if (!sp.ok) throw new Error(sp.reason);
      sourcePoly = sp.poly;
      sourceShare = this.activeShare(snapshot.sourceVersion);
    }
    const mpkHex = view.mpk();
    const mpk = mpkHex ? memo.g2(mpkHex) : null;
    const j = snapshot.recipients.indexOf(this.address);
    const secretHex = j >= 0 ? mem.sessionKeys[snapshot.recipientKeys[j] as Hex] : undefined;
    const sessionSecret = secretHex ? mustHex(secretHex, 'session key') : null;
    const rng = input.rngFor(snapshot.id);
    const result = stepRound(
      state,
      { session, submissions: view.submissions(snapshot.id), now: view.now, sourcePoly, mpk },
      { sourceShare, sessionSecret },
      { rng, domain: this.domain, me: this.address, consentThreshold: this.consentThreshold },
    );
    if (result.transitions.length === 0 && result.outbox.length === 0) return null;
    this.#applyStores(state, result.state, snapshot, result.produced);
    mem.rounds[snapshot.id] = roundFinished(result.state) ? wipe(result.state) : result.state;
    return { session: snapshot.id, snapshot, result, sourceShare, sessionSecret, rng };
  }

  /**
   * Store updates implied by a recipient's transitions (before persisting). One step may take
   * several transitions (acked → confirmed → active when the quorum is already on-chain), so
   * this looks at the resulting state, not at the last edge.
   */
  #applyStores(before: RoundState, after: RoundState, snapshot: SessionSnapshot, produced: RecipientProduced | null): void {
    const mem = this.mem as NodeStore;
    const r = after.recipient;
    if (!r || r.status === before.recipient?.status) return;
    // The confirmation publishes the next session key: keep its secret before sending.
    if (produced) {
      const k = produced.nextSessionKey;
      if (!(k.publicKey in mem.sessionKeys)) mem.sessionKeys[k.publicKey] = bytesToHex(k.secretKey);
      if (r.publicPolyHash && !mem.versions[snapshot.id]) {
        mem.versions[snapshot.id] = { id: snapshot.id, share: bytesToHex(fr.toBytes(produced.share)), publicPolyHash: r.publicPolyHash, threshold: snapshot.tNew, status: 'pending' };
      }
    }
    if (r.status === 'active') {
      const v = mem.versions[snapshot.id];
      if (v) mem.versions[snapshot.id] = { ...v, status: 'active' };
      // A completed reshare from version s: versions older than s are no longer needed.
      if (snapshot.kind === 'reshare') {
        for (const id of Object.keys(mem.versions).map(Number)) if (id < snapshot.sourceVersion) delete mem.versions[id];
      }
    }
    if (r.status === 'discarded') delete mem.versions[snapshot.id];
  }

  /** Drops session-key secrets nothing can need any more (SPEC 2: delete after the session). */
  #pruneSessionKeys(view: LedgerView): void {
    const mem = this.mem as NodeStore;
    const onChain = view.operator(this.address)?.sessionKey;
    const needed = new Set<Hex>();
    if (onChain) needed.add(onChain);
    for (const [id, st] of Object.entries(mem.rounds)) {
      if (roundFinished(st)) continue;
      const s = view.session(Number(id));
      const j = s ? s.snapshot.recipients.indexOf(this.address) : -1;
      if (s && j >= 0) needed.add(s.snapshot.recipientKeys[j] as Hex);
      if (st.recipient?.nextSessionKey) needed.add(st.recipient.nextSessionKey);
    }
    // Keys published but not yet visible in a lagged view are still needed: keep every key
    // newer than the on-chain one (insertion order is publication order).
    const keys = Object.keys(mem.sessionKeys) as Hex[];
    const at = onChain ? keys.indexOf(onChain) : -1;
    keys.forEach((k, i) => {
      if (!needed.has(k) && i < at) delete mem.sessionKeys[k];
    });
  }
}

/** A finished round keeps its statuses and public data; its secrets are wiped (noble's clean()). */
function wipe(state: RoundState): RoundState {
  // The deal was kept only to resend it within the deal window.
  const dealer = state.dealer ? { machine: state.dealer.machine, session: state.dealer.session, status: state.dealer.status, ...(state.dealer.reason ? { reason: state.dealer.reason } : {}) } : null;
  if (!state.recipient) return { ...state, dealer };
  const { shares: _shares, publicPoly: _poly, ...rest } = state.recipient;
  return { ...state, dealer, recipient: rest };
}
