/**
 * @module
 * The in-memory ledger: the registry contract's rules (SPEC 3) over plain maps, with its own
 * block clock. Unit tests and the simulator use it; the conformance suite
 * (`test/ledger/conformance.ts`) holds it and the Solidity contract to the same behaviour.
 *
 * Pure: no I/O, no wall clock, no randomness. Time is whatever `setTime` last set (the
 * timestamp of the "latest block"); every write is recorded at that time and may be
 * followed by others at the same time (several transactions in one block).
 *
 * Every write validates everything before it changes anything, so a refused write leaves the
 * ledger exactly as it was (SPEC 1.7), and refuses with a `LedgerError` whose code names the
 * contract's custom error. The order of the checks is the contract's order; it is written
 * next to each method in `ledger.ts` (`LedgerWriter`).
 *
 * The rule arithmetic (thresholds, quorum, churn cap, boundaries, phases, who deals and who
 * receives) lives in `session-rules.ts`; this file only keeps state and applies it, so the
 * formulas the contract mirrors exist once. Session keys are checked with the crypto layer's
 * one secp256k1 point decoder (`validateSealPublicKey`), which refuses exactly what the
 * contract's curve check refuses.
 *
 * Governance delay (as the contract): delayed setters queue their change with `effectiveAt =
 * now + governanceDelay`; reads and `openSession` overlay a queued change once the block
 * clock reaches it (lazily: moving the clock is enough), and a setter folds such a change in
 * before it queues or cancels another.
 */
import { encodeAbiParameters, keccak256 } from 'viem';
import { makeDomain, parseHex } from '../crypto/domain.ts';
import { verifyOperatorProofOfPossession } from '../crypto/operator-sig.ts';
import { validateSealPublicKey } from '../crypto/seal.ts';
import {
  LedgerError,
  ZERO_HASH,
  type AckSubmission,
  type Address,
  type AppRecord,
  type AttestationMethod,
  type Complaint,
  type ConfirmSubmission,
  type DealSubmission,
  type Governance,
  type GovernanceChangeKind,
  type Hex,
  type Ledger,
  type LedgerErrorCode,
  type LedgerReader,
  type LedgerWriter,
  type OperatorRecord,
  type QueuedGovernanceChange,
  type RecordedSubmission,
  type RegisterParams,
  type Release,
  type Session,
  type SessionSnapshot,
  type SigKeyType,
  type Submission,
  type VersionRecord,
} from './ledger.ts';
import {
  MAX_GOVERNANCE_DELAY,
  MAX_OPERATORS,
  MIN_THRESHOLD,
  operatorsToRemove,
  phaseAt,
  phaseEnds,
  plannedRecipientCount,
  planSession,
  SIZES,
  thresholdBounds,
  thresholdInBounds,
  windowsFit,
} from './session-rules.ts';
import { snapshotHash } from './snapshot-hash.ts';
import { dealByteLength, packDeal, unpackDeal } from './deal-bytes.ts';
import { nextDigest } from './submission-digest.ts';

export interface MemoryLedgerOptions {
  readonly chainId: bigint | number;
  /** The address the ledger pretends to live at (it enters the domain and app ids). */
  readonly registry: Address;
  readonly owner: Address;
  readonly interval: number;
  readonly dealWindow: number;
  readonly ackWindow: number;
  readonly confirmWindow: number;
  /** Seconds reserved at the end of each interval for inclusion (fixed; windows + margin ≤ interval). */
  readonly inclusionMargin: number;
  /** Seconds a delayed governance change waits (fixed; default 0: changes apply at once). */
  readonly governanceDelay?: number;
  /** Chain time of the genesis block. */
  readonly startTime: number;
}

/** Attestation methods in their canonical order (the contract stores a bit set). */
const METHODS: readonly AttestationMethod[] = ['ecdsa', 'jwt'];
const ZERO_ADDRESS: Address = `0x${'0'.repeat(40)}`;
const HEX_RE = /^0x(?:[0-9a-fA-F]{2})*$/;
const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
const UTF8 = new TextEncoder();

/** Governance as stored (the contract's GovernanceState). */
interface GovernanceState {
  owner: Address;
  thresholdOverride: number;
  churnCap: number;
  genesisMinOperators: number;
  schedule: Schedule;
}

interface Schedule {
  readonly interval: number;
  readonly dealWindow: number;
  readonly ackWindow: number;
  readonly confirmWindow: number;
  /** Rides with the schedule, as in the contract (one queue, one cancel). */
  readonly protocolVersion: number;
}

/** A change waiting for its time (the contract's QueuedState; null: nothing queued). */
interface Queued<T> {
  readonly value: T;
  readonly at: number;
}

interface OperatorState {
  address: Address;
  socket: string;
  sigKeyType: SigKeyType;
  sigPublicKey: Hex;
  sessionKey: Hex;
  status: 'active' | 'leaving';
  registeredSeq: number;
}

interface SessionState {
  readonly snapshot: SessionSnapshot;
  readonly snapshotHash: Hex;
  dealClosedAt: number | null;
  ackClosedAt: number | null;
  confirmClosedAt: number | null;
  readonly dealt: Set<Address>;
  readonly acked: Set<Address>;
  readonly confirmed: Set<Address>;
  digest: Hex;
  readonly submissions: RecordedSubmission[];
  /** Confirmations per publicPolyHash. */
  readonly votes: Map<Hex, number>;
  /** The public polynomial published with each hash (by its first confirmer). */
  readonly polys: Map<Hex, Hex>;
  completedPolyHash: Hex | null;
}

