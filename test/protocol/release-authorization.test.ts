// Key-release authorization as pure verdicts (issue 13 item 1): every rule, its allowed case
// and each refusal it names. The HTTP mapping (status codes) is the node's and is tested with
// the routes (test/node/key-release.test.ts); here the decisions themselves.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AppRecord, Hex, Release } from '../../src/protocol/ledger.ts';
import {
  authorizeApp,
  authorizeContractSigner,
  authorizeEcdsaSigner,
  checkAttestationTime,
  checkIssuerAudience,
  checkRequestBinding,
  checkTokenTimes,
  pickVersion,
  type ReleaseRefusal,
  type Verdict,
  type VersionLookup,
} from '../../src/protocol/release-authorization.ts';

const APP: AppRecord = { id: `0x${'aa'.repeat(32)}` as Hex, owner: `0x${'0b'.repeat(20)}` as Hex, methods: ['ecdsa', 'jwt'], releaseCount: 1, frozen: false, epoch: 0, pendingOwner: null };
const RELEASE: Release = { imageDigest: `0x${'dd'.repeat(32)}` as Hex, launchPolicy: `0x${'ee'.repeat(32)}` as Hex, encryptedEnv: '0x' as Hex, publicEnv: '' };
const NONCE = `0x${'cc'.repeat(32)}`;

function refused(v: Verdict<unknown>): ReleaseRefusal | 'ok' {
  return v.ok ? 'ok' : v.refusal;
}

