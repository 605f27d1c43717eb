/**
 * @module
 * Key-release authorization rules (SPEC 5, issue 6) as pure verdicts: each rule takes the
 * facts (the app record, the request, the attestation's times and claims, what the signature
 * recovered to, the versions a store holds) and answers `{ ok: true, value }` or a named
 * refusal with an operator-facing sentence. No HTTP here: `src/node/release/handler.ts` runs
 * the rules in its order (cheapest first), gathers the facts (chain reads, JWKS, signature
 * recovery) and maps a refusal to its status code (`REFUSAL_HTTP` there).
 *
 * Nothing secret enters a message: messages name the failed check and public on-chain facts
 * (owner, expected audience), never a partial, a share, an env or a token's content.
 */
import type { AppRecord, AttestationMethod, Release } from './ledger.ts';

export type ReleaseRefusal =
  | 'unknown-app'
  | 'app-frozen'
  | 'method-not-enabled'
  | 'attestation-unavailable'
  | 'no-release'
  | 'attestation-expired'
  | 'bad-attestation'
  | 'attestation-bad-signature'
  | 'not-app-owner'
  | 'wrong-issuer'
  | 'wrong-audience'
  | 'wrong-eat-nonce'
  | 'wrong-image-digest'
  | 'wrong-launch-policy'
  | 'unknown-version'
  | 'version-not-active'
  | 'not-ready';

export type Verdict<T = null> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly refusal: ReleaseRefusal; readonly message: string };

const allow = <T>(value: T): Verdict<T> => ({ ok: true, value });
const deny = <T = null>(refusal: ReleaseRefusal, message: string): Verdict<T> => ({ ok: false, refusal, message });

/**
 * Steps 1–2: the app exists, enabled the method, this node accepts it, and a release exists
 * when one is needed (jwt compares the image; /secrets returns the env). `value`: whether the
 * latest release must be read.
 */
export function authorizeApp(app: AppRecord | null, method: AttestationMethod, o: { readonly jwtConfigured: boolean; readonly wantsEnv: boolean }): Verdict<{ readonly needsRelease: boolean }> {
  if (app === null) return deny('unknown-app', 'no app with this id exists on the registry');
  // Before anything else about the request: a frozen app releases nothing, to anyone.
  if (app.frozen) return deny('app-frozen', 'the app\'s owner froze key release for this app (lifted with `kms-admin unfreeze-app`)');
  if (!app.methods.includes(method)) {
    const enabled = app.methods.length === 0 ? 'none' : app.methods.join(', ');
    return deny('method-not-enabled', `the app did not enable the ${method} attestation method (enabled: ${enabled})`);
  }
  if (method === 'jwt' && !o.jwtConfigured) return deny('attestation-unavailable', 'this node does not accept jwt attestations (no JWKS configured)');
  const needsRelease = o.wantsEnv || method === 'jwt';
  if (needsRelease && app.releaseCount === 0) return deny('no-release', 'the app has published no release yet');
  return allow({ needsRelease });
}

/** Step 3: an attestation time within ±`windowS` of `now` (seconds). */
export function checkAttestationTime(t: number, what: string, now: number, windowS: number): Verdict {
  if (t > now + windowS) return deny('attestation-expired', `${what} is more than ${windowS} s in the future (check the signer's clock)`);
  if (t < now - windowS) return deny('attestation-expired', `${what} is more than ${windowS} s old: make a fresh attestation`);
  return allow(null);
}

function claimNumber(claims: Readonly<Record<string, unknown>>, name: string, required: boolean): Verdict<number | null> {
  const v = claims[name];
  if (v === undefined && !required) return allow(null);
  if (typeof v !== 'number' || !Number.isFinite(v)) return deny('bad-attestation', `token: claim ${name} must be a number of seconds`);
  return allow(v);
}

/** Step 3 for jwt: exp (with skew), nbf (with skew), iat within the window. */
export function checkTokenTimes(claims: Readonly<Record<string, unknown>>, now: number, windowS: number, skewS: number): Verdict {
  const exp = claimNumber(claims, 'exp', true);
  if (!exp.ok) return exp;
  const iat = claimNumber(claims, 'iat', true);
  if (!iat.ok) return iat;
  const nbf = claimNumber(claims, 'nbf', false);
  if (!nbf.ok) return nbf;
  if (now > (exp.value as number) + skewS) return deny('attestation-expired', 'the token has expired (exp): request a fresh one');
  if (nbf.value !== null && nbf.value > now + skewS) return deny('attestation-expired', 'the token is not valid yet (nbf)');
  return checkAttestationTime(iat.value as number, 'the token\'s issue time (iat)', now, windowS);
}

