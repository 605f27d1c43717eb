/**
 * @module
 * Small helpers the actions share: argument asserts that return their input (noble's habit),
 * hex conversions, and the decoding of a public polynomial with its on-chain checks.
 *
 * App ids are bytes32; the IBE identity of an app (what envelopes are encrypted to and what
 * partials sign) is its lowercase 0x-hex, 66 characters. {@link aAppId} produces exactly that
 * string, so `0xABC…` and `0xabc…` name the same app.
 */
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bls } from '../crypto/bls12381/index.ts';
import type { G1, G2 } from '../crypto/bls12381/types.ts';
import type { Address, Hex } from '../protocol/ledger.ts';
import { InvalidParameterError } from './errors.ts';

const BYTES32_RE = /^0x[0-9a-fA-F]{64}$/;
const HEX_RE = /^0x(?:[0-9a-fA-F]{2})*$/;

/** G2 compressed size (MPK, polynomial coefficients). */
export const G2_BYTES = 96;
/** G1 compressed size (partials, app keys). */
export const G1_BYTES = 48;

/** A bytes32 app id as its IBE identity string: lowercase 0x-hex, 66 characters. */
export function aAppId(appId: unknown, what = 'appId'): Hex {
  if (typeof appId !== 'string' || !BYTES32_RE.test(appId)) {
    throw new InvalidParameterError(what, `a bytes32 app id (0x followed by 64 hex digits)${typeof appId === 'string' ? `, got ${appId.length} characters` : `, got ${typeof appId}`}`);
  }
  return appId.toLowerCase() as Hex;
}

export const isHex = (v: unknown): v is Hex => typeof v === 'string' && HEX_RE.test(v);

export function bytesToHex(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`;
}

/** Bytes of 0x-hex; never echoes the value (it may be a key). */
export function hexToBytes(hex: unknown, length: number | undefined, what: string): Uint8Array {
  if (!isHex(hex)) throw new InvalidParameterError(what, `0x-prefixed hex${length !== undefined ? ` of ${length} bytes` : ''}`);
  const b = new Uint8Array(Buffer.from(hex.slice(2), 'hex'));
  if (length !== undefined && b.length !== length) throw new InvalidParameterError(what, `${length} bytes, got ${b.length}`);
  return b;
}

/** Bytes or 0x-hex of `length` bytes, as a fresh array. */
export function toBytes(value: unknown, length: number, what: string): Uint8Array {
  if (value instanceof Uint8Array) {
    if (value.length !== length) throw new InvalidParameterError(what, `${length} bytes, got ${value.length}`);
    return Uint8Array.from(value);
  }
  return hexToBytes(value, length, what);
}

/** A 32-byte scalar as 0x-hex (x-coordinates in output). */
export function scalarHex(x: bigint): Hex {
  return `0x${x.toString(16).padStart(64, '0')}`;
}

export const lc = <T extends string>(s: T): T => s.toLowerCase() as T;

/** Decodes an app key (48-byte compressed G1), refusing anything that is not a valid non-identity point. */
export function decodeAppKey(appKey: unknown, what = 'appKey'): { bytes: Uint8Array; point: G1 } {
  const bytes = toBytes(appKey, G1_BYTES, what);
  try {
    return { bytes, point: bls.g1.decode(bytes) };
  } catch {
    // The key is secret: say what is wrong, never what it is.
    throw new InvalidParameterError(what, 'a 48-byte compressed G1 point (the app key is not a valid point)');
  }
}

/** Decodes an MPK (96-byte compressed G2). */
export function decodeMpk(mpk: unknown, what = 'mpk'): { hex: Hex; point: G2 } {
  const bytes = toBytes(mpk, G2_BYTES, what);
  try {
    return { hex: bytesToHex(bytes), point: bls.g2.decode(bytes) };
  } catch (e) {
    throw new InvalidParameterError(what, `a 96-byte compressed G2 point (${e instanceof Error ? e.message : 'not a valid point'})`);
  }
}

/** keccak256 of the concatenated coefficients, as recorded on-chain (docs/formats.md). */
export function publicPolyHash(coefficients: readonly Uint8Array[]): Hex {
  return bytesToHex(keccak_256(Buffer.concat(coefficients)));
}

/**
 * Checks a public polynomial served by someone against the chain: exactly `threshold`
 * coefficients of 96-byte hex, keccak256(A_0 ‖ … ‖ A_{t-1}) equal to the on-chain hash, A_0
 * equal to the pinned MPK, and every point valid. Returns the decoded points, or why not
 * (a sentence fragment naming the first failed check).
 */
export function checkPublicPoly(
  served: unknown,
  expected: { readonly publicPolyHash: Hex; readonly threshold: number; readonly mpk: Hex },
): { ok: true; hex: Hex[]; points: G2[] } | { ok: false; why: string } {
  if (!Array.isArray(served) || served.length === 0) return { ok: false, why: 'is not a list of G2 points' };
  if (served.length !== expected.threshold) {
    return { ok: false, why: `has ${served.length} coefficients, but the version's threshold is ${expected.threshold}` };
  }
  const bytes: Uint8Array[] = [];
  for (const c of served) {
    if (!isHex(c) || c.length !== 2 + 2 * G2_BYTES) return { ok: false, why: 'has a coefficient that is not 96 bytes of hex' };
    bytes.push(new Uint8Array(Buffer.from(c.slice(2), 'hex')));
  }
  const hash = publicPolyHash(bytes);
  if (hash !== lc(expected.publicPolyHash)) return { ok: false, why: `hashes to ${hash}, not the on-chain publicPolyHash` };
  const hex = bytes.map(bytesToHex);
  if (hex[0] !== lc(expected.mpk)) return { ok: false, why: 'has a constant term A_0 that is not the pinned master public key' };
  const points: G2[] = [];
  try {
    for (const b of bytes) points.push(bls.g2.decode(b));
  } catch {
    return { ok: false, why: 'has a coefficient that is not a valid G2 point' };
  }
  return { ok: true, hex, points };
}

/** Splits the ledger's concatenated polynomial (0x + 192·t hex digits) into coefficients. */
export function splitPoly(concat: Hex): Hex[] | null {
  if (!isHex(concat) || concat.length <= 2 || (concat.length - 2) % (2 * G2_BYTES) !== 0) return null;
  const out: Hex[] = [];
  for (let i = 2; i < concat.length; i += 2 * G2_BYTES) out.push(`0x${concat.slice(i, i + 2 * G2_BYTES).toLowerCase()}`);
  return out;
}

export const sameAddress = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

export type { Address, Hex };
