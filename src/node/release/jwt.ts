/**
 * @module
 * JWS verification for the `jwt` attestation method, with `node:crypto` only (no JOSE
 * dependency): RS256 (RSASSA-PKCS1-v1_5 with SHA-256, keys of at least 2048 bits) and ES256
 * (ECDSA P-256 with SHA-256, 64-byte r ‖ s signatures, RFC 7518 §3.4). Nothing else: `none`,
 * HS* (a symmetric secret shared with whoever publishes the JWKS) and every other algorithm
 * are refused, and a key is used only with the algorithm its type implies.
 *
 * Keys come from a JWKS (RFC 7517) read from a file once at startup, or fetched from an
 * https URL and refreshed every 10 minutes and, at most every 30 s, when a token names an
 * unknown `kid` (the issuer rotated its keys). Each successful fetch replaces the whole set,
 * so a key the issuer removed is gone at the next successful refresh. Keys fetched from a URL
 * are trusted for at most `maxAgeMs` (default 24 h) after the last successful fetch: beyond
 * that `keysFor` throws `JwksStaleError`, because whoever can make the refreshes fail (block
 * the issuer's endpoint, or just wait for an outage) could otherwise keep a key the issuer
 * withdrew valid forever.
 *
 * Decoding (`decodeJwt`) is cheap and happens before any check; the signature is verified
 * (`verifyJws`) only after the cheap checks passed. Claims are the handler's business.
 */
import { constants, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

export type JwsAlg = 'RS256' | 'ES256';

export interface VerifierKey {
  /** null when the JWK has no `kid`. */
  readonly kid: string | null;
  readonly alg: JwsAlg;
  readonly key: KeyObject;
}

/** A JWKS that cannot be used, or could not be fetched. The message names the source, never key bytes. */
export class JwksError extends Error {
  override name = 'JwksError';
}

/** The keys of a URL source are older than its maximum age: every refresh since failed. */
export class JwksStaleError extends JwksError {
  override name = 'JwksStaleError';
  constructor(
    readonly source: string,
    /** Milliseconds since the last successful fetch. */
    readonly ageMs: number,
    readonly maxAgeMs: number,
  ) {
    super(`${source}: the keys could not be refreshed for ${formatDuration(ageMs)} (maximum age ${formatDuration(maxAgeMs)})`);
  }
}

/** "25 h", "90 min", "45 s": for messages. */
export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s >= 2 * 3600) return `${Math.floor(s / 3600)} h`;
  if (s >= 2 * 60) return `${Math.floor(s / 60)} min`;
  return `${s} s`;
}

/** A token that is not a JWS this module accepts (the message says which part). */
export class JwtFormatError extends Error {
  override readonly name = 'JwtFormatError';
}

const MAX_JWKS_KEYS = 50;
const MAX_JWKS_BYTES = 256 * 1024;
const MIN_RSA_BITS = 2048;
const ES256_SIGNATURE_BYTES = 64;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The usable verification keys of a parsed JWKS. Keys of other types, curves or uses
 * (`use` ≠ "sig") are skipped; a JWK carrying private material is refused outright (the
 * file is then a secret in the wrong place); no usable key at all is an error.
 */
export function parseJwks(json: unknown, source: string): VerifierKey[] {
  if (!isObject(json) || !Array.isArray(json.keys)) throw new JwksError(`${source}: expected a JWKS ({"keys": [...]})`);
  if (json.keys.length > MAX_JWKS_KEYS) throw new JwksError(`${source}: more than ${MAX_JWKS_KEYS} keys`);
  const out: VerifierKey[] = [];
  json.keys.forEach((jwk: unknown, i) => {
    if (!isObject(jwk)) throw new JwksError(`${source}: keys[${i}] is not an object`);
    if ('d' in jwk || 'p' in jwk || 'k' in jwk) throw new JwksError(`${source}: keys[${i}] contains private or symmetric key material; publish only public keys`);
    if (jwk.use !== undefined && jwk.use !== 'sig') return;
    const kid = typeof jwk.kid === 'string' ? jwk.kid : null;
    let alg: JwsAlg;
    if (jwk.kty === 'RSA') alg = 'RS256';
    else if (jwk.kty === 'EC' && jwk.crv === 'P-256') alg = 'ES256';
    else return;
    if (jwk.alg !== undefined && jwk.alg !== alg) return;
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } catch (cause) {
      throw new JwksError(`${source}: keys[${i}] is not a valid ${String(jwk.kty)} public key`, { cause });
    }
    if (alg === 'RS256' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
      throw new JwksError(`${source}: keys[${i}] is an RSA key shorter than ${MIN_RSA_BITS} bits`);
    }
    out.push({ kid, alg, key });
  });
  if (out.length === 0) throw new JwksError(`${source}: no usable key (RS256 RSA or ES256 P-256 with use "sig")`);
  return out;
}

