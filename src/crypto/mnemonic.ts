/**
 * @module
 * App wallet seed (SPEC §2 "App wallet seed"): a 24-word BIP39 English mnemonic derived
 * from an app key `d = x·Q(appId)` (48-byte compressed BLS12-381 G1 point).
 *
 * ```
 * entropy  = HKDF-SHA256(ikm = d (48 bytes), salt = empty, info = "eigenx-kms/mnemonic/v1", L = 32)
 * mnemonic = BIP39-English(entropy)          256 bits + 8-bit checksum = 24 words
 * ```
 * Only someone holding the app key (the app, or t colluding operators) can derive it; the
 * words are the same for every run and every client. The input is checked for length and
 * for the compressed, non-infinity flag bits of the ZCash encoding; full point validation
 * (on curve, subgroup) is the BLS12-381 decoder's job and should happen before this call.
 */
import { hkdfSync } from 'node:crypto';
import { entropyToMnemonic } from '@scure/bip39';
import { wordlist as english } from '@scure/bip39/wordlists/english.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { aBytes } from './domain.ts';

export const MNEMONIC_INFO = 'eigenx-kms/mnemonic/v1';
const MNEMONIC_INFO_BYTES = utf8ToBytes(MNEMONIC_INFO);
export const APP_KEY_BYTES = 48;
export const MNEMONIC_ENTROPY_BYTES = 32;
export const MNEMONIC_WORDS = 24;

/** The 32 bytes of BIP39 entropy derived from an app key. */
export function appMnemonicEntropy(appKey: Uint8Array): Uint8Array {
  aBytes(appKey, APP_KEY_BYTES, 'appKey');
  const flags = (appKey[0] as number) & 0xe0;
  // ZCash encoding: bit 7 = compressed (must be set), bit 6 = infinity (must be clear).
  if ((flags & 0x80) === 0) throw new RangeError('appKey: expected a compressed G1 point (flag bit 0x80 set)');
  if ((flags & 0x40) !== 0) throw new RangeError('appKey: the point at infinity is not an app key');
  return new Uint8Array(hkdfSync('sha256', appKey, new Uint8Array(0), MNEMONIC_INFO_BYTES, MNEMONIC_ENTROPY_BYTES));
}

/** 24-word BIP39 English mnemonic of an app key (words separated by single spaces). */
export function appMnemonic(appKey: Uint8Array): string {
  if (arguments.length !== 1) throw new TypeError(`appMnemonic: expected 1 argument, got ${arguments.length}`);
  const entropy = appMnemonicEntropy(appKey);
  try {
    return entropyToMnemonic(entropy, english);
  } finally {
    entropy.fill(0);
  }
}
