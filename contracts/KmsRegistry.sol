// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title KmsRegistry: the canonical log of eigenx-kms (SPEC section 3)
/// @notice Operators agree here and nowhere else. Deals, acks (with complaints) and
/// confirmations are transactions; this contract checks sizes, membership and windows,
/// keeps a per-session counter and rolling digest, stores hashes and emits the data.
/// Every rule mirrors `src/protocol/session-rules.ts` and `src/protocol/memory-ledger.ts`;
/// custom error names are the `LedgerErrorCode`s of `src/protocol/ledger.ts`.
/// @dev Windows are half-open intervals of block time:
///   deal    [openedAt, dealEnd)    dealEnd    = dealClosedAt    or openedAt + dealWindow
///   ack     [dealEnd,  ackEnd)     ackEnd     = ackClosedAt     or dealEnd  + ackWindow
///   confirm [ackEnd,   confirmEnd) confirmEnd = confirmClosedAt or ackEnd   + confirmWindow
/// A window closes early, in the block of the submission that completes it, when every
/// expected party has submitted.
///
/// Rolling digest: digest' = keccak256(digest ++ keccak256(abi.encode(item))) with
///   deal    (uint8 1, address from, bytes deal)   deal = commitments ++ ephemeralKey ++ sealedShares
///   ack     (uint8 2, address from, (address dealer, bytes sharedKey, bytes proof)[] complaints)
///   confirm (uint8 3, address from, bytes32 publicPolyHash, bytes publicPoly, bytes nextSessionKey)
///
/// Governance delay: a change that can weaken the key (allow-listing an address, the churn
/// cap, the threshold override, the interval and the windows) is queued with an effective
/// time `now + governanceDelay` (announced by an event) and applies lazily: every read and
/// `openSession` use `block.timestamp >= effectiveAt ? queued : current`. Governance can
/// cancel a queued change or replace it (which restarts its delay). Removing an address from
/// the allow list, ejecting an operator and arming genesis act at once: none of them can hand
/// shares to anyone new.
///
/// Bounds: at most MAX_OPERATORS registered operators, so every loop over operators, dealers,
/// recipients, complaints or queued allow-list entries is bounded by it; every narrowing cast
/// is checked (`_u16`, `_u32`, `_u64`) and reverts instead of truncating.
contract KmsRegistry {
    // ------------------------------------------------------------------------------------
    // Constants

    /// @notice Most registered operators (active and leaving) a registry holds.
    /// @dev Chosen so that the largest session stays far inside one block and one transaction:
    /// `openSession` costs about 14k gas per operator (about 4M at 256; the EIP-7825 per-
    /// transaction cap is 2^24) and a deal carries one 48-byte sealed share per recipient
    /// (with its commitments, about 29 KB of calldata at 256). Every count fits in the uint16 fields of SessionState.
    uint256 internal constant MAX_OPERATORS = 256;
    /// @notice Longest governance delay a deployment may choose (30 days).
    uint256 internal constant MAX_GOVERNANCE_DELAY = 30 days;

    uint8 internal constant STATUS_NONE = 0;
    uint8 internal constant STATUS_ACTIVE = 1;
    uint8 internal constant STATUS_LEAVING = 2;

    uint8 internal constant KEY_BN254 = 0;
    uint8 internal constant KEY_ECDSA = 1;

    uint8 internal constant KIND_DKG = 0;
    uint8 internal constant KIND_RESHARE = 1;

    uint8 internal constant PHASE_DEAL = 0;
    uint8 internal constant PHASE_ACK = 1;
    uint8 internal constant PHASE_CONFIRM = 2;
    uint8 internal constant PHASE_CLOSED = 3;

    /// Bits of a participant's role word in a session.
    uint256 internal constant ROLE_DEALER = 1;
    uint256 internal constant ROLE_RECIPIENT = 2;
    uint256 internal constant ROLE_DEALT = 4;
    uint256 internal constant ROLE_ACKED = 8;
    uint256 internal constant ROLE_CONFIRMED = 16;

    /// Attestation method bits: 1 = ecdsa, 2 = jwt.
    uint8 internal constant METHODS_ALL = 3;

    uint256 internal constant G2_BYTES = 96;
    uint256 internal constant SECP_POINT_BYTES = 33;
    uint256 internal constant SEALED_SHARE_BYTES = 48;
    uint256 internal constant DLEQ_PROOF_BYTES = 64;
    uint256 internal constant BN254_G2_BYTES = 128;
    uint256 internal constant ECDSA_SIGNER_BYTES = 20;
    uint256 internal constant MAX_SOCKET_BYTES = 256;
    uint256 internal constant MIN_THRESHOLD = 2;

    /// BN254 base field modulus.
    uint256 internal constant BN254_P = 0x30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47;
    /// (p + 1) / 4: square roots in Fp (p = 3 mod 4).
    uint256 internal constant BN254_SQRT_EXP = 0xc19139cb84c680a6e14116da060561765e05aa45a1c72a34f082305b61f3f52;
    /// -G2 (EIP-197 order: x.im, x.re, y.im, y.re).
    uint256 internal constant NEG_G2_X_IM = 11559732032986387107991004021392285783925812861821192530917403151452391805634;
    uint256 internal constant NEG_G2_X_RE = 10857046999023057135944570762232829481370756359578518086990519993285655852781;
    uint256 internal constant NEG_G2_Y_IM = 17805874995975841540914202342111839520379459829704422454583296818431106115052;
    uint256 internal constant NEG_G2_Y_RE = 13392588948715843804641432497768002650278120570034223513918757245338268106653;
    /// secp256k1 group order / 2 (low-s bound, EIP-2) and the order itself.
    uint256 internal constant SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141;
    uint256 internal constant SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    /// secp256k1 base field modulus p and (p + 1) / 4 (square roots: p = 3 mod 4).
    uint256 internal constant SECP256K1_P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f;
    uint256 internal constant SECP256K1_SQRT_EXP = 0x3fffffffffffffffffffffffffffffffffffffffffffffffffffffffbfffff0c;

    // ------------------------------------------------------------------------------------
    // Reasons (carried by errors; `src/chain/refusal-reasons.ts` names them in TypeScript)

    /// @notice Why `BadKey` refused a key.
    enum KeyProblem {
        /// sigKeyType is neither 0 (BN254) nor 1 (ECDSA).
        UnknownSigKeyType,
        /// A BN254 signing key is not 128 bytes.
        Bn254KeyLength,
        /// An ECDSA signer is not 20 bytes.
        EcdsaKeyLength,
        /// A session key is not 33 bytes.
        SessionKeyLength,
        /// A session key does not start with 0x02 or 0x03 (compressed SEC1).
        SessionKeyPrefix,
        /// A session key's x is not below the field modulus p.
        SessionKeyXOutOfRange,
        /// No secp256k1 point has this x (x^3 + 7 is not a square mod p).
        SessionKeyNotOnCurve
    }

    /// @notice Why `BadParameter` refused a value.
    enum ParameterProblem {
        /// An owner (at deployment or proposed) is the zero address.
        ZeroAddress,
        /// The governance delay exceeds MAX_GOVERNANCE_DELAY.
        GovernanceDelayTooLong,
        /// A churn cap above MAX_OPERATORS.
        ChurnCapTooLarge,
        /// armGenesis outside 2..MAX_OPERATORS.
        GenesisMinOperatorsOutOfRange,
        /// An attestation method bit other than 1 (ecdsa) and 2 (jwt).
        UnknownAttestationMethod,
        /// MAX_OPERATORS allow-list entries are already waiting for their delay.
        AllowQueueFull,
        /// A number does not fit the field that stores it (checked cast).
        ValueTooLarge,
        /// setProtocolVersion(0): protocol versions start at 1.
        ProtocolVersionZero
    }

    /// @notice Why `BadComplaint` refused complaint number `index`.
    enum ComplaintProblem {
        /// The named dealer has not dealt in this session.
        DealerHasNotDealt,
        /// The named dealer appears twice in the list.
        DealerNamedTwice,
        /// The revealed shared key is not 33 bytes.
        SharedKeyLength,
        /// The DLEQ proof is not 64 bytes.
        ProofLength,
        /// More complaints than deals (index = the number of deals).
        TooManyComplaints
    }

    /// @notice Which field `BadLength` refused.
    enum LengthField {
        Commitments,
        EphemeralKey,
        SealedShares,
        SealedShare,
        PublicPoly,
        ImageDigest,
        /// A packed deal that is not tNew*96 + 33 + recipients*48 bytes.
        Deal
    }

    /// @notice A governance change that can be queued and cancelled.
    enum ChangeKind {
        /// setThresholdOverride (delayed).
        ThresholdOverride,
        /// setChurnCap (delayed).
        ChurnCap,
        /// setInterval / setWindows / setProtocolVersion: the interval, the three windows and the
        /// protocol version change together (delayed).
        Schedule,
        /// transferOwnership: the proposed owner has not accepted yet (not delayed).
        Ownership
    }

    // ------------------------------------------------------------------------------------
    // Types

    /// @notice The reshare interval and the three window lengths, in seconds, and the protocol
    /// version sessions require.
    /// @dev They are queued and take effect as one value, so an interval and windows that do
    /// not fit each other are never in effect together. The protocol version rides along (one
    /// slot, one queue, one cancel) rather than a queue of its own: EIP-170 leaves no room for
    /// another copy of the delay machinery.
    struct Schedule {
        uint32 interval;
        uint32 dealWindow;
        uint32 ackWindow;
        uint32 confirmWindow;
        uint16 protocolVersion;
    }

    /// @notice Governance as stored: the values in effect unless a queued change's time has come.
    struct GovernanceState {
        address owner;
        uint16 thresholdOverride;
        uint16 churnCap;
        uint16 genesisMinOperators;
        Schedule schedule;
    }

    /// @notice Changes queued by governance and not yet folded into GovernanceState.
    /// @dev An effective time of 0 means nothing is queued. `_settle` folds a change whose
    /// time has come; reads overlay it without writing.
    struct QueuedState {
        address pendingOwner;
        uint16 thresholdOverride;
        uint64 thresholdOverrideAt;
        uint16 churnCap;
        uint64 churnCapAt;
        uint64 scheduleAt;
        Schedule schedule;
    }

    /// @notice An allow-list entry waiting for its delay.
    struct QueuedAllow {
        address operator;
        uint256 effectiveAt;
    }

    /// @notice Changes not yet in effect, as `getGovernance` reports them (an `...At` of 0: none).
    struct QueuedChanges {
        uint256 thresholdOverride;
        uint256 thresholdOverrideAt;
        uint256 churnCap;
        uint256 churnCapAt;
        uint256 interval;
        uint256 dealWindow;
        uint256 ackWindow;
        uint256 confirmWindow;
        uint256 protocolVersion;
        uint256 scheduleAt;
        QueuedAllow[] allows;
    }

    /// @notice Governance in effect at the block read, with what is queued.
    struct Governance {
        address owner;
        /// Proposed by transferOwnership and not accepted yet (zero: none).
        address pendingOwner;
        uint256 thresholdOverride;
        uint256 interval;
        uint256 dealWindow;
        uint256 ackWindow;
        uint256 confirmWindow;
        /// Seconds reserved at the end of each interval for inclusion (fixed at deployment).
        uint256 inclusionMargin;
        /// Seconds between queuing a delayed change and its effect (fixed at deployment).
        uint256 governanceDelay;
        uint256 churnCap;
        uint256 genesisMinOperators;
        /// The protocol version sessions opened now require (docs/operations.md "Upgrades").
        uint256 protocolVersion;
        QueuedChanges queued;
    }

    /// @notice An operator's stored record.
    /// @dev The first five fields share one storage slot with the status, so openSession
    /// writes a participant's role into a slot that is already non-zero (2.9k gas instead of
    /// 22.1k for a fresh per-session word) and a submission updates role bits and, for a
    /// confirmation, the session key prefix in one write. Roles are kept for the latest
    /// session an operator takes part in only: submissions go to the latest session (a session
    /// opens only after the previous one closed), and the snapshots say who was who before.
    struct Operator {
        uint8 status;
        uint8 sigKeyType;
        bytes1 sessionKeyPrefix;
        uint64 registeredSeq;
        /// The session `roleBits` belong to (0: none yet).
        uint64 roleSession;
        /// Role bits in `roleSession` (ROLE_*).
        uint8 roleBits;
        /// The version (session id) this operator held when it was last given a role: how
        /// openSession still knows the holders of a source version after failed sessions.
        uint64 heldVersion;
        bytes32 sessionKeyX;
        string socket;
        bytes sigPublicKey;
    }

    /// @notice An operator as `getOperators` / `getOperator` report it (status 0: not registered).
    struct OperatorView {
        address operator;
        string socket;
        uint8 sigKeyType;
        bytes sigPublicKey;
        bytes sessionKey;
        uint8 status;
        uint64 registeredSeq;
    }

    /// @notice What openSession fixes forever; emitted in full, stored as a hash.
    struct Snapshot {
        uint256 id;
        uint8 kind;
        uint256 boundary;
        uint256 openedAt;
        address[] dealers;
        address[] recipients;
        bytes[] recipientKeys;
        uint256 tNew;
        uint256 tOld;
        uint256 sourceVersion;
        bytes32 sourcePolyHash;
        uint256 dealWindow;
        uint256 ackWindow;
        uint256 confirmWindow;
        uint256 quorum;
        /// The protocol version a node must speak to take part (governance's at opening).
        uint256 protocolVersion;
    }

    /// @notice The stored part of a session as `getSessionState` reports it (the snapshot
    /// itself lives in the SessionOpened event).
    struct SessionState {
        uint64 boundary;
        uint64 openedAt;
        uint64 openedBlock;
        uint8 kind;
        bool completed;
        uint16 tNew;
        uint16 tOld;
        uint32 dealWindow;
        uint32 ackWindow;
        uint32 confirmWindow;
        uint16 dealerCount;
        uint16 recipientCount;
        uint16 quorum;
        uint16 dealCount;
        uint16 ackCount;
        uint16 confirmCount;
        uint32 counter;
        /// Blocks from openedBlock to the latest submission (bounds a reader's log query).
        uint32 lastSubmissionOffset;
        uint64 dealClosedAt;
        uint64 ackClosedAt;
        uint64 confirmClosedAt;
        uint64 completedAt;
        uint64 sourceVersion;
        bytes32 digest;
        bytes32 snapshotHash;
        bytes32 sourcePolyHash;
        bytes32 completedPolyHash;
    }

    /// @notice A session as stored: SessionState packed into six slots. openSession writes
    /// slots 0, 1, 3 (and 2 for a reshare); a submission reads 0 and 1 and writes 1 and the
    /// digest, so an early close costs no extra slot. Times and block numbers are 40 bits
    /// (checked casts); `counter` is dealCount + ackCount + confirmCount; sourcePolyHash is the
    /// source version's completedPolyHash and is not stored twice.
    struct SessionRecord {
        // slot 0, written once by openSession
        uint40 boundary;
        uint40 openedAt;
        uint40 openedBlock;
        uint8 kind;
        uint16 tNew;
        uint16 tOld;
        uint32 dealWindow;
        uint32 ackWindow;
        uint32 confirmWindow;
        // slot 1, written by openSession and by every submission (early closes included)
        uint16 dealerCount;
        uint16 recipientCount;
        uint16 quorum;
        uint16 dealCount;
        uint16 ackCount;
        uint16 confirmCount;
        /// Blocks from openedBlock to the latest submission (bounds a reader's log query).
        uint32 lastSubmissionOffset;
        bool completed;
        uint40 dealClosedAt;
        uint40 ackClosedAt;
        uint40 confirmClosedAt;
        // slot 2, written by openSession (reshare) and by completion
        uint64 sourceVersion;
        uint40 completedAt;
        bytes32 snapshotHash;
        bytes32 digest;
        bytes32 completedPolyHash;
    }

    /// @notice A complaint: the dealer, the revealed ECDH point K and a DLEQ proof.
    struct Complaint {
        address dealer;
        bytes sharedKey;
        bytes proof;
    }

    /// @notice Confirmations of one publicPolyHash in one session.
    struct PolyInfo {
        uint32 votes;
        /// Block of the confirmation that published the polynomial (0: not yet published).
        uint64 publishedBlock;
    }

    /// @notice An app: its owner, attestation method bits, number of releases, whether key
    /// release is frozen and its key epoch (one slot), and the owner it is being handed to
    /// (second slot; zero: none).
    struct App {
        address owner;
        uint8 methods;
        uint32 releaseCount;
        /// While true every node refuses to release the app's key.
        bool frozen;
        /// The app key's epoch: the IBE identity is the id (epoch 0) or the id and a suffix (docs/formats.md).
        uint32 epoch;
        /// Set by transferApp, taken by acceptApp.
        address pendingOwner;
    }

    /// @notice One release of an app (emitted in full, stored as a hash).
    struct Release {
        bytes imageDigest;
        bytes launchPolicy;
        bytes encryptedEnv;
        string publicEnv;
    }

    /// @notice Where a release lives: its hash and the block that published it.
    struct ReleaseRef {
        bytes32 releaseHash;
        uint64 blockNumber;
    }

    // ------------------------------------------------------------------------------------
    // Errors (names = LedgerErrorCode)

    /// @notice A governance call from an account that is not the owner.
    error NotOwner(address caller);
    /// @notice acceptOwnership from an account that is not the proposed owner.
    error NotPendingOwner(address caller);
    /// @notice Cancelling a change of this kind when none is queued (or it already took effect).
    error NothingQueued(ChangeKind kind);
    /// @notice Registration of an address that is not on the allow list (or whose entry is still waiting for its delay).
    error NotAllowed(address operator);
    /// @notice Registering twice (also while leaving).
    error AlreadyRegistered(address operator);
    /// @notice The registry already holds MAX_OPERATORS operators.
    error TooManyOperators(uint256 max);
    /// @notice An operator call from an address that is not registered.
    error NotRegistered(address operator);
    /// @notice Deregister or eject of an operator that is already leaving.
    error NotActiveOperator(address operator);
    /// @notice The proof of possession does not prove the signing key for this address and registry.
    error BadProofOfPossession(address operator);
    /// @notice A signing or session key of the wrong form.
    error BadKey(KeyProblem problem);
    /// @notice A socket that is not 1..256 bytes.
    error BadSocket(uint256 length);
    /// @notice setThresholdOverride outside max(2, floor(n/2)+1)..n, n = recipients of the next session.
    error ThresholdOutOfBounds(uint256 threshold, uint256 min, uint256 max);
    /// @notice openSession: the governance override does not fit this session's recipients any more
    /// (membership moved since it was set). Governance must change it; it is not a transient refusal.
    error ThresholdOverrideNoLongerFits(uint256 threshold, uint256 min, uint256 max, uint256 recipients);
    /// @notice A window of 0 s, or deal + ack + confirm + inclusion margin above the interval.
    error WindowsDoNotFit(uint256 dealWindow, uint256 ackWindow, uint256 confirmWindow, uint256 inclusionMargin, uint256 interval);
    /// @notice A parameter outside what the contract accepts.
    error BadParameter(ParameterProblem problem);
    /// @notice A DKG before armGenesis.
    error GenesisNotArmed();
    /// @notice Too few members for genesis, or fewer than 2 recipients for a reshare.
    error NotEnoughOperators(uint256 needed, uint256 available);
    /// @notice The interval boundary has not passed since the previous session's.
    error BoundaryNotReached(uint256 nextBoundary);
    /// @notice The previous session's confirm window is still open.
    error PreviousSessionOpen(uint256 session);
    /// @notice Invariant guard: the MPK is pinned but there is no active version (unreachable).
    error NoSourceVersion();
    /// @notice A submission to a session that does not exist.
    error UnknownSession(uint256 session);
    /// @notice The sender is not a dealer of the session.
    error NotDealer(uint256 session, address operator);
    /// @notice The sender is not a recipient of the session.
    error NotRecipient(uint256 session, address operator);
    /// @notice Outside the submission's window (phase 0 deal, 1 ack, 2 confirm, 3 closed).
    error WrongPhase(uint256 session, uint8 phase, uint8 expected);
    /// @notice A second deal, ack or confirmation from the same operator.
    error AlreadySubmitted(uint256 session, address operator);
    /// @notice A field of the wrong size.
    error BadLength(LengthField field, uint256 expected, uint256 actual);
    /// @notice Complaint number `index` is malformed or names a dealer it may not name.
    error BadComplaint(uint256 index, ComplaintProblem problem);
    /// @notice keccak256(publicPoly) is not publicPolyHash.
    error PolyHashMismatch(bytes32 publicPolyHash, bytes32 actual);
    /// @notice The first confirmation of a hash must carry the polynomial.
    error PolyRequired(bytes32 publicPolyHash);
    /// @notice A reshare polynomial whose A_0 is not the pinned MPK.
    error MpkMismatch();
    /// @notice This creator already made an app with this salt.
    error AppExists(bytes32 appId);
    /// @notice No app has this id.
    error UnknownApp(bytes32 appId);
    /// @notice Only the app's owner may do this.
    error NotAppOwner(bytes32 appId, address caller);
    /// @notice rotateAppKey named another epoch than the app's next one (a rotation already landed).
    error AppEpochMismatch(bytes32 appId, uint32 epoch);

    // ------------------------------------------------------------------------------------
    // Events

    /// @notice Governance passed from `previousOwner` to `newOwner` (zero previous owner: deployment).
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    /// @notice The owner proposed `pendingOwner`, who becomes owner by calling acceptOwnership.
    event OwnershipTransferProposed(address indexed owner, address indexed pendingOwner);
    /// @notice `operator` may register from `effectiveAt` (allowed), or no longer may (revoked: at once).
    event OperatorAllowed(address indexed operator, bool allowed, uint256 effectiveAt);
    /// @notice The threshold override becomes `threshold` (0 = default) at `effectiveAt`.
    event ThresholdOverrideQueued(uint256 threshold, uint256 effectiveAt);
    /// @notice The churn cap becomes `cap` (0 = default) at `effectiveAt`.
    event ChurnCapQueued(uint256 cap, uint256 effectiveAt);
    /// @notice The interval and windows become these at `effectiveAt`.
    event ScheduleQueued(uint256 interval, uint256 dealWindow, uint256 ackWindow, uint256 confirmWindow, uint256 protocolVersion, uint256 effectiveAt);
    /// @notice Governance withdrew a queued change (or an ownership proposal) of this kind.
    event GovernanceChangeCancelled(ChangeKind kind);
    /// @notice Genesis may open once `minOperators` are active.
    event GenesisArmed(uint256 minOperators);

    /// @notice A new operator, with everything a node needs to talk to it.
    event OperatorRegistered(
        address indexed operator, uint256 registeredSeq, string socket, uint8 sigKeyType, bytes sigPublicKey, bytes sessionKey
    );
    /// @notice An operator's HTTP API moved.
    event SocketUpdated(address indexed operator, string socket);
    /// @notice An operator replaced its session key outside a confirmation.
    event SessionKeyRotated(address indexed operator, bytes sessionKey);
    /// @notice An operator became leaving (deregistered, or ejected by governance).
    event OperatorLeaving(address indexed operator, bool ejected);
    /// @notice A leaving operator without a share of the version `session` produced left the registry.
    event OperatorRemoved(address indexed operator, uint256 indexed session);

    /// @notice A session opened; `snapshot` is everything its round is computed from.
    event SessionOpened(uint256 indexed session, Snapshot snapshot);
    /// @notice A deal (`seq`: position in the session's log; `at`: block time).
    /// `deal` = commitments (tNew*96) ++ ephemeralKey (33) ++ sealedShares (48 each, snapshot order).
    event DealSubmitted(uint256 indexed session, address indexed dealer, uint256 seq, uint256 at, bytes deal);
    /// @notice An ack with its complaints (empty: every deal acknowledged).
    event AckSubmitted(uint256 indexed session, address indexed recipient, uint256 seq, uint256 at, Complaint[] complaints);
    /// @notice A confirmation; `publicPoly` is empty unless it is the first of its hash;
    /// `receiptHead` is the sender's release-receipt log head (not part of the rolling digest).
    event ConfirmationSubmitted(
        uint256 indexed session,
        address indexed recipient,
        bytes32 indexed publicPolyHash,
        uint256 seq,
        uint256 at,
        bytes publicPoly,
        bytes nextSessionKey,
        bytes32 receiptHead
    );
    /// @notice A window closed early (phase 0 = deal, 1 = ack, 2 = confirm).
    event PhaseClosed(uint256 indexed session, uint8 phase, uint256 at);
    /// @notice A session completed: a new version with this polynomial hash and threshold.
    event SessionCompleted(uint256 indexed session, bytes32 publicPolyHash, uint256 threshold, uint256 at);
    /// @notice Genesis completed: the MPK is pinned forever.
    event MpkPinned(uint256 indexed session, bytes mpk);

    /// @notice A new app with its contract-assigned id.
    event AppCreated(bytes32 indexed appId, address indexed owner, bytes32 salt, uint8 methods);
    /// @notice The attestation methods that may release an app's key changed.
    event AttestationMethodsSet(bytes32 indexed appId, uint8 methods);
    /// @notice A release of an app (numbered from 0).
    event ReleasePublished(bytes32 indexed appId, uint256 indexed index, Release release);
    /// @notice The owner proposed a new owner (zero: the proposal was withdrawn).
    event AppTransferProposed(bytes32 indexed appId, address indexed pendingOwner);
    /// @notice The proposed owner accepted: the previous owner has no right left.
    event AppOwnerChanged(bytes32 indexed appId, address indexed previousOwner, address indexed newOwner);
    /// @notice Key release of the app was frozen (true) or unfrozen (false).
    event AppFrozen(bytes32 indexed appId, bool frozen);
    /// @notice The app key moved to `epoch` (the release published in the same call carries the re-encrypted env).
    event AppKeyRotated(bytes32 indexed appId, uint32 epoch);

    // ------------------------------------------------------------------------------------
    // Storage

    /// Seconds between queuing a delayed change and its effect.
    uint256 internal immutable _governanceDelay;
    /// Seconds reserved at the end of each interval so a round's last submissions are mined before the next boundary.
    uint256 internal immutable _inclusionMargin;

    GovernanceState internal _gov;
    QueuedState internal _queued;
    /// Time from which an address may register (0: not allowed).
    mapping(address => uint256) internal _allowedFrom;
    /// Allow-list entries that were waiting for their delay when queued (pruned on the next queuing).
    address[] internal _allowQueue;

    mapping(address => Operator) internal _operators;
    /// Registered operators (active and leaving) in registration order; at most MAX_OPERATORS.
    address[] internal _operatorList;
    uint64 internal _registrationSeq;
    uint32 internal _activeCount;
    uint32 internal _leavingCount;

    uint64 internal _latestSession;
    uint64 internal _activeVersion;
    mapping(uint256 => SessionRecord) internal _sessions;
    mapping(uint256 => mapping(bytes32 => PolyInfo)) internal _polys;
    /// DKG sessions only: A_0 of each published polynomial (the MPK candidate).
    mapping(uint256 => mapping(bytes32 => bytes)) internal _dkgConstant;
    bytes internal _mpk;
    bytes32 internal _mpkHash;

    mapping(bytes32 => App) internal _apps;
    /// @notice Each operator's latest committed release-receipt log head (hash of its last
    /// receipt, which also fixes how many receipts it covers; zero: none committed).
    mapping(address => bytes32) public receiptHeadOf;
    mapping(bytes32 => mapping(uint256 => ReleaseRef)) internal _releases;

    // ------------------------------------------------------------------------------------
    // Construction and governance

    /// @notice Deploys a registry governed by `owner_`.
    /// @param owner_ Governance owner (not zero).
    /// @param interval_ Reshare interval in seconds.
    /// @param dealWindow_ Deal window in seconds (each window at least 1 s).
    /// @param ackWindow_ Ack window in seconds.
    /// @param confirmWindow_ Confirm window in seconds.
    /// @param inclusionMargin_ Seconds reserved at the end of each interval (fixed forever):
    /// deal + ack + confirm + margin must fit in the interval. Finality is not reserved: it
    /// gates only nodes' local irreversible steps, which may trail several intervals behind.
    /// @param governanceDelay_ Seconds a delayed change waits before it applies (fixed forever,
    /// at most MAX_GOVERNANCE_DELAY; 0 on a local chain).
    constructor(
        address owner_,
        uint256 interval_,
        uint256 dealWindow_,
        uint256 ackWindow_,
        uint256 confirmWindow_,
        uint256 inclusionMargin_,
        uint256 governanceDelay_
    ) {
        if (owner_ == address(0)) revert BadParameter(ParameterProblem.ZeroAddress);
        if (governanceDelay_ > MAX_GOVERNANCE_DELAY) revert BadParameter(ParameterProblem.GovernanceDelayTooLong);
        if (!_windowsFit(dealWindow_, ackWindow_, confirmWindow_, inclusionMargin_, interval_)) {
            revert WindowsDoNotFit(dealWindow_, ackWindow_, confirmWindow_, inclusionMargin_, interval_);
        }
        _governanceDelay = governanceDelay_;
        _inclusionMargin = inclusionMargin_;
        _gov.owner = owner_;
        // _windowsFit bounded every value by type(uint32).max.
        _gov.schedule = Schedule(uint32(interval_), uint32(dealWindow_), uint32(ackWindow_), uint32(confirmWindow_), 1);
        emit OwnershipTransferred(address(0), owner_);
    }

    modifier onlyOwner() {
        if (msg.sender != _gov.owner) revert NotOwner(msg.sender);
        _;
    }

    /// @notice Allows `operator` to register (after the governance delay), or revokes that at
    /// once. Revoking also withdraws an entry still waiting for its delay; it never removes a
    /// registered operator (use ejectOperator). Allowing an address already allowed or queued
    /// changes nothing (its effective time stays).
    /// @param operator The address.
    /// @param allowed True to allow, false to revoke.
    function allowOperator(address operator, bool allowed) external onlyOwner {
        if (!allowed) {
            delete _allowedFrom[operator];
            emit OperatorAllowed(operator, false, block.timestamp);
            return;
        }
        uint256 from = _allowedFrom[operator];
        if (from == 0) {
            from = block.timestamp + _governanceDelay;
            // Pruned before the entry is written, so a stale entry of this address is dropped.
            if (_governanceDelay > 0) _enqueueAllow(operator);
            _allowedFrom[operator] = from;
        }
        emit OperatorAllowed(operator, true, from);
    }

    /// @notice Governance removes an active operator: it becomes leaving (deals once more,
    /// receives nothing).
    /// @dev Not delayed: ejecting only takes shares away from an operator governance no longer trusts.
    /// @param operator A registered, active operator.
    function ejectOperator(address operator) external onlyOwner {
        Operator storage o = _operators[operator];
        if (o.status == STATUS_NONE) revert NotRegistered(operator);
        if (o.status != STATUS_ACTIVE) revert NotActiveOperator(operator);
        _leave(o);
        emit OperatorLeaving(operator, true);
    }

    /// @notice Queues the threshold override (0 = default ceil(2n/3)); it applies after the
    /// governance delay and replaces a change of it still queued.
    /// @dev A non-zero value must lie within max(2, floor(n/2)+1)..n for n = the recipients the
    /// next session would admit now (members, newcomers limited by the churn cap that will be
    /// in effect); openSession checks again (ThresholdOverrideNoLongerFits).
    /// @param threshold The override.
    function setThresholdOverride(uint256 threshold) external onlyOwner {
        _settle();
        if (threshold != 0) {
            uint256 cap = _queued.churnCapAt != 0 ? _queued.churnCap : _gov.churnCap;
            uint256 n = _nextRecipientCount(cap);
            if (!_thresholdInBounds(threshold, n)) {
                (uint256 lo, uint256 hi) = _thresholdBounds(n);
                revert ThresholdOutOfBounds(threshold, lo, hi);
            }
        }
        uint256 at = block.timestamp + _governanceDelay;
        if (_governanceDelay == 0) {
            _gov.thresholdOverride = _u16(threshold);
        } else {
            _queued.thresholdOverride = _u16(threshold);
            _queued.thresholdOverrideAt = _u64(at);
        }
        emit ThresholdOverrideQueued(threshold, at);
    }

    /// @notice Queues a new reshare interval (with the windows queued or in effect).
    /// @param interval Seconds; the windows plus the inclusion margin must fit in it.
    function setInterval(uint256 interval) external onlyOwner {
        Schedule memory s = _latestSchedule();
        _queueSchedule(interval, s.dealWindow, s.ackWindow, s.confirmWindow, s.protocolVersion);
    }

    /// @notice Queues new window lengths (with the interval queued or in effect).
    /// @param dealWindow Seconds (at least 1).
    /// @param ackWindow Seconds (at least 1).
    /// @param confirmWindow Seconds (at least 1); deal + ack + confirm + margin must fit in the interval.
    function setWindows(uint256 dealWindow, uint256 ackWindow, uint256 confirmWindow) external onlyOwner {
        Schedule memory s = _latestSchedule();
        _queueSchedule(s.interval, dealWindow, ackWindow, confirmWindow, s.protocolVersion);
    }

    /// @notice Queues the protocol version sessions require (with the schedule queued or in
    /// effect): a rolling upgrade's last step, taken once every operator runs software that
    /// speaks it (docs/operations.md "Upgrades"). A node that does not speak a session's
    /// version sits the session out and says why; lowering it again is the way back.
    /// @param version 1..65535.
    function setProtocolVersion(uint256 version) external onlyOwner {
        if (version == 0) revert BadParameter(ParameterProblem.ProtocolVersionZero);
        Schedule memory s = _latestSchedule();
        _queueSchedule(s.interval, s.dealWindow, s.ackWindow, s.confirmWindow, _u16(version));
    }

    /// @notice Queues the churn cap: most newcomers one session admits (0 = default).
    /// @dev Whatever governance sets, a session admits at most max(1, floor(holders / 3))
    /// newcomers (`_planReshare`): a cap can only lower that.
    /// @param cap At most MAX_OPERATORS.
    function setChurnCap(uint256 cap) external onlyOwner {
        if (cap > MAX_OPERATORS) revert BadParameter(ParameterProblem.ChurnCapTooLarge);
        _settle();
        uint256 at = block.timestamp + _governanceDelay;
        if (_governanceDelay == 0) {
            _gov.churnCap = uint16(cap);
        } else {
            _queued.churnCap = uint16(cap);
            _queued.churnCapAt = _u64(at);
        }
        emit ChurnCapQueued(cap, at);
    }

    /// @notice Arms genesis: the first DKG may open once `minOperators` operators are active.
    /// @dev Not delayed: genesis happens once, before any key exists, among operators that
    /// already passed the (delayed) allow list.
    /// @param minOperators 2..MAX_OPERATORS.
    function armGenesis(uint256 minOperators) external onlyOwner {
        if (minOperators < MIN_THRESHOLD || minOperators > MAX_OPERATORS) {
            revert BadParameter(ParameterProblem.GenesisMinOperatorsOutOfRange);
        }
        _gov.genesisMinOperators = uint16(minOperators);
        emit GenesisArmed(minOperators);
    }

    /// @notice Proposes `newOwner` as governance (step one of two); it takes over when it calls
    /// acceptOwnership. A new proposal replaces the previous one; cancelGovernanceChange(Ownership)
    /// withdraws it. The current owner keeps every right until then.
    /// @param newOwner Not zero.
    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert BadParameter(ParameterProblem.ZeroAddress);
        _queued.pendingOwner = newOwner;
        emit OwnershipTransferProposed(_gov.owner, newOwner);
    }

    /// @notice The proposed owner takes governance over (step two of two). Queued changes stay queued.
    function acceptOwnership() external {
        address next = _queued.pendingOwner;
        if (next == address(0) || msg.sender != next) revert NotPendingOwner(msg.sender);
        emit OwnershipTransferred(_gov.owner, next);
        _gov.owner = next;
        _queued.pendingOwner = address(0);
    }

    /// @notice Withdraws a queued change of `kind` that has not taken effect yet (allow-list
    /// entries are withdrawn with allowOperator(operator, false)).
    /// @param kind ThresholdOverride, ChurnCap, Schedule or Ownership.
    function cancelGovernanceChange(ChangeKind kind) external onlyOwner {
        _settle();
        QueuedState storage q = _queued;
        if (kind == ChangeKind.ThresholdOverride) {
            if (q.thresholdOverrideAt == 0) revert NothingQueued(kind);
            q.thresholdOverrideAt = 0;
        } else if (kind == ChangeKind.ChurnCap) {
            if (q.churnCapAt == 0) revert NothingQueued(kind);
            q.churnCapAt = 0;
        } else if (kind == ChangeKind.Schedule) {
            if (q.scheduleAt == 0) revert NothingQueued(kind);
            q.scheduleAt = 0;
        } else {
            if (q.pendingOwner == address(0)) revert NothingQueued(kind);
            q.pendingOwner = address(0);
        }
        emit GovernanceChangeCancelled(kind);
    }

    // ------------------------------------------------------------------------------------
    // Operators

    /// @notice Allow-listed registration with a proof of possession of the signing key over
    /// keccak256(domain ++ "pop" ++ msg.sender).
    /// @param socket HTTP base URL of the operator's API, 1..256 bytes.
    /// @param sigKeyType 0 = BN254 (128-byte G2 key, 64-byte G1 proof), 1 = ECDSA (20-byte
    /// signer address, 65-byte r ++ s ++ v proof).
    /// @param sigPublicKey The signing public key.
    /// @param proofOfPossession Signature over (domain, operator address).
    /// @param sessionKey First session encryption key: a valid compressed secp256k1 point.
    function register(
        string calldata socket,
        uint8 sigKeyType,
        bytes calldata sigPublicKey,
        bytes calldata proofOfPossession,
        bytes calldata sessionKey
    ) external {
        if (!_isAllowed(msg.sender)) revert NotAllowed(msg.sender);
        Operator storage o = _operators[msg.sender];
        if (o.status != STATUS_NONE) revert AlreadyRegistered(msg.sender);
        if (_operatorList.length >= MAX_OPERATORS) revert TooManyOperators(MAX_OPERATORS);
        _checkSocket(socket);
        if (sigKeyType == KEY_BN254) {
            if (sigPublicKey.length != BN254_G2_BYTES) revert BadKey(KeyProblem.Bn254KeyLength);
        } else if (sigKeyType == KEY_ECDSA) {
            if (sigPublicKey.length != ECDSA_SIGNER_BYTES) revert BadKey(KeyProblem.EcdsaKeyLength);
        } else {
            revert BadKey(KeyProblem.UnknownSigKeyType);
        }
        _checkSessionKey(sessionKey);
        if (!_popValid(sigKeyType, sigPublicKey, proofOfPossession)) revert BadProofOfPossession(msg.sender);

        uint64 seq = ++_registrationSeq;
        o.status = STATUS_ACTIVE;
        o.sigKeyType = sigKeyType;
        o.registeredSeq = seq;
        o.sessionKeyPrefix = sessionKey[0];
        o.sessionKeyX = bytes32(sessionKey[1:33]);
        o.socket = socket;
        o.sigPublicKey = sigPublicKey;
        _operatorList.push(msg.sender);
        _activeCount += 1;
        emit OperatorRegistered(msg.sender, seq, socket, sigKeyType, sigPublicKey, sessionKey);
    }

    /// @notice Moves the sender's HTTP API (leaving operators may update too).
    /// @param socket 1..256 bytes.
    function updateSocket(string calldata socket) external {
        Operator storage o = _registered(msg.sender);
        _checkSocket(socket);
        o.socket = socket;
        emit SocketUpdated(msg.sender, socket);
    }

    /// @notice Replaces the sender's published session key (recovery after losing a data directory).
    /// @param sessionKey A valid compressed secp256k1 point.
    function rotateSessionKey(bytes calldata sessionKey) external {
        Operator storage o = _registered(msg.sender);
        _checkSessionKey(sessionKey);
        o.sessionKeyPrefix = sessionKey[0];
        o.sessionKeyX = bytes32(sessionKey[1:33]);
        emit SessionKeyRotated(msg.sender, sessionKey);
    }

    /// @notice The sender leaves: it becomes leaving (deals in the next reshare, receives nothing).
    function deregister() external {
        Operator storage o = _registered(msg.sender);
        if (o.status != STATUS_ACTIVE) revert NotActiveOperator(msg.sender);
        _leave(o);
        emit OperatorLeaving(msg.sender, false);
    }

    // ------------------------------------------------------------------------------------
    // Sessions

    /// @notice Opens the next session (any registered operator may call it once the boundary
    /// has passed and the previous session is over). Rules: session-rules.ts `planSession`;
    /// the snapshot uses only governance in effect at this block.
    /// @return id The new session id (1, 2, ...).
    function openSession() external returns (uint256 id) {
        _registered(msg.sender);
        GovernanceState memory g = _effective();
        uint256 interval = g.schedule.interval;
        uint256 boundary = block.timestamp - (block.timestamp % interval);
        uint256 latest = _latestSession;
        if (latest != 0) {
            SessionRecord storage prev = _sessions[latest];
            if (block.timestamp < _confirmEnd(prev)) revert PreviousSessionOpen(latest);
            if (boundary <= prev.boundary) revert BoundaryNotReached(uint256(prev.boundary) + interval);
        }
        id = latest + 1;

        Snapshot memory snap;
        snap.id = id;
        snap.boundary = boundary;
        snap.openedAt = block.timestamp;
        snap.dealWindow = g.schedule.dealWindow;
        snap.ackWindow = g.schedule.ackWindow;
        snap.confirmWindow = g.schedule.confirmWindow;
        snap.protocolVersion = g.schedule.protocolVersion;
        if (_mpkHash == bytes32(0)) _planDkg(snap, g);
        else _planReshare(snap, g);

        bytes32 snapshotHash = keccak256(abi.encode(snap));
        SessionRecord storage s = _sessions[id];
        s.boundary = _u40(boundary);
        s.openedAt = _u40(block.timestamp);
        s.openedBlock = _u40(block.number);
        s.kind = snap.kind;
        s.tNew = _u16(snap.tNew);
        s.tOld = _u16(snap.tOld);
        s.dealWindow = g.schedule.dealWindow;
        s.ackWindow = g.schedule.ackWindow;
        s.confirmWindow = g.schedule.confirmWindow;
        s.dealerCount = _u16(snap.dealers.length);
        s.recipientCount = _u16(snap.recipients.length);
        s.quorum = _u16(snap.quorum);
        s.sourceVersion = _u64(snap.sourceVersion);
        s.snapshotHash = snapshotHash;
        _latestSession = _u64(id);
        emit SessionOpened(id, snap);
    }

    /// @notice Deal window: one deal per dealer, packed into one byte string: tNew compressed
    /// G2 commitments (96 bytes each), the deal's ephemeral secp256k1 key E (33 bytes), then one
    /// 48-byte sealed share per recipient in the snapshot's order. One string instead of three
    /// fields and n separate shares saves the ABI's offsets, lengths and padding (2.6 KB of
    /// calldata at n = 30); the contract checks the total length, readers split it by the
    /// snapshot's tNew and recipient count.
    /// @param session The session id.
    /// @param deal commitments ++ ephemeralKey ++ sealedShares.
    function submitDeal(uint256 session, bytes calldata deal) external {
        (SessionRecord storage s, Operator storage o) = _admit(session, ROLE_DEALER, ROLE_DEALT, PHASE_DEAL);
        uint256 n = s.recipientCount;
        uint256 want = uint256(s.tNew) * G2_BYTES + SECP_POINT_BYTES + n * SEALED_SHARE_BYTES;
        if (deal.length != want) revert BadLength(LengthField.Deal, want, deal.length);
        o.roleBits |= uint8(ROLE_DEALT);
        uint256 seq = _record(s, keccak256(abi.encode(uint8(1), msg.sender, deal)));
        uint16 count = s.dealCount + 1;
        s.dealCount = count;
        if (count == s.dealerCount) {
            s.dealClosedAt = _u40(block.timestamp);
            emit PhaseClosed(session, PHASE_DEAL, block.timestamp);
        }
        emit DealSubmitted(session, msg.sender, seq, block.timestamp, deal);
    }

    /// @notice Ack window: one ack per recipient; an empty list acknowledges every deal.
    /// @dev A complaint names a dealer that has dealt (once) and carries K (33 bytes) and a
    /// DLEQ proof (64 bytes). At most one complaint per deal, so the duplicate check is bounded.
    /// @param session The session id.
    /// @param complaints The complaints, each with its evidence.
    function submitAck(uint256 session, Complaint[] calldata complaints) external {
        (SessionRecord storage s, Operator storage o) = _admit(session, ROLE_RECIPIENT, ROLE_ACKED, PHASE_ACK);
        uint256 dealt = s.dealCount;
        if (complaints.length > dealt) revert BadComplaint(dealt, ComplaintProblem.TooManyComplaints);
        for (uint256 i = 0; i < complaints.length; i++) {
            address dealer = complaints[i].dealer;
            if (_roleIn(_operators[dealer], session) & ROLE_DEALT == 0) revert BadComplaint(i, ComplaintProblem.DealerHasNotDealt);
            for (uint256 j = 0; j < i; j++) {
                if (complaints[j].dealer == dealer) revert BadComplaint(i, ComplaintProblem.DealerNamedTwice);
            }
            if (complaints[i].sharedKey.length != SECP_POINT_BYTES) revert BadComplaint(i, ComplaintProblem.SharedKeyLength);
            if (complaints[i].proof.length != DLEQ_PROOF_BYTES) revert BadComplaint(i, ComplaintProblem.ProofLength);
        }
        o.roleBits |= uint8(ROLE_ACKED);
        uint256 seq = _record(s, keccak256(abi.encode(uint8(2), msg.sender, complaints)));
        uint16 count = s.ackCount + 1;
        s.ackCount = count;
        if (count == s.recipientCount) {
            s.ackClosedAt = _u40(block.timestamp);
            emit PhaseClosed(session, PHASE_ACK, block.timestamp);
        }
        emit AckSubmitted(session, msg.sender, seq, block.timestamp, complaints);
    }

    /// @notice Confirm window: one confirmation per recipient. The first confirmer of a hash
    /// publishes the polynomial (keccak-checked; a reshare's A_0 must equal the pinned MPK);
    /// the first hash to reach the quorum completes the session and becomes a version.
    /// @param session The session id.
    /// @param publicPolyHash keccak256 of the public polynomial the sender computed.
    /// @param publicPoly The polynomial (tNew G2 points) from the first confirmer of the hash, else empty.
    /// @param nextSessionKey The sender's next session key: a valid compressed secp256k1 point.
    /// @param receiptHead The head of the sender's release-receipt log (kept as its latest).
    function submitConfirmation(
        uint256 session,
        bytes32 publicPolyHash,
        bytes calldata publicPoly,
        bytes calldata nextSessionKey,
        bytes32 receiptHead
    ) external {
        (SessionRecord storage s, Operator storage o) = _admit(session, ROLE_RECIPIENT, ROLE_CONFIRMED, PHASE_CONFIRM);
        _checkSessionKey(nextSessionKey);
        PolyInfo storage p = _polys[session][publicPolyHash];
        bool firstPublish = false;
        if (publicPoly.length == 0) {
            if (p.publishedBlock == 0) revert PolyRequired(publicPolyHash);
        } else {
            uint256 want = uint256(s.tNew) * G2_BYTES;
            if (publicPoly.length != want) revert BadLength(LengthField.PublicPoly, want, publicPoly.length);
            bytes32 h = keccak256(publicPoly);
            if (h != publicPolyHash) revert PolyHashMismatch(publicPolyHash, h);
            if (s.kind == KIND_RESHARE && keccak256(publicPoly[0:G2_BYTES]) != _mpkHash) revert MpkMismatch();
            firstPublish = p.publishedBlock == 0;
        }
        uint256 seq = _record(
            s, keccak256(abi.encode(uint8(3), msg.sender, publicPolyHash, publicPoly, nextSessionKey))
        );
        if (firstPublish) {
            p.publishedBlock = _u64(block.number);
            if (s.kind == KIND_DKG) _dkgConstant[session][publicPolyHash] = publicPoly[0:G2_BYTES];
        }
        // A recipient is registered for the whole session (only non-recipients are removed, at
        // completion), so its record is the one _admit read. Role bit and key prefix share a slot.
        o.roleBits |= uint8(ROLE_CONFIRMED);
        o.sessionKeyPrefix = nextSessionKey[0];
        o.sessionKeyX = bytes32(nextSessionKey[1:33]);
        uint32 votes = p.votes + 1;
        p.votes = votes;
        uint16 count = s.confirmCount + 1;
        s.confirmCount = count;
        if (count == s.recipientCount) {
            s.confirmClosedAt = _u40(block.timestamp);
            emit PhaseClosed(session, PHASE_CONFIRM, block.timestamp);
        }
        receiptHeadOf[msg.sender] = receiptHead;
        emit ConfirmationSubmitted(session, msg.sender, publicPolyHash, seq, block.timestamp, publicPoly, nextSessionKey, receiptHead);
        if (!s.completed && votes >= s.quorum) _complete(session, s, publicPolyHash);
    }

    // ------------------------------------------------------------------------------------
    // Apps and releases

    /// @notice Creates an app owned by the sender.
    /// @dev appId = keccak256(abi.encode(chainId, registry, creator, salt)): nobody can take an
    /// id another creator already encrypts to.
    /// @param salt Any 32 bytes, unique per creator.
    /// @param methods Attestation method bits: 1 = ecdsa, 2 = jwt.
    /// @return appId The assigned id.
    function createApp(bytes32 salt, uint8 methods) external returns (bytes32 appId) {
        if (methods & ~METHODS_ALL != 0) revert BadParameter(ParameterProblem.UnknownAttestationMethod);
        appId = keccak256(abi.encode(block.chainid, address(this), msg.sender, salt));
        if (_apps[appId].owner != address(0)) revert AppExists(appId);
        // Field by field: a struct literal would also write the (zero) pendingOwner slot.
        App storage a = _apps[appId];
        a.owner = msg.sender;
        a.methods = methods;
        emit AppCreated(appId, msg.sender, salt, methods);
    }

    /// @notice Chooses which attestation methods may release the app's key (app owner only).
    /// @param appId The app.
    /// @param methods Bits: 1 = ecdsa, 2 = jwt (0: no release).
    function setAttestationMethods(bytes32 appId, uint8 methods) external {
        App storage a = _ownedApp(appId);
        if (methods & ~METHODS_ALL != 0) revert BadParameter(ParameterProblem.UnknownAttestationMethod);
        a.methods = methods;
        emit AttestationMethodsSet(appId, methods);
    }

    /// @notice Publishes a release (app owner only). Releases are numbered from 0; the
    /// contract stores a hash, the event carries the data.
    /// @param appId The app.
    /// @param release Image digest (32 bytes), launch policy, IBE-encrypted env, public env.
    function publishRelease(bytes32 appId, Release calldata release) external {
        _publish(appId, _ownedApp(appId), release);
    }

    /// @notice Proposes `newOwner` as the app's owner (app owner only; step one of two). A new
    /// proposal replaces the previous one; the zero address withdraws it. The current owner
    /// keeps every right until `acceptApp`.
    function transferApp(bytes32 appId, address newOwner) external {
        _ownedApp(appId).pendingOwner = newOwner;
        emit AppTransferProposed(appId, newOwner);
    }

    /// @notice The proposed owner takes the app over (step two of two): from this block on the
    /// previous owner can no longer change it or sign its ecdsa attestations.
    function acceptApp(bytes32 appId) external {
        App storage a = _apps[appId];
        // An unknown app has no pending owner, and no sender is the zero address.
        if (a.pendingOwner != msg.sender) revert NotPendingOwner(msg.sender);
        emit AppOwnerChanged(appId, a.owner, msg.sender);
        a.owner = msg.sender;
        a.pendingOwner = address(0);
    }

    /// @notice Freezes (true) or unfreezes (false) key release of the app (app owner only):
    /// nodes read it at the latest block and refuse every release while frozen.
    function setAppFrozen(bytes32 appId, bool frozen) external {
        _ownedApp(appId).frozen = frozen;
        emit AppFrozen(appId, frozen);
    }

    /// @notice Rotates the app key (app owner only): the epoch becomes `newEpoch`, which must
    /// be the current one + 1 (so a repeated call cannot rotate twice), and `release` — the
    /// latest env re-encrypted to the new epoch's identity — is published in the same call, so
    /// that no block serves the new key with an env it cannot open.
    function rotateAppKey(bytes32 appId, uint32 newEpoch, Release calldata release) external {
        App storage a = _ownedApp(appId);
        if (newEpoch != uint256(a.epoch) + 1) revert AppEpochMismatch(appId, a.epoch);
        a.epoch = newEpoch;
        emit AppKeyRotated(appId, newEpoch);
        _publish(appId, a, release);
    }

    function _publish(bytes32 appId, App storage a, Release calldata release) internal {
        if (release.imageDigest.length != 32) revert BadLength(LengthField.ImageDigest, 32, release.imageDigest.length);
        uint256 index = a.releaseCount;
        a.releaseCount = _u32(index + 1);
        _releases[appId][index] = ReleaseRef({releaseHash: keccak256(abi.encode(release)), blockNumber: _u64(block.number)});
        emit ReleasePublished(appId, index, release);
    }

    // ------------------------------------------------------------------------------------
    // Views

    /// @notice abi.encodePacked("eigenx-kms/v1", uint256 chainId, address registry): 65 bytes.
    function domain() public view returns (bytes memory) {
        return abi.encodePacked("eigenx-kms/v1", block.chainid, address(this));
    }

    /// @notice Governance in effect at this block, the fixed deployment settings, and every
    /// change still waiting for its time.
    function getGovernance() external view returns (Governance memory out) {
        GovernanceState memory g = _effective();
        QueuedState memory q = _queued;
        out.owner = g.owner;
        out.pendingOwner = q.pendingOwner;
        out.thresholdOverride = g.thresholdOverride;
        out.interval = g.schedule.interval;
        out.dealWindow = g.schedule.dealWindow;
        out.ackWindow = g.schedule.ackWindow;
        out.confirmWindow = g.schedule.confirmWindow;
        out.inclusionMargin = _inclusionMargin;
        out.governanceDelay = _governanceDelay;
        out.churnCap = g.churnCap;
        out.genesisMinOperators = g.genesisMinOperators;
        out.protocolVersion = g.schedule.protocolVersion;
        if (q.thresholdOverrideAt > block.timestamp) {
            out.queued.thresholdOverride = q.thresholdOverride;
            out.queued.thresholdOverrideAt = q.thresholdOverrideAt;
        }
        if (q.churnCapAt > block.timestamp) {
            out.queued.churnCap = q.churnCap;
            out.queued.churnCapAt = q.churnCapAt;
        }
        if (q.scheduleAt > block.timestamp) {
            out.queued.interval = q.schedule.interval;
            out.queued.dealWindow = q.schedule.dealWindow;
            out.queued.ackWindow = q.schedule.ackWindow;
            out.queued.confirmWindow = q.schedule.confirmWindow;
            out.queued.protocolVersion = q.schedule.protocolVersion;
            out.queued.scheduleAt = q.scheduleAt;
        }
        uint256 total = _allowQueue.length;
        QueuedAllow[] memory allows = new QueuedAllow[](total);
        uint256 k = 0;
        for (uint256 i = 0; i < total; i++) {
            address a = _allowQueue[i];
            uint256 from = _allowedFrom[a];
            if (from > block.timestamp) allows[k++] = QueuedAllow(a, from);
        }
        assembly ("memory-safe") {
            mstore(allows, k)
        }
        out.queued.allows = allows;
    }

    /// @notice Whether `operator` may register now (an entry still waiting for its delay: false).
    function isAllowed(address operator) external view returns (bool) {
        return _isAllowed(operator);
    }

    /// @notice Number of registered operators (active and leaving).
    function operatorCount() external view returns (uint256) {
        return _operatorList.length;
    }

    /// @notice All registered operators (active and leaving) in registration order.
    function getOperators() external view returns (OperatorView[] memory out) {
        uint256 n = _operatorList.length;
        out = new OperatorView[](n);
        for (uint256 i = 0; i < n; i++) out[i] = _view(_operatorList[i]);
    }

    /// @notice One operator (status 0 = not registered).
    function getOperator(address operator) external view returns (OperatorView memory) {
        return _view(operator);
    }

    /// @notice Id of the most recently opened session (0: none).
    function latestSessionId() external view returns (uint256) {
        return _latestSession;
    }

    /// @notice The stored state of a session (all zero: unknown).
    function getSessionState(uint256 session) external view returns (SessionState memory v) {
        SessionRecord storage s = _sessions[session];
        v.boundary = s.boundary;
        v.openedAt = s.openedAt;
        v.openedBlock = s.openedBlock;
        v.kind = s.kind;
        v.completed = s.completed;
        v.tNew = s.tNew;
        v.tOld = s.tOld;
        v.dealWindow = s.dealWindow;
        v.ackWindow = s.ackWindow;
        v.confirmWindow = s.confirmWindow;
        v.dealerCount = s.dealerCount;
        v.recipientCount = s.recipientCount;
        v.quorum = s.quorum;
        v.dealCount = s.dealCount;
        v.ackCount = s.ackCount;
        v.confirmCount = s.confirmCount;
        v.counter = uint32(s.dealCount) + s.ackCount + s.confirmCount;
        v.lastSubmissionOffset = s.lastSubmissionOffset;
        v.dealClosedAt = s.dealClosedAt;
        v.ackClosedAt = s.ackClosedAt;
        v.confirmClosedAt = s.confirmClosedAt;
        v.completedAt = s.completedAt;
        v.sourceVersion = s.sourceVersion;
        v.digest = s.digest;
        v.snapshotHash = s.snapshotHash;
        if (s.sourceVersion != 0) v.sourcePolyHash = _sessions[s.sourceVersion].completedPolyHash;
        v.completedPolyHash = s.completedPolyHash;
    }

    /// @notice Role bits of `operator` in `session` (1 dealer, 2 recipient, 4 dealt, 8 acked,
    /// 16 confirmed) while `session` is the latest session the operator took part in; 0 for an
    /// older session (the registry keeps only the latest role; older snapshots say who was who).
    function roleOf(uint256 session, address operator) external view returns (uint256) {
        return _roleIn(_operators[operator], session);
    }

    /// @notice Votes for a polynomial hash in a session, and the block that published it.
    function getPolyInfo(uint256 session, bytes32 publicPolyHash) external view returns (PolyInfo memory) {
        return _polys[session][publicPolyHash];
    }

    /// @notice The pinned MPK (96-byte compressed G2), empty before genesis.
    function getMpk() external view returns (bytes memory) {
        return _mpk;
    }

    /// @notice Id of the latest completed version (= the session that produced it), 0 before genesis.
    function activeVersionId() external view returns (uint256) {
        return _activeVersion;
    }

    /// @notice An app (zero owner: unknown).
    function getApp(bytes32 appId) external view returns (App memory) {
        return _apps[appId];
    }

    /// @notice Hash and block of release `index` of an app (zero: none).
    function getReleaseRef(bytes32 appId, uint256 index) external view returns (ReleaseRef memory) {
        return _releases[appId][index];
    }

    // ------------------------------------------------------------------------------------
    // Internals: governance delay

    /// Governance in effect at this block: stored values, overlaid by queued ones whose time has come.
    function _effective() internal view returns (GovernanceState memory g) {
        g = _gov;
        QueuedState storage q = _queued;
        uint256 at = q.thresholdOverrideAt;
        if (at != 0 && block.timestamp >= at) g.thresholdOverride = q.thresholdOverride;
        at = q.churnCapAt;
        if (at != 0 && block.timestamp >= at) g.churnCap = q.churnCap;
        at = q.scheduleAt;
        if (at != 0 && block.timestamp >= at) g.schedule = q.schedule;
    }

    /// Folds queued changes whose time has come into the stored values (before a setter
    /// replaces or cancels a queued change, so one in effect is never lost).
    function _settle() internal {
        QueuedState storage q = _queued;
        uint256 at = q.thresholdOverrideAt;
        if (at != 0 && block.timestamp >= at) {
            _gov.thresholdOverride = q.thresholdOverride;
            q.thresholdOverrideAt = 0;
        }
        at = q.churnCapAt;
        if (at != 0 && block.timestamp >= at) {
            _gov.churnCap = q.churnCap;
            q.churnCapAt = 0;
        }
        at = q.scheduleAt;
        if (at != 0 && block.timestamp >= at) {
            _gov.schedule = q.schedule;
            q.scheduleAt = 0;
        }
    }

    /// The schedule that will be in effect once everything queued has applied.
    function _latestSchedule() internal returns (Schedule memory) {
        _settle();
        return _queued.scheduleAt != 0 ? _queued.schedule : _gov.schedule;
    }

    function _queueSchedule(uint256 interval, uint256 d, uint256 a, uint256 c, uint16 version) internal {
        if (!_windowsFit(d, a, c, _inclusionMargin, interval)) revert WindowsDoNotFit(d, a, c, _inclusionMargin, interval);
        // _windowsFit bounded every value by type(uint32).max.
        Schedule memory s = Schedule(uint32(interval), uint32(d), uint32(a), uint32(c), version);
        uint256 at = block.timestamp + _governanceDelay;
        if (_governanceDelay == 0) {
            _gov.schedule = s;
        } else {
            _queued.schedule = s;
            _queued.scheduleAt = _u64(at);
        }
        emit ScheduleQueued(s.interval, s.dealWindow, s.ackWindow, s.confirmWindow, s.protocolVersion, at);
    }

    function _isAllowed(address operator) internal view returns (bool) {
        uint256 from = _allowedFrom[operator];
        return from != 0 && block.timestamp >= from;
    }

    /// Drops entries that took effect or were revoked, then appends `operator` (bounded by MAX_OPERATORS).
    function _enqueueAllow(address operator) internal {
        uint256 n = _allowQueue.length;
        uint256 w = 0;
        for (uint256 i = 0; i < n; i++) {
            address a = _allowQueue[i];
            if (_allowedFrom[a] > block.timestamp) {
                if (w != i) _allowQueue[w] = a;
                w++;
            }
        }
        for (uint256 i = w; i < n; i++) _allowQueue.pop();
        if (w >= MAX_OPERATORS) revert BadParameter(ParameterProblem.AllowQueueFull);
        _allowQueue.push(operator);
    }

    // ------------------------------------------------------------------------------------
    // Internals: sessions

    function _planDkg(Snapshot memory snap, GovernanceState memory g) internal {
        if (g.genesisMinOperators == 0) revert GenesisNotArmed();
        uint256 need = g.genesisMinOperators > MIN_THRESHOLD ? g.genesisMinOperators : MIN_THRESHOLD;
        uint256 members = _activeCount;
        if (members < need) revert NotEnoughOperators(need, members);
        uint256 t = _sessionThreshold(g.thresholdOverride, members);
        address[] memory rec = new address[](members);
        bytes[] memory keys = new bytes[](members);
        uint256 k = 0;
        uint256 total = _operatorList.length;
        uint256 id = snap.id;
        for (uint256 i = 0; i < total; i++) {
            address a = _operatorList[i];
            Operator storage o = _operators[a];
            if (o.status != STATUS_ACTIVE) continue;
            rec[k] = a;
            keys[k] = abi.encodePacked(o.sessionKeyPrefix, o.sessionKeyX);
            _giveRole(o, id, ROLE_DEALER | ROLE_RECIPIENT, o.heldVersion);
            k++;
        }
        snap.kind = KIND_DKG;
        snap.dealers = rec;
        snap.recipients = rec;
        snap.recipientKeys = keys;
        snap.tNew = t;
        snap.quorum = _quorum(t, members);
    }

    function _planReshare(Snapshot memory snap, GovernanceState memory g) internal {
        uint256 src = _activeVersion;
        if (src == 0) revert NoSourceVersion();
        SessionRecord storage v = _sessions[src];
        uint256 holders = v.recipientCount;
        uint256 cap = _churnCap(g.churnCap, holders);
        uint256 total = _operatorList.length;
        address[] memory dealers = new address[](holders);
        address[] memory rec = new address[](total);
        bytes[] memory keys = new bytes[](total);
        uint256 nd = 0;
        uint256 nr = 0;
        uint256 newcomers = 0;
        uint256 id = snap.id;
        for (uint256 i = 0; i < total; i++) {
            address a = _operatorList[i];
            Operator storage o = _operators[a];
            bool holder = _holds(o, src);
            uint256 role = 0;
            if (holder) {
                dealers[nd++] = a;
                role = ROLE_DEALER;
            }
            if (o.status == STATUS_ACTIVE && (holder || newcomers < cap)) {
                if (!holder) newcomers++;
                rec[nr] = a;
                keys[nr] = abi.encodePacked(o.sessionKeyPrefix, o.sessionKeyX);
                nr++;
                role |= ROLE_RECIPIENT;
            }
            if (role != 0) _giveRole(o, id, role, holder ? src : o.heldVersion);
        }
        if (nr < MIN_THRESHOLD) revert NotEnoughOperators(MIN_THRESHOLD, nr);
        uint256 t = _sessionThreshold(g.thresholdOverride, nr);
        // Holders of the active version are never removed before a later version completes,
        // so every one of them is still in the list (and in the same relative order).
        assert(nd == holders);
        assembly ("memory-safe") {
            mstore(rec, nr)
            mstore(keys, nr)
        }
        snap.kind = KIND_RESHARE;
        snap.dealers = dealers;
        snap.recipients = rec;
        snap.recipientKeys = keys;
        snap.tNew = t;
        snap.tOld = v.tNew;
        snap.sourceVersion = src;
        snap.sourcePolyHash = v.completedPolyHash;
        snap.quorum = _quorum(t, nr);
    }

    /// Recipients the next session would admit now with churn cap `govCap` (session-rules.ts
    /// `plannedRecipientCount`): every active member for a DKG; for a reshare the active
    /// holders plus the first newcomers within the cap.
    function _nextRecipientCount(uint256 govCap) internal view returns (uint256) {
        if (_mpkHash == bytes32(0)) return _activeCount;
        uint256 src = _activeVersion;
        uint256 cap = _churnCap(govCap, _sessions[src].recipientCount);
        uint256 staying = 0;
        uint256 newcomers = 0;
        uint256 total = _operatorList.length;
        for (uint256 i = 0; i < total; i++) {
            address a = _operatorList[i];
            if (_operators[a].status != STATUS_ACTIVE) continue;
            if (_holds(_operators[a], src)) staying++;
            else if (newcomers < cap) newcomers++;
        }
        return staying + newcomers;
    }

    function _admit(uint256 session, uint256 memberBit, uint256 doneBit, uint8 phase)
        internal
        view
        returns (SessionRecord storage s, Operator storage o)
    {
        s = _sessions[session];
        // Opened sessions have a non-zero opening block (block 0 is genesis); ids 0 and above
        // the latest have none. Read from the slot the phase check reads anyway.
        if (s.openedBlock == 0) revert UnknownSession(session);
        o = _operators[msg.sender];
        uint256 role = _roleIn(o, session);
        if (role & memberBit == 0) {
            if (memberBit == ROLE_DEALER) revert NotDealer(session, msg.sender);
            revert NotRecipient(session, msg.sender);
        }
        uint8 current = _phaseAt(s, block.timestamp);
        if (current != phase) revert WrongPhase(session, current, phase);
        if (role & doneBit != 0) revert AlreadySubmitted(session, msg.sender);
    }

    function _record(SessionRecord storage s, bytes32 itemHash) internal returns (uint256 seq) {
        // The submission's position: every earlier one counted (its own count is raised after).
        seq = uint256(s.dealCount) + s.ackCount + s.confirmCount + 1;
        s.lastSubmissionOffset = _u32(block.number - s.openedBlock);
        s.digest = keccak256(abi.encodePacked(s.digest, itemHash));
    }

    function _complete(uint256 session, SessionRecord storage s, bytes32 publicPolyHash) internal {
        s.completed = true;
        s.completedPolyHash = publicPolyHash;
        s.completedAt = _u40(block.timestamp);
        _activeVersion = _u64(session);
        if (s.kind == KIND_DKG && _mpkHash == bytes32(0)) {
            bytes memory mpk = _dkgConstant[session][publicPolyHash];
            _mpk = mpk;
            _mpkHash = keccak256(mpk);
            emit MpkPinned(session, mpk);
        }
        if (_leavingCount > 0) _removeLeaving(session);
        emit SessionCompleted(session, publicPolyHash, s.tNew, block.timestamp);
    }

    /// Leaving operators that do not hold the new version leave the registry (order kept).
    function _removeLeaving(uint256 session) internal {
        uint256 n = _operatorList.length;
        uint256 w = 0;
        uint32 removed = 0;
        for (uint256 i = 0; i < n; i++) {
            address a = _operatorList[i];
            Operator storage o = _operators[a];
            if (o.status == STATUS_LEAVING && _roleIn(o, session) & ROLE_RECIPIENT == 0) {
                delete _operators[a];
                removed++;
                emit OperatorRemoved(a, session);
            } else {
                if (w != i) _operatorList[w] = a;
                w++;
            }
        }
        for (uint256 i = w; i < n; i++) _operatorList.pop();
        _leavingCount -= removed;
    }

    function _dealEnd(SessionRecord storage s) internal view returns (uint256) {
        return s.dealClosedAt != 0 ? s.dealClosedAt : uint256(s.openedAt) + s.dealWindow;
    }

    function _ackEnd(SessionRecord storage s) internal view returns (uint256) {
        return s.ackClosedAt != 0 ? s.ackClosedAt : _dealEnd(s) + s.ackWindow;
    }

    function _confirmEnd(SessionRecord storage s) internal view returns (uint256) {
        return s.confirmClosedAt != 0 ? s.confirmClosedAt : _ackEnd(s) + s.confirmWindow;
    }

    function _phaseAt(SessionRecord storage s, uint256 t) internal view returns (uint8) {
        uint256 dealEnd = _dealEnd(s);
        if (t < dealEnd) return PHASE_DEAL;
        uint256 ackEnd = s.ackClosedAt != 0 ? s.ackClosedAt : dealEnd + s.ackWindow;
        if (t < ackEnd) return PHASE_ACK;
        uint256 confirmEnd = s.confirmClosedAt != 0 ? s.confirmClosedAt : ackEnd + s.confirmWindow;
        if (t < confirmEnd) return PHASE_CONFIRM;
        return PHASE_CLOSED;
    }

    // ------------------------------------------------------------------------------------
    // Internals: rule arithmetic (session-rules.ts)

    function _thresholdBounds(uint256 n) internal pure returns (uint256 lo, uint256 hi) {
        lo = n / 2 + 1;
        if (lo < MIN_THRESHOLD) lo = MIN_THRESHOLD;
        hi = n;
    }

    function _thresholdInBounds(uint256 t, uint256 n) internal pure returns (bool) {
        (uint256 lo, uint256 hi) = _thresholdBounds(n);
        return t >= lo && t <= hi;
    }

    /// override 0 = ceil(2n/3) (always in bounds for n >= 2, which the callers checked);
    /// an override that no longer fits n is governance's to fix.
    function _sessionThreshold(uint256 thresholdOverride, uint256 n) internal pure returns (uint256 t) {
        t = thresholdOverride == 0 ? (2 * n + 2) / 3 : thresholdOverride;
        if (!_thresholdInBounds(t, n)) {
            (uint256 lo, uint256 hi) = _thresholdBounds(n);
            revert ThresholdOverrideNoLongerFits(thresholdOverride, lo, hi, n);
        }
    }

    function _quorum(uint256 t, uint256 n) internal pure returns (uint256) {
        uint256 majority = n / 2 + 1;
        return t > majority ? t : majority;
    }

    /// Newcomers a reshare admits: min(governance cap or the bound, bound), bound = max(1, floor(holders / 3)).
    /// With the bound, newcomers stay below t_new whatever governance sets.
    function _churnCap(uint256 govCap, uint256 holders) internal pure returns (uint256) {
        uint256 bound = holders / 3 > 1 ? holders / 3 : 1;
        return govCap != 0 && govCap < bound ? govCap : bound;
    }

    function _windowsFit(uint256 d, uint256 a, uint256 c, uint256 margin, uint256 interval) internal pure returns (bool) {
        uint256 cap = type(uint32).max;
        if (d == 0 || a == 0 || c == 0 || interval == 0) return false;
        if (d > cap || a > cap || c > cap || margin > cap || interval > cap) return false;
        return d + a + c + margin <= interval;
    }

    /// Checked narrowing casts: a value that does not fit reverts, never truncates.
    function _u16(uint256 v) internal pure returns (uint16) {
        if (v > type(uint16).max) revert BadParameter(ParameterProblem.ValueTooLarge);
        return uint16(v);
    }

    function _u32(uint256 v) internal pure returns (uint32) {
        if (v > type(uint32).max) revert BadParameter(ParameterProblem.ValueTooLarge);
        return uint32(v);
    }

    function _u40(uint256 v) internal pure returns (uint40) {
        if (v > type(uint40).max) revert BadParameter(ParameterProblem.ValueTooLarge);
        return uint40(v);
    }

    function _u64(uint256 v) internal pure returns (uint64) {
        if (v > type(uint64).max) revert BadParameter(ParameterProblem.ValueTooLarge);
        return uint64(v);
    }

    // ------------------------------------------------------------------------------------
    // Internals: operators

    function _registered(address operator) internal view returns (Operator storage o) {
        o = _operators[operator];
        if (o.status == STATUS_NONE) revert NotRegistered(operator);
    }

    /// Role bits of an operator in `session` (0 unless it is the latest session the operator took part in).
    function _roleIn(Operator storage o, uint256 session) internal view returns (uint256) {
        return o.roleSession == session ? o.roleBits : 0;
    }

    /// Whether an operator holds a share of `version` (a recipient of that completed session).
    /// Its role word names `version` until the next session opens; from then on `heldVersion`
    /// does, written by every openSession that gives a holder a role, and every holder of the
    /// source version gets one (it deals). Version ids are session ids and never repeat.
    function _holds(Operator storage o, uint256 version) internal view returns (bool) {
        if (version == 0) return false;
        return (o.roleSession == version && o.roleBits & ROLE_RECIPIENT != 0) || o.heldVersion == version;
    }

    /// One write of the operator's first slot (already non-zero: its status), not a fresh word per session.
    function _giveRole(Operator storage o, uint256 session, uint256 role, uint256 heldVersion) internal {
        o.roleSession = uint64(session);
        o.roleBits = uint8(role);
        o.heldVersion = uint64(heldVersion);
    }

    function _leave(Operator storage o) internal {
        o.status = STATUS_LEAVING;
        _activeCount -= 1;
        _leavingCount += 1;
    }

    function _view(address a) internal view returns (OperatorView memory v) {
        Operator storage o = _operators[a];
        v.operator = a;
        v.status = o.status;
        if (o.status == STATUS_NONE) return v;
        v.socket = o.socket;
        v.sigKeyType = o.sigKeyType;
        v.sigPublicKey = o.sigPublicKey;
        v.sessionKey = abi.encodePacked(o.sessionKeyPrefix, o.sessionKeyX);
        v.registeredSeq = o.registeredSeq;
    }

    function _checkSocket(string calldata socket) internal pure {
        uint256 n = bytes(socket).length;
        if (n < 1 || n > MAX_SOCKET_BYTES) revert BadSocket(n);
    }

    /// A valid compressed secp256k1 point: 33 bytes, prefix 02/03, x < p, and x^3 + 7 a square
    /// mod p (y = (x^3 + 7)^((p+1)/4) through the modexp precompile, then y^2 == x^3 + 7).
    /// A key no point has would make every honest dealer's sealing fail (SPEC 2).
    function _checkSessionKey(bytes calldata key) internal view {
        if (key.length != SECP_POINT_BYTES) revert BadKey(KeyProblem.SessionKeyLength);
        if (key[0] != 0x02 && key[0] != 0x03) revert BadKey(KeyProblem.SessionKeyPrefix);
        uint256 x = uint256(bytes32(key[1:33]));
        if (x >= SECP256K1_P) revert BadKey(KeyProblem.SessionKeyXOutOfRange);
        uint256 rhs = addmod(mulmod(mulmod(x, x, SECP256K1_P), x, SECP256K1_P), 7, SECP256K1_P);
        uint256 y = _expMod(rhs, SECP256K1_SQRT_EXP, SECP256K1_P);
        if (mulmod(y, y, SECP256K1_P) != rhs) revert BadKey(KeyProblem.SessionKeyNotOnCurve);
    }

    function _ownedApp(bytes32 appId) internal view returns (App storage a) {
        a = _apps[appId];
        if (a.owner == address(0)) revert UnknownApp(appId);
        if (a.owner != msg.sender) revert NotAppOwner(appId, msg.sender);
    }

    // ------------------------------------------------------------------------------------
    // Internals: proofs of possession (src/crypto/operator-sig-*.ts)

    function _popValid(uint8 sigKeyType, bytes calldata publicKey, bytes calldata pop) internal view returns (bool) {
        bytes32 digest = keccak256(abi.encodePacked(domain(), "pop", msg.sender));
        if (sigKeyType == KEY_ECDSA) return _ecdsaPopValid(address(bytes20(publicKey)), digest, pop);
        return _bn254PopValid(publicKey, digest, pop);
    }

    /// ecrecover over the digest; low-s only, v in {27, 28}, r and s in [1, n).
    function _ecdsaPopValid(address signer, bytes32 digest, bytes calldata pop) internal pure returns (bool) {
        if (pop.length != 65) return false;
        uint256 r = uint256(bytes32(pop[0:32]));
        uint256 s = uint256(bytes32(pop[32:64]));
        uint8 v = uint8(pop[64]);
        if (r == 0 || r >= SECP256K1_N || s == 0 || s > SECP256K1_HALF_N) return false;
        if (v != 27 && v != 28) return false;
        address recovered = ecrecover(digest, v, bytes32(r), bytes32(s));
        return recovered != address(0) && recovered == signer;
    }

    /// e(pop, -G2) * e(H(digest), PK) == 1 through the ecPairing precompile (0x08).
    /// The precompile refuses coordinates >= p, points off the curve and G2 points outside
    /// the subgroup; the identity is refused here (it would make the check vacuous).
    function _bn254PopValid(bytes calldata publicKey, bytes32 digest, bytes calldata pop) internal view returns (bool) {
        if (pop.length != 64) return false;
        uint256[12] memory input;
        input[0] = uint256(bytes32(pop[0:32]));
        input[1] = uint256(bytes32(pop[32:64]));
        if (input[0] == 0 && input[1] == 0) return false;
        input[2] = NEG_G2_X_IM;
        input[3] = NEG_G2_X_RE;
        input[4] = NEG_G2_Y_IM;
        input[5] = NEG_G2_Y_RE;
        (input[6], input[7]) = _hashToG1(digest);
        input[8] = uint256(bytes32(publicKey[0:32]));
        input[9] = uint256(bytes32(publicKey[32:64]));
        input[10] = uint256(bytes32(publicKey[64:96]));
        input[11] = uint256(bytes32(publicKey[96:128]));
        if (input[8] == 0 && input[9] == 0 && input[10] == 0 && input[11] == 0) return false;
        uint256[1] memory out;
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x08, input, 384, out, 32)
        }
        return ok && out[0] == 1;
    }

    /// EigenLayer BN254.hashToG1: try-and-increment from x = uint256(digest) mod p.
    /// @dev Not caller-sized: each step succeeds with probability about 1/2, and a sender who
    /// grinds its address for a longer walk pays for it in its own registration.
    function _hashToG1(bytes32 digest) internal view returns (uint256 x, uint256 y) {
        x = uint256(digest) % BN254_P;
        while (true) {
            uint256 beta = addmod(mulmod(mulmod(x, x, BN254_P), x, BN254_P), 3, BN254_P);
            y = _expMod(beta, BN254_SQRT_EXP, BN254_P);
            if (mulmod(y, y, BN254_P) == beta) return (x, y);
            x = addmod(x, 1, BN254_P);
        }
    }

    /// base^exponent mod modulus through the modexp precompile (0x05).
    function _expMod(uint256 base, uint256 exponent, uint256 modulus) internal view returns (uint256 result) {
        uint256[6] memory input = [uint256(32), 32, 32, base, exponent, modulus];
        uint256[1] memory out;
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x05, input, 192, out, 32)
        }
        // The precompile fails only when the call runs out of gas.
        assert(ok);
        result = out[0];
    }
}
