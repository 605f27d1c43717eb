// Deal sealing computes its ECDH through libsecp256k1's native binding when it loads, else
// through node:crypto (src/crypto/seal.ts). Both give the same sealed bytes (seal.test.ts also
// checks them against an independent noble implementation), and both refuse the same bad points.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { makeDomain, toHex } from '../../src/crypto/domain.ts';
import { nativeSecp256k1 } from '../../src/crypto/secp256k1-native.ts';
import { SealError, ecdhXNode, generateSealKeyPair, open, seal, type SealContext } from '../../src/crypto/seal.ts';

const ctx: SealContext = {
  domain: makeDomain({ chainId: 31337, registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' }),
  session: 9n,
  dealer: '0x00000000000000000000000000000000000000d1',
  recipient: '0x00000000000000000000000000000000000000a1',
};

describe('seal: ECDH backends', () => {
  it('the native binding is in use on linux-x64', (t) => {
    if (process.platform !== 'linux' || process.arch !== 'x64' || process.env['KMS_SECP256K1'] === 'noble') {
      t.skip('no prebuilt binding expected here');
      return;
    }
    assert.notEqual(nativeSecp256k1, null);
  });

  it('sealed bytes equal those of the node:crypto fallback (KMS_SECP256K1=noble, another process)', async () => {
    const cases = Array.from({ length: 8 }, () => ({ e: generateSealKeyPair(), x: generateSealKeyPair(), share: randomBytes(32) }));
    const here = cases.map((c) => toHex(seal(c.e.secretKey, c.x.publicKey, ctx, c.share)));
    const probe = `
      const m = await import(${JSON.stringify(new URL('../../src/crypto/seal.ts', import.meta.url).href)});
      const d = await import(${JSON.stringify(new URL('../../src/crypto/domain.ts', import.meta.url).href)});
      const n = await import(${JSON.stringify(new URL('../../src/crypto/secp256k1-native.ts', import.meta.url).href)});
      const cases = ${JSON.stringify(cases.map((c) => [toHex(c.e.secretKey), toHex(c.x.publicKey), toHex(c.share)]))};
      const ctx = { domain: d.makeDomain({ chainId: 31337, registry: '0x5FbDB2315678afecb367f032d93F642f64180aa3' }), session: 9n,
        dealer: '0x00000000000000000000000000000000000000d1', recipient: '0x00000000000000000000000000000000000000a1' };
      const b = (h) => d.parseHex(h, undefined, 'x');
      console.log(JSON.stringify({ native: n.nativeSecp256k1 !== null, sealed: cases.map(([e, x, s]) => d.toHex(m.seal(b(e), b(x), ctx, b(s)))) }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], {
      env: { ...process.env, KMS_SECP256K1: 'noble' },
    });
    const out = JSON.parse(stdout.trim().split('\n').at(-1) as string) as { native: boolean; sealed: string[] };
    assert.equal(out.native, false);
    assert.deepEqual(out.sealed, here);
    cases.forEach((c, i) => assert.deepEqual(open(c.x.secretKey, c.e.publicKey, ctx, seal(c.e.secretKey, c.x.publicKey, ctx, c.share)), Uint8Array.from(c.share), `case ${i}`));
  });

  it('a point off the curve is a SealError on both paths', () => {
    const e = generateSealKeyPair();
    const off = Uint8Array.from([0x02, ...new Uint8Array(31), 5]); // x = 5: 5³ + 7 is not a square mod p
    assert.throws(() => seal(e.secretKey, off, ctx, randomBytes(32)), (err: unknown) => err instanceof SealError && err.code === 'bad-public-key');
    assert.throws(() => ecdhXNode(e.secretKey, off), (err: unknown) => err instanceof SealError && err.code === 'bad-public-key');
  });
});
