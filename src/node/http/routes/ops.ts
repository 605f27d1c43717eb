/**
 * @module
 * Monitoring (SPEC 5): `GET /healthz` (liveness of the node loop), `GET /status` (what the
 * node is doing, as JSON), `GET /metrics` (Prometheus text). /healthz and /metrics are exempt
 * from the per-client rate limit: probes and scrapers are few, cheap, and often share an
 * address with clients behind the same proxy, and a starved probe would restart a healthy node.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ApiMetrics } from '../../metrics.ts';
import { ApiError } from '../errors.ts';
import { ERROR_RESPONSES, HealthBody, NoQuery, NodeStatus, type Health, type TypeBoxProvider } from '../schemas.ts';

export interface OpsRoutesOptions {
  /** ok when the node loop ticked recently. */
  readonly health: () => Health;
  readonly status: () => NodeStatus;
  readonly metrics: ApiMetrics;
}

/** Texts that come from the node (health reason, last error) are bounded before they go out. */
const MAX_TEXT = 300;
const clip = (s: string) => (s.length <= MAX_TEXT ? s : `${s.slice(0, MAX_TEXT - 1)}…`);

export const opsRoutes: FastifyPluginAsync<OpsRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxProvider>();

  app.get(
    '/healthz',
    { config: { rateLimit: false }, schema: { querystring: NoQuery, response: { 200: HealthBody, ...ERROR_RESPONSES } } },
    async () => {
      const h = opts.health();
      if (!h.ok) throw new ApiError(503, 'unhealthy', clip(h.reason ?? 'the node loop is not running'));
      return { ok: true } as const;
    },
  );

  app.get('/status', { schema: { querystring: NoQuery, response: { 200: NodeStatus, ...ERROR_RESPONSES } } }, async () => {
    const s = opts.status();
    return s.lastError === null ? s : { ...s, lastError: { ...s.lastError, message: clip(s.lastError.message) } };
  });

  // No 200 schema: the body is Prometheus text, not JSON (hence the untyped instance).
  fastify.get('/metrics', { config: { rateLimit: false }, schema: { querystring: NoQuery, response: { ...ERROR_RESPONSES } } }, async (_request, reply) => {
    const { contentType, body } = await opts.metrics.render();
    return reply.type(contentType).send(body);
  });
};
