/**
 * @module
 * Monitoring (SPEC 5, issue 12): `GET /status` (what the node is doing, as JSON) and
 * `GET /metrics` (Prometheus text). Registered only on the operations listener (`buildOpsApi`),
 * never on the public one: neither has authentication, and both describe the node's inner
 * state (its rounds, its errors, request counts by refusal reason) to whoever asks. Both are
 * rate-limited like every route of that listener.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ApiMetrics } from '../../metrics.ts';
import { ERROR_RESPONSES, NoQuery, NodeStatus, type TypeBoxProvider } from '../schemas.ts';
import { clipNodeText } from './health.ts';
import type { DoctorReport } from '../../doctor/report.ts';
import { DoctorReportSchema } from '../../doctor/report-schema.ts';

export interface OpsRoutesOptions {
  readonly status: () => NodeStatus;
  readonly metrics: ApiMetrics;
  /** `GET /doctor`: the doctor's checks, run by the node with its own key store (kms-server doctor asks it while the node holds the store). */
  readonly doctor?: () => Promise<DoctorReport>;
}

export const opsRoutes: FastifyPluginAsync<OpsRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxProvider>();

  app.get('/status', { schema: { querystring: NoQuery, response: { 200: NodeStatus, ...ERROR_RESPONSES } } }, async () => {
    const s = opts.status();
    return s.lastError === null ? s : { ...s, lastError: { ...s.lastError, message: clipNodeText(s.lastError.message) } };
  });

  // No 200 schema: the body is Prometheus text, not JSON (hence the untyped instance).
  fastify.get('/metrics', { schema: { querystring: NoQuery, response: { ...ERROR_RESPONSES } } }, async (_request, reply) => {
    const { contentType, body } = await opts.metrics.render();
    return reply.type(contentType).send(body);
  });

  const doctor = opts.doctor;
  if (doctor) {
    app.get('/doctor', { schema: { querystring: NoQuery, response: { 200: DoctorReportSchema, ...ERROR_RESPONSES } } }, async () => { const r = await doctor(); return { ...r, checks: [...r.checks] }; });
  }
};
