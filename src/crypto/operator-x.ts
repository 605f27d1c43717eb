/**
 * @module
 * Operator x-coordinates (SPEC 2): an operator's Shamir evaluation point is derived from its
 * Ethereum address, so every node computes the same x from on-chain data alone:
 *
 *     x(a) = keccak256(a) mod r        (a = the 20 raw address bytes, not the hex string)
 *
 * r is the BLS12-381 scalar order (255 bits), so about half of all digests are reduced once.
 * x = 0 is refused (f(0) is the master secret) and so are duplicate xs in one set (they break
 * Lagrange interpolation); neither happens for distinct honest addresses except with
 * probability ≈ 2^-254 per pair, but the check is what makes that a guarantee rather than a
 * hope. Addresses are `0x` + 40 hex digits, hex case-insensitive (the EIP-55 checksum is not
 * required here: the registry, not the user, is the source of these addresses); parsing and
 * hex forms are `domain.ts`'s, re-exported here under the names this module always had.
 */
import { keccak_256 } from '@noble/hashes/sha3.js';
import { ADDRESS_BYTES, addressBytes, isAddress, parseAddress, toHex, type Hex } from './domain.ts';
import * as fr from './fr.ts';

export { ADDRESS_BYTES, isAddress, parseAddress };

/** Refusal of an address set: an address whose x is zero, or two with the same x. */
export class OperatorXError extends Error {
  override readonly name = 'OperatorXError';
  constructor(
    message: string,
    readonly reason: 'zero' | 'duplicate',
    /** Indices into the caller's list. */
    readonly indices: readonly number[],
    /** The offending addresses, lowercase hex (public data). */
    readonly addresses: readonly string[],
  ) {
    super(message);
  }
}

/** Lowercase `0x…` form, for comparisons and messages. */
export function normalizeAddress(address: string | Uint8Array, what = 'address'): Hex {
  return toHex(toAddressBytes(address, what));
}

/** The 20 address bytes of a hex string or byte array; throws TypeError/RangeError naming `what`. */
function toAddressBytes(address: string | Uint8Array, what: string): Uint8Array {
  return typeof address === 'string' ? parseAddress(address, what) : addressBytes(address, what);
}

/** keccak256(address bytes) mod r, without the zero check (see `operatorX`). */
function rawX(bytes: Uint8Array): bigint {
  return fr.fromBytesReduce(keccak_256(bytes));
}

/** x(a) = keccak256(a) mod r; throws OperatorXError if it is zero. */
export function operatorX(address: string | Uint8Array): bigint {
  const bytes = toAddressBytes(address, 'address');
  const x = rawX(bytes);
  if (x === 0n) {
    const a = normalizeAddress(bytes);
    throw new OperatorXError(`address: ${a} maps to x = 0, which would reveal the secret`, 'zero', [0], [a]);
  }
  return x;
}

/**
 * Checks a list of (address, x) pairs: no x is zero, no two xs are equal. Exported so the
 * rule can be tested with crafted xs (no address is known to hash to 0 or collide mod r).
 */
export function assertOperatorXs(entries: ReadonlyArray<{ readonly address: string; readonly x: bigint }>): void {
  if (!Array.isArray(entries)) throw new TypeError(`entries: expected array, got ${typeof entries}`);
  const seen = new Map<bigint, number>();
  for (let i = 0; i < entries.length; i++) {
    const { address, x } = entries[i] as { address: string; x: bigint };
    if (x === 0n) {
      throw new OperatorXError(`addresses: ${address} (index ${i}) maps to x = 0, which would reveal the secret`, 'zero', [i], [address]);
    }
    const j = seen.get(x);
    if (j !== undefined) {
      const other = (entries[j] as { address: string }).address;
      const why = other === address ? 'the same address is listed twice' : 'two addresses collide mod r';
      throw new OperatorXError(
        `addresses: duplicate x-coordinate at indices ${j} and ${i} (${other}, ${address}): ${why}`,
        'duplicate',
        [j, i],
        [other, address],
      );
    }
    seen.set(x, i);
  }
}

/** The x-coordinates of `addresses`, in order; refuses invalid addresses, x = 0 and duplicates. */
export function operatorXs(addresses: ReadonlyArray<string | Uint8Array>): bigint[] {
  if (!Array.isArray(addresses)) throw new TypeError(`addresses: expected array, got ${typeof addresses}`);
  const entries = addresses.map((a, i) => {
    const bytes = toAddressBytes(a, `addresses[${i}]`);
    return { address: normalizeAddress(bytes), x: rawX(bytes) };
  });
  assertOperatorXs(entries);
  return entries.map((e) => e.x);
}
