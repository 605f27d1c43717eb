/**
 * @module
 * App identity points Q(id) = hash_to_curve_G1(utf8(id)) with the NUL DST (SPEC 2), through the
 * public entry point `appIdPoint` on both backends, against the `app_ids` set of
 * `test/vectors/hash-to-g1.json` (see its `provenance`: two independent implementations).
 * Every positive vector also runs mutated: another id must give another point, and a vector
 * with one flipped bit must not match.
 */
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { APP_ID_DST, getMclBackend, nobleBackend, type Bls12381 } from '../../src/crypto/bls12381/index.ts';
import { appIdPoint } from '../../src/crypto/threshold.ts';

interface Vector {
  msg: string;
  compressed: string;
}
const appIds = (
  JSON.parse(readFileSync(new URL('../vectors/hash-to-g1.json', import.meta.url), 'utf8')) as {
    app_ids: { dst: string; vectors: Vector[] };
  }
).app_ids;

const backends: Bls12381[] = [nobleBackend];
before(async () => {
  backends.push(await getMclBackend());
});

test('the app_ids set is made with the DST appIdPoint uses', () => {
  assert.equal(appIds.dst, APP_ID_DST);
  assert.equal(APP_ID_DST, 'BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_');
  assert.ok(appIds.vectors.length >= 3);
  assert.ok(appIds.vectors.some((v) => [...v.msg].some((c) => c.charCodeAt(0) > 0x7f)), 'the set holds a non-ASCII id');
});

describe('appIdPoint: app_ids vectors (test/vectors/hash-to-g1.json)', () => {
  for (const v of appIds.vectors) {
    const label = JSON.stringify(v.msg.length > 24 ? `${v.msg.slice(0, 24)}…` : v.msg);
    test(`Q(${label}) matches the vector on both backends; mutations do not`, () => {
      assert.equal(backends.length, 2);
      const flipped = hexToBytes(v.compressed);
      flipped[47] = (flipped[47] as number) ^ 1;
      for (const b of backends) {
        const q = b.g1.encode(appIdPoint(v.msg, b));
        assert.equal(bytesToHex(q), v.compressed, `${b.name}: positive vector`);
        assert.notDeepEqual(q, flipped, `${b.name}: a vector with one bit flipped does not match`);
        const other = b.g1.encode(appIdPoint(`${v.msg}!`, b));
        assert.notEqual(bytesToHex(other), v.compressed, `${b.name}: another id, another point`);
      }
    });
  }

  test('no Unicode normalisation: the NFD form of a non-ASCII id is another identity', () => {
    const v = appIds.vectors.find((x) => x.msg.normalize('NFD') !== x.msg);
    assert.ok(v, 'a vector whose id changes under NFD');
    for (const b of backends) {
      assert.equal(bytesToHex(b.g1.encode(appIdPoint(v.msg, b))), v.compressed, b.name);
      assert.notEqual(bytesToHex(b.g1.encode(appIdPoint(v.msg.normalize('NFD'), b))), v.compressed, b.name);
    }
  });
});
