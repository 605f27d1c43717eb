/**
 * @module
 * Release receipts and the operator's hash-chained receipt log (issue 16, item 4). Pure: no
 * I/O, no clock. `docs/formats.md` ("Release receipts") documents the same bytes.
 *
 * A receipt is one fixed binary layout (no JSON canonicalisation, no optional field), 243 bytes:
 *
 * ```
 * off  size  field
 *   0    21  tag             "eigenx-kms/receipt/v1"
 *  21    20  operator        the answering operator's address
 *  41     8  position        uint64-BE, 0-based index of this entry in the operator's log
 *  49    32  prevHash        entryHash of entry position − 1 (32 zero bytes at position 0)
 *  81    32  appId
 * 113     8  epoch           uint64-BE, the app-key epoch released (0 until app-key epochs exist)
 * 121     8  version         uint64-BE, the key version the partial was made with (≥ 1)
 * 129     1  route           1 = /app/sign, 2 = /secrets
 * 130     1  method          1 = ecdsa, 2 = jwt
 * 131    32  requestHash     `requestHash(request)` (key-release.ts)
 * 163    32  responseKeyHash keccak256(responseKey): who could open the answer, not the key itself
 * 195     8  block           uint64-BE, the block the node read the app at (0: a live read, no block)
 * 203     8  time            uint64-BE, the node's wall clock when it answered (unix seconds)
 * 211    32  partialHash     keccak256(partialPayload(appId, version, partial, requestHash))
 * ```
 *
 * ```
 * entryHash = keccak256(receipt)                       (the signature is not hashed: it is unique
 *                                                        per receipt for both key types — ecdsa
 *                                                        is low-s only, BLS is deterministic)
 * signature = operator signature over keccak256(domain ‖ receipt)       (operator-sig.ts)
 * head      = entryHash of the last entry, or 32 zero bytes for an empty log
 * ```
 *
 * **One signature per answer.** The receipt's signature is also the answer's: `partialHash`
 * binds the partial σ_j (with app, version and request hash) into the signed receipt, so the
 * caller checks its partial against the receipt and the receipt's signature, and the operator
 * signs once per release (a BN254 signature costs ~4 ms, as much as the rest of a release).
 * partialHash is a hash of a uniformly unknown G1 point and public facts: it says nothing
 * about σ_j. Nothing in a receipt is secret.
 *
 * **What a head commits.** Every entry carries its position and its predecessor's hash, so
 * an entry hash fixes the whole log up to and including that entry, and how many entries that
 * is. The on-chain head (32 bytes, with every confirmation) therefore needs no separate count:
 * a verifier finds the entry whose hash is the head, and that entry's position + 1 is the
 * number of entries the head covers. A log that does not contain the head was rewritten,
 * reordered or truncated.
 */
import { keccak_256 } from '@noble/hashes/sha3.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { ADDRESS_BYTES, aBytes, toHex, type Hex } from './domain.ts';
import { OPERATOR_KEY_LENGTHS, verifyOperatorSignature, type OperatorKeyType } from './operator-sig.ts';

export const RECEIPT_TAG = 'eigenx-kms/receipt/v1';
const RECEIPT_TAG_BYTES = utf8ToBytes(RECEIPT_TAG);
/** 21 + 20 + 8 + 32 + 32 + 8 + 8 + 1 + 1 + 32 + 32 + 8 + 8 + 32 = 243 bytes. */
export const RECEIPT_BYTES = 243;
export const HASH_BYTES = 32;
export const ZERO_HEAD: Hex = `0x${'00'.repeat(HASH_BYTES)}`;

export type ReceiptRoute = '/app/sign' | '/secrets';
export type ReceiptMethod = 'ecdsa' | 'jwt';
const ROUTE_BYTE: Readonly<Record<ReceiptRoute, number>> = { '/app/sign': 1, '/secrets': 2 };
const METHOD_BYTE: Readonly<Record<ReceiptMethod, number>> = { ecdsa: 1, jwt: 2 };

/** A decoded receipt; hashes and addresses as lowercase 0x-hex. */
export interface Receipt {
  readonly operator: Hex;
  readonly position: number;
  readonly prevHash: Hex;
  readonly appId: Hex;
  readonly epoch: number;
  readonly version: number;
  readonly route: ReceiptRoute;
  readonly method: ReceiptMethod;
  readonly requestHash: Hex;
  readonly responseKeyHash: Hex;
  readonly block: number;
  readonly time: number;
  readonly partialHash: Hex;
}

/** Bytes from the other side that are not a receipt. */
export class ReceiptFormatError extends Error {
  override readonly name = 'ReceiptFormatError';
}

