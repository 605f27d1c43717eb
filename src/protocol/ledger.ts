/**
 * @module
 * The ledger: the registry contract's rules as an interface (SPEC 3). It is the only place
 * where operators agree. Two implementations must pass one conformance suite: the in-memory
 * ledger (`memory-ledger.ts`, its own block clock; unit tests and the simulator) and the
 * chain ledger (`src/chain`, the Solidity contract through viem).
 *
 * Time is chain time: the timestamp of the latest block the implementation reads at.
 * Windows are half-open intervals of chain time:
 *
 *   deal    [openedAt, dealEnd)      dealEnd    = dealClosedAt    ?? openedAt + dealWindow
 *   ack     [dealEnd,  ackEnd)       ackEnd     = ackClosedAt     ?? dealEnd  + ackWindow
 *   confirm [ackEnd,   confirmEnd)   confirmEnd = confirmClosedAt ?? ackEnd   + confirmWindow
 *
 * A window closes early, in the block of the submission that completes it, when every
 * expected party (all dealers / all recipients) has submitted. The functions in
 * `session-rules.ts` compute the phase from a session and a time; both ledgers use them
 * (the contract implements the same arithmetic).
 *
 * Every submission to a session bumps a per-session counter and a rolling digest
 * `digest' = keccak256(digest ‖ keccak256(encoding of the submission))` (see
 * `submission-digest.ts`), so a reader can prove it saw every submission.
 */

/** A 0x-prefixed lowercase hex string. */
export type Hex = `0x${string}`;
/** A 0x-prefixed 20-byte account address, lowercase. */
export type Address = `0x${string}`;

export type SigKeyType = 'bn254' | 'ecdsa';

export type OperatorStatus =
  /** Registered and a member: receives shares in the next session (subject to the churn cap). */
  | 'active'
  /** Deregistered or ejected: still deals in the next reshare if it holds the source version, receives nothing. */
  | 'leaving';

export interface OperatorRecord {
  readonly address: Address;
  /** HTTP base URL of the operator's API (for apps and clients; never for peer protocol). */
  readonly socket: string;
  readonly sigKeyType: SigKeyType;
  /** BN254: 128-byte G2 public key (Solidity order). ECDSA: 20-byte signer address. */
  readonly sigPublicKey: Hex;
  /** The operator's current secp256k1 session encryption key (33-byte compressed). */
  readonly sessionKey: Hex;
  readonly status: OperatorStatus;
  /** Registration order (1, 2, …); the churn cap admits newcomers in this order. */
  readonly registeredSeq: number;
}

/**
 * A governance change waiting for its time (`effectiveAt`, chain time): queued by a setter on
 * a deployment with a governance delay, in effect from `effectiveAt` on (reads and
 * `openSession` then use it), withdrawn by `cancelGovernanceChange` or `allowOperator(op,
 * false)`. `schedule` is the interval, the three windows and the protocol version: they
 * change together, so an interval and windows that do not fit each other are never in effect
 * at once (and the contract keeps one queue for them; EIP-170 leaves no room for another).
 */
export type QueuedGovernanceChange =
  | { readonly kind: 'thresholdOverride'; readonly value: number; readonly effectiveAt: number }
  | { readonly kind: 'churnCap'; readonly value: number; readonly effectiveAt: number }
  | {
      readonly kind: 'schedule';
      readonly interval: number;
      readonly dealWindow: number;
      readonly ackWindow: number;
      readonly confirmWindow: number;
      readonly protocolVersion: number;
      readonly effectiveAt: number;
    }
  | { readonly kind: 'allowOperator'; readonly operator: Address; readonly effectiveAt: number };

/** What `cancelGovernanceChange` withdraws: a queued change, or an ownership proposal. */
export type GovernanceChangeKind = 'thresholdOverride' | 'churnCap' | 'schedule' | 'ownership';

