/**
 * @module
 * The node's two HTTP listeners (SPEC 5, issues 5 and 12), built here and listened to
 * elsewhere (`startNode`): `buildApi(deps)` and `buildOpsApi(deps)` each return a
 * ready-to-`listen()` fastify instance and never open a port, so tests drive them with
 * `app.inject()`.
 *
 * The public API (`--host`/`--port`), for apps, clients and load balancers:
 *
 *   GET  /pubkey      keys plugin      MPK, public polynomial, version, threshold, operators
 *   POST /app/sign    release plugin   attested partial signature (handler: apps issue)
 *   POST /secrets     release plugin   attested partial + release env (handler: apps issue)
 *   GET  /receipts    receipts plugin  the operator's release-receipt log, paginated (?from, limit, appId)
 *   GET  /healthz     health plugin    200 {ok:true} while the node loop ticks, else 503
 *
 * The operations listener (`--ops-host`/`--ops-port`, loopback by default), for the node's
 * operator only: neither route below has authentication, and both describe the node's inner
 * state, so they are not served on the public listener at all (404 there).
 *
 *   GET  /healthz     health plugin    as above, for a local supervisor
 *   GET  /status      ops plugin       what the node is doing
 *   GET  /metrics     ops plugin       Prometheus text
 *   GET  /            status page      the network status page (HTML, inline CSS and JS)
 *   GET  /status/network  status page  the network as this node reads it on the chain
 *   GET  /status/doctor   status page  the doctor's verdict on this node, if wired in
 *
 * Both listeners share one request pipeline, each with its own token buckets (a flood on one
 * cannot starve the other), cheapest check first, so that bad or abusive input costs little
 * and never reaches a dependency:
 *
 *   route lookup (404/405) → rate limit (429, before the body is read) → a body on GET/HEAD
 *   (400) → Content-Type (415) → body size (413) → JSON depth (400) → JSON parse (400)
 *   → schema (400) → handler
 *
 * Everything that goes wrong ends in the one error handler (`errors.ts` has the table), and
 * every non-2xx body is `{error: {code, message}}`. Log lines carry `listener` (public | ops);
 * so does `kms_http_requests_total`.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type pino from 'pino';
import type { ApiMetrics, HttpListener } from '../metrics.ts';
import { ApiError, toApiError, type ErrorMappingContext } from './errors.ts';
import { installJsonBodyParser } from './json-body.ts';
import { apiLogger } from './logger.ts';
import { TokenBuckets, clientKey, type RateLimitOptions } from './rate-limit.ts';
import { healthRoutes } from './routes/health.ts';
import { keysRoutes } from './routes/keys.ts';
import { opsRoutes } from './routes/ops.ts';
import { receiptsRoutes, type ReceiptsRoutesOptions } from './routes/receipts.ts';
import { releaseRoutes, type AppReleaseHandler } from './routes/release.ts';
import { statusPageRoutes, type StatusPageRoutesOptions } from './routes/status-page.ts';
import type { Health, NodeStatus, PubkeyInfo } from './schemas.ts';
import type { DoctorReport } from '../doctor/report.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: the route is exempt from the per-client rate limit. */
    rateLimit?: boolean;
  }
}

export type { AppReleaseHandler, KeyReleaseContext } from './routes/release.ts';
export type { RateLimitOptions } from './rate-limit.ts';
export { REDACT_CENSOR, REDACTED_FIELDS, apiLogger } from './logger.ts';
export type * from './schemas.ts';
export type { HttpListener } from '../metrics.ts';

/** What every listener is built from: its logging, limits and metrics. */
export interface ListenerDeps {
  /** A pino logger (a child with our redaction is made from it) or options for a new one. */
  readonly logger: pino.Logger | pino.LoggerOptions;
  /** Largest accepted request body in bytes (default 64 KiB; a JWT is at most 16 KiB). */
  readonly bodyLimit?: number;
  /**
   * Longest a request may take, in ms (default 10 000): to arrive in full (socket level,
   * against slow senders) and to be answered (503 `timeout`; the handler's signal aborts).
   */
  readonly requestTimeoutMs?: number;
  readonly rateLimit: RateLimitOptions;
  /**
   * fastify's `trustProxy`: set it when the node sits behind a reverse proxy, or every client
   * shares the proxy's bucket. Default false (the socket address is the client).
   */
  readonly trustProxy?: boolean | string | string[];
  readonly metrics: ApiMetrics;
  /** Monotonic milliseconds for the rate limiter (default `performance.now`); tests pass a fake. */
  readonly clock?: () => number;
}

