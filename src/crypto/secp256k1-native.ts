/**
 * @module
 * libsecp256k1 through the `secp256k1` package's native binding (N-API; the package ships
 * prebuilt binaries for linux-x64, darwin-arm64 and win32-x64), for the secp256k1 hot paths:
 * ECDSA signing and key recovery (`operator-sig-ecdsa.ts`) and ECDH (`seal.ts`). Measured here
 * ~25× (sign), ~35× (recover) faster than `@noble/curves` and ~15× faster than node:crypto's
 * OpenSSL ECDH on this curve.
 *
 * `null` when the binding does not load (no prebuild for the platform) or when
 * `KMS_SECP256K1=noble` is set: the callers then use noble / node:crypto, which give identical
 * results (the tests compare them). Only the binding itself is loaded (`secp256k1/bindings`),
 * never the package root, which would silently fall back to the slow `elliptic` JS library.
 */
import { createRequire } from 'node:module';

/** The part of the binding used here (the package ships no types). */
export interface NativeSecp256k1 {
  /** RFC 6979 nonce, low-s; `signature` is r ‖ s (64 bytes), `recid` 0..3. Throws on a bad key. */
  ecdsaSign(msg32: Uint8Array, seckey: Uint8Array): { signature: Uint8Array; recid: number };
  /** The signer's key (65 bytes when `compressed` is false). Throws if it cannot recover. */
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed: boolean): Uint8Array;
  /**
   * Constant-time ECDH (`secp256k1_ecdh`); with `hashfn` the output is what it returns for the
   * shared point's coordinates. Throws when the public key does not parse or the scalar is invalid.
   */
  ecdh(
    pubkey: Uint8Array,
    seckey: Uint8Array,
    options: { hashfn: (x: Uint8Array, y: Uint8Array) => Uint8Array; xbuf: Uint8Array; ybuf: Uint8Array },
    output: Uint8Array,
  ): Uint8Array;
}

function load(): NativeSecp256k1 | null {
  if (process.env['KMS_SECP256K1'] === 'noble') return null;
  try {
    return createRequire(import.meta.url)('secp256k1/bindings') as NativeSecp256k1;
  } catch {
    return null;
  }
}

/** The binding, or null (see the module header). */
export const nativeSecp256k1: NativeSecp256k1 | null = load();
