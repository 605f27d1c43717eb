// IBE envelope v1 (docs/formats.md): round trips on both backends, byte layout, strict parsing,
// and the negative suite — every tampered region, truncations, wrong keys and wrong app ids
// must end in an IbeError with the right code, never in plaintext.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { bls, type Bls12381 } from '../../src/crypto/bls12381/index.ts';
import {
  armor,
  dearmor,
  decryptFromApp,
  encryptToApp,
  ENVELOPE_V1,
  IbeError,
  parseEnvelope,
  type IbeErrorCode,
} from '../../src/crypto/ibe.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { APP_IDS, backends, hex, makeKeys, utf8 } from './ibe-fixtures.ts';

/** Runs `f` and asserts it throws an IbeError whose code is one of `codes`; returns the error. */
function throwsIbe(f: () => unknown, codes: IbeErrorCode | readonly IbeErrorCode[], what = ''): IbeError {
  const allowed = typeof codes === 'string' ? [codes] : codes;
  let result: unknown;
  try {
    result = f();
  } catch (e) {
    assert.ok(e instanceof IbeError, `${what}: expected IbeError, got ${String(e)}`);
    assert.ok(allowed.includes(e.code), `${what}: expected code ${allowed.join('|')}, got ${e.code} (${e.message})`);
    return e;
  }
  assert.fail(`${what}: expected IbeError ${allowed.join('|')}, but it returned ${inspect(result).slice(0, 80)}`);
}

const payload = (n: number, seed = 'payload'): Uint8Array => seededRng(seed)(n);

/** Offsets of the regions of an envelope with an appId of L bytes and n plaintext bytes. */
function regions(L: number, n: number) {
  const u = 7 + L;
  const ct = u + 96 + 32 + 32 + 12;
  return {
    magic: [0, 4],
    version: [4, 5],
    length: [5, 7],
    appId: [7, u],
    U: [u, u + 96],
    V: [u + 96, u + 128],
    W: [u + 128, u + 160],
    nonce: [u + 160, ct],
    ciphertext: [ct, ct + n],
    tag: [ct + n, ct + n + 16],
  } as const;
}

const flip = (b: Uint8Array, i: number, mask = 0x01): Uint8Array => {
  const c = b.slice();
  c[i] = (c[i] as number) ^ mask;
  return c;
};