/** Governance in effect at the block read, the deployment's fixed settings, and what is queued. */
export interface Governance {
  readonly owner: Address;
  /** Proposed by `transferOwnership`, owner once it calls `acceptOwnership`; null: none. */
  readonly pendingOwner: Address | null;
  /** 0 = default ceil(2n/3); otherwise the threshold every new session must use. */
  readonly thresholdOverride: number;
  /** Reshare interval in seconds; boundary = floor(now / interval) * interval. */
  readonly interval: number;
  readonly dealWindow: number;
  readonly ackWindow: number;
  readonly confirmWindow: number;
  /**
   * Seconds reserved at the end of each interval so a round's last submissions are mined
   * before the next boundary (fixed at deployment). Finality is not reserved: it gates only
   * local irreversible steps, which may trail several intervals behind (SPEC 4, issue 17).
   */
  readonly inclusionMargin: number;
  /** Seconds between queuing a key-weakening change and its effect (fixed at deployment; 0: at once). */
  readonly governanceDelay: number;
  /** Max newcomers per session; 0 = default. Never more than max(1, floor(|old holders| / 3)). */
  readonly churnCap: number;
  /** 0 until `armGenesis(minOperators)`; genesis needs at least this many members. */
  readonly genesisMinOperators: number;
  /**
   * The protocol version sessions opened now require (copied into their snapshot; 1 at
   * deployment). Raised by governance as a rolling upgrade's last step (docs/operations.md).
   */
  readonly protocolVersion: number;
  /**
   * Changes not yet in effect: thresholdOverride, churnCap, schedule (each at most once, in
   * this order), then allow-list entries in the order they were queued.
   */
  readonly queued: readonly QueuedGovernanceChange[];
}

export type SessionKind = 'dkg' | 'reshare';

/** What `openSession` fixes forever. Every node computes the round from this and the submissions. */
export interface SessionSnapshot {
  readonly id: number;
  readonly kind: SessionKind;
  /** The interval boundary the session belongs to. */
  readonly boundary: number;
  readonly openedAt: number;
  /** Reshare: holders of the source version (leaving ones included). DKG: all members. */
  readonly dealers: readonly Address[];
  /** Current members admitted to this session (never leaving operators). */
  readonly recipients: readonly Address[];
  /** Session encryption keys of the recipients, aligned with `recipients`. */
  readonly recipientKeys: readonly Hex[];
  readonly tNew: number;
  /** Threshold of the source version (0 for DKG). */
  readonly tOld: number;
  /** Version id (= id of the session that produced it) being reshared; 0 for DKG. */
  readonly sourceVersion: number;
  /** publicPolyHash of the source version; zero hash for DKG. */
  readonly sourcePolyHash: Hex;
  readonly dealWindow: number;
  readonly ackWindow: number;
  readonly confirmWindow: number;
  /** Confirmations needed to complete: max(tNew, floor(n/2) + 1), n = |recipients|. */
  readonly quorum: number;
  /** The protocol version a node must speak to act in this session (governance's at opening). */
  readonly protocolVersion: number;
}

export type SessionOutcome = 'pending' | 'completed' | 'failed';

/** The mutable part of a session as the ledger reports it. */
export interface SessionProgress {
  readonly dealClosedAt: number | null;
  readonly ackClosedAt: number | null;
  readonly confirmClosedAt: number | null;
  readonly dealCount: number;
  readonly ackCount: number;
  readonly confirmCount: number;
  /** Number of submissions so far (deals + acks + confirmations). */
  readonly counter: number;
  /** Rolling digest over all submissions (zero hash before the first). */
  readonly digest: Hex;
  /** `completed` once a publicPolyHash reaches the quorum; `failed` after confirmEnd without one. */
  readonly outcome: SessionOutcome;
  /** The winning publicPolyHash once completed. */
  readonly completedPolyHash: Hex | null;
}

export interface Session {
  readonly snapshot: SessionSnapshot;
  /**
   * keccak256(abi.encode(snapshot)) (`snapshot-hash.ts`), as the contract stores it. A reorg can
   * reopen a session id with another snapshot; (id, snapshotHash) names one session for good.
   */
  readonly snapshotHash: Hex;
  readonly progress: SessionProgress;
}

/** A complaint names a dealer and carries the evidence to open exactly that deal (SPEC 2). */
export interface Complaint {
  readonly dealer: Address;
  /** K = x_j·E, the ECDH point for this deal (33-byte compressed secp256k1). */
  readonly sharedKey: Hex;
  /** Chaum–Pedersen proof that log_G(X_j) = log_E(K). */
  readonly proof: Hex;
}

