/**
 * @module
 * A deterministic discrete-event simulator of a KMS deployment: one in-memory ledger (the
 * chain, with its own block clock) and N operator nodes, each the production `OperatorLoop`
 * (`src/node/operator-loop.ts`, what `kms-server` runs) with an in-memory key store — one
 * implementation of a node, tested here and run in production (issue 13 item 1).
 *
 * Time. Simulated time advances in ticks of 500 ms. Chain time is the ledger's block clock,
 * `startTime + floor(simMs / 1000)` (one block per second). Every node also has a local
 * clock, `simMs + skew`, used for nothing but its log lines: the protocol reads chain time
 * only (SPEC 1.3), which the skew test demonstrates by comparing transcripts.
 *
 * Each tick, in an order drawn from the seed, every running node:
 *   1. runs its Byzantine behaviours' own actions (if any);
 *   2. on its first tick after a (re)start, makes sure the registry lists a session key its
 *      store holds (`ensureSessionKey`, as `kms-server` does at start-up);
 *   3. runs one `OperatorLoop.tick()` on its own `Ledger` (`lagged-ledger.ts`: the ledger as
 *      of chain time `now − lag`), which opens sessions, steps rounds, persists and then
 *      submits, exactly as in production. Its writes go through the simulator's writer for
 *      that node, which logs them, applies the node's Byzantine rewrites and its crash plans.
 *
 * Faults: RPC lag (the view lags the head), RPC outages (no reads, no writes), crashes (the
 * loop object and its caches are dropped; the key store, which the loop writes in
 * transactions, is the disk and survives), optionally at a protocol point such as right after
 * the node's deal or between persisting and sending; restarts (a fresh loop on the same
 * store), a lost store (`wipe`), permanent stops, and Byzantine behaviours. A crashed loop's
 * tick can touch nothing any more: its store and writer refuse every call from then on.
 *
 * Determinism. Everything random comes from `seededRng(seed/…)`; no wall clock is read
 * (an optional `cpuClock` only measures and never feeds back). The transcript — every ledger
 * write with the keccak of its encoding, every refusal, every machine transition, crash and
 * restart — is hashed as it grows: one seed gives one digest.
 */
import { createHash } from 'node:crypto';
import { keccak256, stringToHex } from 'viem';
import { makeDomain, toHex } from '../crypto/domain.ts';
import { createOperatorSigner, generateOperatorSecretKey, type OperatorKeyType } from '../crypto/operator-sig.ts';
import { ecdsaAddress } from '../crypto/operator-sig-ecdsa.ts';
import { seededRng, type Rng } from '../crypto/rng.ts';
import { generateSealKeyPair } from '../crypto/seal.ts';
import { MemoryKeyStore } from '../node/memory-key-store.ts';
import { ensureSessionKey, OperatorLoop, type LoopLogger } from '../node/operator-loop.ts';
import { mustHex } from '../protocol/hex.ts';
import { LedgerError, type Address, type Hex, type LedgerErrorCode, type LedgerWriter, type Submission } from '../protocol/ledger.ts';
import { MemoryLedger } from '../protocol/memory-ledger.ts';
import { computeRoundOutcome, type RoundOutcome } from '../protocol/round-outcome.ts';
import { submissionHash } from '../protocol/submission-digest.ts';
import type { Outgoing } from '../protocol/transition.ts';
import type { ActContext, Behaviour, ByzantineContext } from './byzantine.ts';
import { guardStore, NodeDownError } from './crashable.ts';
import type { NodeIdentity } from './identity.ts';
import { LaggedLedger } from './lagged-ledger.ts';
import { ChainMemo, LedgerMirror, type LedgerView } from './ledger-mirror.ts';

export type { NodeIdentity } from './identity.ts';

export interface SimOptions {
  readonly seed: string;
  readonly chainId?: number;
  /** Reshare interval and windows in seconds (defaults 60 / 15 / 15 / 15, inclusion margin 5). */
  readonly interval?: number;
  readonly dealWindow?: number;
  readonly ackWindow?: number;
  readonly confirmWindow?: number;
  readonly inclusionMargin?: number;
  /** Chain time of the first block. */
  readonly startTime?: number;
  /** Operators' signing key type (default BN254, as EigenLayer). */
  readonly sigKeyType?: OperatorKeyType;
  /** Measures per-node CPU time (the benchmark passes `performance.now`); never a protocol input. */
  readonly cpuClock?: () => number;
  /** Keep transcript entries in memory (default true; the digest and node errors are kept either way). */
  readonly keepTranscript?: boolean;
}

