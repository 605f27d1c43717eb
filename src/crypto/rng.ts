/**
 * @module
 * Randomness is always handed in, never taken: an `Rng` returns n fresh bytes. `systemRng`
 * draws from the OS CSPRNG; `seededRng` is deterministic (ChaCha20 keystream of
 * SHA-256(seed)) for tests and the simulator, where one seed must reproduce one run.
 */
import { randomBytes } from 'node:crypto';
import { chacha20 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';

export type Rng = (n: number) => Uint8Array;

export const systemRng: Rng = (n) => new Uint8Array(randomBytes(n));

/** Deterministic stream from a seed; never use outside tests, benchmarks and the simulator. */
export function seededRng(seed: string | Uint8Array): Rng {
  const key = sha256(typeof seed === 'string' ? utf8ToBytes(seed) : seed);
  let counter = 0;
  return (n) => {
    const nonce = new Uint8Array(12);
    new DataView(nonce.buffer).setUint32(8, counter++);
    return chacha20(key, nonce, new Uint8Array(n));
  };
}