export interface DealSubmission {
  readonly type: 'deal';
  readonly session: number;
  readonly from: Address;
  /** tNew compressed G2 points (96 bytes each), concatenated. */
  readonly commitments: Hex;
  /** The deal's ephemeral secp256k1 public key E (33 bytes). */
  readonly ephemeralKey: Hex;
  /** One sealed share per recipient, aligned with the snapshot's recipients. */
  readonly sealedShares: readonly Hex[];
}

export interface AckSubmission {
  readonly type: 'ack';
  readonly session: number;
  readonly from: Address;
  /** Empty: acknowledges every deal. */
  readonly complaints: readonly Complaint[];
}

export interface ConfirmSubmission {
  readonly type: 'confirm';
  readonly session: number;
  readonly from: Address;
  readonly publicPolyHash: Hex;
  /**
   * The public polynomial A_0 ‖ … ‖ A_{t-1} (96 bytes each). Required from the first
   * confirmer of a given hash in a session (the ledger checks keccak256(poly) == hash and
   * publishes it), empty ("0x") afterwards. Its first 96 bytes are the MPK: the ledger pins
   * them at the first DKG completion and refuses a reshare poly whose A_0 differs.
   */
  readonly publicPoly: Hex;
  /** The operator's session encryption key for the next session it may receive in. */
  readonly nextSessionKey: Hex;
  /**
   * The head of the sender's release-receipt log (32 bytes: the hash of its last entry, which
   * commits the entry's position too; zero for an empty log). Not a protocol input (not in
   * the rolling digest); the ledger records it as the sender's latest head. Absent when sent:
   * zero. Always present when read back.
   */
  readonly receiptHead?: Hex;
}

export type Submission = DealSubmission | AckSubmission | ConfirmSubmission;

/** A submission as recorded, with its position in the session's log. */
export type RecordedSubmission = Submission & {
  /** 1-based position; equals the session counter right after it was recorded. */
  readonly seq: number;
  /** Chain time of the block that recorded it. */
  readonly at: number;
};

export interface VersionRecord {
  /** Id of the session that produced this version. */
  readonly id: number;
  readonly publicPolyHash: Hex;
  /** The full public polynomial, as published in the completing session. */
  readonly publicPoly: Hex;
  readonly threshold: number;
  /** The session's recipients: every one of them has a public share in this version. */
  readonly holders: readonly Address[];
  readonly completedAt: number;
}

export type AttestationMethod = 'ecdsa' | 'jwt';

export interface AppRecord {
  readonly id: Hex;
  readonly owner: Address;
  /** A set, reported in the canonical order ecdsa, jwt (the contract keeps a bit set). */
  readonly methods: readonly AttestationMethod[];
  readonly releaseCount: number;
  /** While true, no node releases the app's key (`setAppFrozen`). */
  readonly frozen: boolean;
  /**
   * The app key's epoch, from 0; `rotateAppKey` raises it by one. Nodes release only the
   * current epoch's key: the IBE identity `appIdentity(id, epoch)` (src/crypto/key-release.ts).
   */
  readonly epoch: number;
  /** The owner proposed by `transferApp`, until it accepts (null: none). */
  readonly pendingOwner: Address | null;
}

export interface Release {
  /** 32 bytes (sha256 container image digest). */
  readonly imageDigest: Hex;
  readonly launchPolicy: Hex;
  /** IBE envelope v1 of the app's env, encrypted to the app's identity at its key epoch (`appIdentity(id, epoch)`). */
  readonly encryptedEnv: Hex;
  readonly publicEnv: string;
}

export interface RegisterParams {
  readonly socket: string;
  readonly sigKeyType: SigKeyType;
  readonly sigPublicKey: Hex;
  /** Proof of possession of the signing key over (domain, operator address). */
  readonly proofOfPossession: Hex;
  readonly sessionKey: Hex;
}

/**
 * Read side of the registry. A ledger's own reads see the latest block (SPEC 4, v3: a node
 * acts on the latest block, the contract checks every submission at inclusion); `Ledger.finalView`
 * gives the reads of the last final block. Reads are consistent with one block each, and with
 * one block across calls inside `readsAtOneBlock`.
 */
