/**
 * @module
 * The wire format of attested key release (SPEC 2, 5; issue 6), shared byte for byte by the
 * server (`src/node/release`) and the client SDK. Pure: no I/O, no clock; randomness is
 * handed in. `docs/formats.md` ("Key release") documents the same bytes.
 *
 * A request `{appId, responseKey, nonce, version? | time?, attestation}` is identified by
 *
 * ```
 * requestHash = keccak256(abi.encode(
 *   string  "eigenx-kms/request/v1",
 *   bytes32 appId,
 *   bytes32 responseKey,      X25519 public key the answer is sealed to
 *   bytes   nonce,            16..32 bytes
 *   uint64  version,          0 = not named (versions start at 1)
 *   uint64  time,             0 = not named (no version was ever active at time 0)
 *   string  method,           "ecdsa" | "jwt"
 *   bytes   attestation))     ecdsa: abi.encode(uint64 time, bytes signature)
 *                             jwt:   abi.encode(string token)
 * ```
 *
 * An operator answers with its partial signature σ_j = s_j·Q(appIdentity(appId)) and signs
 *
 * ```
 * payload = "eigenx-kms/partial/v1" ‖ appId ‖ uint64-BE version ‖ σ_j ‖ requestHash
 *            21 bytes                 32      8                    48    32      = 141 bytes
 * signature = operator signature over keccak256(domain ‖ payload)   (operator-sig.ts)
 * ```
 *
 * The answer is a small binary structure (`encodeAnswer`) sealed to the caller's key:
 *
 * ```
 * (e, E)  fresh X25519 key pair of the operator, per answer
 * shared  = X25519(e, responseKey)                       refused if all-zero
 * key     = HKDF-SHA256(ikm = shared, salt = E ‖ responseKey, info = "eigenx-kms/response/v1", L = 32)
 * sealed  = E (32) ‖ iv (12, random) ‖ AES-256-GCM(key, iv, answer, AAD = requestHash) ‖ tag (16)
 * ```
 *
 * Attestations bind the whole request — route, app, response key, nonce, key selection — so
 * that nobody who sees a request can make a different one from it: `ecdsa` — the app owner
 * signs the EIP-712 typed data `keyRequestTypedData` (domain {name "eigenx-kms", version "2",
 * chainId, verifyingContract = registry}; version "2" added the route); `jwt` — a TEE token
 * whose `eat_nonce` is `eatNonce(domain, {route, appId, responseKey, nonce, version, keyTime})`:
 *
 * ```
 * eat_nonce = SHA-256("eigenx-kms/eat-nonce/v2" ‖ domain (65) ‖ uint8 |route| ‖ route
 *                     ‖ appId (32) ‖ responseKey (32) ‖ uint8 |nonce| ‖ nonce
 *                     ‖ uint64-BE version ‖ uint64-BE time)          version, time: 0 = not named
 * ```
 *
 * The route is not in `requestHash`: it is bound by the attestation (which is), so two valid
 * requests for different routes always differ in their hashes.
 *
 * The IBE identity of an app (what envelopes are encrypted to and partials sign) at key
 * epoch e (`appIdentity`, issue 16):
 *
 * ```
 * e = 0:  lowercase 0x-hex of the bytes32 id (66 characters: today's identity, unchanged)
 * e ≥ 1:  the same 66 characters ‖ "#" ‖ e in decimal (no sign, no leading zero)
 * ```
 *
 * Unambiguous: the epoch-0 form is exactly 66 characters from [0-9a-fx] and never contains
 * "#", so a string is an epoch ≥ 1 identity iff it has a 67th character, that character is
 * "#", and the rest is the canonical decimal of a number ≥ 1; id and epoch read back uniquely
 * (`parseAppIdentity`), and no two (id, epoch) pairs share an identity.
 *
 * Errors: malformed input from the other side (a sealed answer that does not open, an answer
 * that does not parse, a low-order X25519 key) throws `KeyReleaseFormatError` with a `code`;
 * caller misuse (wrong types or sizes of one's own arguments) throws TypeError/RangeError.
 * No message contains key, partial or plaintext bytes.
 */
