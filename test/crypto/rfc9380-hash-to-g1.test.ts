/**
 * @module
 * RFC 9380 hash_to_curve for G1 (suite BLS12381G1_XMD:SHA-256_SSWU_RO_) on both backends:
 * the Appendix J.9.1 vectors and our app-identity DST (`test/vectors/hash-to-g1.json`, see its
 * `provenance`). Every positive vector is also run mutated: another message or another DST
 * must give another point.
 */
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { APP_ID_DST, getMclBackend, nobleBackend, type Bls12381 } from '../../src/crypto/bls12381/index.ts';

interface Vector {
  msg: string;
  P: { x: string; y: string };
  compressed: string;
}
interface VectorSet {
  dst: string;
  vectors: Vector[];
}
const file = JSON.parse(readFileSync(new URL('../vectors/hash-to-g1.json', import.meta.url), 'utf8')) as {
  rfc9380: VectorSet;
  app_ids: VectorSet;
};

const backends: Bls12381[] = [nobleBackend];
before(async () => {
  backends.push(await getMclBackend());
});

test('the app-id vector set uses the DST of SPEC 2', () => {
  assert.equal(file.app_ids.dst, APP_ID_DST);
  assert.equal(file.rfc9380.dst, 'QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_');
  assert.ok(file.rfc9380.vectors.length >= 5 && file.app_ids.vectors.length >= 3);
});

for (const [setName, set] of Object.entries({ rfc9380: file.rfc9380, app_ids: file.app_ids })) {
  describe(`hash_to_curve G1 vectors: ${setName}`, () => {
    for (const v of set.vectors) {
      const label = JSON.stringify(v.msg.length > 24 ? `${v.msg.slice(0, 24)}…` : v.msg);
      test(`compressed form matches the affine (x, y) for msg ${label}`, () => {
        const p = bls12_381.G1.Point.fromBytes(hexToBytes(v.compressed)).toAffine();
        assert.equal(p.x, BigInt(v.P.x));
        assert.equal(p.y, BigInt(v.P.y));
      });
      test(`both backends hash msg ${label} to the vector, and mutations move it`, () => {
        assert.equal(backends.length, 2);
        const msg = utf8ToBytes(v.msg);
        for (const b of backends) {
          const h = b.hashToG1(msg, set.dst);
          assert.equal(bytesToHex(b.g1.encode(h)), v.compressed, `${b.name}: positive vector`);
          // The output is a valid non-identity subgroup point (strict decode accepts it back).
          assert.ok(b.g1.equals(b.g1.decode(hexToBytes(v.compressed)), h), `${b.name}: round trip`);
          const other = b.hashToG1(utf8ToBytes(`${v.msg}!`), set.dst);
          assert.notEqual(bytesToHex(b.g1.encode(other)), v.compressed, `${b.name}: another message`);
          const otherDst = b.hashToG1(msg, `${set.dst}X`);
          assert.notEqual(bytesToHex(b.g1.encode(otherDst)), v.compressed, `${b.name}: another DST`);
          // After the other DST, the original one must be back in force (mcl keeps one global DST).
          assert.equal(bytesToHex(b.g1.encode(b.hashToG1(msg, set.dst))), v.compressed, `${b.name}: DST restored`);
        }
      });
    }
  });
}

test('a DST outside 1..255 bytes is refused by both backends', () => {
  for (const b of backends) {
    assert.throws(() => b.hashToG1(new Uint8Array(1), ''), RangeError, b.name);
    assert.throws(() => b.hashToG1(new Uint8Array(1), 'D'.repeat(256)), RangeError, b.name);
  }
});