for (const curve of backends) {
  describe(`IBE envelope v1 [${curve.name}]`, () => {
    const keys = makeKeys(curve, `ibe-envelope/${curve.name}`);
    const id = 'app-ü';
    const key = keys.appKey(id);

    it('round trips payloads of 0 B, 1 B and 1 KiB with the exact length 195 + L + n', () => {
      for (const n of [0, 1, 1024]) {
        const pt = payload(n);
        const env = encryptToApp(keys.mpk, id, pt, seededRng(`rt-${n}`), curve);
        assert.equal(env.length, ENVELOPE_V1.overhead + utf8(id).length + n);
        assert.deepEqual(decryptFromApp(key, id, env, curve), pt);
      }
    });

    it('round trips every app id shape (empty, ASCII, 10 kB, non-ASCII, BOM kept)', () => {
      for (const [label, appId] of [...APP_IDS, ['bom', '\ufeffapp'] as const]) {
        const pt = payload(33, label);
        const env = encryptToApp(keys.mpk, appId, pt, seededRng(label), curve);
        assert.equal(parseEnvelope(env, curve).appId, appId, label);
        assert.deepEqual(decryptFromApp(keys.appKey(appId), appId, env, curve), pt, label);
      }
    });

    it('writes the documented layout and parseEnvelope returns its fields', () => {
      const pt = payload(5);
      const env = encryptToApp(keys.mpk, id, pt, seededRng('layout'), curve);
      const L = utf8(id).length;
      const r = regions(L, pt.length);
      assert.equal(Buffer.from(env.subarray(0, 4)).toString('latin1'), 'EKMS');
      assert.equal(env[4], 1);
      assert.equal((env[5] as number) * 256 + (env[6] as number), L);
      const p = parseEnvelope(env, curve);
      assert.equal(p.version, 1);
      assert.deepEqual(p.appIdBytes, env.subarray(...r.appId));
      assert.deepEqual(p.U, env.subarray(...r.U));
      assert.deepEqual(p.V, env.subarray(...r.V));
      assert.deepEqual(p.W, env.subarray(...r.W));
      assert.deepEqual(p.nonce, env.subarray(...r.nonce));
      assert.deepEqual(p.ciphertext, env.subarray(r.ciphertext[0]));
      assert.deepEqual(p.header, env.subarray(0, r.ciphertext[0]));
      // U is a valid G2 point, not the identity.
      assert.ok(!curve.g2.isZero(curve.g2.decode(p.U)));
    });

    it('is deterministic for a seeded rng and fresh for the system rng', () => {
      const pt = payload(16);
      const a = encryptToApp(keys.mpk, id, pt, seededRng('det'), curve);
      const b = encryptToApp(keys.mpk, id, pt, seededRng('det'), curve);
      assert.deepEqual(a, b);
      const c = encryptToApp(keys.mpk, id, pt, undefined, curve);
      const d = encryptToApp(keys.mpk, id, pt, undefined, curve);
      assert.notDeepEqual(c.subarray(7), d.subarray(7));
    });

    it('accepts the MPK and app key as points as well as bytes', () => {
      const pt = payload(7);
      const env = encryptToApp(curve.g2.decode(keys.mpk), id, pt, seededRng('pts'), curve);
      assert.deepEqual(env, encryptToApp(keys.mpk, id, pt, seededRng('pts'), curve));
      assert.deepEqual(decryptFromApp(curve.g1.decode(key), id, env, curve), pt);
    });

    it('refuses each tampered region with its code', () => {
      const pt = payload(64);
      const env = encryptToApp(keys.mpk, id, pt, seededRng('tamper'), curve);
      const L = utf8(id).length;
      const r = regions(L, pt.length);
      const dec = (e: Uint8Array) => (): Uint8Array => decryptFromApp(key, id, e, curve);
      // header
      throwsIbe(dec(flip(env, 0)), 'bad-magic', 'magic');
      throwsIbe(dec(flip(env, 3, 0x20)), 'bad-magic', 'magic');
      throwsIbe(dec(flip(env, 4, 0x03)), 'bad-version', 'version 2');
      throwsIbe(dec(flip(env, 4, 0x01)), 'bad-version', 'version 0');
      throwsIbe(dec(flip(env, 4, 0x03).subarray(0, 5)), 'bad-version', 'version 2, cut after it');
      throwsIbe(dec(Uint8Array.from([0x45, 0x4b, 0x4d])), 'truncated', 'prefix of the magic');
      throwsIbe(dec(Uint8Array.from([0x45, 0x4b, 0x4e])), 'bad-magic', 'not a prefix of the magic');
      throwsIbe(dec(utf8('age-encryption.org/v1')), 'bad-magic', 'an age file');
      throwsIbe(dec(flip(env, 5)), 'truncated', 'length + 256');
      const lenPlus1 = env.slice();
      lenPlus1[6] = L + 1; // swallows U's first byte (0x8_/0xa_: a UTF-8 continuation byte)
      throwsIbe(dec(lenPlus1), 'bad-app-id', 'length + 1');
      const lenMinus1 = env.slice();
      lenMinus1[6] = L - 1;
      throwsIbe(dec(lenMinus1), ['wrong-app', 'bad-app-id'], 'length - 1');
      const lenMax = env.slice();
      lenMax[5] = 0xff;
      lenMax[6] = 0xff;
      throwsIbe(dec(lenMax), 'truncated', 'length 65535');
      // appId: "app-ü" = 61 70 70 2d c3 bc
      throwsIbe(dec(flip(env, r.appId[0])), 'wrong-app', 'appId ASCII byte');
      throwsIbe(dec(flip(env, r.appId[0] + 4)), 'wrong-app', 'appId "ü" -> "¼"');
      throwsIbe(dec(flip(env, r.appId[0] + 4, 0x40)), 'bad-app-id', 'appId broken UTF-8');
      // U: flags and coordinates
      throwsIbe(dec(flip(env, r.U[0], 0x80)), 'bad-point', 'U compression flag');
      throwsIbe(dec(flip(env, r.U[0], 0x40)), 'bad-point', 'U infinity flag');
      throwsIbe(dec(flip(env, r.U[0], 0x20)), 'decrypt-failed', 'U sign flag (-U is a valid point)');
      throwsIbe(dec(flip(env, r.U[0] + 50)), ['bad-point'], 'U x.c0');
      throwsIbe(dec(flip(env, r.U[1] - 1)), ['bad-point'], 'U last byte');
      // V, W, nonce, ciphertext, tag
      for (const name of ['V', 'W', 'nonce', 'ciphertext', 'tag'] as const) {
        const [s, e] = r[name];
        for (const i of [s, e - 1]) throwsIbe(dec(flip(env, i)), 'decrypt-failed', `${name}[${i - s}]`);
      }
      // one extra byte at the end shifts the tag
      throwsIbe(dec(Uint8Array.from([...env, 0])), 'decrypt-failed', 'appended byte');
    });

    it('refuses truncations at every boundary', () => {
      const id0 = 'app';
      const empty = encryptToApp(keys.mpk, id0, new Uint8Array(0), seededRng('trunc0'), curve);
      const r = regions(3, 0);
      const dec = (e: Uint8Array) => (): Uint8Array => decryptFromApp(keys.appKey(id0), id0, e, curve);
      const cuts = [0, 1, 3, 4, 5, 6, 7, 9, r.U[0] + 1, r.V[0], r.W[0] + 31, r.nonce[0] + 6, r.tag[0], r.tag[1] - 1];
      for (const n of cuts) {
        throwsIbe(dec(empty.subarray(0, n)), 'truncated', `cut at ${n}`);
        throwsIbe(() => parseEnvelope(empty.subarray(0, n), curve), 'truncated', `parse cut at ${n}`);
      }
      // With a payload, a cut inside the ciphertext leaves a well-formed but unauthentic body.
      const full = encryptToApp(keys.mpk, id0, payload(40), seededRng('trunc1'), curve);
      const rf = regions(3, 40);
      throwsIbe(dec(full.subarray(0, rf.tag[1] - 1)), 'decrypt-failed', 'cut in tag');
      throwsIbe(dec(full.subarray(0, rf.ciphertext[0] + 16)), 'decrypt-failed', 'cut in ciphertext');
      throwsIbe(dec(full.subarray(0, rf.ciphertext[0] + 15)), 'truncated', 'cut below one tag');
    });

    it('refuses a wrong app key with decrypt-failed and a malformed one with bad-key', () => {
      const pt = payload(32);
      const env = encryptToApp(keys.mpk, id, pt, seededRng('wrong-key'), curve);
      throwsIbe(() => decryptFromApp(keys.appKey('other-app'), id, env, curve), 'decrypt-failed', 'key of another app');
      const otherMaster = makeKeys(curve, 'another master');
      throwsIbe(() => decryptFromApp(otherMaster.appKey(id), id, env, curve), 'decrypt-failed', 'key of another MPK');
      throwsIbe(() => decryptFromApp(curve.g1.encode(curve.g1.generator), id, env, curve), 'decrypt-failed', 'G1 generator');
      throwsIbe(() => decryptFromApp(key.subarray(0, 47), id, env, curve), 'bad-key', '47-byte key');
      throwsIbe(() => decryptFromApp(flip(key, 0, 0x80), id, env, curve), 'bad-key', 'key without compression flag');
      const identity = new Uint8Array(48);
      identity[0] = 0xc0;
      throwsIbe(() => decryptFromApp(identity, id, env, curve), 'bad-key', 'identity key');
      throwsIbe(() => decryptFromApp(curve.g1.zero, id, env, curve), 'bad-key', 'identity point');
    });

    it('refuses an envelope for another app id than expected (no Unicode normalisation)', () => {
      const env = encryptToApp(keys.mpk, id, payload(8), seededRng('wrong-app'), curve);
      const e = throwsIbe(() => decryptFromApp(key, 'app-u', env, curve), 'wrong-app');
      assert.match(e.message, /"app-ü".*"app-u"/);
      // NFD "u + combining diaeresis" is another byte string, hence another identity.
      throwsIbe(() => decryptFromApp(key, 'app-u\u0308', env, curve), 'wrong-app', 'NFD');
      throwsIbe(() => decryptFromApp(key, '', env, curve), 'wrong-app', 'empty');
      // The BOM is part of the id.
      const bom = encryptToApp(keys.mpk, '\ufeffapp', payload(8), seededRng('bom'), curve);
      throwsIbe(() => decryptFromApp(keys.appKey('app'), 'app', bom, curve), 'wrong-app', 'BOM');
    });

    it('refuses non-canonical U and malformed UTF-8 app ids when parsing', () => {
      const env = encryptToApp(keys.mpk, 'app', payload(3), seededRng('parse'), curve);
      const r = regions(3, 3);
      const withU = (u: Uint8Array): Uint8Array => {
        const c = env.slice();
        c.set(u, r.U[0]);
        return c;
      };
      const identityU = new Uint8Array(96);
      identityU[0] = 0xc0;
      throwsIbe(() => parseEnvelope(withU(identityU), curve), 'bad-point', 'identity U');
      const bigX = new Uint8Array(96).fill(0xff);
      bigX[0] = 0x9f; // compression flag, sign clear, x.c1 ≥ p
      throwsIbe(() => parseEnvelope(withU(bigX), curve), 'bad-point', 'x >= p');
      for (const bad of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe6, 0xbc]]) {
        const c = Uint8Array.from([...env.subarray(0, 5), 0, bad.length, ...bad, ...env.subarray(10)]);
        throwsIbe(() => parseEnvelope(c, curve), 'bad-app-id', `appId ${hex(Uint8Array.from(bad))}`);
      }
    });
  });
}