/** Step 5 for ecdsa: the EIP-712 signature recovered (canonical only) to the app's owner. */
export function authorizeEcdsaSigner(recovered: string | null, owner: string): Verdict {
  if (recovered === null) {
    return deny('attestation-bad-signature', 'attestation.signature is not a canonical secp256k1 signature (r and s in range, low s, v = 27 or 28) from which a key recovers');
  }
  if (recovered.toLowerCase() !== owner.toLowerCase()) {
    return deny('not-app-owner', `the EIP-712 KeyRequest signature over this request does not recover to the app owner ${owner} (signed by another key, or for another route, app, response key, nonce, time or key version)`);
  }
  return allow(null);
}

/**
 * Step 5 for ecdsa when the owner is a contract (it has code at the block read) and the
 * signature did not recover to it: EIP-1271 `isValidSignature(digest, signature)` decides.
 * `answer`: the wallet returned the magic value 0x1626ba7e (`valid`), returned anything else
 * or reverted (`invalid`), or could not be asked within the bounds (`failed`: out of gas,
 * timeout, RPC error). Only `valid` passes; the others are refusals, never errors.
 */
export function authorizeContractSigner(answer: 'valid' | 'invalid' | 'failed', owner: string): Verdict {
  if (answer === 'valid') return allow(null);
  if (answer === 'invalid') {
    return deny('not-app-owner', `the app owner ${owner} is a contract wallet and did not accept this signature (EIP-1271 isValidSignature over the request's EIP-712 digest did not return 0x1626ba7e)`);
  }
  return deny('not-app-owner', `the app owner ${owner} is a contract wallet and its isValidSignature call failed (reverted, ran out of its gas allowance or timed out): the signature is not accepted`);
}

/** Step 5 for jwt, after the signature: the issuer and this deployment's audience. */
export function checkIssuerAudience(claims: Readonly<Record<string, unknown>>, issuer: string, audience: string): Verdict {
  if (claims['iss'] !== issuer) return deny('wrong-issuer', `the token's issuer (iss) is not ${JSON.stringify(issuer)}`);
  const a = claims['aud'];
  const aud = typeof a === 'string' ? [a] : Array.isArray(a) ? a : [];
  if (!aud.includes(audience)) return deny('wrong-audience', `the token's audience (aud) must include ${JSON.stringify(audience)}`);
  return allow(null);
}

/**
 * Step 5 for jwt, after the claim policy: the token binds this whole request (`eatNonce`,
 * lowercase 0x-hex) and the app's latest release (image digest and launch policy).
 */
export function checkRequestBinding(claims: Readonly<Record<string, unknown>>, eatNonce: string, release: Release): Verdict {
  const n = claims['eat_nonce'];
  const nonces = typeof n === 'string' ? [n] : Array.isArray(n) ? n : [];
  if (!nonces.some((x) => typeof x === 'string' && x.toLowerCase() === eatNonce)) {
    return deny('wrong-eat-nonce', 'the token\'s eat_nonce does not bind this request (expected the 0x-hex eat_nonce of this deployment, route, app id, response key, nonce and key version or time: docs/formats.md)');
  }
  const submods = claims['submods'];
  const container = typeof submods === 'object' && submods !== null ? (submods as { container?: unknown }).container : undefined;
  const digest = typeof container === 'object' && container !== null ? (container as { image_digest?: unknown }).image_digest : undefined;
  const wantDigest = `sha256:${release.imageDigest.slice(2).toLowerCase()}`;
  if (typeof digest !== 'string' || digest.toLowerCase() !== wantDigest) {
    return deny('wrong-image-digest', `the token's submods.container.image_digest is not the app's latest release (${wantDigest})`);
  }
  const policy = claims['launch_policy'];
  if (typeof policy !== 'string' || policy.toLowerCase() !== release.launchPolicy.toLowerCase()) {
    return deny('wrong-launch-policy', 'the token\'s launch_policy is not the app\'s latest release launch policy');
  }
  return allow(null);
}

/** What step 6 needs of a store: lookups by id, by time, and the active version. */
export interface VersionLookup<V extends { readonly status: string }> {
  byId(id: number): V | null;
  at(t: number): V | null;
  active(): V | null;
}

/** Step 6: the key version asked for (held and not pending), the one active at a time, or the active one. */
export function pickVersion<V extends { readonly status: string }>(req: { readonly version?: number | undefined; readonly time?: number | undefined }, store: VersionLookup<V>): Verdict<V> {
  if (req.version !== undefined) {
    const v = store.byId(req.version);
    if (v === null) return deny('unknown-version', `this node holds no key version ${req.version}`);
    if (v.status === 'pending') return deny('version-not-active', `key version ${req.version} is not active yet`);
    return allow(v);
  }
  if (req.time !== undefined) {
    const v = store.at(req.time);
    return v === null ? deny('unknown-version', `this node holds no key version that was active at time ${req.time}`) : allow(v);
  }
  const v = store.active();
  return v === null ? deny('not-ready', 'this node holds no active key version yet') : allow(v);
}
