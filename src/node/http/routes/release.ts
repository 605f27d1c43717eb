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
  /** Aborted when the request times out or ends (client gone, 503 sent) before the handler returns: stop work, nothing will be sent. */
  readonly signal: AbortSignal;
  /**
   * The request's logger (carries the request id; redacts secret-named fields). At `info` and
   * above the release routes log only warnings and errors through it (see `releaseRoutes`).
   */
  readonly log: FastifyBaseLogger;
  /** Logs the one `info` line of an answered request (with the request id and client address). */
  readonly released: (fields: Readonly<Record<string, unknown>>) => void;
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
 * The handler's signal aborts when the request times out, or when the response ends (the client
 * went away, or fastify already answered 503 at its handler timeout) before the handler
 * returned. Not fastify's `request.signal`: on a real socket fastify aborts it as soon as a POST
 * body has been read (it listens for the request stream's close), which made every real
 * key-release request answer 503 (`app.inject()` never shows this). One AbortController and one
 * timer per request (cleared when the response closes): `AbortSignal.any` + `AbortSignal.timeout`
 * cost several times more here.
 */
function contextOf(request: FastifyRequest, reply: FastifyReply, timeoutMs: number, released: KeyReleaseContext['released']): { ctx: KeyReleaseContext; settle: () => void } {
  const ac = new AbortController();
  let settled = false;
  const timer = setTimeout(() => ac.abort(new Error('request timed out')), timeoutMs);
  reply.raw.once('close', () => {
    clearTimeout(timer);
    if (!settled) ac.abort(new Error('the request ended before the handler answered'));
  });
  const ctx: KeyReleaseContext = { clientIp: request.ip, requestId: String(request.id), signal: ac.signal, log: request.log, released };
  return { ctx, settle: () => void (settled = true) };
}

function unavailable(): ApiError {
  return new ApiError(403, 'attestation-unavailable', 'no attestation method is enabled on this node yet', {
    refusal: 'attestation-unavailable',
  });
}

export const releaseRoutes: FastifyPluginAsync<ReleaseRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxProvider>();
  // One log line per answered request: at `info` (production) fastify's own two request lines
  // ("incoming request", "request completed") and the refusal line are not written for these
  // routes, only the handler's `released` line, warnings and errors (refusals are counted in the
  // metrics by reason). At `debug` or `trace` everything is logged as on the other routes.
  const verbose = fastify.log.level === 'debug' || fastify.log.level === 'trace';
  const quiet = verbose ? {} : { logLevel: 'warn' as const };
  const schema = { body: KeyReleaseRequest, response: { 200: SealedResponse, ...ERROR_RESPONSES } };
  const handler = opts.appRelease;

  const answer = async <T>(request: FastifyRequest, reply: FastifyReply, run: (ctx: KeyReleaseContext) => Promise<T>): Promise<T> => {
    if (handler === null) throw unavailable();
    const released = (fields: Readonly<Record<string, unknown>>): void => {
      fastify.log.info({ reqId: request.id, remoteAddress: request.ip, ...fields }, 'key released');
    };
    const { ctx, settle } = contextOf(request, reply, opts.timeoutMs, released);
    try {
      return await run(ctx);
    } finally {
      settle();
    }
  };

  app.post('/app/sign', { schema, ...quiet }, async (request, reply) =>
    answer(request, reply, (ctx) => (handler as AppReleaseHandler).sign(request.body, ctx)),
  );

  app.post('/secrets', { schema, ...quiet }, async (request, reply) =>
    answer(request, reply, (ctx) => (handler as AppReleaseHandler).secrets(request.body, ctx)),
  );
};