interface AppState {
  readonly id: Hex;
  owner: Address;
  methods: AttestationMethod[];
  readonly releases: Release[];
  frozen: boolean;
  epoch: number;
  pendingOwner: Address | null;
}

function fail(code: LedgerErrorCode, message: string): never {
  throw new LedgerError(code, message);
}

/** Byte length of a 0x-hex string, or -1 when it is not well-formed hex. */
function byteLength(hex: unknown): number {
  return typeof hex === 'string' && HEX_RE.test(hex) ? (hex.length - 2) / 2 : -1;
}

function lower(hex: Hex): Hex {
  return hex.toLowerCase() as Hex;
}

function anAddress(value: unknown, what: string): Address {
  if (typeof value !== 'string' || !ADDRESS_RE.test(value)) {
    fail('BadParameter', `${what} is not a 20-byte 0x-hex address`);
  }
  return value.toLowerCase() as Address;
}

/** 33 bytes starting with 02 or 03 (the form of a compressed secp256k1 point; the curve is checked in `checkSessionKey`). */
function isCompressedPoint(hex: unknown): boolean {
  if (byteLength(hex) !== SIZES.secpPoint) return false;
  const prefix = (hex as string).slice(2, 4);
  return prefix === '02' || prefix === '03';
}

function aNonNegativeInteger(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail('BadParameter', `${what} must be a non-negative integer`);
  return v;
}

function aMethods(methods: readonly AttestationMethod[]): AttestationMethod[] {
  if (!Array.isArray(methods)) fail('BadParameter', 'attestation methods must be a list');
  for (const m of methods) {
    if (!METHODS.includes(m)) fail('BadParameter', `attestation method ${JSON.stringify(m)} is unknown; expected ecdsa or jwt`);
  }
  // Duplicates collapse and the order is canonical, as with the contract's bit set.
  return METHODS.filter((m) => methods.includes(m));
}

function copySubmission(s: RecordedSubmission): RecordedSubmission {
  switch (s.type) {
    case 'deal':
      return { ...s, sealedShares: [...s.sealedShares] };
    case 'ack':
      return { ...s, complaints: s.complaints.map((c) => ({ ...c })) };
    case 'confirm':
      return { ...s };
  }
}

export class MemoryLedger implements Ledger {
  readonly chainId: bigint;
  readonly registry: Address;
  readonly #domain: Uint8Array;
  #time: number;
  readonly #inclusionMargin: number;
  readonly #governanceDelay: number;
  readonly #gov: GovernanceState;
  #pendingOwner: Address | null = null;
  #queuedThreshold: Queued<number> | null = null;
  #queuedChurnCap: Queued<number> | null = null;
  #queuedSchedule: Queued<Schedule> | null = null;
  /** Time from which each address may register; insertion order is queuing order. */
  readonly #allowedFrom = new Map<Address, number>();
  /** Insertion order is registration order (a removed operator that registers again goes last). */
  readonly #operators = new Map<Address, OperatorState>();
  #registeredSeq = 0;
  readonly #sessions: SessionState[] = [];
  readonly #versions = new Map<number, VersionRecord>();
  #activeVersion = 0;
  #mpk: Hex | null = null;
  /** Each operator's latest committed receipt-log head. */
  readonly #receiptHeads = new Map<Address, Hex>();
  readonly #apps = new Map<Hex, AppState>();