describe('release authorization: verdicts', () => {
  const app = (o: Partial<AppRecord>): AppRecord => ({ ...APP, ...o });
  const cases: readonly [string, Verdict<unknown>, ReleaseRefusal | 'ok'][] = [
    ['no app', authorizeApp(null, 'ecdsa', { jwtConfigured: true, wantsEnv: false }), 'unknown-app'],
    ['method not enabled', authorizeApp(app({ methods: ['jwt'] }), 'ecdsa', { jwtConfigured: true, wantsEnv: false }), 'method-not-enabled'],
    // A freeze comes first: whatever else holds, a frozen app releases nothing.
    ['frozen app', authorizeApp(app({ frozen: true }), 'ecdsa', { jwtConfigured: true, wantsEnv: false }), 'app-frozen'],
    ['frozen app, method not enabled either', authorizeApp(app({ frozen: true, methods: [] }), 'jwt', { jwtConfigured: false, wantsEnv: true }), 'app-frozen'],
    ['app at epoch 3, not frozen', authorizeApp(app({ epoch: 3 }), 'ecdsa', { jwtConfigured: true, wantsEnv: false }), 'ok'],
    ['jwt without a JWKS on this node', authorizeApp(APP, 'jwt', { jwtConfigured: false, wantsEnv: false }), 'attestation-unavailable'],
    ['jwt needs a release', authorizeApp(app({ releaseCount: 0 }), 'jwt', { jwtConfigured: true, wantsEnv: false }), 'no-release'],
    ['/secrets needs a release', authorizeApp(app({ releaseCount: 0 }), 'ecdsa', { jwtConfigured: true, wantsEnv: true }), 'no-release'],
    ['ecdsa /app/sign needs no release', authorizeApp(app({ releaseCount: 0 }), 'ecdsa', { jwtConfigured: false, wantsEnv: false }), 'ok'],
    ['time in the window', checkAttestationTime(1000, 't', 1000 + 300, 300), 'ok'],
    ['time too old', checkAttestationTime(1000, 't', 1000 + 301, 300), 'attestation-expired'],
    ['time in the future', checkAttestationTime(1301, 't', 1000, 300), 'attestation-expired'],
    ['token times fine', checkTokenTimes({ exp: 2000, iat: 1000 }, 1000, 300, 60), 'ok'],
    ['token expired beyond skew', checkTokenTimes({ exp: 1000, iat: 1000 }, 1061, 300, 60), 'attestation-expired'],
    ['token not valid yet', checkTokenTimes({ exp: 2000, iat: 1000, nbf: 1100 }, 1000, 300, 60), 'attestation-expired'],
    ['token exp not a number', checkTokenTimes({ exp: '2000', iat: 1000 }, 1000, 300, 60), 'bad-attestation'],
    ['token iat missing', checkTokenTimes({ exp: 2000 }, 1000, 300, 60), 'bad-attestation'],
    ['signature recovers to the owner (any case)', authorizeEcdsaSigner(APP.owner.toUpperCase().replace('0X', '0x'), APP.owner), 'ok'],
    ['signature does not recover', authorizeEcdsaSigner(null, APP.owner), 'attestation-bad-signature'],
    ['signature by another key', authorizeEcdsaSigner(`0x${'0c'.repeat(20)}`, APP.owner), 'not-app-owner'],
    ['contract owner says yes (EIP-1271 magic value)', authorizeContractSigner('valid', APP.owner), 'ok'],
    ['contract owner says no', authorizeContractSigner('invalid', APP.owner), 'not-app-owner'],
    ['contract owner call failed (gas, timeout, revert)', authorizeContractSigner('failed', APP.owner), 'not-app-owner'],
    ['issuer and audience', checkIssuerAudience({ iss: 'https://iss', aud: ['x', 'aud'] }, 'https://iss', 'aud'), 'ok'],
    ['wrong issuer', checkIssuerAudience({ iss: 'https://evil', aud: 'aud' }, 'https://iss', 'aud'), 'wrong-issuer'],
    ['wrong audience', checkIssuerAudience({ iss: 'https://iss', aud: 'other' }, 'https://iss', 'aud'), 'wrong-audience'],
    ['binding ok', checkRequestBinding({ eat_nonce: [NONCE.toUpperCase().replace('0X', '0x')], submods: { container: { image_digest: `sha256:${'DD'.repeat(32)}` } }, launch_policy: RELEASE.launchPolicy }, NONCE, RELEASE), 'ok'],
    ['another request\'s nonce', checkRequestBinding({ eat_nonce: `0x${'01'.repeat(32)}`, submods: { container: { image_digest: `sha256:${'dd'.repeat(32)}` } }, launch_policy: RELEASE.launchPolicy }, NONCE, RELEASE), 'wrong-eat-nonce'],
    ['another image', checkRequestBinding({ eat_nonce: NONCE, submods: { container: { image_digest: `sha256:${'00'.repeat(32)}` } }, launch_policy: RELEASE.launchPolicy }, NONCE, RELEASE), 'wrong-image-digest'],
    ['no submods', checkRequestBinding({ eat_nonce: NONCE, launch_policy: RELEASE.launchPolicy }, NONCE, RELEASE), 'wrong-image-digest'],
    ['another launch policy', checkRequestBinding({ eat_nonce: NONCE, submods: { container: { image_digest: `sha256:${'dd'.repeat(32)}` } }, launch_policy: '0x00' }, NONCE, RELEASE), 'wrong-launch-policy'],
  ];
  for (const [name, verdict, want] of cases) {
    it(`${name}: ${want}`, () => {
      assert.equal(refused(verdict), want);
      if (!verdict.ok) assert.ok(verdict.message.length > 0 && !verdict.message.includes('undefined'), verdict.message);
    });
  }
});

describe('release authorization: which key version answers', () => {
  const held = new Map([[1, { id: 1, status: 'retired' }], [2, { id: 2, status: 'active' }], [3, { id: 3, status: 'pending' }]]);
  const store = { byId: (id: number) => held.get(id) ?? null, at: (t: number) => (t >= 100 ? (held.get(2) ?? null) : null), active: () => held.get(2) ?? null };
  const empty: VersionLookup<{ id: number; status: string }> = { byId: () => null, at: () => null, active: () => null };
  const cases: readonly [string, Verdict<{ id: number }>, ReleaseRefusal | number][] = [
    ['the active version by default', pickVersion({}, store), 2],
    ['a retired version by id (historical lookups)', pickVersion({ version: 1 }, store), 1],
    ['a pending version is not served', pickVersion({ version: 3 }, store), 'version-not-active'],
    ['a version not held', pickVersion({ version: 9 }, store), 'unknown-version'],
    ['the version active at a time', pickVersion({ time: 150 }, store), 2],
    ['no version at that time', pickVersion({ time: 50 }, store), 'unknown-version'],
    ['a node with no version yet', pickVersion({}, empty), 'not-ready'],
  ];
  for (const [name, verdict, want] of cases) {
    it(`${name}: ${want}`, () => assert.equal(verdict.ok ? verdict.value.id : verdict.refusal, want));
  }
});
