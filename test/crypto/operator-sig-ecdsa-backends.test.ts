// The two secp256k1 backends of src/crypto/operator-sig-ecdsa.ts give identical results:
// libsecp256k1 through the `secp256k1` package's native binding (the fast path of key release)
// and @noble/curves (the reference, and the fallback where the binding does not load).
// Signatures are byte-identical (both RFC 6979, low-s); recovery returns the same address and
// refuses the same malformed signatures. The fallback is exercised in a child process started
// with KMS_SECP256K1=noble.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { toHex } from '../../src/crypto/domain.ts';
import {
  EcdsaSignatureError,
  SECP256K1_N,
  ecdsaBackend,
  ecdsaGenerateSecretKey,
  ecdsaRecoverAddressFromDigest,
  ecdsaSignDigest,
  encodeEcdsaSignature,
  parseEcdsaSignature,
} from '../../src/crypto/operator-sig-ecdsa.ts';

const nobleAddress = (publicKey: Uint8Array): Uint8Array => keccak_256(publicKey.subarray(1)).slice(12);

/** noble's signature in Ethereum layout r ‖ s ‖ (27 + recovery). */
function nobleSign(sk: Uint8Array, digest: Uint8Array): Uint8Array {
  const rec = secp256k1.sign(digest, sk, { prehash: false, lowS: true, format: 'recovered' });
  return Uint8Array.from([...rec.subarray(1), 27 + (rec[0] as number)]);
}

function nobleRecover(digest: Uint8Array, sig: Uint8Array): Uint8Array {
  const { r, s, v } = parseEcdsaSignature(sig);
  return nobleAddress(new secp256k1.Signature(r, s, v - 27).recoverPublicKey(digest).toBytes(false));
}

describe('ecdsa backends', () => {
  it('the native binding is in use on linux-x64 (a silent fallback would cost ~25× per signature)', (t) => {
    if (process.platform !== 'linux' || process.arch !== 'x64' || process.env['KMS_SECP256K1'] === 'noble') {
      t.skip('no prebuilt binding expected here');
      return;
    }
    assert.equal(ecdsaBackend(), 'native');
  });

  it('signatures equal noble’s byte for byte, and recover to the signer', () => {
    for (let i = 0; i < 200; i++) {
      const sk = ecdsaGenerateSecretKey();
      const digest = randomBytes(32);
      const sig = ecdsaSignDigest(sk, digest);
      assert.deepEqual(sig, nobleSign(sk, digest));
      const address = nobleAddress(secp256k1.getPublicKey(sk, false));
      assert.deepEqual(ecdsaRecoverAddressFromDigest(digest, sig), address);
    }
  });

  it('recovery equals noble’s on foreign canonical signatures, and a changed digest recovers elsewhere', () => {
    for (let i = 0; i < 100; i++) {
      const sk = secp256k1.utils.randomSecretKey();
      const digest = randomBytes(32);
      const sig = nobleSign(sk, digest);
      assert.deepEqual(ecdsaRecoverAddressFromDigest(digest, sig), nobleRecover(digest, sig));
      const other = Uint8Array.from(digest);
      other[i % 32] = (other[i % 32] as number) ^ 1;
      assert.notDeepEqual(ecdsaRecoverAddressFromDigest(other, sig), nobleRecover(digest, sig));
    }
  });

  it('the same (r, s) with the other v recovers to another key, exactly as noble', () => {
    for (let i = 0; i < 50; i++) {
      const digest = randomBytes(32);
      const sig = nobleSign(secp256k1.utils.randomSecretKey(), digest);
      const flipped = Uint8Array.from(sig);
      flipped[64] = sig[64] === 27 ? 28 : 27;
      let native: Uint8Array | string;
      let noble: Uint8Array | string;
      try {
        native = ecdsaRecoverAddressFromDigest(digest, flipped);
      } catch (e) {
        native = (e as Error).name;
      }
      try {
        noble = nobleRecover(digest, flipped);
      } catch {
        noble = 'EcdsaSignatureError';
      }
      assert.deepEqual(native, noble);
      assert.notDeepEqual(native, nobleRecover(digest, sig));
    }
  });

  it('refuses what is not a canonical, recoverable signature', () => {
    const digest = randomBytes(32);
    const good = nobleSign(secp256k1.utils.randomSecretKey(), digest);
    const { r, s, v } = parseEcdsaSignature(good);
    // r = 5 is not the x-coordinate of a curve point (5³ + 7 = 132 is not a square mod p).
    for (const bad of [
      encodeEcdsaSignature({ r, s: SECP256K1_N - s, v: v === 27 ? 28 : 27 }), // high s
      encodeEcdsaSignature({ r, s, v: 29 }),
      encodeEcdsaSignature({ r, s, v: 0 }),
      encodeEcdsaSignature({ r: 0n, s, v }),
      encodeEcdsaSignature({ r: SECP256K1_N, s, v }),
      encodeEcdsaSignature({ r, s: 0n, v }),
      encodeEcdsaSignature({ r: 5n, s, v }),
    ]) {
      assert.throws(() => ecdsaRecoverAddressFromDigest(digest, bad), EcdsaSignatureError);
    }
  });

  it('the noble fallback (KMS_SECP256K1=noble, another process) signs and recovers the same', async () => {
    const sk = ecdsaGenerateSecretKey();
    const digest = randomBytes(32);
    const probe = `
      const m = await import(${JSON.stringify(new URL('../../src/crypto/operator-sig-ecdsa.ts', import.meta.url).href)});
      const sk = Buffer.from(${JSON.stringify(Buffer.from(sk).toString('hex'))}, 'hex');
      const digest = Buffer.from(${JSON.stringify(digest.toString('hex'))}, 'hex');
      const sig = m.ecdsaSignDigest(sk, digest);
      console.log(JSON.stringify({ backend: m.ecdsaBackend(), sig: Buffer.from(sig).toString('hex'), addr: Buffer.from(m.ecdsaRecoverAddressFromDigest(digest, sig)).toString('hex') }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], {
      env: { ...process.env, KMS_SECP256K1: 'noble' },
    });
    const out = JSON.parse(stdout.trim().split('\n').at(-1) as string) as { backend: string; sig: string; addr: string };
    assert.equal(out.backend, 'noble');
    const sig = ecdsaSignDigest(sk, digest);
    assert.equal(`0x${out.sig}`, toHex(sig));
    assert.equal(`0x${out.addr}`, toHex(ecdsaRecoverAddressFromDigest(digest, sig)));
  });
});
