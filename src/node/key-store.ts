/**
 * @module
 * The operator's key store (SPEC 4, 5): key versions (pending → active → retired), session
 * encryption keys, per-session round state, and small metadata such as
 * `lastProcessedBoundary`. Two implementations share this interface: SQLite
 * (`sqlite-key-store.ts`, the default, one file in the data directory) and memory
 * (`memory-key-store.ts`, tests). Both pass the same suite (`test/node/key-store.test.ts`).
 *
 * - Every secret value (shares, session secret keys, round states, which hold shares) is
 *   encrypted at rest with AES-256-GCM under a key derived from the 32-byte storage key,
 *   with the row's identity as associated data so rows cannot be swapped, and every row of
 *   the SQLite store is authenticated, public columns included (`store-crypto.ts`,
 *   `sqlite-store-rows.ts`).
 * - A store is scoped to one (chainId, registry, operator) and, once known, one MPK. Opening
 *   it under another scope or with another storage key fails with `KeyStoreError` before
 *   anything is written. Once bound, a version whose constant term A_0 is not the MPK is
 *   refused (SPEC 1.2: the MPK never changes).
 * - `transaction(fn)` applies several writes atomically: a crash leaves all or none. Nested
 *   calls are savepoints: an inner throw undoes only the inner writes.
 * - Values go in and come out as copies: mutating an argument after a put, or a returned
 *   value, never changes what is stored.
 * - Hex and addresses are normalised to lowercase on the way in, so lookups ignore case.
 * - Deletes are idempotent (deleting what is absent is a no-op): a node that crashed between
 *   deciding and deleting simply deletes again.
 *
 * Retention (SPEC 4, `retention.ts`): a version is deleted only after a later version has
 * itself been the source of a completed reshare; session secret keys are deleted once their
 * session is over and a newer key has been published.
 *
 * The `check*` helpers at the end are the one validator both implementations use, so both
 * accept and refuse exactly the same inputs.
 */
import { createECDH } from 'node:crypto';
import { R } from '../crypto/fr.ts';
import type { Address, Hex } from '../protocol/ledger.ts';

export type VersionStatus = 'pending' | 'active' | 'retired';

export interface StoredVersion {
  /** Id of the session that produced it (= the ledger's version id). */
  readonly id: number;
  readonly status: VersionStatus;
  /** This operator's share, 0 ≤ share < r. Secret. */
  readonly share: bigint;
  /** A_0 ‖ … ‖ A_{t-1}, compressed G2 (96 bytes each, `threshold` of them), hex. */
  readonly publicPoly: Hex;
  /** keccak256 of the public polynomial bytes, 32 bytes, hex. */
  readonly publicPolyHash: Hex;
  readonly threshold: number;
  readonly holders: readonly Address[];
  /** Chain time at which this node confirmed it. */
  readonly confirmedAt: number;
  /**
   * Chain time at which its session completed on-chain: null exactly while pending, set for
   * active and retired versions (`versionAt` needs it).
   */
  readonly activatedAt: number | null;
}

export interface StoredSessionKey {
  /** 33-byte compressed secp256k1 public key, hex. */
  readonly publicKey: Hex;
  /** 32-byte secret; must be the secret of `publicKey` (checked on put). */
  readonly secretKey: Uint8Array;
  /** Chain time it was created. */
  readonly createdAt: number;
}

export interface StoreScope {
  /** EIP-155 chain id, ≥ 1. */
  readonly chainId: bigint;
  readonly registry: Address;
  readonly operator: Address;
}

export type KeyStoreErrorCode =
  /** The storage key does not open this store. */
  | 'wrong-storage-key'
  /** The store belongs to another chain, registry, operator or MPK. */
  | 'scope-mismatch'
  /** The file is not a key store of this version, or is corrupt (or a row was altered). */
  | 'corrupt'
  /** Another process (another node on the same data directory?) has the store open. */
  | 'in-use'
  /** The store was closed. */
  | 'closed'
  | 'not-found'
  | 'bad-argument';