/** Supplies the verification keys for a token's `kid` and algorithm. */
export interface JwksProvider {
  /** Where the keys come from (a path or a URL), for messages. */
  readonly source: string;
  /**
   * Candidate keys; throws `JwksError` when a URL source has never been fetched successfully,
   * `JwksStaleError` when its keys are older than their maximum age.
   */
  keysFor(kid: string | null, alg: JwsAlg): Promise<readonly VerifierKey[]>;
  /** Milliseconds since the keys were last fetched (null: fixed keys, or never fetched). For the age metric. */
  ageMs?(): number | null;
}

function select(keys: readonly VerifierKey[], kid: string | null, alg: JwsAlg): VerifierKey[] {
  // A token without `kid` may be checked against every key of its algorithm (JWKS are small).
  return keys.filter((k) => k.alg === alg && (kid === null || k.kid === kid));
}

/** Keys fixed at creation (a file, or a test's JWKS object). */
export function staticJwks(json: unknown, source = 'JWKS'): JwksProvider {
  const keys = parseJwks(json, source);
  return { source, keysFor: async (kid, alg) => select(keys, kid, alg) };
}

/** Reads and parses a JWKS file now (at startup, so a bad file stops the node before it serves). */
export function jwksFromFile(path: string): JwksProvider {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new JwksError(`${path}: cannot read (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { cause });
  }
  if (text.length > MAX_JWKS_BYTES) throw new JwksError(`${path}: larger than ${MAX_JWKS_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new JwksError(`${path}: not JSON`, { cause });
  }
  return staticJwks(json, path);
}

/** Default maximum age of keys fetched from a URL (see `UrlJwksOptions.maxAgeMs`). */
export const DEFAULT_JWKS_MAX_AGE_MS = 24 * 3600_000;

export interface UrlJwksOptions {
  /** Refresh period (default 10 min). */
  readonly refreshMs?: number;
  /**
   * How long keys stay trusted after the last successful fetch when refreshes fail (default
   * 24 h: ~140 failed refreshes ride out a long issuer outage, while a key the issuer withdrew
   * stops being trusted within a day even if someone keeps the refreshes from succeeding).
   */
  readonly maxAgeMs?: number;
  /** Least time between two fetches triggered by an unknown kid (default 30 s). */
  readonly minRefetchMs?: number;
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
  /** Monotonic-enough milliseconds (default Date.now). */
  readonly clock?: () => number;
}

/**
 * Fetches the JWKS lazily (first use) and keeps the last good copy: a failed refresh keeps
 * serving the previous keys, so a flaky issuer endpoint does not stop key release — for at
 * most `maxAgeMs` after the last successful fetch, then `keysFor` tries one fetch itself and,
 * if that fails too, throws `JwksStaleError`.
 */
export function jwksFromUrl(url: string, options: UrlJwksOptions = {}): JwksProvider {
  const refreshMs = options.refreshMs ?? 10 * 60_000;
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_JWKS_MAX_AGE_MS;
  if (!Number.isFinite(maxAgeMs) || maxAgeMs <= 0) throw new RangeError(`maxAgeMs: expected a positive number of ms, got ${maxAgeMs}`);
  const minRefetchMs = options.minRefetchMs ?? 30_000;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const doFetch = options.fetch ?? fetch;
  const clock = options.clock ?? Date.now;
  let keys: VerifierKey[] | null = null;
  let fetchedAt = -Infinity;
  let attemptedAt = -Infinity;
  let inflight: Promise<void> | null = null;

  const refresh = (): Promise<void> => {
    inflight ??= (async () => {
      attemptedAt = clock();
      try {
        const res = await doFetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
        if (!res.ok) throw new JwksError(`${url}: HTTP ${res.status}`);
        const text = await res.text();
        if (text.length > MAX_JWKS_BYTES) throw new JwksError(`${url}: larger than ${MAX_JWKS_BYTES} bytes`);
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch (cause) {
          throw new JwksError(`${url}: not JSON`, { cause });
        }
        keys = parseJwks(json, url);
        fetchedAt = clock();
      } catch (e) {
        if (e instanceof JwksError) throw e;
        throw new JwksError(`${url}: fetch failed (${(e as Error).name})`, { cause: e });
      } finally {
        inflight = null;
      }
    })();
    return inflight;
  };

  return {
    source: url,
    async keysFor(kid, alg) {
      const now = clock();
      if (keys === null) {
        // Never loaded: wait for a fetch, but do not let every request start one against an
        // endpoint that just failed.
        if (inflight === null && now - attemptedAt <= minRefetchMs) {
          throw new JwksError(`${url}: unavailable (the last fetch failed less than ${Math.round(minRefetchMs / 1000)} s ago)`);
        }
        await refresh();
      } else if (now - fetchedAt > maxAgeMs) {
        // Too old to trust: one fetch now (not more often than minRefetchMs), else refuse.
        if (inflight !== null || now - attemptedAt > minRefetchMs) await refresh().catch(() => undefined);
        const age = clock() - fetchedAt;
        if (age > maxAgeMs) throw new JwksStaleError(url, age, maxAgeMs);
      } else if (now - fetchedAt > refreshMs && now - attemptedAt > minRefetchMs) {
        // Due for a refresh: fetch in the background and keep serving the keys we have, so a
        // slow or failing issuer endpoint adds no latency to requests.
        refresh().catch(() => undefined);
      }
      let found = select(keys ?? [], kid, alg);
      if (found.length === 0 && kid !== null && now - attemptedAt > minRefetchMs) {
        // An unknown kid: the issuer may have rotated its keys since our last fetch.
        await refresh().catch(() => undefined);
        found = select(keys ?? [], kid, alg);
      }
      return found;
    },
    ageMs: () => (keys === null ? null : clock() - fetchedAt),
  };
}

// ---------------------------------------------------------------------------------------------
// Tokens

export interface DecodedJwt {
  readonly alg: JwsAlg;
  readonly kid: string | null;
  readonly claims: Readonly<Record<string, unknown>>;
  /** ASCII `header.payload`, what the signature covers. */
  readonly signingInput: string;
  readonly signature: Uint8Array;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function b64urlJson(part: string, what: string): Record<string, unknown> {
  if (!B64URL.test(part) || part.length % 4 === 1) throw new JwtFormatError(`token ${what}: not base64url`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new JwtFormatError(`token ${what}: not JSON`);
  }
  if (!isObject(json)) throw new JwtFormatError(`token ${what}: not a JSON object`);
  return json;
}

/** Splits and decodes a compact JWS; checks the header (alg, kid, crit), not the signature. */
export function decodeJwt(token: string): DecodedJwt {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtFormatError('token: expected three base64url parts');
  const [h, p, s] = parts as [string, string, string];
  const header = b64urlJson(h, 'header');
  const claims = b64urlJson(p, 'payload');
  if (header.alg !== 'RS256' && header.alg !== 'ES256') throw new JwtFormatError('token header: alg must be RS256 or ES256');
  // RFC 7515 §4.1.11: a critical extension we do not understand makes the token invalid.
  if (header.crit !== undefined) throw new JwtFormatError('token header: crit extensions are not supported');
  if (header.kid !== undefined && typeof header.kid !== 'string') throw new JwtFormatError('token header: kid must be a string');
  if (!B64URL.test(s)) throw new JwtFormatError('token signature: not base64url');
  const signature = Uint8Array.from(Buffer.from(s, 'base64url'));
  if (signature.length === 0) throw new JwtFormatError('token signature: empty');
  return { alg: header.alg, kid: typeof header.kid === 'string' ? header.kid : null, claims, signingInput: `${h}.${p}`, signature };
}

/** true iff one of `keys` verifies the token's signature under its algorithm. Never throws. */
export function verifyJws(token: DecodedJwt, keys: readonly VerifierKey[]): boolean {
  const data = Buffer.from(token.signingInput, 'ascii');
  for (const k of keys) {
    if (k.alg !== token.alg) continue;
    try {
      if (k.alg === 'RS256') {
        if (verify('sha256', data, { key: k.key, padding: constants.RSA_PKCS1_PADDING }, token.signature)) return true;
      } else if (token.signature.length === ES256_SIGNATURE_BYTES) {
        if (verify('sha256', data, { key: k.key, dsaEncoding: 'ieee-p1363' }, token.signature)) return true;
      }
    } catch {
      // A malformed signature for this key: not valid, try the next key.
    }
  }
  return false;
}
