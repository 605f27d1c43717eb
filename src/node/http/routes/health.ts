/**
 * @module
 * Liveness (SPEC 5): `GET /healthz` → 200 `{ok:true}` while the node loop ticks, else 503
 * `unhealthy` with the reason. Served on both listeners: on the public one for a load
 * balancer, on the operations one for a local supervisor.
 *
 * On the public listener it is exempt from the per-client rate limit: a load balancer's probes
 * often share an address with the clients behind the same proxy, and a probe starved by them
 * would take a healthy node out of rotation. On the operations listener every client is an
 * operations tool, so the probe is rate-limited like the rest of that listener.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../errors.ts';
import { ERROR_RESPONSES, HealthBody, NoQuery, type Health, type TypeBoxProvider } from '../schemas.ts';

export interface HealthRoutesOptions {
  /** ok when the node loop ticked recently. */
  readonly health: () => Health;
  /** true: the probe bypasses the listener's rate limit (the public listener). */
  readonly exemptFromRateLimit: boolean;
}

/** Texts that come from the node (health reason, last error) are bounded before they go out. */
export const MAX_NODE_TEXT = 300;
export const clipNodeText = (s: string): string => (s.length <= MAX_NODE_TEXT ? s : `${s.slice(0, MAX_NODE_TEXT - 1)}…`);

export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxProvider>();

  app.get(
    '/healthz',
    { config: { rateLimit: !opts.exemptFromRateLimit }, schema: { querystring: NoQuery, response: { 200: HealthBody, ...ERROR_RESPONSES } } },
    async () => {
      const h = opts.health();
      if (!h.ok) throw new ApiError(503, 'unhealthy', clipNodeText(h.reason ?? 'the node loop is not running'));
      return { ok: true } as const;
    },
  );
};