function u64(n: number, what: string): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what}: expected a non-negative safe integer, got ${n}`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

function hexBytes(h: string, len: number, what: string): Uint8Array {
  if (typeof h !== 'string' || h.length !== 2 + 2 * len || !/^0x[0-9a-fA-F]*$/.test(h)) {
    throw new RangeError(`${what}: expected ${len} bytes of 0x-hex`);
  }
  return Uint8Array.from(Buffer.from(h.slice(2), 'hex'));
}

/** The 243 bytes of a receipt (the module header has the layout). */
export function encodeReceipt(r: Receipt): Uint8Array {
  if (typeof r !== 'object' || r === null) throw new TypeError(`receipt: expected object, got ${r === null ? 'null' : typeof r}`);
  const route = ROUTE_BYTE[r.route];
  if (route === undefined) throw new RangeError("receipt.route: expected '/app/sign' or '/secrets'");
  const method = METHOD_BYTE[r.method];
  if (method === undefined) throw new RangeError("receipt.method: expected 'ecdsa' or 'jwt'");
  if (r.version < 1) throw new RangeError(`receipt.version: expected >= 1, got ${r.version}`);
  const out = concatBytes(
    RECEIPT_TAG_BYTES,
    hexBytes(r.operator, ADDRESS_BYTES, 'receipt.operator'),
    u64(r.position, 'receipt.position'),
    hexBytes(r.prevHash, HASH_BYTES, 'receipt.prevHash'),
    hexBytes(r.appId, 32, 'receipt.appId'),
    u64(r.epoch, 'receipt.epoch'),
    u64(r.version, 'receipt.version'),
    Uint8Array.of(route, method),
    hexBytes(r.requestHash, HASH_BYTES, 'receipt.requestHash'),
    hexBytes(r.responseKeyHash, HASH_BYTES, 'receipt.responseKeyHash'),
    u64(r.block, 'receipt.block'),
    u64(r.time, 'receipt.time'),
    hexBytes(r.partialHash, HASH_BYTES, 'receipt.partialHash'),
  );
  if (out.length !== RECEIPT_BYTES) throw new Error(`unreachable: a receipt is ${RECEIPT_BYTES} bytes, built ${out.length}`);
  return out;
}

/** Strict parser of `encodeReceipt`'s output: any other byte string throws `ReceiptFormatError`. */
export function decodeReceipt(bytes: Uint8Array): Receipt {
  aBytes(bytes, undefined, 'receipt');
  if (bytes.length !== RECEIPT_BYTES) throw new ReceiptFormatError(`receipt: expected ${RECEIPT_BYTES} bytes, got ${bytes.length}`);
  for (let i = 0; i < RECEIPT_TAG_BYTES.length; i++) {
    if (bytes[i] !== RECEIPT_TAG_BYTES[i]) throw new ReceiptFormatError(`receipt: does not start with "${RECEIPT_TAG}"`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hex = (at: number, n: number): Hex => toHex(bytes.subarray(at, at + n));
  const u = (at: number, what: string): number => {
    const v = view.getBigUint64(at);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ReceiptFormatError(`receipt: ${what} out of range`);
    return Number(v);
  };
  const routeByte = bytes[129];
  const methodByte = bytes[130];
  const route: ReceiptRoute | undefined = routeByte === 1 ? '/app/sign' : routeByte === 2 ? '/secrets' : undefined;
  const method: ReceiptMethod | undefined = methodByte === 1 ? 'ecdsa' : methodByte === 2 ? 'jwt' : undefined;
  if (route === undefined) throw new ReceiptFormatError(`receipt: unknown route byte ${String(routeByte)}`);
  if (method === undefined) throw new ReceiptFormatError(`receipt: unknown method byte ${String(methodByte)}`);
  const version = u(121, 'version');
  if (version < 1) throw new ReceiptFormatError('receipt: version 0');
  return {
    operator: hex(21, 20), position: u(41, 'position'), prevHash: hex(49, 32), appId: hex(81, 32),
    epoch: u(113, 'epoch'), version, route, method,
    requestHash: hex(131, 32), responseKeyHash: hex(163, 32), block: u(195, 'block'), time: u(203, 'time'), partialHash: hex(211, 32),
  };
}

/** keccak256 of the receipt bytes: what the next entry's prevHash and the on-chain head name. */
export function entryHash(receiptBytes: Uint8Array): Hex {
  aBytes(receiptBytes, RECEIPT_BYTES, 'receipt');
  return toHex(keccak_256(receiptBytes));
}

/** keccak256(responseKey): the receipt names who could open the answer without storing the key. */
export function responseKeyHash(responseKey: Uint8Array): Hex {
  return toHex(keccak_256(aBytes(responseKey, 32, 'responseKey')));
}

/** keccak256(partialPayload): binds the partial into the receipt (see the module header). */
export function partialHash(partialPayloadBytes: Uint8Array): Hex {
  return toHex(keccak_256(aBytes(partialPayloadBytes, undefined, 'partialPayload')));
}

/** Checks a receipt's operator signature (false for any well-sized wrong input). */
export function verifyReceiptSignature(
  receiptBytes: Uint8Array,
  signature: Uint8Array,
  domain: Uint8Array,
  sigKeyType: OperatorKeyType,
  sigPublicKey: Uint8Array,
): boolean {
  if (receiptBytes.length !== RECEIPT_BYTES || signature.length !== OPERATOR_KEY_LENGTHS[sigKeyType].signature) return false;
  if (sigPublicKey.length !== OPERATOR_KEY_LENGTHS[sigKeyType].publicKey) return false;
  return verifyOperatorSignature(sigKeyType, sigPublicKey, domain, receiptBytes, signature);
}

// ---------------------------------------------------------------------------------------------
// Verifying a log against a committed head

/** One log entry as served: the receipt bytes and the operator's signature over them. */
export interface LogEntry {
  readonly receipt: Uint8Array;
  readonly signature: Uint8Array;
}

export interface VerifyLogParams {
  /** Every entry of the log from position 0, in order. */
  readonly entries: readonly LogEntry[];
  /** The operator the log belongs to (its address, lowercase or not). */
  readonly operator: string;
  readonly domain: Uint8Array;
  readonly sigKeyType: OperatorKeyType;
  readonly sigPublicKey: Uint8Array;
  /** The latest head the operator committed on-chain (ZERO_HEAD: none yet). */
  readonly committedHead: Hex;
  /**
   * Heads it committed before (from earlier confirmations, oldest first): each must be in the
   * log too, at a position no later than the next one's. Without them, a history rewritten
   * and then committed under a new head would pass.
   */
  readonly earlierHeads?: readonly { readonly head: Hex; readonly session: number }[];
}

export type VerifiedEntry = Receipt & { readonly hash: Hex; readonly committed: boolean };

export type LogVerdict =
  | { readonly consistent: true; readonly entries: readonly VerifiedEntry[]; readonly committedCount: number; readonly head: Hex }
  | { readonly consistent: false; readonly reason: string; readonly position: number | null };

/**
 * Verifies a whole log: each entry parses, names `operator` and its own position, chains its
 * predecessor, carries a valid signature; and the committed head is the hash of one of its
 * entries (entries after that one are `committed: false`). The first failure is the verdict,
 * with the position it was found at. Each tamper kind has its own reason: a rewritten entry
 * breaks the next prevHash (or the head, or its signature), a removed or reordered entry
 * breaks a position, a truncated log lacks the committed head.
 */
export function verifyLog(p: VerifyLogParams): LogVerdict {
  const operator = p.operator.toLowerCase();
  const out: (Receipt & { hash: Hex })[] = [];
  let prev: Hex = ZERO_HEAD;
  const bad = (position: number | null, reason: string): LogVerdict => ({ consistent: false, reason, position });
  for (let i = 0; i < p.entries.length; i++) {
    const e = p.entries[i] as LogEntry;
    let r: Receipt;
    try {
      r = decodeReceipt(e.receipt);
    } catch (err) {
      return bad(i, `entry ${i} is not a receipt (${(err as Error).message})`);
    }
    if (r.operator !== operator) return bad(i, `entry ${i} names operator ${r.operator}`);
    if (r.position !== i) return bad(i, `entry ${i} says it is at position ${r.position} (entries removed, added or reordered)`);
    if (r.prevHash !== prev) return bad(i, `entry ${i} does not chain entry ${i - 1} (an earlier entry was rewritten)`);
    if (!verifyReceiptSignature(e.receipt, e.signature, p.domain, p.sigKeyType, p.sigPublicKey)) {
      return bad(i, `entry ${i} has no valid signature of the operator's registered signing key`);
    }
    prev = entryHash(e.receipt);
    out.push({ ...r, hash: prev });
  }
  const head = p.committedHead.toLowerCase() as Hex;
  let committedCount = 0;
  if (head !== ZERO_HEAD) {
    const at = out.findIndex((r) => r.hash === head);
    if (at < 0) {
      return bad(null, `the log (${out.length} entries) does not contain the head ${head} committed on-chain (rewritten or truncated)`);
    }
    committedCount = at + 1;
  }
  let last = -1;
  for (const e of p.earlierHeads ?? []) {
    const h = e.head.toLowerCase();
    if (h === ZERO_HEAD) continue;
    const at = out.findIndex((r) => r.hash === h);
    if (at < 0) return bad(null, `the log does not contain the head ${h} it committed in session ${e.session} (its history was rewritten since)`);
    if (at < last) return bad(at, `the head it committed in session ${e.session} is at position ${at}, before an earlier commitment's (the log went back)`);
    last = at;
  }
  if (committedCount > 0 && last > committedCount - 1) return bad(last, 'an earlier committed head lies after the latest one (the log went back)');
  return {
    consistent: true,
    entries: out.map((r, i) => ({ ...r, committed: i < committedCount })),
    committedCount,
    head: prev,
  };
}