export type CrashPoint = 'after-deal' | 'after-ack' | 'after-confirm' | 'before-send';

export interface CrashPlan {
  /** Crash at a protocol point of a session (the next one the node acts in, if omitted). */
  readonly point: CrashPoint;
  readonly session?: number;
  /** Restart this many simulated seconds later; null = stays down until `restart()`. */
  readonly restartAfter: number | null;
}

export interface TranscriptEntry {
  /** Simulated milliseconds. */
  readonly ms: number;
  /** Chain time. */
  readonly chain: number;
  readonly node: string | null;
  readonly kind: 'tx' | 'refused' | 'transition' | 'crash' | 'restart' | 'error' | 'gov' | 'note';
  readonly detail: string;
  /** The node's local clock (skewed); not hashed into the digest. */
  readonly local: number | null;
}

export { NodeDownError } from './crashable.ts';

/** One simulated operator: its production loop and key store, plus what the simulator does to it. */
export class SimOperator {
  readonly id: NodeIdentity;
  /** The key store the loop persists to: it survives crashes (its disk). */
  store: MemoryKeyStore;
  /** The running loop; null while crashed. */
  loop: OperatorLoop | null = null;
  /** Grows at every crash and start: calls from an older incarnation's loop are refused. */
  incarnation = 0;
  /** Whether this incarnation has made sure the registry lists a session key its store holds. */
  sessionKeyReady = false;
  /** `--threshold-override N` (SPEC 6); null = any session threshold. Change with `Simulator.consent`. */
  consentThreshold: number | null = null;
  /** RPC lag in seconds: the node's view is the ledger as of chain time now − lag. */
  lag = 0;
  /** Local clock skew in milliseconds (log lines only). */
  skewMs = 0;
  /** Simulated-ms intervals [from, to) during which the node cannot reach its RPC. */
  readonly outages: Array<readonly [number, number]> = [];
  behaviours: Behaviour[] = [];
  crashPlans: CrashPlan[] = [];
  /** False once stopped for good (the operator is gone). */
  running = true;
  restartAtMs: number | null = null;
  /** CPU milliseconds spent in ticks, by session (only with `cpuClock`). */
  readonly cpu = new Map<number, number>();
  /** The loop's last log lines (not hashed: they explain a failed run). */
  readonly log: string[] = [];
  /** Last `openSession` refusal logged (the loop retries every tick; the transcript says it once). */
  lastOpenRefusal = '';

  constructor(id: NodeIdentity, store: MemoryKeyStore) {
    this.id = id;
    this.store = store;
  }

  get up(): boolean {
    return this.loop !== null;
  }
  get index(): number {
    return this.id.index;
  }
  get label(): string {
    return this.id.label;
  }
  get address(): Address {
    return this.id.address;
  }
}

const DEFAULTS = { chainId: 31337, interval: 60, dealWindow: 15, ackWindow: 15, confirmWindow: 15, inclusionMargin: 5, startTime: 1_764_000_000 };
export const TICK_MS = 500;
const LOG_LINES = 200;

export class Simulator {
  readonly seed: string;
  readonly ledger: MemoryLedger;
  readonly mirror: LedgerMirror;
  /** Pure chain-derived work the simulator's own checks share (`chainOutcome`). */
  readonly memo = new ChainMemo();
  readonly owner: Address;
  readonly gov: LedgerWriter;
  readonly operators: SimOperator[] = [];
  readonly transcript: TranscriptEntry[] = [];
  readonly startTime: number;
  readonly sigKeyType: OperatorKeyType;
  simMs = 0;
  tickNo = 0;
  readonly #opts: SimOptions;
  readonly #hash = createHash('sha256');
  readonly #schedule: Rng;
  readonly #identities = new Map<string, NodeIdentity>();
  readonly #domain: Uint8Array;

