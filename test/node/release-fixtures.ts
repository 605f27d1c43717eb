/**
 * @module
 * Building key-release requests (SPEC 5, issue 6) the way an app or an attacker would, for the
 * handler's unit tests (test/node/key-release.test.ts, through `inject`) and the cluster's
 * acceptance tests (test/cluster/apps.test.ts, over real HTTP):
 *
 *   jwtKey(kid, alg) / signJwt(key, claims)     a test token issuer (RS256 or ES256) and its JWK
 *   teeClaims({ … })                            Confidential Space claims (production image) binding one request
 *   newRequester(rng)                           a fresh X25519 response key and nonce
 *   ecdsaKeyRequest({ … })                      a request attested by an EIP-712 signature; every
 *                                               signed field can be made to differ from the request
 *   jwtKeyRequest(appId, requester, token)
 *   openReleaseAnswer(requester, req, sealed)   opens a node's sealed answer with the response secret
 *   refusalCountIn(metricsText, reason)         kms_refusals_total{reason} from a /metrics exposition
 */
import { generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { PrivateKeyAccount } from 'viem/accounts';
import { parseHex, toHex, type Hex } from '../../src/crypto/domain.ts';
import {
  eatNonceHex,
  generateResponseKeyPair,
  keyRequestTypedData,
  openAnswer,
  requestHash,
  type KeyReleaseAnswer,
  type KeyReleaseRequestFields,
  type KeyReleaseRoute,
} from '../../src/crypto/key-release.ts';
import { encodeEcdsaSignature, SECP256K1_N } from '../../src/crypto/operator-sig-ecdsa.ts';
import { systemRng, type Rng } from '../../src/crypto/rng.ts';
import type { KeyReleaseRequest } from '../../src/node/http/schemas.ts';
import type { Address, Release } from '../../src/protocol/ledger.ts';
import { MemoryLedger } from '../../src/protocol/memory-ledger.ts';
import { createOperatorSigner, generateOperatorSecretKey } from '../../src/crypto/operator-sig.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';

// ---------------------------------------------------------------------------------------------
// JWT (the `jwt` attestation method)

/** A token signing key of a test issuer, with its public JWK (for a JWKS). */
export interface JwtKey {
  readonly kid: string;
  readonly alg: 'RS256' | 'ES256';
  readonly privateKey: KeyObject;
  readonly jwk: Record<string, unknown>;
}

export function jwtKey(kid: string, alg: 'RS256' | 'ES256'): JwtKey {
  const pair = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, alg, privateKey: pair.privateKey, jwk: { ...pair.publicKey.export({ format: 'jwk' }), kid, use: 'sig' } };
}