export interface LedgerReader {
  readonly chainId: bigint;
  /** Registry address (domain separation: SPEC 2). */
  readonly registry: Address;
  /** Chain time of the block this reader reads (the latest one, or the final one for `finalView`). */
  now(): Promise<number>;
  getGovernance(): Promise<Governance>;
  isAllowed(operator: Address): Promise<boolean>;
  /** All registered operators (active and leaving), in registration order. */
  getOperators(): Promise<OperatorRecord[]>;
  getOperator(operator: Address): Promise<OperatorRecord | null>;
  /** Id of the most recently opened session, 0 if none. */
  latestSessionId(): Promise<number>;
  getSession(id: number): Promise<Session | null>;
  /**
   * Every submission of a session in order. Implementations must check the count and the
   * rolling digest against `getSession(id).progress` read at the same block, and retry or
   * throw `LedgerError('IncompleteView')` rather than return a partial view. An unknown
   * session id throws `LedgerError('UnknownSession')`.
   */
  getSubmissions(id: number): Promise<RecordedSubmission[]>;
  /** The pinned MPK (96-byte compressed G2), null before genesis. */
  getMpk(): Promise<Hex | null>;
  getVersion(id: number): Promise<VersionRecord | null>;
  /** The latest completed version, null before genesis. */
  activeVersion(): Promise<VersionRecord | null>;
  getApp(appId: Hex): Promise<AppRecord | null>;
  getRelease(appId: Hex, index: number): Promise<Release | null>;
  /**
   * Optional (both registry ledgers have it): the latest release-receipt log head `operator`
   * committed with a confirmation, ZERO_HASH if none (issue 16, item 4).
   */
  getReceiptHead?(operator: Address): Promise<Hex>;
  /**
   * Optional: how many reorganisations this reader has noticed so far (its latest block did
   * not descend from the one it read before). A node drops its caches when it grows.
   */
  readonly reorgs?: number;
  /**
   * Optional: runs `f` with every read inside it seeing one block (until a write through this
   * ledger), for a consistent view at fewer requests. Ledgers without it read live.
   */
  readsAtOneBlock?<T>(f: () => Promise<T>): Promise<T>;
}

/**
 * Write side, bound to one account (the operator's or governance's transaction key).
 *
 * A refused write changes nothing and rejects with a `LedgerError`. Where several refusals
 * apply, the first in the order listed on each method wins (both ledgers check in this order;
 * the conformance suite asserts it only where it matters). "Session key" means a valid
 * compressed secp256k1 point: 33 bytes, prefix 02 or 03, x < p and x³ + 7 a square mod p
 * (the contract checks the curve equation; the memory ledger uses the crypto layer's decoder).
 *
 * Governance delay: the setters marked "delayed" queue their change with `effectiveAt = now +
 * governanceDelay` (with a delay of 0 it is in effect at once); it applies lazily from then on,
 * a newer call of the same setter replaces a queued change and restarts its delay, and
 * `cancelGovernanceChange` withdraws it. A setter first folds in a queued change whose time has
 * come, so one already in effect is never lost.
 */