  constructor(opts: SimOptions) {
    this.#opts = opts;
    this.seed = opts.seed;
    this.startTime = opts.startTime ?? DEFAULTS.startTime;
    this.sigKeyType = opts.sigKeyType ?? 'bn254';
    const registry = `0x${keccak256(stringToHex(`${opts.seed}/registry`)).slice(-40)}` as Address;
    this.#domain = makeDomain({ chainId: BigInt(opts.chainId ?? DEFAULTS.chainId), registry });
    this.owner = this.identity('governance').address;
    this.ledger = new MemoryLedger({
      chainId: BigInt(opts.chainId ?? DEFAULTS.chainId),
      registry,
      owner: this.owner,
      interval: opts.interval ?? DEFAULTS.interval,
      dealWindow: opts.dealWindow ?? DEFAULTS.dealWindow,
      ackWindow: opts.ackWindow ?? DEFAULTS.ackWindow,
      confirmWindow: opts.confirmWindow ?? DEFAULTS.confirmWindow,
      inclusionMargin: opts.inclusionMargin ?? DEFAULTS.inclusionMargin,
      startTime: this.startTime,
    });
    this.mirror = new LedgerMirror(this.ledger);
    this.gov = this.#governanceWriter();
    this.#schedule = seededRng(`${opts.seed}/schedule`);
  }

  /** The domain every signature and seal of this deployment is bound to. */
  get domain(): Uint8Array {
    return this.#domain;
  }

  get chainTime(): number {
    return this.startTime + Math.floor(this.simMs / 1000);
  }

  // ---------------------------------------------------------------------------------------
  // Identities and operators