export class KeyStoreError extends Error {
  override readonly name = 'KeyStoreError';
  constructor(
    readonly code: KeyStoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface KeyStore {
  readonly scope: StoreScope;
  /** The MPK this store is bound to (null before genesis). */
  mpk(): Hex | null;
  /**
   * Binds the store to the MPK (96-byte compressed G2, hex); binding again to the same MPK
   * is a no-op; refuses (scope-mismatch) to rebind to a different one.
   */
  bindMpk(mpk: Hex): void;

  /**
   * Inserts or replaces a version. Refuses (scope-mismatch) a version whose A_0 differs from
   * the bound MPK.
   */
  putVersion(v: StoredVersion): void;
  getVersion(id: number): StoredVersion | null;
  /** All versions, ascending id. */
  listVersions(): StoredVersion[];
  /** The newest active version. */
  activeVersion(): StoredVersion | null;
  /** The version that was active at chain time t: newest with activatedAt ≤ t (retired included). */
  versionAt(t: number): StoredVersion | null;
  /**
   * Moves a version along pending → active → retired (pending → retired is allowed for a
   * node that learns late that its pending version was both activated and superseded;
   * active → pending when a reorg took its completion back, which clears `activatedAt`;
   * nothing leaves retired). Becoming active or retired needs `activatedAt` (given now or set
   * before). Missing id → not-found.
   */
  setVersionStatus(id: number, status: VersionStatus, activatedAt?: number): void;
  deleteVersion(id: number): void;

  /** Inserts or replaces the key with this public key. */
  putSessionKey(k: StoredSessionKey): void;
  getSessionKey(publicKey: Hex): StoredSessionKey | null;
  /** All session keys, ascending createdAt (then public key). */
  listSessionKeys(): StoredSessionKey[];
  deleteSessionKey(publicKey: Hex): void;

  /**
   * Round state of a session (JSON-serializable, not null; may contain secrets, so stored
   * encrypted). A value JSON cannot represent (bigint, cycle) → bad-argument. It comes back
   * as `JSON.parse(JSON.stringify(state))`.
   */
  putRoundState(session: number, state: unknown): void;
  /** The stored round state, or null when there is none. */
  getRoundState(session: number): unknown;
  /** Sessions that have a stored round state, ascending. */
  listRoundStates(): number[];
  deleteRoundState(session: number): void;

  /** Small public metadata (e.g. lastProcessedBoundary); stored in clear. */
  getMeta(key: string): string | null;
  setMeta(key: string, value: string): void;

  /**
   * Runs fn atomically; if it throws, nothing it wrote is kept and the error is rethrown.
   * fn must be synchronous (a returned promise → bad-argument, and its writes are undone).
   */
  transaction<T>(fn: () => T): T;
  /** Releases the store; idempotent. Any later call → closed. */
  close(): void;
}

// ---------------------------------------------------------------------------------------
// Shared validation. Every message names the field, never a secret value.

export const G2_BYTES = 96;
export const SHARE_BYTES = 32;
export const SESSION_PUBLIC_KEY_BYTES = 33;
export const SESSION_SECRET_KEY_BYTES = 32;
export const META_KEY_MAX = 200;

const STATUSES: readonly VersionStatus[] = ['pending', 'active', 'retired'];
/**
 * Allowed status moves (the same status again is a no-op). `active → pending` is the one step
 * back: a version becomes active when its session completes at the latest block, and a reorg
 * can take that completion back (SPEC 4, v3). Retiring waits for the successor's completion to
 * be final, so nothing ever comes back from `retired`.
 */
const NEXT_STATUS: Readonly<Record<VersionStatus, readonly VersionStatus[]>> = {
  pending: ['pending', 'active', 'retired'],
  active: ['active', 'pending', 'retired'],
  retired: ['retired'],
};

const bad = (message: string): KeyStoreError => new KeyStoreError('bad-argument', message);

function hexOf(value: unknown, bytes: number | undefined, what: string): Hex {
  if (typeof value !== 'string' || !/^0x(?:[0-9a-fA-F]{2})*$/.test(value)) {
    throw bad(`${what}: expected 0x-prefixed hex`);
  }
  const len = (value.length - 2) / 2;
  if (bytes !== undefined && len !== bytes) throw bad(`${what}: expected ${bytes} bytes, got ${len}`);
  return value.toLowerCase() as Hex;
}

export function checkAddress(value: unknown, what: string): Address {
  return hexOf(value, 20, what);
}

/** A non-negative safe integer (ids, chain times). */
export function checkUint(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw bad(`${what}: expected a non-negative safe integer`);
  }
  return value;
}

export function checkScope(scope: StoreScope): StoreScope {
  if (typeof scope !== 'object' || scope === null) throw bad('scope: expected {chainId, registry, operator}');
  if (typeof scope.chainId !== 'bigint' || scope.chainId < 1n) throw bad('scope.chainId: expected a bigint ≥ 1');
  return Object.freeze({
    chainId: scope.chainId,
    registry: checkAddress(scope.registry, 'scope.registry'),
    operator: checkAddress(scope.operator, 'scope.operator'),
  });
}

export function checkMpk(mpk: unknown): Hex {
  return hexOf(mpk, G2_BYTES, 'mpk');
}

export function checkStatus(status: unknown, what: string): VersionStatus {
  if (!STATUSES.includes(status as VersionStatus)) throw bad(`${what}: expected pending, active or retired`);
  return status as VersionStatus;
}

/** Validates a version and returns a normalised, frozen copy (holders copied). */
export function checkVersion(v: StoredVersion, boundMpk: Hex | null): StoredVersion {
  if (typeof v !== 'object' || v === null) throw bad('version: expected an object');
  const id = checkUint(v.id, 'version.id');
  const what = `version ${id}`;
  const status = checkStatus(v.status, `${what}: status`);
  // The share itself is never printed, only that it is out of range.
  if (typeof v.share !== 'bigint' || v.share < 0n || v.share >= R) throw bad(`${what}: share must be a bigint with 0 ≤ share < r`);
  const threshold = checkUint(v.threshold, `${what}: threshold`);
  if (threshold < 1) throw bad(`${what}: threshold must be at least 1`);
  const publicPoly = hexOf(v.publicPoly, G2_BYTES * threshold, `${what}: publicPoly (threshold ${threshold} × 96 bytes)`);
  const publicPolyHash = hexOf(v.publicPolyHash, 32, `${what}: publicPolyHash`);
  if (!Array.isArray(v.holders)) throw bad(`${what}: holders must be an array of addresses`);
  const holders = Object.freeze(v.holders.map((h, i) => checkAddress(h, `${what}: holders[${i}]`)));
  const confirmedAt = checkUint(v.confirmedAt, `${what}: confirmedAt`);
  const activatedAt = v.activatedAt === null ? null : checkUint(v.activatedAt, `${what}: activatedAt`);
  // versionAt relies on this pairing: only a completed session has an activation time.
  if ((status === 'pending') !== (activatedAt === null)) {
    throw bad(`${what}: activatedAt must be null exactly while the version is pending`);
  }
  if (boundMpk !== null && publicPoly.slice(0, 2 + 2 * G2_BYTES) !== boundMpk) {
    throw new KeyStoreError('scope-mismatch', `${what}: its constant term A_0 is not the master public key this key store is bound to`);
  }
  return Object.freeze({ id, status, share: v.share, publicPoly, publicPolyHash, threshold, holders, confirmedAt, activatedAt });
}

/**
 * Checks a status move and returns the resulting activatedAt. `current` is the stored
 * version; `activatedAt` the optional new activation time.
 */
export function checkStatusChange(current: StoredVersion, status: VersionStatus, activatedAt: number | undefined): number | null {
  const next = checkStatus(status, `version ${current.id}: status`);
  if (!NEXT_STATUS[current.status].includes(next)) {
    throw bad(`version ${current.id} is ${current.status} and cannot become ${next}`);
  }
  if (next === 'pending') {
    // Back to pending (a reorg took its completion back) forgets when it was activated.
    if (activatedAt !== undefined) throw bad(`version ${current.id}: a pending version has no activatedAt`);
    return null;
  }
  const at = activatedAt === undefined ? current.activatedAt : checkUint(activatedAt, `version ${current.id}: activatedAt`);
  if (at === null) throw bad(`version ${current.id}: becoming ${next} needs activatedAt (the chain time its session completed)`);
  return at;
}

export function checkSessionPublicKey(publicKey: unknown): Hex {
  const pk = hexOf(publicKey, SESSION_PUBLIC_KEY_BYTES, 'session public key');
  if (!pk.startsWith('0x02') && !pk.startsWith('0x03')) throw bad('session public key: expected a compressed secp256k1 point (02/03 prefix)');
  return pk;
}

/**
 * Validates a session key, including that the secret belongs to the public key: storing a
 * mismatched pair would leave the node unable to open any deal sealed to its published key.
 * Returns a normalised, frozen copy (the secret copied).
 */
export function checkSessionKey(k: StoredSessionKey): StoredSessionKey {
  if (typeof k !== 'object' || k === null) throw bad('session key: expected an object');
  const publicKey = checkSessionPublicKey(k.publicKey);
  if (!(k.secretKey instanceof Uint8Array) || k.secretKey.length !== SESSION_SECRET_KEY_BYTES) {
    throw bad(`session key ${publicKey}: secretKey must be ${SESSION_SECRET_KEY_BYTES} bytes`);
  }
  const createdAt = checkUint(k.createdAt, `session key ${publicKey}: createdAt`);
  const secretKey = Uint8Array.from(k.secretKey);
  let derived: string;
  try {
    const ecdh = createECDH('secp256k1');
    ecdh.setPrivateKey(secretKey);
    derived = `0x${ecdh.getPublicKey('hex', 'compressed')}`;
  } catch (cause) {
    throw new KeyStoreError('bad-argument', `session key ${publicKey}: the secret key is not a valid secp256k1 scalar`, { cause });
  }
  if (derived !== publicKey) throw bad(`session key ${publicKey}: the secret key does not belong to this public key`);
  return Object.freeze({ publicKey, secretKey, createdAt });
}

export function checkMetaKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > META_KEY_MAX) {
    throw bad(`meta key: expected a non-empty string of at most ${META_KEY_MAX} characters`);
  }
  return key;
}