describe('IBE envelope v1 [noble ↔ mcl]', () => {
  it('both backends write byte-identical envelopes for one seed and open each other\'s', () => {
    const [a, b] = backends as [Bls12381, Bls12381];
    const ka = makeKeys(a, 'cross-backend');
    const kb = makeKeys(b, 'cross-backend');
    assert.deepEqual(ka.mpk, kb.mpk);
    const id = 'app-ü-漢字-🔑';
    assert.deepEqual(ka.appKey(id), kb.appKey(id));
    const pt = payload(100);
    const ea = encryptToApp(ka.mpk, id, pt, seededRng('cross'), a);
    const eb = encryptToApp(kb.mpk, id, pt, seededRng('cross'), b);
    assert.deepEqual(ea, eb);
    assert.deepEqual(decryptFromApp(kb.appKey(id), id, ea, b), pt);
    assert.deepEqual(decryptFromApp(ka.appKey(id), id, eb, a), pt);
  });
});

describe('IBE envelope v1 [default backend]', () => {
  const curve: Bls12381 = bls;
  const keys = makeKeys(curve, 'ibe-envelope/default');

  it('round trips a 1 MiB payload', () => {
    const pt = payload(1 << 20);
    const env = encryptToApp(keys.mpk, 'big', pt, seededRng('1mib'));
    assert.equal(env.length, ENVELOPE_V1.overhead + 3 + (1 << 20));
    assert.deepEqual(decryptFromApp(keys.appKey('big'), 'big', env), pt);
  });

  it('accepts a 65535-byte app id and refuses 65536 bytes or a lone surrogate', () => {
    const max = 'é'.repeat(32767) + 'x'; // 65535 UTF-8 bytes
    const env = encryptToApp(keys.mpk, max, payload(2), seededRng('max'));
    assert.deepEqual(decryptFromApp(keys.appKey(max), max, env), payload(2));
    assert.throws(() => encryptToApp(keys.mpk, max + 'x', payload(2)), RangeError);
    assert.throws(() => encryptToApp(keys.mpk, 'app-\ud800', payload(2)), RangeError);
    assert.throws(() => decryptFromApp(keys.appKey('a'), 'app-\udc00', env), RangeError);
  });

  it('checks argument types and the MPK', () => {
    // @ts-expect-error wrong type on purpose
    assert.throws(() => encryptToApp(keys.mpk, 'a', 'text'), TypeError);
    // @ts-expect-error wrong type on purpose
    assert.throws(() => encryptToApp(keys.mpk, 42, new Uint8Array(1)), TypeError);
    assert.throws(() => encryptToApp(keys.mpk, 'a', new Uint8Array(1), () => new Uint8Array(3)), RangeError);
    throwsIbe(() => encryptToApp(keys.mpk.subarray(1), 'a', new Uint8Array(1)), 'bad-key', 'short MPK');
    const idG2 = new Uint8Array(96);
    idG2[0] = 0xc0;
    throwsIbe(() => encryptToApp(idG2, 'a', new Uint8Array(1)), 'bad-key', 'identity MPK');
    throwsIbe(() => encryptToApp(curve.g2.zero, 'a', new Uint8Array(1)), 'bad-key', 'identity MPK point');
  });

  it('flipping any single byte of an envelope yields an IbeError, never plaintext', () => {
    // "a", 1-byte payload: 197 bytes; the mask rotates so that every bit position is hit.
    const id = 'a';
    const key = keys.appKey(id);
    const env = encryptToApp(keys.mpk, id, payload(1), seededRng('exhaustive'));
    const r = regions(1, 1);
    const expect = (i: number): readonly IbeErrorCode[] => {
      if (i < 4) return ['bad-magic'];
      if (i < 5) return ['bad-version'];
      if (i < 7) return ['truncated', 'bad-app-id', 'wrong-app'];
      if (i < r.U[0]) return ['wrong-app', 'bad-app-id'];
      if (i < r.U[1]) return ['bad-point', 'decrypt-failed'];
      return ['decrypt-failed'];
    };
    const masks = [0x01, 0x80, 0x24, 0x10, 0x42, 0x08];
    for (let i = 0; i < env.length; i++) {
      const mask = masks[i % masks.length] as number;
      throwsIbe(() => decryptFromApp(key, id, flip(env, i, mask)), expect(i), `byte ${i} ^ ${mask}`);
    }
  });

  it('puts no secret (DEK, app key, plaintext) in any error', () => {
    const id = 'secretive';
    const key = keys.appKey(id);
    const pt = utf8('PASSWORD=correct horse battery staple');
    const dek = seededRng('secrets')(32); // the first draw of encryptToApp is the DEK
    const env = encryptToApp(keys.mpk, id, pt, seededRng('secrets'));
    const errors: IbeError[] = [
      throwsIbe(() => decryptFromApp(key, id, flip(env, env.length - 1)), 'decrypt-failed'),
      throwsIbe(() => decryptFromApp(key, id, flip(env, 7 + 9 + 100)), 'decrypt-failed'),
      throwsIbe(() => decryptFromApp(keys.appKey('x'), id, env), 'decrypt-failed'),
      throwsIbe(() => decryptFromApp(key.subarray(0, 47), id, env), 'bad-key'),
      throwsIbe(() => decryptFromApp(flip(key, 5), id, env), 'bad-key'),
      throwsIbe(() => decryptFromApp(key, 'other', env), 'wrong-app'),
    ];
    const secrets = [dek, key, key.subarray(0, 47), flip(key, 5), pt].flatMap((s) => [
      hex(s),
      hex(s).slice(2, 18),
      Buffer.from(s).toString('base64'),
    ]);
    secrets.push('correct horse');
    for (const e of errors) {
      const text = inspect(e, { depth: 10 }) + JSON.stringify(e) + e.message;
      for (const s of secrets) assert.ok(!text.includes(s), `${e.code} error leaks a secret`);
    }
  });

  it('armors to one line of base64 and dearmors strictly', () => {
    const env = encryptToApp(keys.mpk, 'a', payload(100), seededRng('armor'));
    const text = armor(env);
    assert.ok(/^[A-Za-z0-9+/]+=*$/.test(text));
    assert.ok(text.startsWith('RUtNUwE')); // "EKMS" 0x01
    assert.deepEqual(dearmor(text), env);
    assert.deepEqual(dearmor(`  ${text}\n`), env);
    assert.deepEqual(dearmor(armor(new Uint8Array(0))), new Uint8Array(0));
    for (const bad of [text.slice(0, 40) + '\n' + text.slice(40), text.replace(/\+/g, '-').replace(/\//g, '_') + '-', 'QQ', 'QR==', 'Q===', '####'])
      throwsIbe(() => dearmor(bad), 'bad-armor', JSON.stringify(bad.slice(0, 10)));
    assert.deepEqual(dearmor('QQ=='), Uint8Array.of(0x41));
  });
});