import { createCipheriv, createDecipheriv, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { ADDRESS_BYTES, aBytes, aDomain, addressBytes, parseHex, toHex, uint256ToBytes, type AddressLike, type Hex } from './domain.ts';
import { OPERATOR_KEY_LENGTHS, verifyOperatorSignature, type OperatorKeyType } from './operator-sig.ts';
import { EcdsaSignatureError, ecdsaRecoverAddressFromDigest } from './operator-sig-ecdsa.ts';
import { decodeReceipt, partialHash as receiptPartialHash, RECEIPT_BYTES, responseKeyHash as receiptResponseKeyHash, type Receipt } from './receipt.ts';
import { systemRng, type Rng } from './rng.ts';

// ---------------------------------------------------------------------------------------------
// Sizes and tags

export const APP_ID_BYTES = 32;
export const RESPONSE_KEY_BYTES = 32;
export const NONCE_MIN_BYTES = 16;
export const NONCE_MAX_BYTES = 32;
export const REQUEST_HASH_BYTES = 32;
export const PARTIAL_BYTES = 48;
export const GCM_IV_BYTES = 12;
export const GCM_TAG_BYTES = 16;
/** E (32) ‖ iv (12) ‖ tag (16): what sealing adds to the answer. */
export const SEAL_OVERHEAD_BYTES = RESPONSE_KEY_BYTES + GCM_IV_BYTES + GCM_TAG_BYTES;
/** Largest uint64 (versions and times travel as uint64). */
const UINT64_MAX = (1n << 64n) - 1n;

export const REQUEST_TAG = 'eigenx-kms/request/v1';
const REQUEST_TAG_BYTES = utf8ToBytes(REQUEST_TAG);
const METHOD_ECDSA = utf8ToBytes('ecdsa');
const METHOD_JWT = utf8ToBytes('jwt');
const encoder = new TextEncoder();
export const PARTIAL_TAG = 'eigenx-kms/partial/v1';
const PARTIAL_TAG_BYTES = utf8ToBytes(PARTIAL_TAG);
export const RESPONSE_INFO = 'eigenx-kms/response/v1';
const RESPONSE_INFO_BYTES = utf8ToBytes(RESPONSE_INFO);
/** 21 + 32 + 8 + 48 + 32 = 141 bytes. */
export const PARTIAL_PAYLOAD_BYTES = PARTIAL_TAG_BYTES.length + APP_ID_BYTES + 8 + PARTIAL_BYTES + REQUEST_HASH_BYTES;

/** Which route answered: the answer says so, so a /sign answer is never taken for /secrets. */
export type AnswerKind = 'sign' | 'secrets';

/** The HTTP route of a key-release request, as its attestation binds it. */
export type KeyReleaseRoute = '/app/sign' | '/secrets';

/** The route of each answer kind. */
export const KEY_RELEASE_ROUTES: Readonly<Record<AnswerKind, KeyReleaseRoute>> = Object.freeze({ sign: '/app/sign', secrets: '/secrets' });

function aRoute(route: unknown): KeyReleaseRoute {
  if (route !== '/app/sign' && route !== '/secrets') throw new RangeError(`route: expected '/app/sign' or '/secrets', got ${typeof route === 'string' ? JSON.stringify(route.slice(0, 40)) : typeof route}`);
  return route;
}
const KIND_BYTE: Readonly<Record<AnswerKind, number>> = { sign: 0x01, secrets: 0x02 };
const ANSWER_FORMAT_VERSION = 0x01;
/** Format 0x02 = 0x01 followed by the 243-byte receipt; the signature is the receipt's. */
const ANSWER_FORMAT_WITH_RECEIPT = 0x02;

export type KeyReleaseFormatErrorCode =
  /** An X25519 public key of small order (or all zero): it would make the shared secret known. */
  | 'low-order-key'
  /** The sealed bytes are too short or do not authenticate under this key and request hash. */
  | 'open-failed'
  /** The opened plaintext is not a well-formed answer. */
  | 'bad-answer';

/** Bytes from the other side that are not what this format allows. */
export class KeyReleaseFormatError extends Error {
  override readonly name = 'KeyReleaseFormatError';
  constructor(
    readonly code: KeyReleaseFormatErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function bytesOf(value: Uint8Array | Hex, length: number | undefined, what: string): Uint8Array {
  return typeof value === 'string' ? parseHex(value, length, what) : Uint8Array.from(aBytes(value, length, what));
}

function aUint64(n: number | bigint, what: string): bigint {
  if (typeof n === 'number') {
    if (!Number.isSafeInteger(n)) throw new TypeError(`${what}: expected a safe integer, got ${n}`);
    n = BigInt(n);
  } else if (typeof n !== 'bigint') {
    throw new TypeError(`${what}: expected number or bigint, got ${typeof n}`);
  }
  if (n < 0n || n > UINT64_MAX) throw new RangeError(`${what}: expected 0 <= n < 2^64, got ${n}`);
  return n;
}

function u64be(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n);
  return out;
}

function u32be(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

// Solidity ABI encoding of the few fixed layouts hashed here (`requestHash`, the EIP-712
// digest), packed by hand: viem's generic encoder cost ~20× more per request. The tests check
// these bytes against viem's `encodeAbiParameters` / `hashTypedData` on random inputs.

/** One 32-byte big-endian word of an unsigned integer < 2^256. */
function abiWord(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  const view = new DataView(out.buffer);
  for (let i = 3; i >= 0 && n > 0n; i--) {
    view.setBigUint64(i * 8, n & 0xffff_ffff_ffff_ffffn);
    n >>= 64n;
  }
  return out;
}

/** The tail of a dynamic `bytes`/`string`: length word, then the bytes right-padded to 32. */
function abiDynamic(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(32 + Math.ceil(bytes.length / 32) * 32);
  new DataView(out.buffer).setUint32(28, bytes.length);
  out.set(bytes, 32);
  return out;
}

/** Largest app-key epoch (the contract keeps a uint32). */
export const MAX_APP_EPOCH = 0xffff_ffff;

/**
 * The IBE identity string of an app at key epoch `epoch` (default 0): its bytes32 id as
 * lowercase 0x-hex (66 characters), followed for epoch ≥ 1 by `#` and the epoch in decimal.
 */
export function appIdentity(appId: Uint8Array | Hex, epoch = 0): string {
  const id = toHex(bytesOf(appId, APP_ID_BYTES, 'appId'));
  if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > MAX_APP_EPOCH) throw new RangeError(`epoch: expected an integer 0 <= epoch <= ${MAX_APP_EPOCH}, got ${String(epoch)}`);
  return epoch === 0 ? id : `${id}#${epoch}`;
}

const IDENTITY_RE = /^(0x[0-9a-f]{64})(?:#([1-9][0-9]{0,9}))?$/;

/** The (app id, epoch) of an identity string `appIdentity` made, or null for any other string. */
export function parseAppIdentity(identity: string): { readonly appId: Hex; readonly epoch: number } | null {
  const m = typeof identity === 'string' ? IDENTITY_RE.exec(identity) : null;
  if (m === null) return null;
  const epoch = m[2] === undefined ? 0 : Number(m[2]);
  return epoch > MAX_APP_EPOCH ? null : { appId: m[1] as Hex, epoch };
}

// ---------------------------------------------------------------------------------------------
// (a) requestHash

/**
 * Size of an `ecdsa` attestation signature: 65 bytes (r ‖ s ‖ v) from an owner key; up to
 * 1024 bytes for an owner that is a contract wallet, which receives them whole in
 * `isValidSignature(digest, signature)` (EIP-1271; a 2-of-3 multisig: two 65-byte signatures).
 */
export const ATTESTATION_SIGNATURE_BYTES = Object.freeze({ min: 65, max: 1024 });

export interface EcdsaAttestationFields {
  readonly method: 'ecdsa';
  /** 65-byte r ‖ s ‖ v over `keyRequestTypedData(...)`, or a contract owner's EIP-1271 signature bytes (65..1024). */
  readonly signature: Uint8Array | Hex;
  /** Signing time (unix seconds), as in the typed data. */
  readonly time: number;
}

export interface JwtAttestationFields {
  readonly method: 'jwt';
  /** Compact JWS. */
  readonly token: string;
}

export type AttestationFields = EcdsaAttestationFields | JwtAttestationFields;

/** A key-release request body (the HTTP schema's shape; hex or bytes accepted). */
export interface KeyReleaseRequestFields {
  readonly appId: Uint8Array | Hex;
  readonly responseKey: Uint8Array | Hex;
  readonly nonce: Uint8Array | Hex;
  /** Key version to sign with (≥ 1). Exclusive with `time`. */
  readonly version?: number | undefined;
  /** Chain time whose then-active version to sign with (≥ 1). Exclusive with `version`. */
  readonly time?: number | undefined;
  readonly attestation: AttestationFields;
}

/**
 * `abi.encode(...)` of one attestation (the `bytes attestation` field): ecdsa
 * `abi.encode(uint64 time, bytes signature)`, jwt `abi.encode(string token)`.
 */
function attestationBytes(a: AttestationFields): { method: Uint8Array; data: Uint8Array } {
  if (typeof a !== 'object' || a === null) throw new TypeError(`attestation: expected object, got ${a === null ? 'null' : typeof a}`);
  if (a.method === 'ecdsa') {
    const sig = bytesOf(a.signature, undefined, 'attestation.signature');
    if (sig.length < ATTESTATION_SIGNATURE_BYTES.min || sig.length > ATTESTATION_SIGNATURE_BYTES.max) {
      throw new RangeError(`attestation.signature: expected ${ATTESTATION_SIGNATURE_BYTES.min} to ${ATTESTATION_SIGNATURE_BYTES.max} bytes, got ${sig.length}`);
    }
    const time = aUint64(a.time, 'attestation.time');
    return { method: METHOD_ECDSA, data: concatBytes(abiWord(time), abiWord(64n), abiDynamic(sig)) };
  }
  if (a.method === 'jwt') {
    if (typeof a.token !== 'string') throw new TypeError(`attestation.token: expected string, got ${typeof a.token}`);
    return { method: METHOD_JWT, data: concatBytes(abiWord(32n), abiDynamic(encoder.encode(a.token))) };
  }
  throw new RangeError("attestation.method: expected 'ecdsa' or 'jwt'");
}

/** 0 stands for "not named"; a named value must therefore be ≥ 1 (keeps the encoding injective). */
function optionalPositive(v: number | undefined, what: string): bigint {
  if (v === undefined) return 0n;
  const n = aUint64(v, what);
  if (n === 0n) throw new RangeError(`${what}: expected >= 1 when given`);
  return n;
}

/**
 * keccak256 of the canonical ABI encoding of a request (see the module header). Identical
 * requests — and only those — have identical hashes; the replay cache and the sealed answer's
 * AAD use it.
 */
export function requestHash(req: KeyReleaseRequestFields): Uint8Array {
  if (typeof req !== 'object' || req === null) throw new TypeError(`request: expected object, got ${req === null ? 'null' : typeof req}`);
  const appId = bytesOf(req.appId, APP_ID_BYTES, 'appId');
  const responseKey = bytesOf(req.responseKey, RESPONSE_KEY_BYTES, 'responseKey');
  const nonce = bytesOf(req.nonce, undefined, 'nonce');
  if (nonce.length < NONCE_MIN_BYTES || nonce.length > NONCE_MAX_BYTES) {
    throw new RangeError(`nonce: expected ${NONCE_MIN_BYTES} to ${NONCE_MAX_BYTES} bytes, got ${nonce.length}`);
  }
  if (req.version !== undefined && req.time !== undefined) throw new RangeError('request: give version or time, not both');
  const version = optionalPositive(req.version, 'version');
  const time = optionalPositive(req.time, 'time');
  const att = attestationBytes(req.attestation);
  // abi.encode(string, bytes32, bytes32, bytes, uint64, uint64, string, bytes): 8 head words
  // (dynamic fields by offset), then each dynamic field's length word and padded bytes.
  const tag = abiDynamic(REQUEST_TAG_BYTES);
  const nonceTail = abiDynamic(nonce);
  const methodTail = abiDynamic(att.method);
  const attTail = abiDynamic(att.data);
  const tagAt = 8 * 32;
  const nonceAt = tagAt + tag.length;
  const methodAt = nonceAt + nonceTail.length;
  const attAt = methodAt + methodTail.length;
  return keccak_256(concatBytes(
    abiWord(BigInt(tagAt)), appId, responseKey, abiWord(BigInt(nonceAt)), abiWord(version), abiWord(time),
    abiWord(BigInt(methodAt)), abiWord(BigInt(attAt)),
    tag, nonceTail, methodTail, attTail,
  ));
}

// ---------------------------------------------------------------------------------------------
// (b) What an operator signs

export interface PartialPayloadFields {
  readonly appId: Uint8Array | Hex;
  /** Key version the partial was made with (≥ 1). */
  readonly version: number;
  /** σ_j, 48-byte compressed G1. */
  readonly partial: Uint8Array;
  readonly requestHash: Uint8Array;
}

/** `"eigenx-kms/partial/v1" ‖ appId ‖ uint64-BE version ‖ partial ‖ requestHash` (141 bytes). */
export function partialPayload(f: PartialPayloadFields): Uint8Array {
  const appId = bytesOf(f.appId, APP_ID_BYTES, 'appId');
  const version = aUint64(f.version, 'version');
  if (version === 0n) throw new RangeError('version: expected >= 1');
  aBytes(f.partial, PARTIAL_BYTES, 'partial');
  aBytes(f.requestHash, REQUEST_HASH_BYTES, 'requestHash');
  return concatBytes(PARTIAL_TAG_BYTES, appId, u64be(version), f.partial, f.requestHash);
}

// ---------------------------------------------------------------------------------------------
// The answer (sealed plaintext)

/** The release env `/secrets` adds (copied from the chain; see `docs/formats.md`). */
export interface ReleaseEnv {
  /** Index of the app's latest release, the one the env comes from. */
  readonly releaseIndex: number;
  /** IBE envelope v1 of the env, encrypted to the app identity (of the app's key epoch). */
  readonly encryptedEnv: Uint8Array;
  readonly publicEnv: string;
}

export interface KeyReleaseAnswer {
  readonly kind: AnswerKind;
  /** 32 bytes. */
  readonly appId: Uint8Array;
  /** Operator address, 20 bytes. */
  readonly operator: Uint8Array;
  /** Key version of the partial. */
  readonly version: number;
  /** σ_j, 48 bytes. */
  readonly partial: Uint8Array;
  /** Operator signature over `partialPayload` (64 bytes bn254, 65 ecdsa). */
  readonly signature: Uint8Array;
  /** Present exactly when kind is `secrets`. */
  readonly env?: ReleaseEnv;
  /**
   * The release receipt (receipt.ts, 243 bytes), present in format 0x02 answers. When present,
   * `signature` is the operator's signature over the receipt (which binds the partial through
   * its partialHash) instead of over `partialPayload`: one signature per answer.
   */
  readonly receipt?: Uint8Array;
}

const MAX_U32 = 0xffff_ffff;
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * ```
 * format (0x01 | 0x02) ‖ kind (0x01 sign | 0x02 secrets) ‖ appId (32) ‖ operator (20)
 * ‖ uint64-BE version ‖ partial (48) ‖ uint8 L ‖ signature (L)
 * [secrets: ‖ uint32-BE releaseIndex ‖ uint32-BE E ‖ encryptedEnv (E) ‖ uint32-BE P ‖ publicEnv (P, UTF-8)]
 * [format 0x02: ‖ receipt (243 bytes, receipt.ts); the signature is then over the receipt]
 * ```
 */
export function encodeAnswer(a: KeyReleaseAnswer): Uint8Array {
  if (typeof a !== 'object' || a === null) throw new TypeError(`answer: expected object, got ${a === null ? 'null' : typeof a}`);
  const kind = KIND_BYTE[a.kind];
  if (kind === undefined) throw new RangeError("answer.kind: expected 'sign' or 'secrets'");
  aBytes(a.appId, APP_ID_BYTES, 'answer.appId');
  aBytes(a.operator, ADDRESS_BYTES, 'answer.operator');
  const version = aUint64(a.version, 'answer.version');
  if (version === 0n) throw new RangeError('answer.version: expected >= 1');
  aBytes(a.partial, PARTIAL_BYTES, 'answer.partial');
  aBytes(a.signature, undefined, 'answer.signature');
  if (a.signature.length < 1 || a.signature.length > 255) throw new RangeError(`answer.signature: expected 1 to 255 bytes, got ${a.signature.length}`);
  if (a.receipt !== undefined) aBytes(a.receipt, RECEIPT_BYTES, 'answer.receipt');
  const tail = a.receipt ?? new Uint8Array(0);
  const format = a.receipt === undefined ? ANSWER_FORMAT_VERSION : ANSWER_FORMAT_WITH_RECEIPT;
  const head = concatBytes(Uint8Array.of(format, kind), a.appId, a.operator, u64be(version), a.partial, Uint8Array.of(a.signature.length), a.signature);
  if (a.kind === 'sign') {
    if (a.env !== undefined) throw new RangeError('answer.env: only a secrets answer carries an env');
    return concatBytes(head, tail);
  }
  const env = a.env;
  if (env === undefined) throw new RangeError('answer.env: a secrets answer carries an env');
  if (!Number.isSafeInteger(env.releaseIndex) || env.releaseIndex < 0 || env.releaseIndex > MAX_U32) {
    throw new RangeError(`answer.env.releaseIndex: expected 0 <= n < 2^32, got ${env.releaseIndex}`);
  }
  aBytes(env.encryptedEnv, undefined, 'answer.env.encryptedEnv');
  if (typeof env.publicEnv !== 'string') throw new TypeError(`answer.env.publicEnv: expected string, got ${typeof env.publicEnv}`);
  const pub = encoder.encode(env.publicEnv);
  if (env.encryptedEnv.length > MAX_U32 || pub.length > MAX_U32) throw new RangeError('answer.env: field longer than 2^32 - 1 bytes');
  return concatBytes(head, u32be(env.releaseIndex), u32be(env.encryptedEnv.length), env.encryptedEnv, u32be(pub.length), pub, tail);
}

/** Strict parser of `encodeAnswer`'s output: any other byte string throws `bad-answer`. */
export function decodeAnswer(bytes: Uint8Array): KeyReleaseAnswer {
  aBytes(bytes, undefined, 'answer');
  const bad = (why: string) => new KeyReleaseFormatError('bad-answer', `answer: ${why}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const take = (n: number, what: string): Uint8Array => {
    if (at + n > bytes.length) throw bad(`truncated in ${what}`);
    const out = bytes.slice(at, at + n);
    at += n;
    return out;
  };
  const u32 = (what: string): number => {
    if (at + 4 > bytes.length) throw bad(`truncated in ${what}`);
    const v = view.getUint32(at);
    at += 4;
    return v;
  };
  const [format, kindByte] = take(2, 'header');
  if (format !== ANSWER_FORMAT_VERSION && format !== ANSWER_FORMAT_WITH_RECEIPT) throw bad(`unknown format version ${String(format)}`);
  const kind: AnswerKind | undefined = kindByte === 0x01 ? 'sign' : kindByte === 0x02 ? 'secrets' : undefined;
  if (kind === undefined) throw bad(`unknown kind ${String(kindByte)}`);
  const appId = take(APP_ID_BYTES, 'appId');
  const operator = take(ADDRESS_BYTES, 'operator');
  if (at + 8 > bytes.length) throw bad('truncated in version');
  const version64 = view.getBigUint64(at);
  at += 8;
  if (version64 === 0n || version64 > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('version out of range');
  const partial = take(PARTIAL_BYTES, 'partial');
  const [sigLen] = take(1, 'signature length');
  if (sigLen === undefined || sigLen === 0) throw bad('empty signature');
  const signature = take(sigLen, 'signature');
  let env: ReleaseEnv | undefined;
  if (kind === 'secrets') {
    const releaseIndex = u32('releaseIndex');
    const encryptedEnv = take(u32('encryptedEnv length'), 'encryptedEnv');
    let publicEnv: string;
    try {
      publicEnv = strictDecoder.decode(take(u32('publicEnv length'), 'publicEnv'));
    } catch (e) {
      if (e instanceof KeyReleaseFormatError) throw e;
      throw bad('publicEnv is not UTF-8');
    }
    env = { releaseIndex, encryptedEnv, publicEnv };
  }
  const receipt = format === ANSWER_FORMAT_WITH_RECEIPT ? take(RECEIPT_BYTES, 'receipt') : undefined;
  if (at !== bytes.length) throw bad(`${bytes.length - at} trailing bytes`);
  return { kind, appId, operator, version: Number(version64), partial, signature, ...(env ? { env } : {}), ...(receipt ? { receipt } : {}) };
}

/**
 * What an answer's operator signature is over: the receipt (format 0x02), else
 * `partialPayload(answer, requestHash)` (format 0x01). Check `receiptMismatch` first: a
 * receipt's signature vouches for the partial only through the receipt's fields.
 */
export function answerSignedPayload(answer: KeyReleaseAnswer, reqHash: Uint8Array): Uint8Array {
  if (answer.receipt !== undefined) return answer.receipt;
  return partialPayload({ appId: answer.appId, version: answer.version, partial: answer.partial, requestHash: reqHash });
}

/**
 * Why an answer's receipt does not describe this answer to this request (null: it does, or the
 * answer carries no receipt). Checked: the receipt parses and names the answer's operator, app,
 * key version and route, the request hash, the hash of the caller's response key, and the
 * hash of `partialPayload` of the answer's partial.
 */
export function receiptMismatch(answer: KeyReleaseAnswer, reqHash: Uint8Array, responseKey: Uint8Array): string | null {
  if (answer.receipt === undefined) return null;
  let r: Receipt;
  try {
    r = decodeReceipt(answer.receipt);
  } catch (e) {
    return (e as Error).message;
  }
  const payload = partialPayload({ appId: answer.appId, version: answer.version, partial: answer.partial, requestHash: reqHash });
  if (r.operator !== toHex(answer.operator)) return 'the receipt names another operator';
  if (r.appId !== toHex(answer.appId)) return 'the receipt names another app';
  if (r.version !== answer.version) return `the receipt names key version ${r.version}, the answer ${answer.version}`;
  if (r.route !== KEY_RELEASE_ROUTES[answer.kind]) return `the receipt names route ${r.route}`;
  if (r.requestHash !== toHex(reqHash)) return 'the receipt names another request';
  if (r.responseKeyHash !== receiptResponseKeyHash(responseKey)) return 'the receipt names another response key';
  if (r.partialHash !== receiptPartialHash(payload)) return 'the receipt does not commit to this partial';
  return null;
}

/**
 * Checks an answer's operator signature under `domain` (see `answerSignedPayload`), and for a
 * format 0x02 answer that its receipt matches the answer (`receiptMismatch`; `responseKey`
 * required then). false for any well-sized wrong input.
 */
export function verifyAnswerSignature(
  answer: KeyReleaseAnswer,
  reqHash: Uint8Array,
  domain: Uint8Array,
  sigKeyType: OperatorKeyType,
  sigPublicKey: Uint8Array,
  responseKey?: Uint8Array,
): boolean {
  if (answer.receipt !== undefined && (responseKey === undefined || receiptMismatch(answer, reqHash, responseKey) !== null)) return false;
  const payload = answerSignedPayload(answer, reqHash);
  if (answer.signature.length !== OPERATOR_KEY_LENGTHS[sigKeyType].signature) return false;
  return verifyOperatorSignature(sigKeyType, sigPublicKey, domain, payload, answer.signature);
}

// ---------------------------------------------------------------------------------------------
// (c) Sealing to the response key (X25519 + HKDF-SHA256 + AES-256-GCM, node:crypto)

// Raw 32-byte X25519 keys enter node:crypto as JWK (RFC 8037 "OKP"), not DER: node 20's DER
// import goes through OpenSSL 3's decoder framework and measured ~10× slower here (PKCS#8 private
// key ~2 ms, SPKI public key ~0.35 ms, against 0.17 / 0.03 ms as JWK). A private key comes in as
// PKCS#8 unless its public half is known: a JWK private key must carry both.
const X25519_PKCS8_PREFIX = Uint8Array.from(Buffer.from('302e020100300506032b656e04220420', 'hex'));
const P25519 = (1n << 255n) - 19n;

function leToBigint(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i] as number);
  return n;
}

/**
 * u-coordinates of the points of order 1, 2, 4 and 8 on Curve25519 (after the RFC 7748
 * masking of bit 255 and reduction mod p, every encoding of a small-order point is one of
 * these). With such a key the shared secret takes at most 8 values an attacker can try.
 */
const LOW_ORDER_U: ReadonlySet<bigint> = new Set([
  0n,
  1n,
  P25519 - 1n,
  leToBigint(Uint8Array.from(Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex'))),
  leToBigint(Uint8Array.from(Buffer.from('5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', 'hex'))),
]);

/** true iff a 32-byte X25519 public key encodes a point of small order (all-zero included). */
export function isLowOrderX25519(publicKey: Uint8Array): boolean {
  aBytes(publicKey, RESPONSE_KEY_BYTES, 'publicKey');
  const masked = Uint8Array.from(publicKey);
  masked[31] = (masked[31] as number) & 0x7f;
  return LOW_ORDER_U.has(leToBigint(masked) % P25519);
}

function x25519Public(raw: Uint8Array, what: string): KeyObject {
  if (isLowOrderX25519(raw)) throw new KeyReleaseFormatError('low-order-key', `${what}: X25519 key of small order refused`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

function x25519Private(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.from(concatBytes(X25519_PKCS8_PREFIX, raw)), format: 'der', type: 'pkcs8' });
}

/** The private key as a JWK, which carries its public half too (RFC 8037). */
function x25519PrivateJwk(raw: Uint8Array, publicKey: Uint8Array): KeyObject {
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64(raw), x: b64(publicKey) }, format: 'jwk' });
}

/** The raw 32 bytes of an X25519 public key (of a public or a private KeyObject). */
function rawPublic(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const { x } = pub.export({ format: 'jwk' });
  if (typeof x !== 'string') throw new Error('unreachable: an X25519 JWK carries x');
  const raw = Uint8Array.from(Buffer.from(x, 'base64url'));
  return aBytes(raw, RESPONSE_KEY_BYTES, 'X25519 public key');
}

/** X25519 public key of a 32-byte secret (RFC 7748 clamping applies). */
export function responsePublicKey(secretKey: Uint8Array): Uint8Array {
  aBytes(secretKey, RESPONSE_KEY_BYTES, 'secretKey');
  return rawPublic(x25519Private(secretKey));
}

/** A fresh response key pair: send `publicKey` as `responseKey`, keep `secretKey` to open the answer. */
export function generateResponseKeyPair(rng: Rng = systemRng): { secretKey: Uint8Array; publicKey: Uint8Array } {
  const secretKey = aBytes(rng(RESPONSE_KEY_BYTES), RESPONSE_KEY_BYTES, 'rng output');
  return { secretKey, publicKey: responsePublicKey(secretKey) };
}

function deriveKey(priv: KeyObject, peer: KeyObject, ePub: Uint8Array, responseKey: Uint8Array): Buffer {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: priv, publicKey: peer });
  } catch (cause) {
    // OpenSSL refuses an all-zero X25519 result itself; report it as the low-order case.
    throw new KeyReleaseFormatError('low-order-key', 'X25519: the shared secret is degenerate', { cause });
  }
  if (shared.every((b) => b === 0)) throw new KeyReleaseFormatError('low-order-key', 'X25519: the shared secret is all zero');
  const key = hkdfSha256(shared, concatBytes(ePub, responseKey), RESPONSE_INFO_BYTES);
  shared.fill(0);
  return key;
}

const HKDF_T1 = Uint8Array.of(1);

/**
 * HKDF-SHA256 (RFC 5869) with L = 32, i.e. one block: PRK = HMAC(salt, ikm),
 * OKM = HMAC(PRK, info ‖ 0x01). Two node:crypto HMACs: measured ~5× cheaper here than
 * `hkdfSync`, which looks the KDF up in OpenSSL's provider tables on every call. The tests
 * check it against `hkdfSync`.
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array): Buffer {
  const prk = createHmac('sha256', salt).update(ikm).digest();
  const okm = createHmac('sha256', prk).update(info).update(HKDF_T1).digest();
  prk.fill(0);
  return okm;
}

/**
 * Seals `answer` (the bytes of `encodeAnswer`) to `responseKey` under `reqHash` as AAD.
 * Throws `low-order-key` for a small-order response key.
 *
 * The ephemeral key pair is node:crypto's (`generateKeyPairSync('x25519')`, the OS CSPRNG
 * through OpenSSL), so its secret never exists as JavaScript bytes; `rng` draws the iv.
 */
export function sealResponse(responseKey: Uint8Array, reqHash: Uint8Array, answer: Uint8Array, rng: Rng = systemRng): Uint8Array {
  aBytes(responseKey, RESPONSE_KEY_BYTES, 'responseKey');
  aBytes(reqHash, REQUEST_HASH_BYTES, 'requestHash');
  aBytes(answer, undefined, 'answer');
  const peer = x25519Public(responseKey, 'responseKey');
  const { privateKey: ePriv, publicKey: ePubKey } = generateKeyPairSync('x25519');
  const ePub = rawPublic(ePubKey);
  const key = deriveKey(ePriv, peer, ePub, responseKey);
  const iv = aBytes(rng(GCM_IV_BYTES), GCM_IV_BYTES, 'rng output');
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(reqHash);
  const ct = Buffer.concat([cipher.update(answer), cipher.final()]);
  key.fill(0);
  return concatBytes(ePub, iv, ct, cipher.getAuthTag());
}

/**
 * Opens a sealed answer with the response secret; the request hash must be the one the
 * request had. Throws `open-failed` for any tampering, wrong key or wrong request hash.
 * Returns the raw answer bytes (parse them with `decodeAnswer`, or use `openAnswer`).
 *
 * `responsePublicKey` (the `publicKey` of `generateResponseKeyPair`, optional) saves deriving it
 * from the secret: the secret then enters node:crypto as a JWK instead of PKCS#8, ~10× cheaper
 * here, which counts when a client opens t answers. A wrong one only makes the answer fail to
 * open (it is part of the key derivation).
 */
export function openResponse(responseSecret: Uint8Array, reqHash: Uint8Array, sealed: Uint8Array, responsePublicKey?: Uint8Array): Uint8Array {
  aBytes(responseSecret, RESPONSE_KEY_BYTES, 'responseSecret');
  if (responsePublicKey !== undefined) aBytes(responsePublicKey, RESPONSE_KEY_BYTES, 'responsePublicKey');
  aBytes(reqHash, REQUEST_HASH_BYTES, 'requestHash');
  aBytes(sealed, undefined, 'sealed');
  if (sealed.length < SEAL_OVERHEAD_BYTES) {
    throw new KeyReleaseFormatError('open-failed', `sealed: expected at least ${SEAL_OVERHEAD_BYTES} bytes, got ${sealed.length}`);
  }
  const ePub = sealed.subarray(0, RESPONSE_KEY_BYTES);
  const iv = sealed.subarray(RESPONSE_KEY_BYTES, RESPONSE_KEY_BYTES + GCM_IV_BYTES);
  const ct = sealed.subarray(RESPONSE_KEY_BYTES + GCM_IV_BYTES, sealed.length - GCM_TAG_BYTES);
  const tag = sealed.subarray(sealed.length - GCM_TAG_BYTES);
  const priv = responsePublicKey === undefined ? x25519Private(responseSecret) : x25519PrivateJwk(responseSecret, responsePublicKey);
  const responseKey = responsePublicKey ?? rawPublic(priv);
  const key = deriveKey(priv, x25519Public(ePub, 'sealed ephemeral key'), ePub, responseKey);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(reqHash);
    decipher.setAuthTag(tag);
    return Uint8Array.from(Buffer.concat([decipher.update(ct), decipher.final()]));
  } catch (cause) {
    throw new KeyReleaseFormatError('open-failed', 'sealed: does not authenticate (tampered, wrong response key or wrong request hash)', { cause });
  } finally {
    key.fill(0);
  }
}

/** `decodeAnswer(openResponse(...))`. */
export function openAnswer(responseSecret: Uint8Array, reqHash: Uint8Array, sealed: Uint8Array, responsePublicKey?: Uint8Array): KeyReleaseAnswer {
  return decodeAnswer(openResponse(responseSecret, reqHash, sealed, responsePublicKey));
}

// ---------------------------------------------------------------------------------------------
// (d) EIP-712 typed data of the `ecdsa` method

export const EIP712_NAME = 'eigenx-kms';
/** "2": the route joined the signed fields (a "1" signature never verifies here). */
export const EIP712_VERSION = '2';

/**
 * `KeyRequest(string route,bytes32 appId,bytes32 responseKey,bytes nonce,uint64 time,uint64 keyVersion,uint64 keyTime)`.
 * `route` is the path the request is sent to (`/app/sign` or `/secrets`); `time` is when the
 * owner signed (checked ±5 min); `keyVersion`/`keyTime` are the request's `version`/`time`
 * (0 = not named), so the owner also authorizes which key version is used.
 */
export const KEY_REQUEST_TYPES = {
  KeyRequest: [
    { name: 'route', type: 'string' },
    { name: 'appId', type: 'bytes32' },
    { name: 'responseKey', type: 'bytes32' },
    { name: 'nonce', type: 'bytes' },
    { name: 'time', type: 'uint64' },
    { name: 'keyVersion', type: 'uint64' },
    { name: 'keyTime', type: 'uint64' },
  ],
} as const;

export interface KeyRequestTypedDataParams {
  readonly chainId: bigint | number;
  readonly registry: AddressLike;
  /** The route the request is sent to. */
  readonly route: KeyReleaseRoute;
  readonly appId: Uint8Array | Hex;
  readonly responseKey: Uint8Array | Hex;
  readonly nonce: Uint8Array | Hex;
  /** Signing time, unix seconds (`attestation.time` of the request). */
  readonly time: number;
  /** The request's `version`, if it names one. */
  readonly version?: number | undefined;
  /** The request's `time` (key selection), if it names one. */
  readonly keyTime?: number | undefined;
}

/** The argument checks `keyRequestTypedData` and `keyRequestDigest` share; the route, the nonce's bytes and the chain id. */
function checkTypedDataParams(p: KeyRequestTypedDataParams): { route: KeyReleaseRoute; nonce: Uint8Array; chainId: bigint } {
  if (typeof p !== 'object' || p === null) throw new TypeError(`typed data params: expected object, got ${p === null ? 'null' : typeof p}`);
  const route = aRoute(p.route);
  const nonce = aNonce(p.nonce);
  if (p.version !== undefined && p.keyTime !== undefined) throw new RangeError('typed data: give version or keyTime, not both');
  const chainId = typeof p.chainId === 'bigint' ? p.chainId : BigInt(aUint64(p.chainId, 'chainId'));
  return { route, nonce, chainId };
}

function aNonce(value: Uint8Array | Hex): Uint8Array {
  const nonce = bytesOf(value, undefined, 'nonce');
  if (nonce.length < NONCE_MIN_BYTES || nonce.length > NONCE_MAX_BYTES) {
    throw new RangeError(`nonce: expected ${NONCE_MIN_BYTES} to ${NONCE_MAX_BYTES} bytes, got ${nonce.length}`);
  }
  return nonce;
}

/** What the owner signs: pass it to viem's `signTypedData` / `account.signTypedData`. */
export function keyRequestTypedData(p: KeyRequestTypedDataParams) {
  const { route, nonce, chainId } = checkTypedDataParams(p);
  return {
    domain: { name: EIP712_NAME, version: EIP712_VERSION, chainId, verifyingContract: toHex(addressBytes(p.registry, 'registry')) },
    types: KEY_REQUEST_TYPES,
    primaryType: 'KeyRequest' as const,
    message: {
      route,
      appId: toHex(bytesOf(p.appId, APP_ID_BYTES, 'appId')),
      responseKey: toHex(bytesOf(p.responseKey, RESPONSE_KEY_BYTES, 'responseKey')),
      nonce: toHex(nonce),
      time: aUint64(p.time, 'time'),
      keyVersion: optionalPositive(p.version, 'version'),
      keyTime: optionalPositive(p.keyTime, 'keyTime'),
    },
  };
}

/** The EIP-712 typed data of a request sent to `route` (chain id and registry from the deployment). */
export function keyRequestTypedDataOf(
  req: KeyReleaseRequestFields & { readonly attestation: EcdsaAttestationFields },
  route: KeyReleaseRoute,
  chainId: bigint | number,
  registry: AddressLike,
) {
  return keyRequestTypedData({
    chainId, registry, route, appId: req.appId, responseKey: req.responseKey, nonce: req.nonce, time: req.attestation.time,
    version: req.version, keyTime: req.time,
  });
}

const KEY_REQUEST_TYPE_HASH = keccak_256(
  utf8ToBytes('KeyRequest(string route,bytes32 appId,bytes32 responseKey,bytes nonce,uint64 time,uint64 keyVersion,uint64 keyTime)'),
);
/** keccak256 of each route (EIP-712 encodes a string member as the hash of its bytes). */
const ROUTE_HASHES: Readonly<Record<KeyReleaseRoute, Uint8Array>> = Object.freeze({
  '/app/sign': keccak_256(utf8ToBytes('/app/sign')),
  '/secrets': keccak_256(utf8ToBytes('/secrets')),
});
const EIP712_DOMAIN_TYPE_HASH = keccak_256(
  utf8ToBytes('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'),
);
const EIP712_NAME_HASH = keccak_256(utf8ToBytes(EIP712_NAME));
const EIP712_VERSION_HASH = keccak_256(utf8ToBytes(EIP712_VERSION));
const EIP712_PREFIX = Uint8Array.of(0x19, 0x01);
/** Domain separators of the deployments seen (a node has one; a client a few). */
const domainSeparators = new Map<string, Uint8Array>();

function domainSeparator(chainId: bigint, registry: Uint8Array): Uint8Array {
  const key = `${chainId}:${toHex(registry)}`;
  let sep = domainSeparators.get(key);
  if (sep === undefined) {
    const contract = new Uint8Array(32);
    contract.set(registry, 12);
    sep = keccak_256(concatBytes(EIP712_DOMAIN_TYPE_HASH, EIP712_NAME_HASH, EIP712_VERSION_HASH, uint256ToBytes(chainId, 'chainId'), contract));
    if (domainSeparators.size >= 64) domainSeparators.clear();
    domainSeparators.set(key, sep);
  }
  return sep;
}

/**
 * The 32-byte EIP-712 digest the owner signs: `hashTypedData(keyRequestTypedData(p))`,
 * computed from the fixed layout (`keccak256(0x1901 ‖ domainSeparator ‖ hashStruct)`) with the
 * same argument checks as `keyRequestTypedData`.
 */
export function keyRequestDigest(p: KeyRequestTypedDataParams): Uint8Array {
  const { route, nonce, chainId } = checkTypedDataParams(p);
  const registry = addressBytes(p.registry, 'registry');
  const structHash = keccak_256(concatBytes(
    KEY_REQUEST_TYPE_HASH,
    ROUTE_HASHES[route],
    bytesOf(p.appId, APP_ID_BYTES, 'appId'),
    bytesOf(p.responseKey, RESPONSE_KEY_BYTES, 'responseKey'),
    keccak_256(nonce),
    abiWord(aUint64(p.time, 'time')),
    abiWord(optionalPositive(p.version, 'version')),
    abiWord(optionalPositive(p.keyTime, 'keyTime')),
  ));
  return keccak_256(concatBytes(EIP712_PREFIX, domainSeparator(chainId, registry), structHash));
}

/**
 * The address that signed the typed data (lowercase), or null when the signature is not a
 * canonical secp256k1 signature from which a key recovers: r, s in [1, n), low s (s ≤ n/2) and
 * v ∈ {27, 28} — `parseEcdsaSignature`, the one check operator signatures use too. Every ECDSA
 * signature has a high-s twin (n − s, the other v) and encodings of v as 0/1 that recover to
 * the same signer; accepting them would give whoever sees one request three different
 * "identical" ones. A well-formed signature over other data recovers to some other address:
 * compare the result with the app owner.
 */
export function recoverKeyRequestSigner(p: KeyRequestTypedDataParams, signature: Uint8Array | Hex): Hex | null {
  const sig = bytesOf(signature, 65, 'signature');
  try {
    return toHex(ecdsaRecoverAddressFromDigest(keyRequestDigest(p), sig));
  } catch (e) {
    if (e instanceof EcdsaSignatureError) return null;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// (e) eat_nonce of the `jwt` method

export const EAT_NONCE_TAG = 'eigenx-kms/eat-nonce/v2';
const EAT_NONCE_TAG_BYTES = utf8ToBytes(EAT_NONCE_TAG);

/** What a token's eat_nonce binds: the whole request but its attestation. */
export interface EatNonceFields {
  readonly route: KeyReleaseRoute;
  readonly appId: Uint8Array | Hex;
  readonly responseKey: Uint8Array | Hex;
  readonly nonce: Uint8Array | Hex;
  /** The request's `version`, if it names one. */
  readonly version?: number | undefined;
  /** The request's `time` (key selection), if it names one. */
  readonly keyTime?: number | undefined;
}

/**
 * `SHA-256("eigenx-kms/eat-nonce/v2" ‖ domain ‖ uint8 |route| ‖ route ‖ appId ‖ responseKey ‖
 * uint8 |nonce| ‖ nonce ‖ uint64-BE version ‖ uint64-BE keyTime)`, 32 bytes (0 = not named).
 * The token carries it as 0x-hex (`eatNonceHex`). Client and server both compute it here.
 */
export function eatNonce(domain: Uint8Array, f: EatNonceFields): Uint8Array {
  aDomain(domain);
  if (typeof f !== 'object' || f === null) throw new TypeError(`eat_nonce fields: expected object, got ${f === null ? 'null' : typeof f}`);
  const route = utf8ToBytes(aRoute(f.route));
  const nonce = aNonce(f.nonce);
  if (f.version !== undefined && f.keyTime !== undefined) throw new RangeError('eat_nonce: give version or keyTime, not both');
  return sha256(concatBytes(
    EAT_NONCE_TAG_BYTES, domain,
    Uint8Array.of(route.length), route,
    bytesOf(f.appId, APP_ID_BYTES, 'appId'),
    bytesOf(f.responseKey, RESPONSE_KEY_BYTES, 'responseKey'),
    Uint8Array.of(nonce.length), nonce,
    u64be(optionalPositive(f.version, 'version')),
    u64be(optionalPositive(f.keyTime, 'keyTime')),
  ));
}

/** `eat_nonce` claim value: lowercase 0x-hex of `eatNonce` (66 characters). */
export function eatNonceHex(domain: Uint8Array, f: EatNonceFields): Hex {
  return toHex(eatNonce(domain, f));
}

/** The eat_nonce of a request sent to `route` (its body's `version`/`time` become version/keyTime). */
export function eatNonceOfRequest(domain: Uint8Array, route: KeyReleaseRoute, req: Pick<KeyReleaseRequestFields, 'appId' | 'responseKey' | 'nonce' | 'version' | 'time'>): Hex {
  return eatNonceHex(domain, { route, appId: req.appId, responseKey: req.responseKey, nonce: req.nonce, version: req.version, keyTime: req.time });
}
