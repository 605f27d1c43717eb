/**
 * @module
 * Hex at the ledger boundary: ledger data is `0x`-prefixed hex; the protocol works on bytes.
 * Parsing never throws: chain data is outside input, and a bad field makes a deal malformed,
 * not a node crash.
 */
import type { Hex } from './ledger.ts';

const HEX_RE = /^0x(?:[0-9a-fA-F]{2})*$/;

/** Bytes of a 0x-hex string, or null when it is not well-formed hex. */
export function hexToBytes(hex: string): Uint8Array | null {
  if (typeof hex !== 'string' || !HEX_RE.test(hex)) return null;
  return Uint8Array.from(Buffer.from(hex.slice(2), 'hex'));
}

/** Like `hexToBytes` but throws (for our own values, which are well-formed by construction). */
export function mustHex(hex: string, what: string): Uint8Array {
  const b = hexToBytes(hex);
  if (b === null) throw new TypeError(`${what}: expected 0x-prefixed hex`);
  return b;
}

export function bytesToHex(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`;
}