/** The public API's dependencies. */
export interface ApiDeps extends ListenerDeps {
  /** The active (or a given) version's public data; null before genesis. */
  readonly pubkey: (version?: number) => PubkeyInfo | null;
  /** Why no version is served although genesis completed (a stale key store), or null. */
  readonly notReady?: () => string | null;
  /** ok while the node loop ticks; the reason otherwise. */
  readonly health: () => Health;
  /** The key-release hook; null until the apps issue lands (the routes then refuse with 403). */
  readonly appRelease: AppReleaseHandler | null;
  /** The release-receipt log served at `GET /receipts`; absent: the route is not served. */
  readonly receipts?: ReceiptsRoutesOptions;
}

/** The operations listener's dependencies. */
export interface OpsApiDeps extends ListenerDeps {
  /** The status page's data (`/status/network`, `/status/doctor`); absent: no page is served. */
  readonly statusPage?: StatusPageRoutesOptions;
  /** ok while the node loop ticks; the reason otherwise. */
  readonly health: () => Health;
  readonly status: () => NodeStatus;
  /** The doctor's report, run by this node with its own store (`GET /doctor`); absent: 404. */
  readonly doctor?: () => Promise<DoctorReport>;
}

export const DEFAULT_BODY_LIMIT = 64 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** True when the request announces a body (a non-zero Content-Length, or any Transfer-Encoding). */
function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** The public API: /pubkey, /app/sign, /secrets and /healthz (exempt from the rate limit). */
export function buildApi(deps: ApiDeps): FastifyInstance {
  return buildListener('public', deps, (app, requestTimeoutMs) => {
    app.register(keysRoutes, { pubkey: deps.pubkey, ...(deps.notReady ? { notReady: deps.notReady } : {}) });
    app.register(releaseRoutes, { appRelease: deps.appRelease, timeoutMs: requestTimeoutMs });
    if (deps.receipts) app.register(receiptsRoutes, deps.receipts);
    app.register(healthRoutes, { health: deps.health, exemptFromRateLimit: true });
  });
}

/** The operations listener: /healthz, /status, /metrics and the status page, every one rate-limited. */
export function buildOpsApi(deps: OpsApiDeps): FastifyInstance {
  return buildListener('ops', deps, (app) => {
    if (deps.statusPage) app.register(statusPageRoutes, deps.statusPage);
    app.register(healthRoutes, { health: deps.health, exemptFromRateLimit: false });
    app.register(opsRoutes, { status: deps.status, metrics: deps.metrics, ...(deps.doctor ? { doctor: deps.doctor } : {}) });
  });
}