  /** A deterministic identity for a label: account from a secp256k1 key, signing key, first session key. */
  identity(label: string): NodeIdentity {
    const hit = this.#identities.get(label);
    if (hit) return hit;
    const rng = seededRng(`${this.seed}/identity/${label}`);
    const address = toHex(ecdsaAddress(generateOperatorSecretKey('ecdsa', rng))) as Address;
    const signer = createOperatorSigner(this.sigKeyType, generateOperatorSecretKey(this.sigKeyType, rng), this.#domain);
    const sk = generateSealKeyPair(rng);
    const index = /^op(\d+)$/.exec(label);
    const id: NodeIdentity = {
      index: index ? Number(index[1]) : -1,
      label,
      address,
      signer,
      firstSessionKey: { public: toHex(sk.publicKey), secret: toHex(sk.secretKey) },
    };
    this.#identities.set(label, id);
    return id;
  }

  /** Creates operator `op{i}` (i = next index), running; by default allow-lists and registers it. */
  async addOperator(opts: { allow?: boolean; register?: boolean } = {}): Promise<SimOperator> {
    const id = this.identity(`op${this.operators.length}`);
    const op = new SimOperator(id, this.#freshStore(id, true));
    this.operators.push(op);
    this.#start(op);
    if (opts.allow ?? true) await this.gov.allowOperator(id.address, true);
    if (opts.register ?? true) {
      const code = await this.register(id);
      if (code) throw new Error(`addOperator: registering ${id.label} was refused (${code})`);
    }
    return op;
  }

  /** Registers an identity from its own account with a proof of possession; null or the refusal code. */
  async register(id: NodeIdentity): Promise<LedgerErrorCode | null> {
    return this.#write(id.label, 'register', () =>
      this.ledger.writer(id.address).register({
        socket: `https://${id.label}.sim.invalid`,
        sigKeyType: id.signer.type,
        sigPublicKey: toHex(id.signer.publicKey),
        proofOfPossession: toHex(id.signer.proofOfPossession(id.address)),
        sessionKey: id.firstSessionKey.public,
      }),
    );
  }

  op(index: number): SimOperator {
    const op = this.operators[index];
    if (!op) throw new RangeError(`simulator: no operator ${index} (have ${this.operators.length})`);
    return op;
  }

  /** The operator's own writer (deregister, update socket, …), logged and mirrored. */
  async operatorWrite(index: number, what: string, f: (w: LedgerWriter) => Promise<unknown>): Promise<LedgerErrorCode | null> {
    const op = this.op(index);
    return this.#write(op.label, what, () => f(this.ledger.writer(op.address)));
  }

  /** Restarts node `i` with `--threshold-override t` (null: none), as an operator would. */
  consent(index: number, t: number | null): void {
    const op = this.op(index);
    op.consentThreshold = t;
    if (op.up) this.#start(op);
  }

  // ---------------------------------------------------------------------------------------
  // Faults

  crash(index: number, restartAfter: number | null = null): void {
    const op = this.op(index);
    if (!op.up) return;
    op.loop = null;
    op.incarnation++;
    op.restartAtMs = restartAfter === null ? null : this.simMs + restartAfter * 1000;
    this.#log(op, 'crash', restartAfter === null ? 'down until restarted' : `restart in ${restartAfter} s`);
  }

  restart(index: number): void {
    const op = this.op(index);
    op.restartAtMs = null;
    if (op.up) return;
    this.#start(op);
    this.#log(op, 'restart', 'loaded the persisted store');
  }

  /**
   * Node `i` loses its data directory: a fresh, empty key store (no shares, no session keys).
   * At its next start it publishes a new session key and takes part again as a recipient.
   */
  wipe(index: number): void {
    const op = this.op(index);
    op.store = this.#freshStore(op.id, false);
    if (op.up) this.#start(op);
    this.#log(op, 'note', 'lost its key store');
  }

  /** The operator is gone for good (its process never runs again). */
  stop(index: number): void {
    const op = this.op(index);
    op.running = false;
    this.#log(op, 'note', 'stopped for good');
  }

  outage(index: number, fromSeconds: number, toSeconds: number): void {
    this.op(index).outages.push([this.simMs + fromSeconds * 1000, this.simMs + toSeconds * 1000]);
  }

  /** Whether node `i`'s process runs and reaches its RPC now. */
  live(index: number): boolean {
    const op = this.op(index);
    return op.running && op.up && !op.outages.some(([a, b]) => this.simMs >= a && this.simMs < b);
  }

  // ---------------------------------------------------------------------------------------
  // Event loop

  /** One tick: advance the block clock, then every running node acts once. */
  async tick(): Promise<void> {
    this.ledger.setTime(this.chainTime);
    for (const op of this.#order()) {
      if (op.restartAtMs !== null && op.restartAtMs <= this.simMs) this.restart(op.index);
      if (!this.live(op.index)) continue;
      const t0 = this.#opts.cpuClock?.();
      const session = await this.#tickNode(op);
      if (t0 !== undefined && this.#opts.cpuClock) {
        op.cpu.set(session, (op.cpu.get(session) ?? 0) + this.#opts.cpuClock() - t0);
      }
    }
    this.simMs += TICK_MS;
    this.tickNo++;
  }

  /** Ticks until `done()` holds (checked before each tick) or `maxSeconds` of simulated time pass. */
  async runUntil(done: () => boolean | Promise<boolean>, maxSeconds: number): Promise<boolean> {
    const limit = this.simMs + maxSeconds * 1000;
    while (this.simMs < limit) {
      if (await done()) return true;
      await this.tick();
    }
    return done();
  }

  async runFor(seconds: number): Promise<void> {
    await this.runUntil(() => false, seconds);
  }

  /** Runs until chain time reaches `t` (exclusive of the tick at t). */
  async runToChainTime(t: number): Promise<void> {
    await this.runUntil(() => this.chainTime >= t, Math.max(0, t - this.chainTime) + 1);
  }

  /** A ledger view at the head (what an up-to-date observer sees). */
  async headView(): Promise<LedgerView> {
    await this.mirror.refresh();
    return this.mirror.at(this.chainTime);
  }

  /** The round outcome as every honest node must compute it, from the ledger's data at the head. */
  async chainOutcome(session: number): Promise<RoundOutcome | null> {
    const view = await this.headView();
    const s = view.session(session);
    if (!s) return null;
    let sourcePoly = null;
    if (s.snapshot.kind === 'reshare') {
      const sp = this.memo.sourcePoly(view, s.snapshot);
      if (!sp.ok) throw new Error(sp.reason);
      sourcePoly = sp.poly;
    }
    return computeRoundOutcome({ domain: this.#domain, snapshot: s.snapshot, submissions: view.submissions(session), sourcePoly });
  }

  /** Hex SHA-256 over every transcript entry so far (local clocks excluded). */
  digest(): Hex {
    return `0x${this.#hash.copy().digest('hex')}`;
  }

  /** Notes something in the transcript (scenario steps, test markers). */
  note(detail: string): void {
    this.#append(null, 'note', detail, null);
  }

  // ---------------------------------------------------------------------------------------
  // Internals

  #freshStore(id: NodeIdentity, withFirstKey: boolean): MemoryKeyStore {
    const store = new MemoryKeyStore({ chainId: this.ledger.chainId, registry: this.ledger.registry, operator: id.address });
    if (withFirstKey) store.putSessionKey({ publicKey: id.firstSessionKey.public, secretKey: mustHex(id.firstSessionKey.secret, 'session key'), createdAt: this.startTime });
    return store;
  }

  /** A fresh production loop on the node's store, as `kms-server` builds it at start-up. */
  #start(op: SimOperator): void {
    const inc = ++op.incarnation;
    op.sessionKeyReady = false;
    const alive = () => op.incarnation === inc;
    const writer = this.#nodeWriter(op, alive);
    const ledger = new LaggedLedger({ ledger: this.ledger, mirror: this.mirror, lag: () => op.lag, startTime: this.startTime, writer });
    const line = (level: string) => (obj: object, msg: string) => {
      op.log.push(`[${this.simMs} ms, chain ${this.chainTime}] ${level}: ${msg} ${JSON.stringify(obj, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}` : v))}`);
      if (op.log.length > LOG_LINES) op.log.shift();
    };
    const log: LoopLogger = { debug() {}, info: line('info'), warn: line('warn'), error: line('error') };
    op.loop = new OperatorLoop({
      ledger, writer, store: guardStore(op.store, alive, op.label), me: op.address, domain: this.#domain,
      consentThreshold: op.consentThreshold,
      // A fresh stream per (node, session, purpose, tick, incarnation): never reused.
      rngFor: (s, p) => seededRng(`${this.seed}/rng/${op.label}/${s}/${p}/${this.tickNo}/${inc}`),
      log,
      observer: { transition: (s, t) => this.#log(op, 'transition', `session ${s}: ${t}`) },
      clock: () => this.simMs + op.skewMs,
      cpuClock: () => 0,
    });
  }

  #order(): SimOperator[] {
    // Fisher–Yates with the schedule stream: who acts first (and opens sessions) varies per tick.
    const a = [...this.operators];
    const bytes = this.#schedule(a.length * 4);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = a.length - 1; i > 0; i--) {
      const j = dv.getUint32(i * 4) % (i + 1);
      [a[i], a[j]] = [a[j] as SimOperator, a[i] as SimOperator];
    }
    return a;
  }

  /** One node's tick; returns the session its CPU time is attributed to. */
  async #tickNode(op: SimOperator): Promise<number> {
    for (const b of op.behaviours) if (b.act) await b.act(this.#actContext(op));
    const loop = op.loop;
    if (!loop) return 0;
    const inc = op.incarnation;
    try {
      if (!op.sessionKeyReady) {
        const ledger = new LaggedLedger({ ledger: this.ledger, mirror: this.mirror, lag: () => op.lag, startTime: this.startTime, writer: this.#nodeWriter(op, () => op.incarnation === inc) });
        const rng = seededRng(`${this.seed}/session key/${op.label}/${this.tickNo}/${inc}`);
        op.sessionKeyReady = (await ensureSessionKey(ledger, ledger.writer(op.address), op.store, op.address, await ledger.now(), rng)) !== null;
      }
      const report = await loop.tick();
      return report.sessions.at(-1)?.id ?? 0;
    } catch (e) {
      // A crashed incarnation's tick ends in a refused call: that is the crash, not an error.
      if (op.incarnation === inc) this.#log(op, 'error', `tick failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      return 0;
    }
  }

