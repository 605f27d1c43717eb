/**
 * @module
 * The claim policy of the `jwt` attestation method: which claims of a verified TEE token must
 * hold before a key is released. Issuer, audience, eat_nonce, image digest and launch policy
 * say *what* runs and *for which request*; these claims say *where* it runs — a production
 * enclave, not a debug image of the same public container whose memory its operator can read.
 *
 * The default, {@link CONFIDENTIAL_SPACE_POLICY}, is the production profile of Google
 * Confidential Space tokens (claims as documented at
 * https://cloud.google.com/confidential-computing/confidential-space/docs/reference/token-claims):
 *
 *   dbgstat  = "disabled-since-boot"     ("enabled" on debug images)            debug-enclave
 *   swname   = "CONFIDENTIAL_SPACE"      ("GCE" on a plain VM image)            wrong-tee-software
 *   secboot  = true                                                             secure-boot-off
 *   hwmodel  ∈ {GCP_AMD_SEV, GCP_AMD_SEV_ES, GCP_INTEL_TDX}                     wrong-tee-hardware
 *              (GCP_SHIELDED_VM, the fourth documented value, is no confidential hardware)
 *
 * An operator adds rules (`kms-server --jwt-require-claim NAME=VALUE`, refusal code
 * `wrong-claim`) or replaces the whole policy for another issuer (`--jwt-claim-policy FILE`):
 *
 * ```json
 * { "rules": [
 *     { "claim": "dbgstat", "equals": "disabled-since-boot", "code": "debug-enclave" },
 *     { "claim": "hwmodel", "oneOf": ["GCP_AMD_SEV", "GCP_INTEL_TDX"], "code": "wrong-tee-hardware" },
 *     { "claim": "submods.confidential_space.support_attributes", "equals": "STABLE" } ] }
 * ```
 *
 * A rule names a claim by its dotted path (`submods.confidential_space.support_attributes`;
 * a claim whose own name contains a dot cannot be named) and requires either `equals` — the
 * claim is this JSON value, or, when the claim is an array and the value is not, the array
 * contains it — or `oneOf` — the claim is one of these values. Comparison is exact JSON
 * equality (types matter: `true` is not `"true"`). A missing claim fails its rule. `code` (one
 * of {@link CLAIM_REFUSALS}, default `wrong-claim`) is the refusal code the client sees and the
 * metrics reason. Rules are checked in order; the first that fails refuses.
 *
 * Refusal messages name the claim and the required value, never the token's own value (token
 * content is request input and stays out of responses and logs).
 */
import { isDeepStrictEqual } from 'node:util';

/** Refusal codes a rule may carry (also `kms_refusals_total` reasons). */
export const CLAIM_REFUSALS = Object.freeze(['debug-enclave', 'wrong-tee-software', 'secure-boot-off', 'wrong-tee-hardware', 'wrong-claim'] as const);
export type ClaimRefusal = (typeof CLAIM_REFUSALS)[number];

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [k: string]: JsonValue };

export interface ClaimRule {
  /** Dotted path of the claim, as written. */
  readonly claim: string;
  /** Its segments. */
  readonly path: readonly string[];
  /** The claim equals this (an array claim may contain it instead); exclusive with `oneOf`. */
  readonly equals?: JsonValue;
  /** The claim equals one of these; exclusive with `equals`. */
  readonly oneOf?: readonly JsonValue[];
  readonly code: ClaimRefusal;
}

export interface ClaimPolicy {
  /** Where the policy came from, for logs: `default (Confidential Space production)` or a file. */
  readonly source: string;
  readonly rules: readonly ClaimRule[];
}

/** A policy file or flag that cannot be used; the message names its source and what is wrong. */
export class ClaimPolicyError extends Error {
  override readonly name = 'ClaimPolicyError';
}

/** The documented confidential hardware models of Confidential Space tokens. */
export const CONFIDENTIAL_SPACE_HW_MODELS: readonly string[] = Object.freeze(['GCP_AMD_SEV', 'GCP_AMD_SEV_ES', 'GCP_INTEL_TDX']);