  constructor(options: MemoryLedgerOptions) {
    const o = options;
    this.chainId = BigInt(o.chainId);
    this.registry = anAddress(o.registry, 'registry');
    const owner = anAddress(o.owner, 'owner');
    if (!Number.isSafeInteger(o.startTime) || o.startTime < 0) fail('BadParameter', 'startTime must be a non-negative integer');
    const delay = o.governanceDelay ?? 0;
    if (!Number.isSafeInteger(delay) || delay < 0 || delay > MAX_GOVERNANCE_DELAY) {
      fail('BadParameter', `the governance delay must be 0..${MAX_GOVERNANCE_DELAY} s (30 days), got ${delay}`);
    }
    if (!windowsFit(o.dealWindow, o.ackWindow, o.confirmWindow, o.inclusionMargin, o.interval)) {
      fail('WindowsDoNotFit', `windows ${o.dealWindow}+${o.ackWindow}+${o.confirmWindow} plus inclusion margin ${o.inclusionMargin} do not fit in interval ${o.interval}`);
    }
    this.#domain = makeDomain({ chainId: this.chainId, registry: this.registry });
    this.#time = o.startTime;
    this.#inclusionMargin = o.inclusionMargin;
    this.#governanceDelay = delay;
    this.#gov = {
      owner,
      thresholdOverride: 0,
      churnCap: 0,
      genesisMinOperators: 0,
      schedule: { interval: o.interval, dealWindow: o.dealWindow, ackWindow: o.ackWindow, confirmWindow: o.confirmWindow, protocolVersion: 1 },
    };
  }

  // ---------------------------------------------------------------------------------------
  // Block clock

  /** Chain time of the latest block. */
  get time(): number {
    return this.#time;
  }

  /** Moves the block clock to `t` (never backwards; staying put is allowed). */
  setTime(t: number): void {
    if (!Number.isSafeInteger(t)) throw new RangeError(`setTime: expected an integer number of seconds, got ${t}`);
    if (t < this.#time) throw new RangeError(`setTime: chain time cannot go back from ${this.#time} to ${t}`);
    this.#time = t;
  }

  // ---------------------------------------------------------------------------------------
  // Reads (every result is a fresh copy: callers cannot reach the ledger's state)

  async now(): Promise<number> {
    return this.#time;
  }

  async getGovernance(): Promise<Governance> {
    return this.#governanceView();
  }

  async isAllowed(operator: Address): Promise<boolean> {
    return this.#isAllowed(anAddress(operator, 'operator'));
  }

  async getOperators(): Promise<OperatorRecord[]> {
    return [...this.#operators.values()].map((o) => ({ ...o }));
  }

  async getOperator(operator: Address): Promise<OperatorRecord | null> {
    const o = this.#operators.get(anAddress(operator, 'operator'));
    return o ? { ...o } : null;
  }

  async latestSessionId(): Promise<number> {
    return this.#sessions.length;
  }

  async getSession(id: number): Promise<Session | null> {
    const s = this.#sessions[id - 1];
    return s && Number.isInteger(id) ? this.#view(s, true) : null;
  }

  async getSubmissions(id: number): Promise<RecordedSubmission[]> {
    const s = this.#sessionOrFail(id);
    return s.submissions.map(copySubmission);
  }

  async getReceiptHead(operator: Address): Promise<Hex> {
    if (typeof operator !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(operator)) fail('BadParameter', 'an operator address is 20 bytes of 0x-hex');
    return this.#receiptHeads.get(lower(operator)) ?? ZERO_HASH;
  }

  async getMpk(): Promise<Hex | null> {
    return this.#mpk;
  }

  async getVersion(id: number): Promise<VersionRecord | null> {
    const v = this.#versions.get(id);
    return v ? { ...v, holders: [...v.holders] } : null;
  }

  async activeVersion(): Promise<VersionRecord | null> {
    return this.getVersion(this.#activeVersion);
  }

  async getApp(appId: Hex): Promise<AppRecord | null> {
    const a = this.#apps.get(lower(appId));
    return a
      ? { id: a.id, owner: a.owner, methods: [...a.methods], releaseCount: a.releases.length, frozen: a.frozen, epoch: a.epoch, pendingOwner: a.pendingOwner }
      : null;
  }

  async getRelease(appId: Hex, index: number): Promise<Release | null> {
    const r = this.#apps.get(lower(appId))?.releases[index];
    return r && Number.isInteger(index) ? { ...r } : null;
  }

  /** No reorgs here: every block is final as soon as it exists. */
  finalView(): LedgerReader {
    return this;
  }

  // ---------------------------------------------------------------------------------------
  // Writes

  writer(account: Address): LedgerWriter {
    const from = anAddress(account, 'account');
    // Each method runs synchronously inside an async function, so a refusal is a rejected
    // promise (as with a reverted transaction) and nothing interleaves with a write.
    return {
      account: from,
      allowOperator: async (operator, allowed) => this.#allowOperator(from, operator, allowed),
      ejectOperator: async (operator) => this.#eject(from, operator),
      setThresholdOverride: async (t) => this.#setThresholdOverride(from, t),
      setInterval: async (seconds) => this.#setInterval(from, seconds),
      setWindows: async (deal, ack, confirm) => this.#setWindows(from, deal, ack, confirm),
      setChurnCap: async (cap) => this.#setChurnCap(from, cap),
      setProtocolVersion: async (version) => this.#setProtocolVersion(from, version),
      armGenesis: async (minOperators) => this.#armGenesis(from, minOperators),
      transferOwnership: async (newOwner) => this.#transferOwnership(from, newOwner),
      acceptOwnership: async () => this.#acceptOwnership(from),
      cancelGovernanceChange: async (kind) => this.#cancel(from, kind),
      register: async (params) => this.#register(from, params),
      updateSocket: async (socket) => this.#updateSocket(from, socket),
      rotateSessionKey: async (key) => this.#rotateSessionKey(from, key),
      deregister: async () => this.#deregister(from),
      openSession: async () => this.#openSession(from),
      submitDeal: async (deal) => this.#submitDeal(from, deal),
      submitAck: async (ack) => this.#submitAck(from, ack),
      submitConfirmation: async (c) => this.#submitConfirmation(from, c),
      createApp: async (salt, methods) => this.#createApp(from, salt, methods),
      setAttestationMethods: async (appId, methods) => this.#setAttestationMethods(from, appId, methods),
      publishRelease: async (appId, release) => this.#publishRelease(from, appId, release),
      transferApp: async (appId, newOwner) => this.#transferApp(from, appId, newOwner),
      acceptApp: async (appId) => this.#acceptApp(from, appId),
      setAppFrozen: async (appId, frozen) => this.#setAppFrozen(from, appId, frozen),
      rotateAppKey: async (appId, newEpoch, release) => this.#rotateAppKey(from, appId, newEpoch, release),
    };
  }

  // governance ------------------------------------------------------------------------------

  /** A queued change is in effect from its time on (the contract's `block.timestamp >= at`). */
  #due<T>(q: Queued<T> | null): q is Queued<T> {
    return q !== null && this.#time >= q.at;
  }

  /** Governance in effect now: stored values overlaid by queued ones whose time has come. */
  #effective(): GovernanceState {
    const g = this.#gov;
    return {
      owner: g.owner,
      thresholdOverride: this.#due(this.#queuedThreshold) ? this.#queuedThreshold.value : g.thresholdOverride,
      churnCap: this.#due(this.#queuedChurnCap) ? this.#queuedChurnCap.value : g.churnCap,
      genesisMinOperators: g.genesisMinOperators,
      schedule: this.#due(this.#queuedSchedule) ? this.#queuedSchedule.value : g.schedule,
    };
  }

  /** Folds queued changes whose time has come (before a setter replaces or cancels one). */
  #settle(): void {
    if (this.#due(this.#queuedThreshold)) {
      this.#gov.thresholdOverride = this.#queuedThreshold.value;
      this.#queuedThreshold = null;
    }
    if (this.#due(this.#queuedChurnCap)) {
      this.#gov.churnCap = this.#queuedChurnCap.value;
      this.#queuedChurnCap = null;
    }
    if (this.#due(this.#queuedSchedule)) {
      this.#gov.schedule = this.#queuedSchedule.value;
      this.#queuedSchedule = null;
    }
  }

  #governanceView(): Governance {
    const g = this.#effective();
    const queued: QueuedGovernanceChange[] = [];
    const waiting = <T>(q: Queued<T> | null): q is Queued<T> => q !== null && q.at > this.#time;
    if (waiting(this.#queuedThreshold)) queued.push({ kind: 'thresholdOverride', value: this.#queuedThreshold.value, effectiveAt: this.#queuedThreshold.at });
    if (waiting(this.#queuedChurnCap)) queued.push({ kind: 'churnCap', value: this.#queuedChurnCap.value, effectiveAt: this.#queuedChurnCap.at });
    if (waiting(this.#queuedSchedule)) queued.push({ kind: 'schedule', ...this.#queuedSchedule.value, effectiveAt: this.#queuedSchedule.at });
    for (const [operator, at] of this.#allowedFrom) {
      if (at > this.#time) queued.push({ kind: 'allowOperator', operator, effectiveAt: at });
    }
    return {
      owner: g.owner,
      pendingOwner: this.#pendingOwner,
      thresholdOverride: g.thresholdOverride,
      ...g.schedule,
      inclusionMargin: this.#inclusionMargin,
      governanceDelay: this.#governanceDelay,
      churnCap: g.churnCap,
      genesisMinOperators: g.genesisMinOperators,
      queued,
    };
  }

  /** Chain time at which a change queued now applies. */
  get #effectiveAt(): number {
    return this.#time + this.#governanceDelay;
  }

  #onlyOwner(from: Address, what: string): void {
    if (from !== this.#gov.owner) fail('NotOwner', `${what} is reserved to the registry owner; ${from} is not the owner`);
  }

  #isAllowed(op: Address): boolean {
    const at = this.#allowedFrom.get(op);
    return at !== undefined && this.#time >= at;
  }

  #allowOperator(from: Address, operator: Address, allowed: boolean): void {
    this.#onlyOwner(from, 'allowOperator');
    const op = anAddress(operator, 'operator');
    if (!allowed) {
      this.#allowedFrom.delete(op);
      return;
    }
    if (this.#allowedFrom.has(op)) return; // allowed or queued already: its time stays
    if (this.#governanceDelay > 0) {
      let waiting = 0;
      for (const at of this.#allowedFrom.values()) if (at > this.#time) waiting++;
      if (waiting >= MAX_OPERATORS) fail('BadParameter', `${MAX_OPERATORS} allow-list entries are already waiting for the governance delay`);
    }
    this.#allowedFrom.set(op, this.#effectiveAt);
  }

  #eject(from: Address, operator: Address): void {
    this.#onlyOwner(from, 'ejectOperator');
    const op = this.#operators.get(anAddress(operator, 'operator'));
    if (!op) fail('NotRegistered', `operator ${operator.toLowerCase()} is not registered`);
    if (op.status !== 'active') fail('NotActiveOperator', `operator ${op.address} is already leaving`);
    op.status = 'leaving';
  }

  #setThresholdOverride(from: Address, t: number): void {
    this.#onlyOwner(from, 'setThresholdOverride');
    aNonNegativeInteger(t, 'threshold override');
    this.#settle();
    if (t !== 0) {
      // Checked against the recipients the next session would have, with the churn cap that
      // will be in effect when this override is: not against the active count.
      const n = plannedRecipientCount({
        operators: [...this.#operators.values()],
        active: this.#versions.get(this.#activeVersion) ?? null,
        mpkPinned: this.#mpk !== null,
        churnCap: this.#queuedChurnCap?.value ?? this.#gov.churnCap,
      });
      if (!thresholdInBounds(t, n)) {
        const { min, max } = thresholdBounds(n);
        fail('ThresholdOutOfBounds', `threshold ${t} is outside ${min}..${max} (max(2, floor(n/2)+1)..n for the ${n} recipients the next session would have)`);
      }
    }
    if (this.#governanceDelay === 0) this.#gov.thresholdOverride = t;
    else this.#queuedThreshold = { value: t, at: this.#effectiveAt };
  }

  /** The schedule in effect once everything queued has applied. */
  #latestSchedule(): Schedule {
    this.#settle();
    return this.#queuedSchedule?.value ?? this.#gov.schedule;
  }

  #queueSchedule(next: Schedule): void {
    const m = this.#inclusionMargin;
    if (!windowsFit(next.dealWindow, next.ackWindow, next.confirmWindow, m, next.interval)) {
      fail('WindowsDoNotFit', `windows ${next.dealWindow}+${next.ackWindow}+${next.confirmWindow} s plus inclusion margin ${m} s do not fit in interval ${next.interval} s (each window must be at least 1 s)`);
    }
    if (this.#governanceDelay === 0) this.#gov.schedule = next;
    else this.#queuedSchedule = { value: next, at: this.#effectiveAt };
  }

  #setInterval(from: Address, seconds: number): void {
    this.#onlyOwner(from, 'setInterval');
    this.#queueSchedule({ ...this.#latestSchedule(), interval: seconds });
  }

  #setWindows(from: Address, deal: number, ack: number, confirm: number): void {
    this.#onlyOwner(from, 'setWindows');
    this.#queueSchedule({ ...this.#latestSchedule(), dealWindow: deal, ackWindow: ack, confirmWindow: confirm });
  }

  #setProtocolVersion(from: Address, version: number): void {
    this.#onlyOwner(from, 'setProtocolVersion');
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1 || version > 0xffff) {
      fail('BadParameter', `a protocol version is 1..65535, got ${version}`);
    }
    this.#queueSchedule({ ...this.#latestSchedule(), protocolVersion: version });
  }

  #setChurnCap(from: Address, cap: number): void {
    this.#onlyOwner(from, 'setChurnCap');
    aNonNegativeInteger(cap, 'churn cap');
    if (cap > MAX_OPERATORS) fail('BadParameter', `a churn cap is at most ${MAX_OPERATORS} (the registry's operator limit), got ${cap}`);
    this.#settle();
    if (this.#governanceDelay === 0) this.#gov.churnCap = cap;
    else this.#queuedChurnCap = { value: cap, at: this.#effectiveAt };
  }

  #armGenesis(from: Address, minOperators: number): void {
    this.#onlyOwner(from, 'armGenesis');
    if (typeof minOperators !== 'number' || !Number.isSafeInteger(minOperators) || minOperators < MIN_THRESHOLD || minOperators > MAX_OPERATORS) {
      fail('BadParameter', `armGenesis needs ${MIN_THRESHOLD} <= minOperators <= ${MAX_OPERATORS}, got ${minOperators}`);
    }
    this.#gov.genesisMinOperators = minOperators;
  }

  #transferOwnership(from: Address, newOwner: Address): void {
    this.#onlyOwner(from, 'transferOwnership');
    const to = anAddress(newOwner, 'new owner');
    if (to === ZERO_ADDRESS) fail('BadParameter', 'the new owner must not be the zero address');
    this.#pendingOwner = to;
  }

  #acceptOwnership(from: Address): void {
    if (this.#pendingOwner === null || from !== this.#pendingOwner) {
      fail('NotPendingOwner', this.#pendingOwner === null
        ? `no ownership transfer is proposed; ${from} cannot accept one`
        : `only the proposed owner ${this.#pendingOwner} can accept governance, not ${from}`);
    }
    this.#gov.owner = from;
    this.#pendingOwner = null;
  }

  #cancel(from: Address, kind: GovernanceChangeKind): void {
    this.#onlyOwner(from, 'cancelGovernanceChange');
    this.#settle();
    const none = (): never => fail('NothingQueued', `no ${kind} change is waiting to take effect (it may already be in effect)`);
    switch (kind) {
      case 'thresholdOverride':
        if (!this.#queuedThreshold) none();
        this.#queuedThreshold = null;
        return;
      case 'churnCap':
        if (!this.#queuedChurnCap) none();
        this.#queuedChurnCap = null;
        return;
      case 'schedule':
        if (!this.#queuedSchedule) none();
        this.#queuedSchedule = null;
        return;
      case 'ownership':
        if (!this.#pendingOwner) none();
        this.#pendingOwner = null;
        return;
      default:
        fail('BadParameter', `unknown governance change ${JSON.stringify(kind)}; expected thresholdOverride, churnCap, schedule or ownership`);
    }
  }

  // operators -------------------------------------------------------------------------------

  #register(from: Address, p: RegisterParams): void {
    if (!this.#isAllowed(from)) {
      const at = this.#allowedFrom.get(from);
      fail('NotAllowed', at === undefined
        ? `${from} is not on the operator allow-list`
        : `${from} is allowed to register only from chain time ${at} (governance delay), not at ${this.#time}`);
    }
    if (this.#operators.has(from)) fail('AlreadyRegistered', `operator ${from} is already registered`);
    if (this.#operators.size >= MAX_OPERATORS) fail('TooManyOperators', `the registry already holds ${MAX_OPERATORS} operators, its maximum`);
    checkSocket(p.socket);
    const expected = p.sigKeyType === 'bn254' ? SIZES.bn254G2 : p.sigKeyType === 'ecdsa' ? SIZES.ecdsaSigner : -1;
    if (expected < 0) fail('BadKey', `signing key type ${JSON.stringify(p.sigKeyType)} is unknown; expected bn254 or ecdsa`);
    if (byteLength(p.sigPublicKey) !== expected) {
      fail('BadKey', `a ${p.sigKeyType} signing key is ${expected} bytes, got ${byteLength(p.sigPublicKey)}`);
    }
    checkSessionKey(p.sessionKey, 'session key');
    if (!this.#popValid(p.sigKeyType, p.sigPublicKey, from, p.proofOfPossession)) {
      fail('BadProofOfPossession', `the proof of possession does not prove the ${p.sigKeyType} signing key for operator ${from} on this registry`);
    }
    this.#operators.set(from, {
      address: from,
      socket: p.socket,
      sigKeyType: p.sigKeyType,
      sigPublicKey: lower(p.sigPublicKey),
      sessionKey: lower(p.sessionKey),
      status: 'active',
      registeredSeq: ++this.#registeredSeq,
    });
  }

  #popValid(type: SigKeyType, publicKey: Hex, operator: Address, pop: Hex): boolean {
    try {
      return verifyOperatorProofOfPossession(
        type,
        parseHex(publicKey, undefined, 'signing key'),
        this.#domain,
        operator,
        parseHex(pop, undefined, 'proof of possession'),
      );
    } catch {
      // Malformed or wrongly sized proofs throw in the crypto layer; for the registry they are
      // simply proofs that do not verify.
      return false;
    }
  }

  #registered(from: Address): OperatorState {
    const op = this.#operators.get(from);
    if (!op) fail('NotRegistered', `${from} is not a registered operator`);
    return op;
  }

  #updateSocket(from: Address, socket: string): void {
    const op = this.#registered(from);
    checkSocket(socket);
    op.socket = socket;
  }

  #rotateSessionKey(from: Address, key: Hex): void {
    const op = this.#registered(from);
    checkSessionKey(key, 'session key');
    op.sessionKey = lower(key);
  }

  #deregister(from: Address): void {
    const op = this.#registered(from);
    if (op.status !== 'active') fail('NotActiveOperator', `operator ${from} is already leaving`);
    op.status = 'leaving';
  }

  // sessions --------------------------------------------------------------------------------

  #view(s: SessionState, copy: boolean): Session {
    const snapshot = copy
      ? { ...s.snapshot, dealers: [...s.snapshot.dealers], recipients: [...s.snapshot.recipients], recipientKeys: [...s.snapshot.recipientKeys] }
      : s.snapshot;
    const base: Session = {
      snapshot,
      snapshotHash: s.snapshotHash,
      progress: {
        dealClosedAt: s.dealClosedAt,
        ackClosedAt: s.ackClosedAt,
        confirmClosedAt: s.confirmClosedAt,
        dealCount: s.dealt.size,
        ackCount: s.acked.size,
        confirmCount: s.confirmed.size,
        counter: s.submissions.length,
        digest: s.digest,
        outcome: 'pending',
        completedPolyHash: s.completedPolyHash,
      },
    };
    // The outcome is lazy, as on chain: a session fails by the passing of time, not by a write.
    const outcome = s.completedPolyHash !== null ? 'completed' : this.#time >= phaseEnds(base).confirmEnd ? 'failed' : 'pending';
    return { snapshot, snapshotHash: s.snapshotHash, progress: { ...base.progress, outcome } };
  }

  #sessionOrFail(id: number): SessionState {
    const s = Number.isInteger(id) ? this.#sessions[id - 1] : undefined;
    if (!s) fail('UnknownSession', `session ${id} does not exist (latest is ${this.#sessions.length})`);
    return s;
  }

  #openSession(from: Address): number {
    this.#registered(from);
    const latest = this.#sessions.at(-1);
    const governance = this.#governanceView();
    const plan = planSession({
      now: this.#time,
      governance,
      operators: [...this.#operators.values()],
      latest: latest ? this.#view(latest, false) : null,
      active: this.#versions.get(this.#activeVersion) ?? null,
      mpkPinned: this.#mpk !== null,
    });
    if (!plan.ok) fail(plan.code, plan.message);
    const id = this.#sessions.length + 1;
    const g = governance;
    const snapshot: SessionSnapshot = Object.freeze({
      ...plan.snapshot,
      id,
      openedAt: this.#time,
      dealers: Object.freeze([...plan.snapshot.dealers]),
      recipients: Object.freeze([...plan.snapshot.recipients]),
      recipientKeys: Object.freeze([...plan.snapshot.recipientKeys]),
      dealWindow: g.dealWindow,
      ackWindow: g.ackWindow,
      confirmWindow: g.confirmWindow,
      protocolVersion: g.protocolVersion,
    });
    this.#sessions.push({
      snapshot,
      snapshotHash: snapshotHash(snapshot),
      dealClosedAt: null,
      ackClosedAt: null,
      confirmClosedAt: null,
      dealt: new Set(),
      acked: new Set(),
      confirmed: new Set(),
      digest: ZERO_HASH,
      submissions: [],
      votes: new Map(),
      polys: new Map(),
      completedPolyHash: null,
    });
    return id;
  }

  /** Membership, phase and once-only checks shared by the three submissions, in the contract's order. */
  #admit(from: Address, id: number, kind: 'deal' | 'ack' | 'confirm'): SessionState {
    const s = this.#sessionOrFail(id);
    const snap = s.snapshot;
    if (kind === 'deal') {
      if (!snap.dealers.includes(from)) fail('NotDealer', `${from} is not a dealer of session ${id}`);
    } else if (!snap.recipients.includes(from)) {
      fail('NotRecipient', `${from} is not a recipient of session ${id}`);
    }
    const phase = phaseAt(this.#view(s, false), this.#time);
    if (phase !== kind) fail('WrongPhase', `session ${id} is in its ${phase} phase at time ${this.#time}, not its ${kind} phase`);
    const done = kind === 'deal' ? s.dealt : kind === 'ack' ? s.acked : s.confirmed;
    if (done.has(from)) fail('AlreadySubmitted', `${from} has already submitted its ${kind} to session ${id}`);
    return s;
  }

  #record(s: SessionState, sub: Submission): void {
    s.digest = nextDigest(s.digest, sub);
    s.submissions.push({ ...sub, seq: s.submissions.length + 1, at: this.#time });
  }

  #submitDeal(from: Address, d: Omit<DealSubmission, 'type' | 'from'>): void {
    // As the contract: the deal is one byte string (deal-bytes.ts); a field that is not hex
    // cannot be encoded at all (ChainLedger refuses it before sending, so here before admission).
    const packed = d !== null && typeof d === 'object' ? packDeal(d) : null;
    if (packed === null) fail('BadLength', 'a deal\'s commitments, ephemeral key and sealed shares must be 0x-hex');
    const s = this.#admit(from, d.session, 'deal');
    const snap = s.snapshot;
    const want = dealByteLength(snap.tNew, snap.recipients.length);
    const fields = unpackDeal(packed, snap.tNew, snap.recipients.length);
    if (fields === null) {
      fail('BadLength', `a deal is ${snap.tNew} G2 commitments, a 33-byte ephemeral key and ${snap.recipients.length} sealed shares of ${SIZES.sealedShare} bytes (${want} bytes), got ${byteLength(packed)} bytes`);
    }
    this.#record(s, { type: 'deal', session: d.session, from, ...fields });
    s.dealt.add(from);
    if (s.dealt.size === snap.dealers.length) s.dealClosedAt = this.#time;
  }

  #submitAck(from: Address, a: Omit<AckSubmission, 'type' | 'from'>): void {
    const s = this.#admit(from, a.session, 'ack');
    if (!Array.isArray(a.complaints)) fail('BadComplaint', 'complaints must be a list');
    // At most one complaint per deal: this also bounds the contract's duplicate check.
    if (a.complaints.length > s.dealt.size) {
      fail('BadComplaint', `complaint ${s.dealt.size}: ${a.complaints.length} complaints, but only ${s.dealt.size} dealers dealt in session ${a.session}`);
    }
    const named = new Set<Address>();
    const complaints: Complaint[] = a.complaints.map((c, i) => {
      const dealer = typeof c.dealer === 'string' && ADDRESS_RE.test(c.dealer) ? (c.dealer.toLowerCase() as Address) : null;
      if (dealer === null || !s.dealt.has(dealer)) {
        fail('BadComplaint', `complaint ${i} names ${String(c.dealer)}, which has not dealt in session ${a.session}`);
      }
      if (named.has(dealer)) fail('BadComplaint', `complaint ${i} names dealer ${dealer} a second time`);
      named.add(dealer);
      if (byteLength(c.sharedKey) !== SIZES.secpPoint) {
        fail('BadComplaint', `complaint ${i}: the shared key must be ${SIZES.secpPoint} bytes, got ${byteLength(c.sharedKey)}`);
      }
      if (byteLength(c.proof) !== SIZES.dleqProof) {
        fail('BadComplaint', `complaint ${i}: the proof must be ${SIZES.dleqProof} bytes, got ${byteLength(c.proof)}`);
      }
      return { dealer, sharedKey: lower(c.sharedKey), proof: lower(c.proof) };
    });
    this.#record(s, { type: 'ack', session: a.session, from, complaints });
    s.acked.add(from);
    if (s.acked.size === s.snapshot.recipients.length) s.ackClosedAt = this.#time;
  }

  #submitConfirmation(from: Address, c: Omit<ConfirmSubmission, 'type' | 'from'>): void {
    const s = this.#admit(from, c.session, 'confirm');
    const snap = s.snapshot;
    checkSessionKey(c.nextSessionKey, 'next session key');
    if (byteLength(c.publicPolyHash) !== 32) fail('BadLength', `publicPolyHash must be 32 bytes, got ${byteLength(c.publicPolyHash)}`);
    const rawHead = c.receiptHead ?? ZERO_HASH;
    if (byteLength(rawHead) !== 32) fail('BadLength', `receiptHead must be 32 bytes of 0x-hex, got ${byteLength(rawHead) < 0 ? 'something else' : `${byteLength(rawHead)} bytes`}`);
    const receiptHead = lower(rawHead);
    const hash = lower(c.publicPolyHash);
    const poly = lower(c.publicPoly);
    const polyLen = byteLength(poly);
    if (polyLen === 0) {
      if (!s.polys.has(hash)) fail('PolyRequired', `the first confirmation of ${hash} in session ${c.session} must publish its public polynomial`);
    } else {
      // A re-sent polynomial is checked like a first one: two nodes racing to be first both send it.
      const want = snap.tNew * SIZES.g2;
      if (polyLen !== want) fail('BadLength', `the public polynomial must be ${snap.tNew} G2 points (${want} bytes), got ${polyLen} bytes`);
      if (keccak256(poly) !== hash) fail('PolyHashMismatch', `keccak256 of the published polynomial is not ${hash}`);
      if (snap.kind === 'reshare' && poly.slice(0, 2 + 2 * SIZES.g2) !== this.#mpk) {
        fail('MpkMismatch', `the polynomial's constant term is not the pinned master public key; a reshare must keep the MPK`);
      }
    }
    const op = this.#operators.get(from);
    this.#record(s, {
      type: 'confirm',
      session: c.session,
      from,
      publicPolyHash: hash,
      publicPoly: poly,
      nextSessionKey: lower(c.nextSessionKey),
      receiptHead,
    });
    s.confirmed.add(from);
    this.#receiptHeads.set(from, receiptHead);
    if (polyLen > 0 && !s.polys.has(hash)) s.polys.set(hash, poly);
    // Recipients are never removed while their session runs, so the record exists.
    if (op) op.sessionKey = lower(c.nextSessionKey);
    const votes = (s.votes.get(hash) ?? 0) + 1;
    s.votes.set(hash, votes);
    if (s.confirmed.size === snap.recipients.length) s.confirmClosedAt = this.#time;
    if (s.completedPolyHash === null && votes >= snap.quorum) this.#complete(s, hash);
  }

  #complete(s: SessionState, hash: Hex): void {
    const snap = s.snapshot;
    const poly = s.polys.get(hash) as Hex;
    s.completedPolyHash = hash;
    this.#versions.set(snap.id, {
      id: snap.id,
      publicPolyHash: hash,
      publicPoly: poly,
      threshold: snap.tNew,
      holders: [...snap.recipients],
      completedAt: this.#time,
    });
    this.#activeVersion = snap.id;
    if (snap.kind === 'dkg' && this.#mpk === null) this.#mpk = poly.slice(0, 2 + 2 * SIZES.g2) as Hex;
    for (const a of operatorsToRemove([...this.#operators.values()], snap.recipients)) this.#operators.delete(a);
  }

  // apps ------------------------------------------------------------------------------------

  #createApp(from: Address, salt: Hex, methods: readonly AttestationMethod[]): Hex {
    if (byteLength(salt) !== 32) fail('BadLength', `an app salt is 32 bytes, got ${byteLength(salt)}`);
    const ms = aMethods(methods);
    const id = keccak256(
      encodeAbiParameters(
        [{ type: 'uint256' }, { type: 'address' }, { type: 'address' }, { type: 'bytes32' }],
        [this.chainId, this.registry, from, lower(salt)],
      ),
    );
    if (this.#apps.has(id)) fail('AppExists', `app ${id} already exists (same creator and salt)`);
    this.#apps.set(id, { id, owner: from, methods: ms, releases: [], frozen: false, epoch: 0, pendingOwner: null });
    return id;
  }

  #ownedApp(from: Address, appId: Hex): AppState {
    const app = this.#apps.get(lower(appId));
    if (!app) fail('UnknownApp', `app ${appId} does not exist`);
    if (app.owner !== from) fail('NotAppOwner', `app ${app.id} belongs to ${app.owner}, not ${from}`);
    return app;
  }

  #setAttestationMethods(from: Address, appId: Hex, methods: readonly AttestationMethod[]): void {
    const app = this.#ownedApp(from, appId);
    app.methods = aMethods(methods);
  }

  #publishRelease(from: Address, appId: Hex, r: Release): void {
    this.#publish(this.#ownedApp(from, appId), r);
  }

  #transferApp(from: Address, appId: Hex, newOwner: Address): void {
    const app = this.#ownedApp(from, appId);
    const to = anAddress(newOwner, 'new app owner');
    app.pendingOwner = to === ZERO_ADDRESS ? null : to;
  }

  #acceptApp(from: Address, appId: Hex): void {
    // As the contract: an unknown app has no pending owner (one check, one error).
    const app = this.#apps.get(lower(appId));
    if (!app || app.pendingOwner !== from) fail('NotPendingOwner', `${from} is not the proposed owner of app ${appId}`);
    app.owner = from;
    app.pendingOwner = null;
  }

  #setAppFrozen(from: Address, appId: Hex, frozen: boolean): void {
    // Checked first, as the chain ledger checks it before sending (no ABI encodes a non-boolean).
    if (typeof frozen !== 'boolean') fail('BadParameter', 'frozen must be true or false');
    this.#ownedApp(from, appId).frozen = frozen;
  }

  #rotateAppKey(from: Address, appId: Hex, newEpoch: number, r: Release): void {
    const app = this.#ownedApp(from, appId);
    if (newEpoch !== app.epoch + 1) fail('AppEpochMismatch', `app ${app.id} is at key epoch ${app.epoch}: the next rotation is to epoch ${app.epoch + 1}, not ${String(newEpoch)}`);
    this.#publish(app, r, () => {
      app.epoch = newEpoch;
    });
  }

  /** Checks a release, then applies `before` (if any) and appends it: a refused release changes nothing. */
  #publish(app: AppState, r: Release, before?: () => void): void {
    if (byteLength(r.imageDigest) !== 32) fail('BadLength', `an image digest is 32 bytes, got ${byteLength(r.imageDigest)}`);
    if (byteLength(r.launchPolicy) < 0) fail('BadLength', 'the launch policy is not 0x-hex');
    if (byteLength(r.encryptedEnv) < 0) fail('BadLength', 'the encrypted env is not 0x-hex');
    if (typeof r.publicEnv !== 'string') fail('BadParameter', 'the public env must be a string');
    before?.();
    app.releases.push({
      imageDigest: lower(r.imageDigest),
      launchPolicy: lower(r.launchPolicy),
      encryptedEnv: lower(r.encryptedEnv),
      publicEnv: r.publicEnv,
    });
  }
}

