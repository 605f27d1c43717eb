/**
 * @module
 * Attested key release (SPEC 5, issue 6): `POST /app/sign` (a partial signature) and
 * `POST /secrets` (the partial plus the app's latest release env), both sealed to the caller's
 * response key. This plugin only validates the request shape and hands it to the
 * `AppReleaseHandler`, which checks the attestation, signs and seals. It is its own
 * encapsulated context so that attestation-specific hooks (replay cache, per-app limits) can be
 * registered here without touching the other routes.
 *
 * Order of work per request, cheapest first: rate limit (onRequest, before the body is read)
 * → body size → JSON depth → JSON parse → schema → handler (signatures, pairings).
 */
import type { FastifyBaseLogger, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';
import {
  ERROR_RESPONSES,
  KeyReleaseRequest,
  SealedResponse,
  type SecretsRequest,
  type SecretsResponse,
  type SignRequest,
  type SignResponse,
  type TypeBoxProvider,
} from '../schemas.ts';

/** What a key-release handler knows about the request besides its body. */
export interface KeyReleaseContext {
  /** The client's address as seen by the server (after trustProxy). */
  readonly clientIp: string;
  readonly requestId: string;
  /** Aborted when the request times out or the client goes away: stop work, nothing will be sent. */
  readonly signal: AbortSignal;
  /** The request's logger (carries the request id; redacts secret-named fields). */
  readonly log: FastifyBaseLogger;
}

/**
 * Implemented by the apps issue. Throw `ApiError` (403 and a code naming the failed check,
 * with `refusal` set so it is counted) to refuse; any other error is a 500 `internal`.
 */
export interface AppReleaseHandler {
  sign(request: SignRequest, ctx: KeyReleaseContext): Promise<SignResponse>;
  secrets(request: SecretsRequest, ctx: KeyReleaseContext): Promise<SecretsResponse>;
}

export interface ReleaseRoutesOptions {
  /** null until an attestation method is enabled: both routes validate, then refuse. */
  readonly appRelease: AppReleaseHandler | null;
  /** The request timeout: the handler's signal aborts after it. */
  readonly timeoutMs: number;
}

/**
 * The handler's signal aborts when the request times out or the client goes away before the
 * answer is written. Not fastify's `request.signal` alone: on a real socket fastify aborts it
 * as soon as a POST body has been read (it listens for the request stream's close), which made
 * every real key-release request answer 503 (`app.inject()` never shows this).
 */
function contextOf(request: FastifyRequest, reply: FastifyReply, timeoutMs: number): KeyReleaseContext {
  const gone = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.sent && !reply.raw.writableFinished) gone.abort(new Error('client went away'));
  });
  const signal = AbortSignal.any([gone.signal, AbortSignal.timeout(timeoutMs)]);
  return { clientIp: request.ip, requestId: String(request.id), signal, log: request.log };
}

function unavailable(): ApiError {
  return new ApiError(403, 'attestation-unavailable', 'no attestation method is enabled on this node yet', {
    refusal: 'attestation-unavailable',
  });
}

export const releaseRoutes: FastifyPluginAsync<ReleaseRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxProvider>();
  const schema = { body: KeyReleaseRequest, response: { 200: SealedResponse, ...ERROR_RESPONSES } };
  const handler = opts.appRelease;

  app.post('/app/sign', { schema }, async (request, reply) => {
    if (handler === null) throw unavailable();
    return handler.sign(request.body, contextOf(request, reply, opts.timeoutMs));
  });

  app.post('/secrets', { schema }, async (request, reply) => {
    if (handler === null) throw unavailable();
    return handler.secrets(request.body, contextOf(request, reply, opts.timeoutMs));
  });
};