export const CONFIDENTIAL_SPACE_POLICY: ClaimPolicy = Object.freeze({
  source: 'default (Confidential Space production)',
  rules: Object.freeze([
    rule('dbgstat', { equals: 'disabled-since-boot' }, 'debug-enclave'),
    rule('swname', { equals: 'CONFIDENTIAL_SPACE' }, 'wrong-tee-software'),
    rule('secboot', { equals: true }, 'secure-boot-off'),
    rule('hwmodel', { oneOf: CONFIDENTIAL_SPACE_HW_MODELS }, 'wrong-tee-hardware'),
  ]),
});

const MAX_RULES = 64;
const MAX_PATH_CHARS = 256;
const MAX_ONE_OF = 64;
const RULE_KEYS: ReadonlySet<string> = new Set(['claim', 'equals', 'oneOf', 'code']);

function rule(claim: string, want: { equals: JsonValue } | { oneOf: readonly JsonValue[] }, code: ClaimRefusal): ClaimRule {
  return Object.freeze({ claim, path: Object.freeze(claim.split('.')), ...want, code });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function aPath(claim: unknown, where: string): string {
  if (typeof claim !== 'string' || claim.length === 0 || claim.length > MAX_PATH_CHARS) {
    throw new ClaimPolicyError(`${where}: the claim name must be a non-empty string of at most ${MAX_PATH_CHARS} characters`);
  }
  if (claim.split('.').some((s) => s.length === 0)) throw new ClaimPolicyError(`${where}: claim ${JSON.stringify(claim)} has an empty path segment`);
  return claim;
}

/** A JSON value made of plain data only (what JSON.parse gives), bounded in depth. */
function aJsonValue(v: unknown, where: string, depth = 0): JsonValue {
  if (depth > 16) throw new ClaimPolicyError(`${where}: value nested too deeply`);
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (Array.isArray(v)) return v.map((x) => aJsonValue(x, where, depth + 1));
  if (isObject(v)) {
    const out: Record<string, JsonValue> = {};
    for (const [k, x] of Object.entries(v)) out[k] = aJsonValue(x, where, depth + 1);
    return out;
  }
  throw new ClaimPolicyError(`${where}: expected a JSON value`);
}

/**
 * A policy from its JSON form (`{"rules": [...]}`, see the module header). Throws
 * `ClaimPolicyError` naming the source and the first problem.
 */
export function parseClaimPolicy(json: unknown, source: string): ClaimPolicy {
  if (!isObject(json) || !Array.isArray(json.rules)) throw new ClaimPolicyError(`${source}: expected {"rules": [ … ]}`);
  const extra = Object.keys(json).filter((k) => k !== 'rules' && k !== 'description');
  if (extra.length > 0) throw new ClaimPolicyError(`${source}: unexpected field ${JSON.stringify(extra[0])} (expected rules, description)`);
  if (json.rules.length > MAX_RULES) throw new ClaimPolicyError(`${source}: more than ${MAX_RULES} rules`);
  const rules = json.rules.map((r: unknown, i): ClaimRule => {
    const where = `${source}: rules[${i}]`;
    if (!isObject(r)) throw new ClaimPolicyError(`${where}: expected an object {claim, equals | oneOf, code?}`);
    const unknown = Object.keys(r).find((k) => !RULE_KEYS.has(k));
    if (unknown !== undefined) throw new ClaimPolicyError(`${where}: unexpected field ${JSON.stringify(unknown)} (expected claim, equals, oneOf, code)`);
    const claim = aPath(r.claim, where);
    const code = r.code ?? 'wrong-claim';
    if (typeof code !== 'string' || !(CLAIM_REFUSALS as readonly string[]).includes(code)) {
      throw new ClaimPolicyError(`${where}: code must be one of ${CLAIM_REFUSALS.join(', ')}`);
    }
    if (('equals' in r) === ('oneOf' in r)) throw new ClaimPolicyError(`${where}: give exactly one of equals, oneOf`);
    if ('equals' in r) return rule(claim, { equals: aJsonValue(r.equals, where) }, code as ClaimRefusal);
    if (!Array.isArray(r.oneOf) || r.oneOf.length === 0 || r.oneOf.length > MAX_ONE_OF) {
      throw new ClaimPolicyError(`${where}: oneOf must be a non-empty array of at most ${MAX_ONE_OF} values`);
    }
    return rule(claim, { oneOf: r.oneOf.map((x) => aJsonValue(x, where)) }, code as ClaimRefusal);
  });
  return Object.freeze({ source, rules: Object.freeze(rules) });
}

/**
 * One `NAME=VALUE` requirement (`--jwt-require-claim`): NAME a dotted claim path, VALUE a JSON
 * value if it parses as one (`true`, `7`, `"7"`, `["a"]`), else the text itself as a string.
 * Refusal code `wrong-claim`.
 */
export function parseRequiredClaim(text: string, source: string): ClaimRule {
  const at = typeof text === 'string' ? text.indexOf('=') : -1;
  if (at <= 0 || at === text.length - 1) throw new ClaimPolicyError(`${source}: expected NAME=VALUE (e.g. submods.confidential_space.support_attributes=STABLE)`);
  const claim = aPath(text.slice(0, at), source);
  const raw = text.slice(at + 1);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  return rule(claim, { equals: aJsonValue(value, source) }, 'wrong-claim');
}

/** `policy` with `rules` appended (checked after the policy's own). */
export function withRules(policy: ClaimPolicy, rules: readonly ClaimRule[]): ClaimPolicy {
  if (rules.length === 0) return policy;
  return Object.freeze({ source: `${policy.source} + ${rules.length} required claim${rules.length === 1 ? '' : 's'}`, rules: Object.freeze([...policy.rules, ...rules]) });
}

function lookup(claims: Readonly<Record<string, unknown>>, path: readonly string[]): { found: boolean; value: unknown } {
  let cur: unknown = claims;
  for (const seg of path) {
    if (!isObject(cur) || !Object.hasOwn(cur, seg)) return { found: false, value: undefined };
    cur = cur[seg];
  }
  return { found: true, value: cur };
}

function holds(r: ClaimRule, value: unknown): boolean {
  if (r.oneOf !== undefined) return r.oneOf.some((w) => isDeepStrictEqual(value, w));
  const want = r.equals as JsonValue;
  if (isDeepStrictEqual(value, want)) return true;
  return Array.isArray(value) && !Array.isArray(want) && value.some((v: unknown) => isDeepStrictEqual(v, want));
}

const WHY: Readonly<Record<ClaimRefusal, string>> = {
  'debug-enclave': 'the token does not come from a production enclave image (a debug image lets its operator read the workload\'s memory)',
  'wrong-tee-software': 'the workload does not run on the TEE software image this node requires',
  'secure-boot-off': 'the workload\'s VM did not boot with secure boot',
  'wrong-tee-hardware': 'the workload does not run on confidential-computing hardware this node accepts',
  'wrong-claim': 'this node\'s claim policy requires it',
};

export interface ClaimViolation {
  readonly rule: ClaimRule;
  /** One sentence for the client: the claim, what is required, why. No token value. */
  readonly message: string;
}

/** The first rule `claims` break, or null when the policy holds. */
export function checkClaims(policy: ClaimPolicy, claims: Readonly<Record<string, unknown>>): ClaimViolation | null {
  for (const r of policy.rules) {
    const { found, value } = lookup(claims, r.path);
    if (found && holds(r, value)) continue;
    const want = r.oneOf !== undefined ? `one of ${r.oneOf.map((v) => JSON.stringify(v)).join(', ')}` : JSON.stringify(r.equals);
    const what = found ? `is not ${want}` : `is missing (required: ${want})`;
    return { rule: r, message: `the token's ${r.claim} claim ${what}: ${WHY[r.code]}` };
  }
  return null;
}
