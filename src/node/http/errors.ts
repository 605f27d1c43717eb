/**
 * @module
 * Every error the API answers with, and the one mapping from "whatever was thrown" to
 *
 *   HTTP status + { error: { code, message } }
 *
 * | status | code                     | when                                                   |
 * |--------|--------------------------|--------------------------------------------------------|
 * | 400    | bad-request              | schema validation failed (message names the field);    |
 * |        |                          | a GET/HEAD that carries a body                         |
 * | 400    | bad-json                 | body is not JSON, or empty with a JSON content type    |
 * | 400    | json-too-deep            | JSON nested deeper than MAX_JSON_DEPTH                 |
 * | 403    | attestation-unavailable  | key release with no attestation method on this node    |
 * |        |                          | (or jwt requested and this node has no JWKS configured)|
 * | 404    | not-found                | no such route                                          |
 * | 404    | unknown-version          | /pubkey?version=N for a version this node does not have|
 * |        |                          | (key release: also 409 for a version not active yet)   |
 * | 404    | unknown-app              | key release for an app id with no on-chain app         |
 * | 404    | no-release               | /secrets, or jwt, for an app that published no release |
 * | 403    | method-not-enabled       | the app did not enable the attestation method used     |
 * | 403    | bad-attestation          | a token that is not a well-formed JWS/JWT we accept    |
 * | 403    | attestation-expired      | attestation time outside ±window; token exp/nbf/iat    |
 * | 403    | attestation-bad-signature| signature does not verify (ecdsa: unrecoverable; jwt:  |
 * |        |                          | no JWKS key verifies it)                               |
 * | 403    | not-app-owner            | ecdsa: the EIP-712 signer of this request is not the   |
 * |        |                          | app's on-chain owner                                   |
 * | 403    | wrong-issuer             | jwt: iss is not the configured issuer                  |
 * | 403    | wrong-audience           | jwt: aud does not name this deployment                 |
 * | 403    | debug-enclave            | jwt claim policy: dbgstat: not a production image      |
 * | 403    | wrong-tee-software       | jwt claim policy: swname is not the required TEE image |
 * | 403    | secure-boot-off          | jwt claim policy: secboot is not true                  |
 * | 403    | wrong-tee-hardware       | jwt claim policy: hwmodel is no accepted TEE hardware  |
 * | 403    | wrong-claim              | jwt claim policy: a claim the operator requires        |
 * | 403    | wrong-eat-nonce          | jwt: eat_nonce does not bind (domain, appId, respKey)  |
 * | 403    | wrong-image-digest       | jwt: image digest is not the latest release's          |
 * | 403    | wrong-launch-policy      | jwt: launch_policy is not the latest release's         |
 * | 405    | method-not-allowed       | known path, wrong method (Allow header lists the right)|
 * | 413    | payload-too-large        | body larger than the limit                             |
 * | 415    | unsupported-media-type   | a body that is not application/json                    |
 * | 429    | rate-limited             | client over its token bucket (Retry-After in seconds)  |
 * | 500    | internal                 | anything unexpected; details in the log only           |
 * | 503    | not-ready                | before genesis (nothing to serve yet)                  |
 * | 503    | unhealthy                | /healthz when the node loop has not ticked recently    |
 * | 503    | timeout                  | the handler did not answer within the request timeout  |
 * | 503    | jwks-unavailable         | jwt: the JWKS URL could not be fetched                 |
 * | 503    | attestation-unavailable  | jwt: the JWKS could not be refreshed within its maximum|
 * |        |                          | age (--jwt-jwks-max-age)                               |
 * | 503    | chain-unavailable        | key release: reading the registry failed               |
 *
 * Messages are ours: a message never echoes a thrown error's text (which may carry anything)
 * and never a request value, only field names and limits. Only `ApiError`s and fastify's own
 * request errors (codes `FST_ERR_*` with a 4xx status) become 4xx; anything else is a 500.
 */
import type { FastifyError, FastifySchemaValidationError } from 'fastify';
import type { RefusalReason } from '../metrics.ts';

export type ApiErrorCode =
  | 'bad-request'
  | 'bad-json'
  | 'json-too-deep'
  | 'attestation-unavailable'
  | 'not-found'
  | 'unknown-version'
  | 'method-not-allowed'
  | 'payload-too-large'
  | 'unsupported-media-type'
  | 'rate-limited'
  | 'internal'
  | 'not-ready'
  | 'unhealthy'
  | 'timeout'
  // key release (src/node/release); each names the check that failed
  | 'unknown-app'
  | 'app-frozen'
  | 'no-release'
  | 'method-not-enabled'
  | 'bad-attestation'
  | 'attestation-expired'
  | 'attestation-bad-signature'
  | 'not-app-owner'
  | 'wrong-issuer'
  | 'wrong-audience'
  | 'debug-enclave'
  | 'wrong-tee-software'
  | 'secure-boot-off'
  | 'wrong-tee-hardware'
  | 'wrong-claim'
  | 'wrong-eat-nonce'
  | 'wrong-image-digest'
  | 'wrong-launch-policy'
  | 'jwks-unavailable'
  | 'chain-unavailable';