/** One listener: the shared request pipeline (module comment) around the routes `register` adds. */
function buildListener(listener: HttpListener, deps: ListenerDeps, register: (app: FastifyInstance, requestTimeoutMs: number) => void): FastifyInstance {
  const bodyLimit = deps.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const requestTimeoutMs = deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1) throw new RangeError(`bodyLimit: expected a positive integer, got ${bodyLimit}`);
  if (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs < 1) {
    throw new RangeError(`requestTimeoutMs: expected a positive integer, got ${requestTimeoutMs}`);
  }
  const mapping: ErrorMappingContext = { bodyLimit, requestTimeoutMs };
  const buckets = new TokenBuckets(deps.rateLimit, deps.clock ?? (() => performance.now()));

  const app = Fastify({
    // Cast: fastify types the instance by its logger; callers only need the base logger API.
    loggerInstance: apiLogger(deps.logger).child({ listener }) as FastifyBaseLogger,
    bodyLimit,
    requestTimeout: requestTimeoutMs,
    trustProxy: deps.trustProxy ?? false,
    frameworkErrors: (err, request, reply) => {
      void sendError(err, request, reply);
    },
    ajv: {
      customOptions: {
        // fastify's defaults strip unknown fields and coerce types ("1" → 1): both would let a
        // malformed request through. We want it refused.
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: false,
        allErrors: false, // stop at the first error: cheaper, and we report one anyway
        discriminator: true, // attestation: validate only the branch `method` names
        verbose: true, // errors carry parentSchema, whose description says what was expected
      },
    },
  });

  // Known paths and their methods, for 405 + Allow (fastify itself answers 404 for a known
  // path with the wrong method). Filled as the plugins register their routes.
  const known = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    const methods = known.get(route.url) ?? new Set<string>();
    for (const m of [route.method].flat()) methods.add(m);
    known.set(route.url, methods);
  });

  installJsonBodyParser(app);

  // One sender for every error, used by the error handler and for errors fastify raises
  // before routing (a malformed URL), which would otherwise get fastify's own body.
  const sendError = (err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    // Already answered (503 at the deadline): a handler failing afterwards changes nothing.
    if (reply.sent) return reply;
    const e = toApiError(err, mapping);
    if (e.code === 'internal') request.log.error({ err }, 'request failed');
    else if (e.code === 'timeout') request.log.warn({ code: e.code }, e.message);
    else request.log.info({ code: e.code }, 'request refused');
    if (e.refusal !== undefined) deps.metrics.refusal(e.refusal);
    // Refused before its body fully arrived (429, 413, timeout, a stalled sender): close the
    // connection rather than keep it alive for a client that may still be sending.
    if (!request.raw.complete) reply.header('connection', 'close');
    return reply.code(e.status).headers(e.headers).send(e.toBody());
  };
  app.setErrorHandler((err, request, reply) => sendError(err, request, reply));

  /** 405 with Allow for a known path, 404 otherwise. */
  const routeMiss = (request: FastifyRequest): ApiError => {
    const allowed = known.get(pathOf(request.url));
    if (allowed === undefined) return new ApiError(404, 'not-found', 'no such route');
    const allow = [...allowed].sort().join(', ');
    return new ApiError(405, 'method-not-allowed', `use ${allow} on this path`, { headers: { allow } });
  };
  // Reached only if the onRequest hook below did not answer already; kept as the fallback.
  app.setNotFoundHandler(async (request) => {
    throw routeMiss(request);
  });

  // The answer deadline: 503 `timeout` if no answer within the request timeout. Not fastify's
  // `handlerTimeout`, which gives every request an AbortController and aborts it (building a
  // DOMException) whenever the request stream closes — ≈ 7 % of the server's CPU per
  // key-release request (app-sign bench profile). The handlers that can be cancelled (key
  // release) have their own signal on the same deadline.
  app.addHook('onRequest', (request, reply, done) => {
    const timer = setTimeout(() => {
      if (!reply.sent && !reply.raw.headersSent) void sendError(new ApiError(503, 'timeout', `the request was not answered within ${requestTimeoutMs} ms`), request, reply);
    }, requestTimeoutMs);
    reply.raw.once('close', () => clearTimeout(timer));
    done();
  });

  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.rateLimit !== false) {
      const wait = buckets.take(clientKey(request.ip));
      if (wait > 0) {
        throw new ApiError(429, 'rate-limited', `too many requests: retry in ${wait} s`, {
          headers: { 'retry-after': String(wait) },
          refusal: 'rate-limited',
        });
      }
    }
    // No route matched: answer now, before fastify reads and parses a body nobody wants.
    if (request.routeOptions.url === undefined) throw routeMiss(request);
    // A GET or HEAD with a body. fastify never parses one, so without this check malformed,
    // oversized or deeply nested JSON sent to /status or /pubkey was silently answered 200
    // (issue 5 acceptance: every endpoint answers bad input with a 4xx). Refuse it from the
    // headers alone, before a byte of it is read; the connection is then closed.
    if ((request.method === 'GET' || request.method === 'HEAD') && hasBody(request)) {
      throw new ApiError(400, 'bad-request', `${request.method} takes no request body`);
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    // Route templates only; an unmatched URL is "unmatched" (405s keep their known path).
    const matched = request.routeOptions.url;
    const path = pathOf(request.url);
    const route = matched !== undefined && known.has(matched) ? matched : known.has(path) ? path : 'unmatched';
    deps.metrics.httpRequest(listener, route, request.method, reply.statusCode, reply.elapsedTime / 1000);
  });

  register(app, requestTimeoutMs);

  return app;
}