  /**
   * The writer node `op`'s loop gets: the ledger's writer for its account, through the
   * simulator (logged, mirrored), with its Byzantine rewrites and crash plans applied to
   * submissions. Every call from a crashed incarnation is refused.
   */
  #nodeWriter(op: SimOperator, alive: () => boolean): LedgerWriter {
    const base = this.ledger.writer(op.address);
    const guard = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
      if (!alive()) throw new NodeDownError(op.label);
      return f(...a);
    };
    const logged = <A extends unknown[], R>(name: string, f: (...a: A) => Promise<R>) => guard((...a: A) => this.#exec(op.label, name, () => f(...a), op));
    return {
      ...base,
      allowOperator: logged('allowOperator', base.allowOperator),
      ejectOperator: logged('ejectOperator', base.ejectOperator),
      setThresholdOverride: logged('setThresholdOverride', base.setThresholdOverride),
      setInterval: logged('setInterval', base.setInterval),
      setWindows: logged('setWindows', base.setWindows),
      setChurnCap: logged('setChurnCap', base.setChurnCap),
      armGenesis: logged('armGenesis', base.armGenesis),
      transferOwnership: logged('transferOwnership', base.transferOwnership),
      acceptOwnership: logged('acceptOwnership', base.acceptOwnership),
      cancelGovernanceChange: logged('cancelGovernanceChange', base.cancelGovernanceChange),
      register: logged('register', base.register),
      updateSocket: logged('updateSocket', base.updateSocket),
      rotateSessionKey: logged('rotateSessionKey', base.rotateSessionKey),
      deregister: logged('deregister', base.deregister),
      createApp: logged('createApp', base.createApp),
      setAttestationMethods: logged('setAttestationMethods', base.setAttestationMethods),
      publishRelease: logged('publishRelease', base.publishRelease),
      openSession: guard(() => this.#openSession(op, base)),
      submitDeal: guard((body) => this.#submission(op, { kind: 'deal', body }, alive)),
      submitAck: guard((body) => this.#submission(op, { kind: 'ack', body }, alive)),
      submitConfirmation: guard((body) => this.#submission(op, { kind: 'confirm', body }, alive)),
    };
  }

  async #openSession(op: SimOperator, w: LedgerWriter): Promise<number> {
    try {
      const id = await w.openSession();
      this.mirror.invalidate();
      op.lastOpenRefusal = '';
      this.#append(op.label, 'tx', 'openSession', this.simMs + op.skewMs);
      return id;
    } catch (e) {
      // The loop tries at every tick until a session for the boundary exists: say each
      // refusal once per (reason, latest session), as the loop's own log does.
      if (e instanceof LedgerError) {
        const key = `${e.code}|${await this.ledger.latestSessionId()}`;
        if (key !== op.lastOpenRefusal) this.#append(op.label, 'refused', `openSession: ${e.code}`, this.simMs + op.skewMs);
        op.lastOpenRefusal = key;
      }
      throw e;
    }
  }

  /** A submission the loop sends: crash plans, then the node's Byzantine rewrites, then the ledger. */
  async #submission(op: SimOperator, o: Outgoing, alive: () => boolean): Promise<void> {
    const session = o.body.session;
    if (this.#crashAt(op, session, 'before-send')) throw new NodeDownError(op.label);
    const out = op.behaviours.some((b) => b.rewrite) ? await this.#rewrite(op, o) : [o];
    for (const x of out) {
      if (!alive()) throw new NodeDownError(op.label);
      await this.#send(op, x);
      if (this.#crashAt(op, session, `after-${x.kind}` as CrashPoint)) return;
    }
  }

  async #rewrite(op: SimOperator, o: Outgoing): Promise<readonly Outgoing[]> {
    const id = o.body.session;
    const view = await this.headView();
    const session = view.session(id);
    if (!session) return [o];
    const s = session.snapshot;
    const source = s.kind === 'reshare' ? op.store.getVersion(s.sourceVersion) : null;
    const j = s.recipients.indexOf(op.address);
    const key = j >= 0 ? op.store.getSessionKey(s.recipientKeys[j] as Hex) : null;
    const ctx: ByzantineContext = {
      me: op.address,
      snapshot: s,
      submissions: view.submissions(id),
      domain: this.#domain,
      rng: seededRng(`${this.seed}/byzantine/${op.label}/${id}/${o.kind}/${this.tickNo}`),
      sourceShare: source && source.publicPolyHash === s.sourcePolyHash ? source.share : null,
      sessionSecret: key?.secretKey ?? null,
      addressOf: (i) => this.op(i).address,
    };
    let out: readonly Outgoing[] = [o];
    for (const b of op.behaviours) if (b.rewrite) out = b.rewrite(out, ctx);
    return out;
  }

  #crashAt(op: SimOperator, session: number, point: CrashPoint): boolean {
    const i = op.crashPlans.findIndex((p) => p.point === point && (p.session === undefined || p.session === session));
    if (i < 0) return false;
    const plan = op.crashPlans[i] as CrashPlan;
    op.crashPlans.splice(i, 1);
    this.#log(op, 'note', `crash point ${point} reached in session ${session}`);
    this.crash(op.index, plan.restartAfter);
    return true;
  }

  async #send(op: SimOperator, o: Outgoing): Promise<void> {
    const w = this.ledger.writer(op.address);
    const sub: Submission =
      o.kind === 'deal' ? { type: 'deal', from: op.address, ...o.body }
        : o.kind === 'ack' ? { type: 'ack', from: op.address, ...o.body }
          : { type: 'confirm', from: op.address, ...o.body };
    const what = `${o.kind} session ${o.body.session} ${submissionHash(sub)}`;
    await this.#exec(op.label, what, () => (o.kind === 'deal' ? w.submitDeal(o.body) : o.kind === 'ack' ? w.submitAck(o.body) : w.submitConfirmation(o.body)), op, true);
  }

  /** Runs one ledger write; logs it (or its refusal, which it rethrows) and invalidates the mirror. */
  async #exec<R>(actor: string, what: string, f: () => Promise<R>, op?: SimOperator, quietDuplicate = false): Promise<R> {
    try {
      const r = await f();
      this.mirror.invalidate();
      this.#append(actor, actor === 'governance' ? 'gov' : 'tx', what, op ? this.simMs + op.skewMs : null);
      return r;
    } catch (e) {
      if (e instanceof LedgerError && !(quietDuplicate && e.code === 'AlreadySubmitted')) {
        this.#append(actor, 'refused', `${what}: ${e.code}`, op ? this.simMs + op.skewMs : null);
      }
      throw e;
    }
  }

  /** `#exec` for callers that want the refusal code instead of a throw. */
  async #write(actor: string, what: string, f: () => Promise<unknown>, op?: SimOperator): Promise<LedgerErrorCode | null> {
    try {
      await this.#exec(actor, what, f, op);
      return null;
    } catch (e) {
      if (!(e instanceof LedgerError)) throw e;
      return e.code;
    }
  }

  #governanceWriter(): LedgerWriter {
    const w = this.ledger.writer(this.owner);
    // Every governance call goes through #write, so it is logged and mirrored; refusals throw
    // as they would for an admin tool.
    const wrap = <A extends unknown[]>(name: string, f: (...a: A) => Promise<unknown>) =>
      async (...a: A): Promise<void> => {
        const code = await this.#write('governance', `${name}(${a.map((x) => JSON.stringify(x)).join(', ')})`, () => f(...a));
        if (code) throw new LedgerError(code, `governance ${name} refused`);
      };
    return {
      ...w,
      allowOperator: wrap('allowOperator', w.allowOperator),
      ejectOperator: wrap('ejectOperator', w.ejectOperator),
      setThresholdOverride: wrap('setThresholdOverride', w.setThresholdOverride),
      setInterval: wrap('setInterval', w.setInterval),
      setWindows: wrap('setWindows', w.setWindows),
      setChurnCap: wrap('setChurnCap', w.setChurnCap),
      armGenesis: wrap('armGenesis', w.armGenesis),
      transferOwnership: wrap('transferOwnership', w.transferOwnership),
      acceptOwnership: wrap('acceptOwnership', w.acceptOwnership),
      cancelGovernanceChange: wrap('cancelGovernanceChange', w.cancelGovernanceChange),
    };
  }

  #actContext(op: SimOperator): ActContext {
    return {
      identity: (label) => this.identity(label),
      register: (id) => this.register(id),
      note: (detail) => this.#log(op, 'note', detail),
    };
  }

  #log(op: SimOperator, kind: TranscriptEntry['kind'], detail: string): void {
    this.#append(op.label, kind, detail, this.simMs + op.skewMs);
  }

  #append(node: string | null, kind: TranscriptEntry['kind'], detail: string, local: number | null): void {
    const e: TranscriptEntry = { ms: this.simMs, chain: this.chainTime, node, kind, detail, local };
    this.#hash.update(`${JSON.stringify([e.ms, e.chain, e.node, e.kind, e.detail])}\n`);
    // Errors are kept even without a transcript: they explain a failed run.
    if ((this.#opts.keepTranscript ?? true) || kind === 'error') this.transcript.push(e);
  }
}