export interface ApiErrorOptions {
  /** Response headers (Allow, Retry-After). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Count this answer in `kms_refusals_total` under this reason. */
  readonly refusal?: RefusalReason;
  readonly cause?: unknown;
}

/** An answer we mean to give. Throw it from a hook or handler; the error handler sends it. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly headers: Readonly<Record<string, string>>;
  readonly refusal: RefusalReason | undefined;
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    options: ApiErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (!Number.isInteger(status) || status < 400 || status > 599) throw new RangeError(`ApiError: status must be 4xx or 5xx, got ${status}`);
    this.headers = options.headers ?? {};
    this.refusal = options.refusal;
  }

  toBody(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export interface ErrorMappingContext {
  readonly bodyLimit: number;
  readonly requestTimeoutMs: number;
}

/** Longest message we build from request-derived names (field names, methods). */
const MAX_MESSAGE = 200;

function clip(s: string, n = MAX_MESSAGE): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** A name taken from the request (an unexpected field, a method), quoted and bounded. */
function quoteName(s: unknown): string {
  return JSON.stringify(clip(String(s), 40));
}

function isFastifyRequestError(err: unknown): err is FastifyError {
  const e = err as Partial<FastifyError> | null;
  return (
    typeof e === 'object' && e !== null && typeof e.code === 'string' && e.code.startsWith('FST_ERR_') &&
    typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500
  );
}

/**
 * One short sentence for the first validation error: the field's path and what it should be.
 * The full ajv output (schema paths, patterns, the offending data) is never sent.
 */
export function describeValidation(context: string | undefined, errors: readonly FastifySchemaValidationError[]): string {
  const e = errors[0];
  if (e === undefined) return 'invalid request';
  // "/attestation/signature" → "body.attestation.signature"
  const where = [context ?? 'request', ...e.instancePath.split('/').filter((s) => s.length > 0)].join('.');
  const params = e.params as Record<string, unknown>;
  // ajv adds parentSchema with `verbose: true` (set in app.ts); our schemas describe their shape.
  const parent = (e as { parentSchema?: { description?: unknown } }).parentSchema;
  const shape = typeof parent?.description === 'string' ? parent.description.replace(/^[^:]*: /, '') : undefined;
  switch (e.keyword) {
    case 'required':
      return clip(`${where}.${String(params.missingProperty)} is required`);
    case 'additionalProperties':
      return clip(`${where}: unexpected field ${quoteName(params.additionalProperty)}`);
    case 'type':
      return clip(`${where}: expected ${String(params.type)}`);
    case 'const':
      return clip(`${where}: expected ${JSON.stringify(params.allowedValue)}`);
    case 'discriminator':
      return clip(`${where}.${String(params.tag)}: expected one of ecdsa, jwt`);
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return clip(`${where}: must be ${String(params.comparison)} ${String(params.limit)}`);
    case 'not':
      return clip(`${where}: ${shape ?? 'not allowed'}`);
    default:
      // pattern, minLength, maxLength, …: say what the field should look like.
      return clip(`${where}: expected ${shape ?? 'a valid value'}`);
  }
}

/**
 * Maps anything thrown during a request to the answer. `internal` is the only result for an
 * error we did not anticipate; the caller logs the original.
 */
export function toApiError(err: unknown, ctx: ErrorMappingContext): ApiError {
  if (err instanceof ApiError) return err;
  const fe = err as Partial<FastifyError> | null;
  if (fe !== null && typeof fe === 'object' && Array.isArray(fe.validation)) {
    return new ApiError(400, 'bad-request', describeValidation(fe.validationContext, fe.validation));
  }
  if (isFastifyRequestError(err)) {
    switch (err.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return new ApiError(413, 'payload-too-large', `request body exceeds ${ctx.bodyLimit} bytes`);
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return new ApiError(415, 'unsupported-media-type', 'request body must be application/json');
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return new ApiError(400, 'bad-json', 'request body is empty');
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return new ApiError(400, 'bad-json', 'request body is not valid JSON');
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return new ApiError(400, 'bad-request', 'request body does not match Content-Length');
      case 'FST_ERR_BAD_URL':
        return new ApiError(400, 'bad-request', 'malformed URL');
      default:
        // Other fastify request errors: keep their status, not their text.
        return new ApiError(err.statusCode ?? 400, 'bad-request', 'the request was rejected');
    }
  }
  return new ApiError(500, 'internal', 'internal error');
}