function checkSocket(socket: unknown): void {
  const n = typeof socket === 'string' ? UTF8.encode(socket).length : -1;
  if (n < 1 || n > SIZES.maxSocket) fail('BadSocket', `a socket is 1..${SIZES.maxSocket} bytes of UTF-8, got ${n < 0 ? 'no string' : `${n} bytes`}`);
}

/**
 * A session key must be a point a dealer can seal to: 33 bytes, prefix 02/03, and decodable by
 * the crypto layer (x < p and x³ + 7 a square mod p: the contract's `_checkSessionKey`).
 */
function checkSessionKey(key: unknown, what: string): void {
  const n = byteLength(key);
  if (n !== SIZES.secpPoint) fail('BadKey', `the ${what} must be ${SIZES.secpPoint} bytes (a compressed secp256k1 point), got ${n < 0 ? 'no hex' : `${n} bytes`}`);
  if (!isCompressedPoint(key)) fail('BadKey', `the ${what} must start with 02 or 03 (a compressed secp256k1 point)`);
  try {
    validateSealPublicKey(parseHex(key as Hex, SIZES.secpPoint, what), what);
  } catch {
    fail('BadKey', `the ${what} is not a point on secp256k1 (its x is not below p, or x³ + 7 has no square root mod p): no dealer could seal a share to it`);
  }
}
