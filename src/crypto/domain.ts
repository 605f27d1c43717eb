/**
 * @module
 * Domain separation for everything an operator signs (SPEC §2 "Domain separation").
 *
 * ```
 * domain = utf8("eigenx-kms/v1") ‖ uint256-BE(chainId) ‖ registry address
 *          13 bytes              32 bytes              20 bytes          = 65 bytes
 * ```
 * This is exactly Solidity's `abi.encodePacked(string("eigenx-kms/v1"), uint256 chainId,
 * address registry)`, so a contract rebuilds it with one expression. Every signed message
 * (BN254 or ECDSA operator signature, proof of possession, seal context, DLEQ context)
 * starts with these 65 bytes, so a signature made for one chain or one registry deployment
 * is worthless on any other.
 *
 * What an operator signs (both key types; keccak256 so Solidity recomputes it cheaply):
 * ```
 * payload signature:   keccak256(domain ‖ payload)
 * proof of possession: keccak256(domain ‖ utf8("pop") ‖ operator address)   65 + 3 + 20 = 88 bytes
 * ```
 * A payload of exactly the PoP shape (`"pop"` ‖ 20 bytes) is refused by `operatorDigest`,
 * so no payload signature can be replayed as a proof of possession.
 *
 * Also the small byte helpers the crypto layer shares: `0x`-hex ⇄ bytes, 20-byte addresses
 * (any letter case accepted; the EIP-55 checksum is not required but `checksumAddress`
 * produces it), uint256 big-endian, and one-line asserts that return their input.
 */
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, concatBytes, hexToBytes, isBytes, utf8ToBytes } from '@noble/hashes/utils.js';

/** The ASCII tag the domain starts with. */
export const DOMAIN_TAG = 'eigenx-kms/v1';
const DOMAIN_TAG_BYTES = utf8ToBytes(DOMAIN_TAG);
export const ADDRESS_BYTES = 20;
export const UINT256_BYTES = 32;
/** 13 + 32 + 20 = 65 bytes. */
export const DOMAIN_BYTES = DOMAIN_TAG_BYTES.length + UINT256_BYTES + ADDRESS_BYTES;
const UINT256_MAX = (1n << 256n) - 1n;

/** A `0x`-prefixed hex string. */
export type Hex = `0x${string}`;
/** An address given either as 20 bytes or as `0x` + 40 hex digits (any case). */
export type AddressLike = Uint8Array | Hex;

/** The decoded parts of a domain prefix. */
export interface DomainParams {
  /** EIP-155 chain id, 0 ≤ chainId < 2^256. */
  readonly chainId: bigint | number;
  /** The registry contract address. */
  readonly registry: AddressLike;
}

// ---------------------------------------------------------------------------------------
// Asserts: one line each, return their input, name the parameter, never print its value.

/** Asserts `value` is a Uint8Array (of `length` bytes when given) and returns it. */
export function aBytes(value: Uint8Array, length: number | undefined, what: string): Uint8Array {
  if (!isBytes(value)) throw new TypeError(`${what}: expected Uint8Array, got ${typeof value}`);
  if (length !== undefined && value.length !== length) {
    throw new RangeError(`${what}: expected ${length} bytes, got ${value.length}`);
  }
  return value;
}

/** Asserts `n` is an integer (bigint, or a safe-integer number) with 0 ≤ n < 2^256. */
export function aUint256(n: bigint | number, what: string): bigint {
  if (typeof n === 'number') {
    if (!Number.isSafeInteger(n)) throw new TypeError(`${what}: expected a safe integer, got ${n}`);
    n = BigInt(n);
  } else if (typeof n !== 'bigint') {
    throw new TypeError(`${what}: expected bigint or number, got ${typeof n}`);
  }
  // Half-open range [0, 2^256): exactly the values a Solidity uint256 holds.
  if (n < 0n || n > UINT256_MAX) throw new RangeError(`${what}: expected 0 <= n < 2^256, got ${n}`);
  return n;
}

// ---------------------------------------------------------------------------------------
// Hex and integers

/** Parses `0x`-prefixed hex (even length; `length` bytes when given). Throws on anything else. */
export function parseHex(hex: string, length: number | undefined, what: string): Uint8Array {
  if (typeof hex !== 'string') throw new TypeError(`${what}: expected 0x-hex string, got ${typeof hex}`);
  if (!hex.startsWith('0x')) throw new RangeError(`${what}: expected 0x-prefixed hex`);
  let bytes: Uint8Array;
  try {
    bytes = hexToBytes(hex.slice(2));
  } catch (cause) {
    throw new RangeError(`${what}: invalid hex (${(cause as Error).message})`, { cause });
  }
  if (length !== undefined && bytes.length !== length) {
    throw new RangeError(`${what}: expected ${length} bytes, got ${bytes.length}`);
  }
  return bytes;
}

/** Lowercase `0x`-prefixed hex of `bytes`. */
export function toHex(bytes: Uint8Array): Hex {
  aBytes(bytes, undefined, 'bytes');
  return `0x${bytesToHex(bytes)}`;
}

