/**
 * @module
 * The network status page on the operations listener (issue 15, item 4):
 *
 *   GET /                  the page (src/node/status-page/page.ts): HTML, inline CSS and JS only
 *   GET /status/network    the network as this node reads it on the chain (network-view.ts)
 *   GET /status/doctor     the doctor's verdict, or why there is none (doctor-verdict.ts)
 *
 * Read-only and on the operations listener only (never the public one), rate-limited like
 * the rest of it. The response schemas below list every field, so nothing else an object
 * carries is ever serialised.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../errors.ts';
import { ERROR_RESPONSES, NoQuery } from '../schemas.ts';
import type { DoctorAnswer } from '../../status-page/doctor-verdict.ts';
import type { NetworkSnapshot } from '../../status-page/network-watch.ts';
import { PAGE_CSP, PAGE_HTML } from '../../status-page/page.ts';

export interface StatusPageRoutesOptions {
  /** The latest network view, refreshed first when it is due (never throws). */
  readonly network: () => Promise<NetworkSnapshot>;
  readonly doctor: () => Promise<DoctorAnswer>;
}

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(s: T) => Type.Union([s, Type.Null()]);
const Str = Type.String();
const Int = Type.Integer();
const Addresses = Type.Array(Str);
const Obj = <P extends Parameters<typeof Type.Object>[0]>(p: P) => Type.Object(p, { additionalProperties: false });

export const NetworkStatus = Obj({
  operator: Str,
  chainId: Str,
  registry: Str,
  chainTime: Int,
  mpk: Nullable(Str),
  activeVersion: Nullable(Obj({ id: Int, threshold: Int, holders: Addresses, completedAt: Int, publicPolyHash: Str })),
  governance: Obj({
    owner: Str, pendingOwner: Nullable(Str), interval: Int, dealWindow: Int, ackWindow: Int, confirmWindow: Int,
    thresholdOverride: Int, churnCap: Int, governanceDelay: Int, genesisMinOperators: Int, protocolVersion: Int,
  }),
  queued: Type.Array(Obj({ kind: Str, effectiveAt: Nullable(Int), change: Str })),
  operators: Type.Array(Obj({
    address: Str, socket: Str, status: Str, registeredSeq: Int, holder: Type.Boolean(), self: Type.Boolean(),
    sessions: Type.Array(Obj({ session: Int, dealt: Nullable(Type.Boolean()), acked: Nullable(Type.Boolean()), confirmed: Nullable(Type.Boolean()) })),
  })),
  sessions: Type.Array(Obj({
    id: Int, kind: Str, outcome: Str, phase: Str, boundary: Int, openedAt: Int, endedAt: Nullable(Int), durationSeconds: Nullable(Int),
    tNew: Int, quorum: Int, dealers: Addresses, recipients: Addresses, deals: Int, acks: Int, confirms: Int,
    submitted: Obj({ deal: Addresses, ack: Addresses, confirm: Addresses }),
    missing: Obj({ deal: Nullable(Addresses), ack: Nullable(Addresses), confirm: Nullable(Addresses) }),
  })),
  activeShareMissing: Type.Boolean(),
  lastClosedSession: Nullable(Obj({ id: Int, missed: Type.Array(Str) })),
  /** Unix seconds (this machine's clock) the view was read. */
  readAt: Int,
  /** The last refresh failed (the view is older): why. */
  readError: Nullable(Str),
});
export type NetworkStatus = Static<typeof NetworkStatus>;

export const DoctorStatusBody = Type.Union([
  Obj({
    available: Type.Literal(true),
    verdict: Obj({
      ok: Type.Boolean(),
      checkedAt: Int,
      checks: Type.Array(Obj({ id: Str, status: Str, message: Str, fix: Nullable(Str) })),
    }),
  }),
  Obj({ available: Type.Literal(false), reason: Str }),
]);

export const statusPageRoutes: FastifyPluginAsync<StatusPageRoutesOptions> = async (fastify, opts) => {
  // No 200 schema: the body is HTML.
  fastify.get('/', { schema: { querystring: NoQuery, response: { ...ERROR_RESPONSES } } }, async (_request, reply) => {
    return reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', PAGE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-store')
      .send(PAGE_HTML);
  });

  // The untyped instance for the two JSON routes: their values are deeply readonly, which the
  // TypeBox-derived (mutable) reply types refuse; the response schemas still decide what is sent.
  fastify.get('/status/network', { schema: { querystring: NoQuery, response: { 200: NetworkStatus, ...ERROR_RESPONSES } } }, async (_request, reply) => {
    const s = await opts.network();
    if (s.view === null || s.readAtMs === null) {
      throw new ApiError(503, 'not-ready', s.error === null ? 'the network has not been read yet' : `the network could not be read: ${s.error}`);
    }
    void reply.header('cache-control', 'no-store');
    return { ...s.view, readAt: Math.floor(s.readAtMs / 1000), readError: s.error };
  });

  fastify.get('/status/doctor', { schema: { querystring: NoQuery, response: { 200: DoctorStatusBody, ...ERROR_RESPONSES } } }, async (_request, reply) => {
    void reply.header('cache-control', 'no-store');
    return opts.doctor();
  });
};