export function checkMetaValue(key: string, value: unknown): string {
  if (typeof value !== 'string') throw bad(`meta ${key}: value must be a string`);
  return value;
}

/**
 * Serialises a round state to JSON, refusing what JSON cannot carry. The protocol keeps
 * scalars as hex strings, so a bigint here is a caller bug, reported as such.
 */
export function roundStateJson(session: number, state: unknown): string {
  if (state === null || state === undefined) throw bad(`round state of session ${session}: must not be null or undefined`);
  let json: string | undefined;
  try {
    json = JSON.stringify(state);
  } catch (cause) {
    // The cause names the type (BigInt) or the cycle's property path, never a value.
    throw new KeyStoreError('bad-argument', `round state of session ${session} is not JSON-serializable (a bigint or a cycle?)`, { cause });
  }
  if (json === undefined) throw bad(`round state of session ${session} is not JSON-serializable (a function or symbol?)`);
  return json;
}

/** A caller-owned copy of a stored version (holders is a fresh array). */
export function copyVersion(v: StoredVersion): StoredVersion {
  return { ...v, holders: [...v.holders] };
}

export function copySessionKey(k: StoredSessionKey): StoredSessionKey {
  return { publicKey: k.publicKey, secretKey: Uint8Array.from(k.secretKey), createdAt: k.createdAt };
}

/** Refuses a promise-returning transaction body (its writes would escape the transaction). */
export function assertSync(result: unknown): void {
  if (typeof result === 'object' && result !== null && typeof (result as { then?: unknown }).then === 'function') {
    // Swallow its eventual rejection: we already report the misuse synchronously.
    Promise.resolve(result).catch(() => undefined);
    throw bad('transaction: the function must be synchronous (it returned a promise)');
  }
}

/** `activeVersion`'s rule, in both stores: the newest version whose status is active. */
export function isActiveVersion(status: VersionStatus): boolean {
  return status === 'active';
}

/**
 * `versionAt(t)`'s rule, in both stores: the newest version activated by chain time t,
 * retired included; a pending version never was active.
 */
export function wasActiveAt(status: VersionStatus, activatedAt: number | null, t: number): boolean {
  return status !== 'pending' && activatedAt !== null && activatedAt <= t;
}