export interface LedgerWriter {
  readonly account: Address;
  // governance (owner only): every method but acceptOwnership refuses NotOwner first
  /**
   * Allowing is delayed (per address; an address allowed or queued already keeps its time);
   * revoking acts at once and also withdraws a queued entry. BadParameter (MAX_OPERATORS
   * entries already waiting).
   */
  allowOperator(operator: Address, allowed: boolean): Promise<void>;
  /** Not delayed. NotOwner, NotRegistered, NotActiveOperator (already leaving). The operator becomes leaving. */
  ejectOperator(operator: Address): Promise<void>;
  /**
   * Delayed. NotOwner, ThresholdOutOfBounds (t ≠ 0 outside `thresholdBounds(n)` for n =
   * `plannedRecipientCount` now, with the churn cap that will be in effect).
   */
  setThresholdOverride(t: number): Promise<void>;
  /** Delayed (as the schedule, with the windows queued or in effect). NotOwner, WindowsDoNotFit. */
  setInterval(seconds: number): Promise<void>;
  /** Delayed (as the schedule). NotOwner, WindowsDoNotFit (each ≥ 1 s and deal + ack + confirm + inclusionMargin ≤ interval). */
  setWindows(deal: number, ack: number, confirm: number): Promise<void>;
  /** Delayed. NotOwner, BadParameter (above MAX_OPERATORS). 0 = default cap; a session never admits more than the bound. */
  setChurnCap(cap: number): Promise<void>;
  /**
   * Delayed (as the schedule, with the interval and windows queued or in effect). NotOwner,
   * BadParameter (0, or above 65535). Sessions opened from then on require this version.
   */
  setProtocolVersion(version: number): Promise<void>;
  /** Not delayed. NotOwner, BadParameter (minOperators outside 2..MAX_OPERATORS). */
  armGenesis(minOperators: number): Promise<void>;
  /** Step one of two: proposes `newOwner` (replacing an earlier proposal). NotOwner, BadParameter (zero address). */
  transferOwnership(newOwner: Address): Promise<void>;
  /** Step two: the proposed owner takes over. NotPendingOwner (no proposal, or another sender). */
  acceptOwnership(): Promise<void>;
  /** Withdraws a queued change not yet in effect, or an ownership proposal. NotOwner, NothingQueued. */
  cancelGovernanceChange(kind: GovernanceChangeKind): Promise<void>;
  // operators
  /**
   * NotAllowed (also while its allow-list entry waits for the delay), AlreadyRegistered (also
   * while leaving), TooManyOperators (MAX_OPERATORS registered), BadSocket (1..SIZES.maxSocket
   * UTF-8 bytes), BadKey (signing key 128 bytes for bn254 / 20 for ecdsa; session key a valid
   * point), BadProofOfPossession (wrong length or does not verify for this domain and the
   * sender's address; ECDSA: low-s, v ∈ {27, 28}, never the zero signer). The new record is
   * active with the next registration sequence number.
   */
  register(params: RegisterParams): Promise<void>;
  /** NotRegistered, BadSocket. Leaving operators may update too. */
  updateSocket(socket: string): Promise<void>;
  /** Replace the published session key (recovery after losing a data directory). NotRegistered, BadKey. */
  rotateSessionKey(sessionKey: Hex): Promise<void>;
  /** NotRegistered, NotActiveOperator (already leaving). The operator becomes leaving. */
  deregister(): Promise<void>;
  /**
   * Returns the new session id (1, 2, …). Any registered operator (leaving ones included).
   * NotRegistered, then `planSession`'s refusals in its order: PreviousSessionOpen,
   * BoundaryNotReached, GenesisNotArmed, NotEnoughOperators, ThresholdOverrideNoLongerFits
   * (governance's override does not fit this session's recipients: not a transient refusal,
   * governance must change it). The snapshot uses governance in effect at this moment only.
   */
  openSession(): Promise<number>;
  /**
   * BadLength first when a field is not 0x-hex (the deal cannot be packed), then
   * UnknownSession, NotDealer, WrongPhase, AlreadySubmitted, BadLength (the packed deal,
   * commitments ‖ ephemeral key ‖ sealed shares, is not tNew·96 + 33 + recipients ·
   * SIZES.sealedShare bytes; `deal-bytes.ts`). The ledger records the deal split at those
   * offsets. The last expected deal closes the deal window.
   */
  submitDeal(deal: Omit<DealSubmission, 'type' | 'from'>): Promise<void>;
  /**
   * UnknownSession, NotRecipient, WrongPhase, AlreadySubmitted, BadComplaint (more complaints
   * than deals; a complaint naming an address that has not dealt in this session, naming a
   * dealer twice, or with a shared key ≠ 33 bytes or a proof ≠ SIZES.dleqProof bytes). The last expected ack closes
   * the ack window.
   */
  submitAck(ack: Omit<AckSubmission, 'type' | 'from'>): Promise<void>;
  /**
   * UnknownSession, NotRecipient, WrongPhase, AlreadySubmitted, BadKey (next session key not
   * a valid point), then for the polynomial: empty and its hash not yet published in
   * this session → PolyRequired; non-empty (first or re-sent: racing confirmers all send it)
   * → BadLength (≠ tNew·96 bytes), PolyHashMismatch (keccak256 ≠ hash), MpkMismatch
   * (reshare: first 96 bytes ≠ pinned MPK). Accepted: the sender's session key becomes
   * `nextSessionKey`; the last expected confirmation closes the confirm window; the first
   * hash whose votes reach `quorum` completes the session (version id = session id, holders
   * = recipients, MPK pinned at the first DKG completion, `operatorsToRemove` deleted).
   */
  submitConfirmation(c: Omit<ConfirmSubmission, 'type' | 'from'>): Promise<void>;
  // apps
  /** appId = keccak256(abi.encode(uint256 chainId, address registry, address creator, bytes32 salt)). Returns it. AppExists. */
  createApp(salt: Hex, methods: readonly AttestationMethod[]): Promise<Hex>;
  /** UnknownApp, NotAppOwner. */
  setAttestationMethods(appId: Hex, methods: readonly AttestationMethod[]): Promise<void>;
  /** UnknownApp, NotAppOwner. Releases are numbered 0, 1, … in publication order. */
  publishRelease(appId: Hex, release: Release): Promise<void>;
  /**
   * Step one of an app transfer: proposes `newOwner` (replaces an earlier proposal; the zero
   * address withdraws it). The current owner keeps every right until acceptance. UnknownApp, NotAppOwner.
   */
  transferApp(appId: Hex, newOwner: Address): Promise<void>;
  /** Step two: the proposed owner takes the app; the previous one loses every right. NotPendingOwner (also for an unknown app). */
  acceptApp(appId: Hex): Promise<void>;
  /** Freezes (true) or unfreezes (false) key release of the app. UnknownApp, NotAppOwner. */
  setAppFrozen(appId: Hex, frozen: boolean): Promise<void>;
  /**
   * Rotates the app key to `newEpoch` (= current epoch + 1) and publishes `release` (its env
   * re-encrypted to the new epoch's identity) in one step. UnknownApp, NotAppOwner,
   * AppEpochMismatch (another epoch than current + 1: a rotation already landed), BadLength.
   */
  rotateAppKey(appId: Hex, newEpoch: number, release: Release): Promise<void>;
}