/** uint256 big-endian (32 bytes), Solidity's `abi.encodePacked(uint256)`. */
export function uint256ToBytes(n: bigint | number, what = 'n'): Uint8Array {
  let v = aUint256(n, what);
  const out = new Uint8Array(UINT256_BYTES);
  for (let i = UINT256_BYTES - 1; i >= 0 && v > 0n; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Big-endian unsigned integer of any byte string. */
export function bytesToUint(bytes: Uint8Array): bigint {
  aBytes(bytes, undefined, 'bytes');
  return bytes.length === 0 ? 0n : BigInt(`0x${bytesToHex(bytes)}`);
}

// ---------------------------------------------------------------------------------------
// Addresses

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;

/** true iff `s` is `0x` followed by exactly 40 hex digits (either case). */
export function isAddress(s: unknown): s is Hex {
  return typeof s === 'string' && ADDRESS_RE.test(s);
}

/** Parses `0x` + 40 hex digits (any case; checksum not checked) into 20 bytes. */
export function parseAddress(address: string, what = 'address'): Uint8Array {
  if (typeof address !== 'string') throw new TypeError(`${what}: expected string, got ${typeof address}`);
  if (!isAddress(address)) {
    // Addresses are public, but echo only a bounded prefix so a huge input cannot bloat logs.
    const shown = address.length > 50 ? `${address.slice(0, 50)}…` : address;
    throw new RangeError(`${what}: expected 0x followed by 40 hex digits, got "${shown}" (length ${address.length})`);
  }
  return parseHex(address, ADDRESS_BYTES, what);
}

/** Normalises an address given as bytes or hex to a fresh 20-byte array. */
export function addressBytes(address: AddressLike, what = 'address'): Uint8Array {
  if (typeof address === 'string') return parseAddress(address, what);
  return Uint8Array.from(aBytes(address, ADDRESS_BYTES, what));
}

/** Lowercase `0x` hex of a 20-byte address. */
export function addressToHex(address: AddressLike): Hex {
  return toHex(addressBytes(address));
}

/** EIP-55 mixed-case checksum form of an address. */
export function checksumAddress(address: AddressLike): Hex {
  const lower = bytesToHex(addressBytes(address));
  const hash = bytesToHex(keccak_256(utf8ToBytes(lower)));
  let out = '0x';
  for (let i = 0; i < lower.length; i++) {
    const c = lower[i] as string;
    out += parseInt(hash[i] as string, 16) >= 8 ? c.toUpperCase() : c;
  }
  return out as Hex;
}

// ---------------------------------------------------------------------------------------
// Domain

/** Builds the 65-byte domain prefix `"eigenx-kms/v1" ‖ uint256(chainId) ‖ registry`. */
export function makeDomain(params: DomainParams): Uint8Array {
  if (typeof params !== 'object' || params === null) {
    throw new TypeError(`domain params: expected object, got ${params === null ? 'null' : typeof params}`);
  }
  const chainId = uint256ToBytes(params.chainId, 'chainId');
  const registry = addressBytes(params.registry, 'registry');
  return concatBytes(DOMAIN_TAG_BYTES, chainId, registry);
}

/** Asserts `domain` is a 65-byte domain prefix starting with the tag, and returns it. */
export function aDomain(domain: Uint8Array, what = 'domain'): Uint8Array {
  aBytes(domain, DOMAIN_BYTES, what);
  for (let i = 0; i < DOMAIN_TAG_BYTES.length; i++) {
    if (domain[i] !== DOMAIN_TAG_BYTES[i]) throw new RangeError(`${what}: expected prefix "${DOMAIN_TAG}"`);
  }
  return domain;
}

/** Decodes a domain prefix back into its chain id and (lowercase) registry address. */
export function parseDomain(domain: Uint8Array): { chainId: bigint; registry: Hex } {
  aDomain(domain);
  const t = DOMAIN_TAG_BYTES.length;
  return {
    chainId: bytesToUint(domain.subarray(t, t + UINT256_BYTES)),
    registry: toHex(domain.subarray(t + UINT256_BYTES)),
  };
}

// ---------------------------------------------------------------------------------------
// What an operator signs (both key types hash the same bytes with keccak256)

/** ASCII "pop": the tag of a proof-of-possession message. */
export const POP_TAG = utf8ToBytes('pop');
/** Length of a payload that would collide with a PoP message: "pop" ‖ 20-byte address. */
const POP_PAYLOAD_BYTES = POP_TAG.length + ADDRESS_BYTES;

/**
 * True when `domain ‖ payload` would equal a PoP message `domain ‖ "pop" ‖ address`.
 * Operator signatures refuse such payloads so that no signed payload doubles as a PoP.
 */
export function isPopShapedPayload(payload: Uint8Array): boolean {
  aBytes(payload, undefined, 'payload');
  return payload.length === POP_PAYLOAD_BYTES && POP_TAG.every((b, i) => payload[i] === b);
}

/** `domain ‖ "pop" ‖ operator` (65 + 3 + 20 = 88 bytes): the proof-of-possession message. */
export function popMessage(domain: Uint8Array, operator: AddressLike): Uint8Array {
  return concatBytes(aDomain(domain), POP_TAG, addressBytes(operator, 'operator'));
}

/** `keccak256(domain ‖ "pop" ‖ operator)`: the digest a proof of possession signs. */
export function popDigest(domain: Uint8Array, operator: AddressLike): Uint8Array {
  return keccak_256(popMessage(domain, operator));
}

/**
 * `keccak256(domain ‖ payload)`: the digest an operator signature signs. Throws RangeError
 * for a PoP-shaped payload (see `isPopShapedPayload`); use the PoP functions instead.
 */
export function operatorDigest(domain: Uint8Array, payload: Uint8Array): Uint8Array {
  aDomain(domain);
  if (isPopShapedPayload(payload)) {
    throw new RangeError('payload: has the shape of a proof-of-possession message ("pop" ‖ address); refused');
  }
  return keccak_256(concatBytes(domain, payload));
}
