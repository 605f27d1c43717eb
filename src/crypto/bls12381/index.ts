/**
 * @module
 * Entry point of the BLS12-381 facade (see `./types.ts` for the contract and sizes:
 * G1 48 bytes, G2 96 bytes compressed, GT 576 bytes). `bls` is the backend chosen once at
 * module load: `KMS_BLS_BACKEND=mcl` (default, mcl-wasm, 5–20× faster) or `noble`
 * (@noble/curves, the reference); any other value is a configuration error. Both backends are
 * exported so tests and benchmarks can drive them side by side. Points belong to the backend
 * that made them: never pass a point of one backend to the other.
 */
import { nobleBackend } from './noble.ts';
import { getMclBackend } from './mcl.ts';
import type { Bls12381 } from './types.ts';

export * from './types.ts';
export { nobleBackend, getMclBackend };

/** The backend names `KMS_BLS_BACKEND` accepts. */
export const BLS_BACKENDS = ['mcl', 'noble'] as const;
export type BlsBackendName = (typeof BLS_BACKENDS)[number];

/** Resolves a backend by name (`undefined` or empty means the default, mcl). */
export async function loadBackend(name: string | undefined): Promise<Bls12381> {
  const n = name === undefined || name === '' ? 'mcl' : name;
  if (n === 'noble') return nobleBackend;
  if (n === 'mcl') return getMclBackend();
  throw new Error(`KMS_BLS_BACKEND: expected one of ${BLS_BACKENDS.join(', ')}, got "${n}"`);
}

/** The process-wide default backend (top-level await: mcl's wasm is initialised here). */
export const bls: Bls12381 = await loadBackend(process.env['KMS_BLS_BACKEND']);
