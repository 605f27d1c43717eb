// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title KmsRegistry: the canonical log of eigenx-kms (SPEC section 3)
/// @notice Operators agree here and nowhere else. Deals, acks (with complaints) and
/// confirmations are transactions; this contract checks sizes, membership and windows,
/// keeps a per-session counter and rolling digest, stores hashes and emits the data.
/// Every rule mirrors `src/protocol/session-rules.ts` and `src/protocol/memory-ledger.ts`;
/// custom error names are the `LedgerErrorCode`s of `src/protocol/ledger.ts`.
///
/// Windows are half-open intervals of block time:
///   deal    [openedAt, dealEnd)    dealEnd    = dealClosedAt    or openedAt + dealWindow
///   ack     [dealEnd,  ackEnd)     ackEnd     = ackClosedAt     or dealEnd  + ackWindow
///   confirm [ackEnd,   confirmEnd) confirmEnd = confirmClosedAt or ackEnd   + confirmWindow
/// A window closes early, in the block of the submission that completes it, when every
/// expected party has submitted.
///
/// Rolling digest: digest' = keccak256(digest ++ keccak256(abi.encode(item))) with
///   deal    (uint8 1, address from, bytes commitments, bytes ephemeralKey, bytes[] sealedShares)
///   ack     (uint8 2, address from, (address dealer, bytes sharedKey, bytes proof)[] complaints)
///   confirm (uint8 3, address from, bytes32 publicPolyHash, bytes publicPoly, bytes nextSessionKey)
contract KmsRegistry {
    // ------------------------------------------------------------------------------------
    // Constants

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

    // ------------------------------------------------------------------------------------
    // Types

    struct Governance {
        address owner;
        uint64 thresholdOverride;
        uint64 interval;
        uint64 dealWindow;
        uint64 ackWindow;
        uint64 confirmWindow;
        uint64 finalityLag;
        uint64 churnCap;
        uint64 genesisMinOperators;
    }

    struct Operator {
        uint8 status;
        uint8 sigKeyType;
        bytes1 sessionKeyPrefix;
        uint64 registeredSeq;
        bytes32 sessionKeyX;
        string socket;
        bytes sigPublicKey;
    }

    struct OperatorView {
        address operator;
        string socket;
        uint8 sigKeyType;
        bytes sigPublicKey;
        bytes sessionKey;
        uint8 status;
        uint64 registeredSeq;
    }

    /// What openSession fixes forever; emitted in full, stored as a hash.
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
    }

    /// The stored part of a session (the snapshot itself lives in the SessionOpened event).
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

    struct Complaint {
        address dealer;
        bytes sharedKey;
        bytes proof;
    }

    struct PolyInfo {
        uint32 votes;
        /// Block of the confirmation that published the polynomial (0: not yet published).
        uint64 publishedBlock;
    }

    struct App {
        address owner;
        uint8 methods;
        uint32 releaseCount;
    }

    struct Release {
        bytes imageDigest;
        bytes launchPolicy;
        bytes encryptedEnv;
        string publicEnv;
    }

    struct ReleaseRef {
        bytes32 releaseHash;
        uint64 blockNumber;
    }

    // ------------------------------------------------------------------------------------
    // Errors (names = LedgerErrorCode)

    error NotOwner(address caller);
    error NotAllowed(address operator);
    error AlreadyRegistered(address operator);
    error NotRegistered(address operator);
    error NotActiveOperator(address operator);
    error BadProofOfPossession(address operator);
    error BadKey(string reason);
    error BadSocket(uint256 length);
    error ThresholdOutOfBounds(uint256 threshold, uint256 min, uint256 max);
    error WindowsDoNotFit(uint256 dealWindow, uint256 ackWindow, uint256 confirmWindow, uint256 finalityLag, uint256 interval);
    error BadParameter(string reason);
    error GenesisNotArmed();
    error NotEnoughOperators(uint256 needed, uint256 available);
    error BoundaryNotReached(uint256 nextBoundary);
    error PreviousSessionOpen(uint256 session);
    error NoSourceVersion();
    error UnknownSession(uint256 session);
    error NotDealer(uint256 session, address operator);
    error NotRecipient(uint256 session, address operator);
    error WrongPhase(uint256 session, uint8 phase, uint8 expected);
    error AlreadySubmitted(uint256 session, address operator);
    error BadLength(string field, uint256 expected, uint256 actual);
    error BadComplaint(uint256 index, string reason);
    error PolyHashMismatch(bytes32 publicPolyHash, bytes32 actual);
    error PolyRequired(bytes32 publicPolyHash);
    error MpkMismatch();
    error AppExists(bytes32 appId);
    error UnknownApp(bytes32 appId);
    error NotAppOwner(bytes32 appId, address caller);

    // ------------------------------------------------------------------------------------
    // Events

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event OperatorAllowed(address indexed operator, bool allowed);
    event ThresholdOverrideSet(uint256 threshold);
    event IntervalSet(uint256 interval);
    event WindowsSet(uint256 dealWindow, uint256 ackWindow, uint256 confirmWindow);
    event ChurnCapSet(uint256 cap);
    event GenesisArmed(uint256 minOperators);

    event OperatorRegistered(
        address indexed operator, uint256 registeredSeq, string socket, uint8 sigKeyType, bytes sigPublicKey, bytes sessionKey
    );
    event SocketUpdated(address indexed operator, string socket);
    event SessionKeyRotated(address indexed operator, bytes sessionKey);
    event OperatorLeaving(address indexed operator, bool ejected);
    event OperatorRemoved(address indexed operator, uint256 indexed session);

    event SessionOpened(uint256 indexed session, Snapshot snapshot);
    event DealSubmitted(
        uint256 indexed session,
        address indexed dealer,
        uint256 seq,
        uint256 at,
        bytes commitments,
        bytes ephemeralKey,
        bytes[] sealedShares
    );
    event AckSubmitted(uint256 indexed session, address indexed recipient, uint256 seq, uint256 at, Complaint[] complaints);
    event ConfirmationSubmitted(
        uint256 indexed session,
        address indexed recipient,
        bytes32 indexed publicPolyHash,
        uint256 seq,
        uint256 at,
        bytes publicPoly,
        bytes nextSessionKey
    );
    /// A window closed early (phase 0 = deal, 1 = ack, 2 = confirm).
    event PhaseClosed(uint256 indexed session, uint8 phase, uint256 at);
    event SessionCompleted(uint256 indexed session, bytes32 publicPolyHash, uint256 threshold, uint256 at);
    event MpkPinned(uint256 indexed session, bytes mpk);

    event AppCreated(bytes32 indexed appId, address indexed owner, bytes32 salt, uint8 methods);
    event AttestationMethodsSet(bytes32 indexed appId, uint8 methods);
    event ReleasePublished(bytes32 indexed appId, uint256 indexed index, Release release);

    // ------------------------------------------------------------------------------------
    // Storage

    Governance internal _gov;
    mapping(address => bool) internal _allowed;

    mapping(address => Operator) internal _operators;
    /// Registered operators (active and leaving) in registration order.
    address[] internal _operatorList;
    uint64 internal _registrationSeq;
    uint32 internal _activeCount;
    uint32 internal _leavingCount;

    uint64 internal _latestSession;
    uint64 internal _activeVersion;
    mapping(uint256 => SessionState) internal _sessions;
    mapping(uint256 => mapping(address => uint256)) internal _roles;
    mapping(uint256 => mapping(bytes32 => PolyInfo)) internal _polys;
    /// DKG sessions only: A_0 of each published polynomial (the MPK candidate).
    mapping(uint256 => mapping(bytes32 => bytes)) internal _dkgConstant;
    bytes internal _mpk;
    bytes32 internal _mpkHash;

    mapping(bytes32 => App) internal _apps;
    mapping(bytes32 => mapping(uint256 => ReleaseRef)) internal _releases;

    // ------------------------------------------------------------------------------------
    // Construction and governance

    constructor(
        address owner_,
        uint256 interval_,
        uint256 dealWindow_,
        uint256 ackWindow_,
        uint256 confirmWindow_,
        uint256 finalityLag_
    ) {
        if (owner_ == address(0)) revert BadParameter("owner is the zero address");
        if (!_windowsFit(dealWindow_, ackWindow_, confirmWindow_, finalityLag_, interval_)) {
            revert WindowsDoNotFit(dealWindow_, ackWindow_, confirmWindow_, finalityLag_, interval_);
        }
        _gov = Governance({
            owner: owner_,
            thresholdOverride: 0,
            interval: uint64(interval_),
            dealWindow: uint64(dealWindow_),
            ackWindow: uint64(ackWindow_),
            confirmWindow: uint64(confirmWindow_),
            finalityLag: uint64(finalityLag_),
            churnCap: 0,
            genesisMinOperators: 0
        });
        emit OwnershipTransferred(address(0), owner_);
    }

    modifier onlyOwner() {
        if (msg.sender != _gov.owner) revert NotOwner(msg.sender);
        _;
    }

    function allowOperator(address operator, bool allowed) external onlyOwner {
        _allowed[operator] = allowed;
        emit OperatorAllowed(operator, allowed);
    }

    /// Governance removes an active operator: it becomes leaving (deals once more, receives nothing).
    function ejectOperator(address operator) external onlyOwner {
        Operator storage o = _operators[operator];
        if (o.status == STATUS_NONE) revert NotRegistered(operator);
        if (o.status != STATUS_ACTIVE) revert NotActiveOperator(operator);
        _leave(o);
        emit OperatorLeaving(operator, true);
    }

    /// 0 = default ceil(2n/3); otherwise within max(2, floor(n/2)+1)..n for the current active n.
    function setThresholdOverride(uint256 threshold) external onlyOwner {
        uint256 n = _activeCount;
        if (threshold != 0 && !_thresholdInBounds(threshold, n)) {
            (uint256 lo, uint256 hi) = _thresholdBounds(n);
            revert ThresholdOutOfBounds(threshold, lo, hi);
        }
        _gov.thresholdOverride = uint64(threshold);
        emit ThresholdOverrideSet(threshold);
    }

    function setInterval(uint256 interval) external onlyOwner {
        Governance memory g = _gov;
        if (!_windowsFit(g.dealWindow, g.ackWindow, g.confirmWindow, g.finalityLag, interval)) {
            revert WindowsDoNotFit(g.dealWindow, g.ackWindow, g.confirmWindow, g.finalityLag, interval);
        }
        _gov.interval = uint64(interval);
        emit IntervalSet(interval);
    }

    function setWindows(uint256 dealWindow, uint256 ackWindow, uint256 confirmWindow) external onlyOwner {
        Governance memory g = _gov;
        if (!_windowsFit(dealWindow, ackWindow, confirmWindow, g.finalityLag, g.interval)) {
            revert WindowsDoNotFit(dealWindow, ackWindow, confirmWindow, g.finalityLag, g.interval);
        }
        _gov.dealWindow = uint64(dealWindow);
        _gov.ackWindow = uint64(ackWindow);
        _gov.confirmWindow = uint64(confirmWindow);
        emit WindowsSet(dealWindow, ackWindow, confirmWindow);
    }

    /// Max newcomers per session; 0 = default max(1, floor(|old holders| / 3)).
    function setChurnCap(uint256 cap) external onlyOwner {
        if (cap > type(uint64).max) revert BadParameter("churn cap too large");
        _gov.churnCap = uint64(cap);
        emit ChurnCapSet(cap);
    }

    function armGenesis(uint256 minOperators) external onlyOwner {
        if (minOperators < MIN_THRESHOLD || minOperators > type(uint64).max) {
            revert BadParameter("armGenesis needs minOperators >= 2");
        }
        _gov.genesisMinOperators = uint64(minOperators);
        emit GenesisArmed(minOperators);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert BadParameter("the new owner is the zero address");
        emit OwnershipTransferred(_gov.owner, newOwner);
        _gov.owner = newOwner;
    }

    // ------------------------------------------------------------------------------------
    // Operators

    /// Allow-listed registration with a proof of possession of the signing key over
    /// keccak256(domain ++ "pop" ++ msg.sender). sigKeyType 0 = BN254 (128-byte G2 key,
    /// 64-byte G1 proof), 1 = ECDSA (20-byte signer address, 65-byte r ++ s ++ v proof).
    function register(
        string calldata socket,
        uint8 sigKeyType,
        bytes calldata sigPublicKey,
        bytes calldata proofOfPossession,
        bytes calldata sessionKey
    ) external {
        if (!_allowed[msg.sender]) revert NotAllowed(msg.sender);
        Operator storage o = _operators[msg.sender];
        if (o.status != STATUS_NONE) revert AlreadyRegistered(msg.sender);
        _checkSocket(socket);
        if (sigKeyType == KEY_BN254) {
            if (sigPublicKey.length != BN254_G2_BYTES) revert BadKey("a bn254 signing key is 128 bytes");
        } else if (sigKeyType == KEY_ECDSA) {
            if (sigPublicKey.length != ECDSA_SIGNER_BYTES) revert BadKey("an ecdsa signing key is 20 bytes");
        } else {
            revert BadKey("unknown signing key type");
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

    function updateSocket(string calldata socket) external {
        Operator storage o = _registered(msg.sender);
        _checkSocket(socket);
        o.socket = socket;
        emit SocketUpdated(msg.sender, socket);
    }

    /// Replace the published session key (recovery after losing a data directory).
    function rotateSessionKey(bytes calldata sessionKey) external {
        Operator storage o = _registered(msg.sender);
        _checkSessionKey(sessionKey);
        o.sessionKeyPrefix = sessionKey[0];
        o.sessionKeyX = bytes32(sessionKey[1:33]);
        emit SessionKeyRotated(msg.sender, sessionKey);
    }

    function deregister() external {
        Operator storage o = _registered(msg.sender);
        if (o.status != STATUS_ACTIVE) revert NotActiveOperator(msg.sender);
        _leave(o);
        emit OperatorLeaving(msg.sender, false);
    }

    // ------------------------------------------------------------------------------------
    // Sessions

    /// Opens the next session (any registered operator may call it once the boundary has
    /// passed and the previous session is over). Rules: session-rules.ts `planSession`.
    function openSession() external returns (uint256 id) {
        _registered(msg.sender);
        Governance memory g = _gov;
        uint256 boundary = block.timestamp - (block.timestamp % g.interval);
        uint256 latest = _latestSession;
        if (latest != 0) {
            SessionState storage prev = _sessions[latest];
            if (block.timestamp < _confirmEnd(prev)) revert PreviousSessionOpen(latest);
            if (boundary <= prev.boundary) revert BoundaryNotReached(uint256(prev.boundary) + g.interval);
        }
        id = latest + 1;

        Snapshot memory snap;
        snap.id = id;
        snap.boundary = boundary;
        snap.openedAt = block.timestamp;
        snap.dealWindow = g.dealWindow;
        snap.ackWindow = g.ackWindow;
        snap.confirmWindow = g.confirmWindow;
        if (_mpkHash == bytes32(0)) _planDkg(snap, g);
        else _planReshare(snap, g);

        bytes32 snapshotHash = keccak256(abi.encode(snap));
        SessionState storage s = _sessions[id];
        s.boundary = uint64(boundary);
        s.openedAt = uint64(block.timestamp);
        s.openedBlock = uint64(block.number);
        s.kind = snap.kind;
        s.tNew = uint16(snap.tNew);
        s.tOld = uint16(snap.tOld);
        s.dealWindow = uint32(g.dealWindow);
        s.ackWindow = uint32(g.ackWindow);
        s.confirmWindow = uint32(g.confirmWindow);
        s.dealerCount = uint16(snap.dealers.length);
        s.recipientCount = uint16(snap.recipients.length);
        s.quorum = uint16(snap.quorum);
        s.sourceVersion = uint64(snap.sourceVersion);
        s.snapshotHash = snapshotHash;
        s.sourcePolyHash = snap.sourcePolyHash;
        _latestSession = uint64(id);
        emit SessionOpened(id, snap);
    }

    /// Deal window: one deal per dealer, tNew commitments, one sealed share per recipient.
    function submitDeal(
        uint256 session,
        bytes calldata commitments,
        bytes calldata ephemeralKey,
        bytes[] calldata sealedShares
    ) external {
        SessionState storage s = _admit(session, ROLE_DEALER, ROLE_DEALT, PHASE_DEAL);
        uint256 want = uint256(s.tNew) * G2_BYTES;
        if (commitments.length != want) revert BadLength("commitments", want, commitments.length);
        if (ephemeralKey.length != SECP_POINT_BYTES) revert BadLength("ephemeralKey", SECP_POINT_BYTES, ephemeralKey.length);
        uint256 n = s.recipientCount;
        if (sealedShares.length != n) revert BadLength("sealedShares", n, sealedShares.length);
        for (uint256 i = 0; i < n; i++) {
            if (sealedShares[i].length != SEALED_SHARE_BYTES) revert BadLength("sealedShare", SEALED_SHARE_BYTES, sealedShares[i].length);
        }
        _roles[session][msg.sender] |= ROLE_DEALT;
        uint256 seq = _record(s, keccak256(abi.encode(uint8(1), msg.sender, commitments, ephemeralKey, sealedShares)));
        uint16 count = s.dealCount + 1;
        s.dealCount = count;
        if (count == s.dealerCount) {
            s.dealClosedAt = uint64(block.timestamp);
            emit PhaseClosed(session, PHASE_DEAL, block.timestamp);
        }
        emit DealSubmitted(session, msg.sender, seq, block.timestamp, commitments, ephemeralKey, sealedShares);
    }

    /// Ack window: one ack per recipient; an empty list acknowledges every deal. A complaint
    /// names a dealer that has dealt (once) and carries K (33 bytes) and a DLEQ proof (64 bytes).
    function submitAck(uint256 session, Complaint[] calldata complaints) external {
        SessionState storage s = _admit(session, ROLE_RECIPIENT, ROLE_ACKED, PHASE_ACK);
        for (uint256 i = 0; i < complaints.length; i++) {
            address dealer = complaints[i].dealer;
            if (_roles[session][dealer] & ROLE_DEALT == 0) revert BadComplaint(i, "the named dealer has not dealt");
            for (uint256 j = 0; j < i; j++) {
                if (complaints[j].dealer == dealer) revert BadComplaint(i, "the dealer is named twice");
            }
            if (complaints[i].sharedKey.length != SECP_POINT_BYTES) revert BadComplaint(i, "the shared key is not 33 bytes");
            if (complaints[i].proof.length != DLEQ_PROOF_BYTES) revert BadComplaint(i, "the proof is not 64 bytes");
        }
        _roles[session][msg.sender] |= ROLE_ACKED;
        uint256 seq = _record(s, keccak256(abi.encode(uint8(2), msg.sender, complaints)));
        uint16 count = s.ackCount + 1;
        s.ackCount = count;
        if (count == s.recipientCount) {
            s.ackClosedAt = uint64(block.timestamp);
            emit PhaseClosed(session, PHASE_ACK, block.timestamp);
        }
        emit AckSubmitted(session, msg.sender, seq, block.timestamp, complaints);
    }

    /// Confirm window: one confirmation per recipient. The first confirmer of a hash
    /// publishes the polynomial (keccak-checked; a reshare's A_0 must equal the pinned MPK);
    /// the first hash to reach the quorum completes the session and becomes a version.
    function submitConfirmation(
        uint256 session,
        bytes32 publicPolyHash,
        bytes calldata publicPoly,
        bytes calldata nextSessionKey
    ) external {
        SessionState storage s = _admit(session, ROLE_RECIPIENT, ROLE_CONFIRMED, PHASE_CONFIRM);
        _checkSessionKey(nextSessionKey);
        PolyInfo storage p = _polys[session][publicPolyHash];
        bool firstPublish = false;
        if (publicPoly.length == 0) {
            if (p.publishedBlock == 0) revert PolyRequired(publicPolyHash);
        } else {
            uint256 want = uint256(s.tNew) * G2_BYTES;
            if (publicPoly.length != want) revert BadLength("publicPoly", want, publicPoly.length);
            bytes32 h = keccak256(publicPoly);
            if (h != publicPolyHash) revert PolyHashMismatch(publicPolyHash, h);
            if (s.kind == KIND_RESHARE && keccak256(publicPoly[0:G2_BYTES]) != _mpkHash) revert MpkMismatch();
            firstPublish = p.publishedBlock == 0;
        }
        _roles[session][msg.sender] |= ROLE_CONFIRMED;
        uint256 seq = _record(
            s, keccak256(abi.encode(uint8(3), msg.sender, publicPolyHash, publicPoly, nextSessionKey))
        );
        if (firstPublish) {
            p.publishedBlock = uint64(block.number);
            if (s.kind == KIND_DKG) _dkgConstant[session][publicPolyHash] = publicPoly[0:G2_BYTES];
        }
        Operator storage o = _operators[msg.sender];
        if (o.status != STATUS_NONE) {
            o.sessionKeyPrefix = nextSessionKey[0];
            o.sessionKeyX = bytes32(nextSessionKey[1:33]);
        }
        uint32 votes = p.votes + 1;
        p.votes = votes;
        uint16 count = s.confirmCount + 1;
        s.confirmCount = count;
        if (count == s.recipientCount) {
            s.confirmClosedAt = uint64(block.timestamp);
            emit PhaseClosed(session, PHASE_CONFIRM, block.timestamp);
        }
        emit ConfirmationSubmitted(session, msg.sender, publicPolyHash, seq, block.timestamp, publicPoly, nextSessionKey);
        if (!s.completed && votes >= s.quorum) _complete(session, s, publicPolyHash);
    }

    // ------------------------------------------------------------------------------------
    // Apps and releases

    /// appId = keccak256(abi.encode(chainId, registry, creator, salt)); methods: 1 = ecdsa, 2 = jwt.
    function createApp(bytes32 salt, uint8 methods) external returns (bytes32 appId) {
        if (methods & ~METHODS_ALL != 0) revert BadParameter("unknown attestation method");
        appId = keccak256(abi.encode(block.chainid, address(this), msg.sender, salt));
        if (_apps[appId].owner != address(0)) revert AppExists(appId);
        _apps[appId] = App({owner: msg.sender, methods: methods, releaseCount: 0});
        emit AppCreated(appId, msg.sender, salt, methods);
    }

    function setAttestationMethods(bytes32 appId, uint8 methods) external {
        App storage a = _ownedApp(appId);
        if (methods & ~METHODS_ALL != 0) revert BadParameter("unknown attestation method");
        a.methods = methods;
        emit AttestationMethodsSet(appId, methods);
    }

    /// Releases are numbered from 0. The contract stores a hash; the event carries the data.
    function publishRelease(bytes32 appId, Release calldata release) external {
        App storage a = _ownedApp(appId);
        if (release.imageDigest.length != 32) revert BadLength("imageDigest", 32, release.imageDigest.length);
        uint256 index = a.releaseCount;
        a.releaseCount = uint32(index + 1);
        _releases[appId][index] = ReleaseRef({releaseHash: keccak256(abi.encode(release)), blockNumber: uint64(block.number)});
        emit ReleasePublished(appId, index, release);
    }

    // ------------------------------------------------------------------------------------
    // Views

    /// abi.encodePacked("eigenx-kms/v1", uint256 chainId, address registry): 65 bytes.
    function domain() public view returns (bytes memory) {
        return abi.encodePacked("eigenx-kms/v1", block.chainid, address(this));
    }

    function getGovernance() external view returns (Governance memory) {
        return _gov;
    }

    function isAllowed(address operator) external view returns (bool) {
        return _allowed[operator];
    }

    function operatorCount() external view returns (uint256) {
        return _operatorList.length;
    }

    /// All registered operators (active and leaving) in registration order.
    function getOperators() external view returns (OperatorView[] memory out) {
        uint256 n = _operatorList.length;
        out = new OperatorView[](n);
        for (uint256 i = 0; i < n; i++) out[i] = _view(_operatorList[i]);
    }

    /// status 0 = not registered.
    function getOperator(address operator) external view returns (OperatorView memory) {
        return _view(operator);
    }

    function latestSessionId() external view returns (uint256) {
        return _latestSession;
    }

    function getSessionState(uint256 session) external view returns (SessionState memory) {
        return _sessions[session];
    }

    /// Role word of `operator` in `session` (bits: 1 dealer, 2 recipient, 4 dealt, 8 acked, 16 confirmed).
    function roleOf(uint256 session, address operator) external view returns (uint256) {
        return _roles[session][operator];
    }

    function getPolyInfo(uint256 session, bytes32 publicPolyHash) external view returns (PolyInfo memory) {
        return _polys[session][publicPolyHash];
    }

    /// The pinned MPK (96-byte compressed G2), empty before genesis.
    function getMpk() external view returns (bytes memory) {
        return _mpk;
    }

    /// Id of the latest completed version (= the session that produced it), 0 before genesis.
    function activeVersionId() external view returns (uint256) {
        return _activeVersion;
    }

    function getApp(bytes32 appId) external view returns (App memory) {
        return _apps[appId];
    }

    function getReleaseRef(bytes32 appId, uint256 index) external view returns (ReleaseRef memory) {
        return _releases[appId][index];
    }

    // ------------------------------------------------------------------------------------
    // Internals: sessions

    function _planDkg(Snapshot memory snap, Governance memory g) internal {
        if (g.genesisMinOperators == 0) revert GenesisNotArmed();
        uint256 need = g.genesisMinOperators > MIN_THRESHOLD ? g.genesisMinOperators : MIN_THRESHOLD;
        uint256 members = _activeCount;
        if (members < need) revert NotEnoughOperators(need, members);
        uint256 t = _effectiveThreshold(g.thresholdOverride, members);
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
            _roles[id][a] = ROLE_DEALER | ROLE_RECIPIENT;
            k++;
        }
        snap.kind = KIND_DKG;
        snap.dealers = rec;
        snap.recipients = rec;
        snap.recipientKeys = keys;
        snap.tNew = t;
        snap.quorum = _quorum(t, members);
    }

    function _planReshare(Snapshot memory snap, Governance memory g) internal {
        uint256 src = _activeVersion;
        if (src == 0) revert NoSourceVersion();
        SessionState storage v = _sessions[src];
        uint256 holders = v.recipientCount;
        uint256 cap = g.churnCap > 0 ? g.churnCap : (holders / 3 > 1 ? holders / 3 : 1);
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
            bool holder = _roles[src][a] & ROLE_RECIPIENT != 0;
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
            if (role != 0) _roles[id][a] = role;
        }
        if (nr < MIN_THRESHOLD) revert NotEnoughOperators(MIN_THRESHOLD, nr);
        uint256 t = _effectiveThreshold(g.thresholdOverride, nr);
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

    function _admit(uint256 session, uint256 memberBit, uint256 doneBit, uint8 phase)
        internal
        view
        returns (SessionState storage s)
    {
        if (session == 0 || session > _latestSession) revert UnknownSession(session);
        s = _sessions[session];
        uint256 role = _roles[session][msg.sender];
        if (role & memberBit == 0) {
            if (memberBit == ROLE_DEALER) revert NotDealer(session, msg.sender);
            revert NotRecipient(session, msg.sender);
        }
        uint8 current = _phaseAt(s, block.timestamp);
        if (current != phase) revert WrongPhase(session, current, phase);
        if (role & doneBit != 0) revert AlreadySubmitted(session, msg.sender);
    }

    function _record(SessionState storage s, bytes32 itemHash) internal returns (uint256 seq) {
        seq = uint256(s.counter) + 1;
        s.counter = uint32(seq);
        s.lastSubmissionOffset = uint32(block.number - s.openedBlock);
        s.digest = keccak256(abi.encodePacked(s.digest, itemHash));
    }

    function _complete(uint256 session, SessionState storage s, bytes32 publicPolyHash) internal {
        s.completed = true;
        s.completedPolyHash = publicPolyHash;
        s.completedAt = uint64(block.timestamp);
        _activeVersion = uint64(session);
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
            if (_operators[a].status == STATUS_LEAVING && _roles[session][a] & ROLE_RECIPIENT == 0) {
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

    function _dealEnd(SessionState storage s) internal view returns (uint256) {
        return s.dealClosedAt != 0 ? s.dealClosedAt : uint256(s.openedAt) + s.dealWindow;
    }

    function _ackEnd(SessionState storage s) internal view returns (uint256) {
        return s.ackClosedAt != 0 ? s.ackClosedAt : _dealEnd(s) + s.ackWindow;
    }

    function _confirmEnd(SessionState storage s) internal view returns (uint256) {
        return s.confirmClosedAt != 0 ? s.confirmClosedAt : _ackEnd(s) + s.confirmWindow;
    }

    function _phaseAt(SessionState storage s, uint256 t) internal view returns (uint8) {
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

    /// override 0 = ceil(2n/3); reverts ThresholdOutOfBounds when it does not fit n.
    function _effectiveThreshold(uint256 thresholdOverride, uint256 n) internal pure returns (uint256 t) {
        t = thresholdOverride == 0 ? (2 * n + 2) / 3 : thresholdOverride;
        if (!_thresholdInBounds(t, n)) {
            (uint256 lo, uint256 hi) = _thresholdBounds(n);
            revert ThresholdOutOfBounds(thresholdOverride, lo, hi);
        }
    }

    function _quorum(uint256 t, uint256 n) internal pure returns (uint256) {
        uint256 majority = n / 2 + 1;
        return t > majority ? t : majority;
    }

    function _windowsFit(uint256 d, uint256 a, uint256 c, uint256 lag, uint256 interval) internal pure returns (bool) {
        uint256 cap = type(uint32).max;
        if (d == 0 || a == 0 || c == 0 || interval == 0) return false;
        if (d > cap || a > cap || c > cap || lag > cap || interval > cap) return false;
        return d + a + c + lag <= interval;
    }

    // ------------------------------------------------------------------------------------
    // Internals: operators

    function _registered(address operator) internal view returns (Operator storage o) {
        o = _operators[operator];
        if (o.status == STATUS_NONE) revert NotRegistered(operator);
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

    /// A compressed secp256k1 point: 33 bytes starting with 02 or 03 (the curve is not checked).
    function _checkSessionKey(bytes calldata key) internal pure {
        if (key.length != SECP_POINT_BYTES || (key[0] != 0x02 && key[0] != 0x03)) {
            revert BadKey("a session key is a 33-byte compressed secp256k1 point (prefix 02 or 03)");
        }
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
    function _hashToG1(bytes32 digest) internal view returns (uint256 x, uint256 y) {
        x = uint256(digest) % BN254_P;
        while (true) {
            uint256 beta = addmod(mulmod(mulmod(x, x, BN254_P), x, BN254_P), 3, BN254_P);
            y = _expMod(beta, BN254_SQRT_EXP, BN254_P);
            if (mulmod(y, y, BN254_P) == beta) return (x, y);
            x = addmod(x, 1, BN254_P);
        }
    }

    function _expMod(uint256 base, uint256 exponent, uint256 modulus) internal view returns (uint256 result) {
        uint256[6] memory input = [uint256(32), 32, 32, base, exponent, modulus];
        uint256[1] memory out;
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x05, input, 192, out, 32)
        }
        require(ok, "modexp failed");
        result = out[0];
    }
}
