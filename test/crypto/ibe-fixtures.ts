// Shared keys for the IBE tests. The master secret x is drawn from a seeded rng and the keys
// are built straight from the facade (not through src/crypto/ibe.ts): MPK = x·G2 and
// appKey(id) = x·hashToG1(utf8(id), APP_ID_DST), i.e. what t operators' partials combine to.
import { APP_ID_DST, getMclBackend, nobleBackend, type Bls12381 } from '../../src/crypto/bls12381/index.ts';
import { random } from '../../src/crypto/fr.ts';
import { seededRng } from '../../src/crypto/rng.ts';

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Both backends, so every test runs on the reference and on the fast one. */
export const backends: readonly Bls12381[] = [nobleBackend, await getMclBackend()];

export interface Keys {
  readonly x: bigint;
  /** x·G2, 96 bytes. */
  readonly mpk: Uint8Array;
  /** x·Q(id), 48 bytes. */
  appKey(id: string): Uint8Array;
}

export function makeKeys(curve: Bls12381, seed: string): Keys {
  const x = random(seededRng(seed));
  return {
    x,
    mpk: curve.g2.encode(curve.g2.mul(curve.g2.generator, x)),
    appKey: (id) => curve.g1.encode(curve.g1.mul(curve.hashToG1(utf8(id), APP_ID_DST), x)),
  };
}

/** The app ids the acceptance criteria name: empty, ASCII, long (10 kB) and non-ASCII. */
export const APP_IDS: ReadonlyArray<readonly [label: string, id: string]> = [
  ['empty', ''],
  ['ascii', 'app-0x5fbdb2315678afecb367f032d93f642f64180aa3'],
  ['long (10 kB)', 'long-app-id/'.repeat(854).slice(0, 10_240)],
  ['non-ascii', 'app-ü-漢字-🔑'],
];