export interface Ledger extends LedgerReader {
  /** A writer sending transactions from `account` (its key must be known to the implementation). */
  writer(account: Address): LedgerWriter;
  /**
   * The registry as of the last **final** block (the chain's `finalized` tag, or the head minus
   * N confirmations, per chain profile): what no reorg can undo. A node takes irreversible
   * local steps — retiring or deleting a version, deleting a session secret, forgetting a
   * round — only on facts this view shows (SPEC 4, v3: act on latest, commit on finality). A
   * ledger without reorgs (the plain in-memory ledger) is its own final view.
   */
  finalView(): LedgerReader;
}

/**
 * Every refusal, by the name of the contract's custom error. Conformance tests assert these
 * codes on both ledgers; the chain ledger maps reverts onto them.
 */
export const LEDGER_ERROR_CODES = [
  'NotOwner',
  'NotPendingOwner',
  'NothingQueued',
  'NotAllowed',
  'AlreadyRegistered',
  'TooManyOperators',
  'NotRegistered',
  'NotActiveOperator',
  'BadProofOfPossession',
  'BadKey',
  'BadSocket',
  'ThresholdOutOfBounds',
  'ThresholdOverrideNoLongerFits',
  'WindowsDoNotFit',
  'BadParameter',
  'GenesisNotArmed',
  'NotEnoughOperators',
  'BoundaryNotReached',
  'PreviousSessionOpen',
  'NoSourceVersion',
  'UnknownSession',
  'NotDealer',
  'NotRecipient',
  'WrongPhase',
  'AlreadySubmitted',
  'BadLength',
  'BadComplaint',
  'PolyHashMismatch',
  'PolyRequired',
  'MpkMismatch',
  'AppExists',
  'UnknownApp',
  'NotAppOwner',
  'AppEpochMismatch',
  'IncompleteView',
] as const;
export type LedgerErrorCode = (typeof LEDGER_ERROR_CODES)[number];

export class LedgerError extends Error {
  override readonly name = 'LedgerError';
  readonly code: LedgerErrorCode;
  constructor(code: LedgerErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}

export const ZERO_HASH: Hex = `0x${'0'.repeat(64)}`;