export function b64url(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

/** A compact JWS over `claims` (header fields can be overridden). */
export function signJwt(key: JwtKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const input = `${b64url({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })}.${b64url(claims)}`;
  const sig = key.alg === 'RS256'
    ? cryptoSign('sha256', Buffer.from(input), key.privateKey)
    : cryptoSign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

export interface TeeClaimsParams {
  readonly issuer: string;
  readonly audience: string;
  /** The deployment's 65-byte signing domain (eat_nonce binds it). */
  readonly domain: Uint8Array;
  /** The request the token is made for (its eat_nonce binds all of it). */
  readonly appId: Hex;
  readonly responseKey: Hex;
  readonly nonce: Hex;
  /** Default `/app/sign`. */
  readonly route?: KeyReleaseRoute;
  /** The request's key version or time, if it names one. */
  readonly version?: number;
  readonly keyTime?: number;
  /** The release the TEE runs (image digest and launch policy). */
  readonly release: Pick<Release, 'imageDigest' | 'launchPolicy'>;
  /** Unix seconds of issue. */
  readonly now: number;
  /** Claims replaced or added. */
  readonly over?: Record<string, unknown>;
}

/**
 * The claims a Confidential Space token of a production image carries for one request (the
 * platform claims as documented in
 * https://cloud.google.com/confidential-computing/confidential-space/docs/reference/token-claims).
 */
export function teeClaims(p: TeeClaimsParams): Record<string, unknown> {
  return {
    iss: p.issuer,
    aud: p.audience,
    sub: 'https://www.googleapis.com/compute/v1/projects/p/zones/z/instances/i',
    iat: p.now - 5,
    nbf: p.now - 5,
    exp: p.now + 3600,
    eat_nonce: eatNonceHex(p.domain, { route: p.route ?? '/app/sign', appId: p.appId, responseKey: p.responseKey, nonce: p.nonce, version: p.version, keyTime: p.keyTime }),
    dbgstat: 'disabled-since-boot',
    swname: 'CONFIDENTIAL_SPACE',
    swversion: ['250301'],
    secboot: true,
    hwmodel: 'GCP_INTEL_TDX',
    oemid: 11129,
    submods: {
      container: { image_digest: `sha256:${p.release.imageDigest.slice(2)}` },
      confidential_space: { support_attributes: ['LATEST', 'STABLE', 'USABLE'] },
    },
    launch_policy: p.release.launchPolicy,
    ...p.over,
  };
}

/** `claims` without the named top-level claims (a token that lacks them). */
export function withoutClaims(claims: Record<string, unknown>, ...names: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(claims).filter(([k]) => !names.includes(k)));
}

// ---------------------------------------------------------------------------------------------
// Requests

/** The caller side of one request: its X25519 response key pair and its nonce. */
export interface Requester {
  readonly secretKey: Uint8Array;
  readonly responseKey: Hex;
  readonly nonce: Hex;
}

export function newRequester(rng: Rng = systemRng): Requester {
  const k = generateResponseKeyPair(rng);
  return { secretKey: k.secretKey, responseKey: toHex(k.publicKey), nonce: toHex(rng(16)) };
}

export interface EcdsaKeyRequestParams {
  readonly chainId: bigint;
  readonly registry: Address;
  /** Who signs the EIP-712 KeyRequest (the app owner, or anyone else). */
  readonly signer: PrivateKeyAccount;
  /** The route the owner signs for (default `/app/sign`). */
  readonly route?: KeyReleaseRoute;
  /** The app id the request names. */
  readonly appId: Hex;
  readonly requester: Requester;
  /** Signing time, unix seconds. */
  readonly time: number;
  /** Sign for this app / response key instead of the request's. */
  readonly signedAppId?: Hex;
  readonly signedResponseKey?: Hex;
  /** Key selection: a version id, or a time whose active version is used. */
  readonly version?: number;
  readonly keyTime?: number;
}

/** A request attested by `signer`'s EIP-712 signature over (possibly other) request fields. */
export async function ecdsaKeyRequest(p: EcdsaKeyRequestParams): Promise<KeyReleaseRequest> {
  const r = p.requester;
  const typed = keyRequestTypedData({
    chainId: p.chainId, registry: p.registry, route: p.route ?? '/app/sign', appId: p.signedAppId ?? p.appId, responseKey: p.signedResponseKey ?? r.responseKey, nonce: r.nonce,
    time: p.time, version: p.version, keyTime: p.keyTime,
  });
  const signature = await p.signer.signTypedData(typed);
  return {
    appId: p.appId, responseKey: r.responseKey, nonce: r.nonce, attestation: { method: 'ecdsa', signature, time: p.time },
    ...(p.version !== undefined ? { version: p.version } : {}),
    ...(p.keyTime !== undefined ? { time: p.keyTime } : {}),
  };
}

export function jwtKeyRequest(appId: Hex, r: Requester, token: string, version?: number): KeyReleaseRequest {
  return { appId, responseKey: r.responseKey, nonce: r.nonce, attestation: { method: 'jwt', token }, ...(version !== undefined ? { version } : {}) };
}

/** Opens a node's `sealed` answer to `req` with the requester's response secret. */
export function openReleaseAnswer(r: Requester, req: KeyReleaseRequest, sealed: string): KeyReleaseAnswer {
  return openAnswer(r.secretKey, requestHash(req as KeyReleaseRequestFields), parseHex(sealed, undefined, 'sealed'));
}

// ---------------------------------------------------------------------------------------------
// Malleated copies of a genuine ECDSA signature (what an observer of a request can make)

/** The high-s twin of a 65-byte r ‖ s ‖ v signature: (r, n − s, the other v) — same signer. */
export function highSTwin(signature: Hex): Hex {
  const { r, s, v } = splitSignature(signature);
  return toHex(encodeEcdsaSignature({ r, s: SECP256K1_N - s, v: v === 27 ? 28 : 27 }));
}

/** The same signature with v written as the recovery bit (0/1) instead of 27/28 — same signer. */
export function flippedV(signature: Hex): Hex {
  const { r, s, v } = splitSignature(signature);
  return toHex(encodeEcdsaSignature({ r, s, v: v - 27 }));
}

function splitSignature(signature: Hex): { r: bigint; s: bigint; v: number } {
  const b = parseHex(signature, 65, 'signature');
  return { r: BigInt(toHex(b.subarray(0, 32))), s: BigInt(toHex(b.subarray(32, 64))), v: b[64] as number };
}

// ---------------------------------------------------------------------------------------------
// Metrics

/**
 * `kms_refusals_total` with label reason="…" in a Prometheus exposition (0 when absent), whatever
 * other labels the series carries (a kms-server adds operator="0x…" to every series).
 */
export function refusalCountIn(metricsText: string, reason: string): number {
  let n = 0;
  for (const line of metricsText.split('\n')) {
    const m = /^kms_refusals_total\{([^}]*)\} (\d+)$/.exec(line);
    if (m && (m[1] as string).split(',').includes(`reason="${reason}"`)) n += Number(m[2]);
  }
  return n;
}

/**
 * A memory ledger (chain time `startTime`, interval 1000 s) on which governance `gov` allowed
 * and registered one ecdsa operator `me` at `http://127.0.0.1:7001`: the node under test.
 */
export async function ledgerWithOperator(o: { chainId: bigint; registry: Address; domain: Uint8Array; rng: Rng; startTime: number; gov: Address; me: Address }): Promise<{ ledger: MemoryLedger; sigKey: Uint8Array }> {
  const ledger = new MemoryLedger({
    chainId: o.chainId, registry: o.registry, owner: o.gov, interval: 1000, dealWindow: 100, ackWindow: 100, confirmWindow: 100, inclusionMargin: 0, startTime: o.startTime,
  });
  const sigKey = generateOperatorSecretKey('ecdsa', o.rng);
  const signer = createOperatorSigner('ecdsa', sigKey, o.domain);
  await ledger.writer(o.gov).allowOperator(o.me, true);
  await ledger.writer(o.me).register({
    socket: 'http://127.0.0.1:7001', sigKeyType: 'ecdsa', sigPublicKey: toHex(signer.publicKey), proofOfPossession: toHex(signer.proofOfPossession(o.me)),
    sessionKey: toHex(secp256k1.getPublicKey(generateOperatorSecretKey('ecdsa', o.rng), true)),
  });
  return { ledger, sigKey };
}
