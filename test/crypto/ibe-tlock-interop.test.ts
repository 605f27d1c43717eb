// Interoperability of the IBE KEM and envelope v1 with drand's timelock IBE as implemented by
// tlock-js 0.9.0 (`encryptOnG2RFC9380` / `decryptOnG2`: Boneh–Franklin FullIdent, master key
// in G2, identity hashed to G1 with the RFC 9380 NUL DST). tlock-js is CommonJS and runs on its
// own bundled @noble/curves 1.x, so it is an independent implementation of the same maths.
// Both directions, for empty, ASCII, long and non-ASCII app ids, on both of our backends, with
// payloads of 0 B, 1 B, 1 KiB, 4 KiB (one per app id) and 1 MiB (once):
// - KEM: our (U, V, W) opens with tlock's decryptOnG2; tlock's opens with our kemDecrypt.
// - Envelope: our envelope opens with "tlock KEM + node:crypto AES-256-GCM" written here from
//   docs/formats.md; an envelope assembled around tlock's KEM output opens with decryptFromApp.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { decryptOnG2, encryptOnG2RFC9380 } from 'tlock-js/crypto/ibe.js';
import { bls } from '../../src/crypto/bls12381/index.ts';
import {
  decryptFromApp,
  encryptToApp,
  IbeError,
  kemDecrypt,
  kemEncrypt,
  parseEnvelope,
} from '../../src/crypto/ibe.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { APP_IDS, backends, makeKeys, utf8 } from './ibe-fixtures.ts';

/** Opens an envelope v1 with tlock-js for the KEM and node:crypto for the DEM (independent path). */
async function openWithTlock(appKey: Uint8Array, envelope: Uint8Array): Promise<Uint8Array> {
  const p = parseEnvelope(envelope);
  const dek = await decryptOnG2(appKey, { U: p.U, V: p.V, W: p.W });
  const n = p.ciphertext.length - 16;
  const d = createDecipheriv('aes-256-gcm', dek, p.nonce, { authTagLength: 16 });
  d.setAAD(p.header);
  d.setAuthTag(p.ciphertext.subarray(n));
  return new Uint8Array(Buffer.concat([d.update(p.ciphertext.subarray(0, n)), d.final()]));
}

/** Builds an envelope v1 around tlock-js's KEM output, following docs/formats.md byte by byte. */
async function sealWithTlock(mpk: Uint8Array, appId: string, plaintext: Uint8Array): Promise<Uint8Array> {
  const dek = seededRng(`tlock-dek/${appId}/${plaintext.length}`)(32);
  const nonce = seededRng(`tlock-nonce/${appId}/${plaintext.length}`)(12);
  const { U, V, W } = await encryptOnG2RFC9380(mpk, utf8(appId), dek);
  const id = utf8(appId);
  const header = Buffer.concat([Buffer.from('EKMS', 'latin1'), Uint8Array.of(1, id.length >> 8, id.length & 0xff), id, U, V, W, nonce]);
  const c = createCipheriv('aes-256-gcm', dek, nonce, { authTagLength: 16 });
  c.setAAD(header);
  return new Uint8Array(Buffer.concat([header, c.update(plaintext), c.final(), c.getAuthTag()]));
}

/** Payload size paired with each app id (the DEM does not depend on the id; 1 MiB runs once below). */
const PAYLOAD: Record<string, number> = { empty: 0, ascii: 1, 'long (10 kB)': 1024, 'non-ascii': 4096 };

for (const curve of backends) {
  describe(`IBE ↔ tlock-js 0.9.0 [${curve.name}]`, () => {
    const keys = makeKeys(curve, `ibe-tlock/${curve.name}`);

    for (const [label, appId] of APP_IDS) {
      const key = keys.appKey(appId);
      const n = PAYLOAD[label] ?? 0;

      it(`ours → tlock decryptOnG2: KEM and a ${n} B envelope, app id ${label}`, async () => {
        const msg = seededRng(`msg/${label}`)(32);
        const ct = kemEncrypt(keys.mpk, appId, msg, seededRng(`sigma/${label}`), curve);
        assert.equal(ct.U.length, 96);
        assert.deepEqual(new Uint8Array(await decryptOnG2(key, ct)), msg);
        const pt = seededRng(`pt/${label}`)(n);
        const env = encryptToApp(keys.mpk, appId, pt, seededRng(`env/${label}`), curve);
        assert.deepEqual(await openWithTlock(key, env), pt);
      });

      it(`tlock encryptOnG2RFC9380 → ours: KEM and a ${n} B envelope, app id ${label}`, async () => {
        const msg = seededRng(`tmsg/${label}`)(32);
        const ct = await encryptOnG2RFC9380(keys.mpk, utf8(appId), msg);
        assert.deepEqual(kemDecrypt(key, ct, curve), msg);
        // The FO check holds on their ciphertexts too: a changed W is refused, not mis-decrypted.
        const W = ct.W.slice();
        W[0] = (W[0] as number) ^ 1;
        assert.throws(() => kemDecrypt(key, { ...ct, W }, curve), (e) => e instanceof IbeError && e.code === 'decrypt-failed');
        const pt = seededRng(`tpt/${label}`)(n);
        assert.deepEqual(decryptFromApp(key, appId, await sealWithTlock(keys.mpk, appId, pt), curve), pt);
      });
    }

    it('16-byte KEM messages (the size age/tlock file keys use) work both ways', async () => {
      const msg = seededRng('msg16')(16);
      const key = keys.appKey('app');
      const ours = kemEncrypt(keys.mpk, 'app', msg, seededRng('sigma16'), curve);
      assert.equal(ours.V.length, 16);
      assert.deepEqual(new Uint8Array(await decryptOnG2(key, ours)), msg);
      assert.deepEqual(kemDecrypt(key, await encryptOnG2RFC9380(keys.mpk, utf8('app'), msg), curve), msg);
    });

    it('tlock refuses what we refuse: a wrong app key or a changed V', async () => {
      const ct = kemEncrypt(keys.mpk, 'app', seededRng('m')(32), seededRng('s'), curve);
      await assert.rejects(decryptOnG2(keys.appKey('other'), ct), /rP check failed/);
      const V = ct.V.slice();
      V[31] = (V[31] as number) ^ 0x80;
      await assert.rejects(decryptOnG2(keys.appKey('app'), { ...ct, V }), /rP check failed/);
      assert.throws(() => kemDecrypt(keys.appKey('app'), { ...ct, V }, curve), (e) => e instanceof IbeError && e.code === 'decrypt-failed');
    });
  });
}

describe('IBE ↔ tlock-js 0.9.0 [default backend, 1 MiB]', () => {
  const keys = makeKeys(bls, 'ibe-tlock/1mib');
  const appId = 'app-ü-漢字-🔑';

  it('a 1 MiB envelope opens in both directions', async () => {
    const pt = seededRng('1mib')(1 << 20);
    const ours = encryptToApp(keys.mpk, appId, pt, seededRng('1mib-env'));
    assert.deepEqual(await openWithTlock(keys.appKey(appId), ours), pt);
    const theirs = await sealWithTlock(keys.mpk, appId, pt);
    assert.deepEqual(decryptFromApp(keys.appKey(appId), appId, theirs), pt);
  });
});
