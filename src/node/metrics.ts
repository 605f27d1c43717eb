/**
 * @module
 * The node's Prometheus metrics (SPEC 5, issue 5) behind a small typed facade, so that the
 * scheduler and the HTTP handlers record facts ("session 7 is in its ack phase", "a release
 * was refused: not-app-owner") without touching prom-client or choosing label values.
 *
 *   kms_round_phase{session,phase}            1 for the phase a session is in, 0 for the others
 *   kms_round_outcomes_total{kind,outcome}    completed | failed | declined, per dkg | reshare
 *   kms_partial_sign_seconds                  histogram of s_j·Q(id) (1.1 ms mcl, 10 ms noble)
 *   kms_round_step_seconds{phase,part}        histogram per submission of a round (phase deal | ack |
 *                                             confirm): part read (tick start → ledger view read),
 *                                             compute (round machines; compute_cpu: their CPU
 *                                             time), persist (SQLite), chain (estimate, send, receipt)
 *   kms_active_version                        id of the newest active version (0 = none)
 *   kms_threshold                             t of the active version
 *   kms_operators                             operators in the active version's set
 *   kms_refusals_total{reason}                requests refused, by a closed set of reasons
 *   kms_jwt_keys_age_seconds                  age of the jwt method's JWKS (since its last successful
 *                                             fetch; absent for a JWKS file or before the first fetch)
 *   kms_http_requests_total{listener,route,method,status}   listener: public | ops
 *
 * Every label value comes from a closed set or from our own route table, never from request
 * input, so a client cannot blow up the series count, and nothing secret can become a label.
 * The registry is private to the instance (not prom-client's global one), so tests and several
 * nodes in one process do not share counters.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SessionKind } from '../protocol/ledger.ts';
import type { Phase } from '../protocol/session-rules.ts';
import type { SubmissionParts } from './operator-loop.ts';

export const ROUND_PHASES: readonly Phase[] = Object.freeze(['deal', 'ack', 'confirm', 'closed']);

/** How a round ended for this node: it holds the new version, the round failed, or it stayed out. */
export type RoundOutcomeLabel = 'completed' | 'failed' | 'declined';

/**
 * Why a request was refused. A closed set: anything else is counted as `other`. The apps issue
 * adds its attestation checks here (one reason per check, as its refusals name the check).
 */
export const REFUSAL_REASONS = Object.freeze([
  'rate-limited',
  'not-ready',
  'unknown-version',
  'attestation-unavailable',
  'method-not-enabled',
  'unknown-app',
  'bad-attestation',
  'attestation-expired',
  // Key release (src/node/release): one reason per check, named like the error code.
  'attestation-bad-signature',
  'not-app-owner',
  'wrong-issuer',
  'wrong-audience',
  // jwt claim policy (src/node/release/claim-policy.ts)
  'debug-enclave',
  'wrong-tee-software',
  'secure-boot-off',
  'wrong-tee-hardware',
  'wrong-claim',
  'wrong-eat-nonce',
  'wrong-image-digest',
  'wrong-launch-policy',
  'no-release',
  'jwks-unavailable',
  // jwt: the JWKS could not be refreshed within its maximum age (answered 503 attestation-unavailable).
  'jwks-stale',
  'other',
] as const);
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

const HTTP_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The node's two HTTP listeners: the public API and the operations listener (/status, /metrics). */
export type HttpListener = 'public' | 'ops';

/** What the HTTP layer records. */
export interface ApiMetrics {
  /** `route` is a route template from our table or `unmatched`; never a raw URL. */
  httpRequest(listener: HttpListener, route: string, method: string, status: number): void;
  refusal(reason: RefusalReason): void;
  /** The exposition text and its content type. */
  render(): Promise<{ readonly contentType: string; readonly body: string }>;
}

export type SubmissionPhase = 'deal' | 'ack' | 'confirm';

/** What the scheduler and the key-release handlers record, plus the HTTP part. */
export interface NodeMetrics extends ApiMetrics {
  /** `phase` null: the session is over for this node; its series are removed. */
  roundPhase(session: number, phase: Phase | null): void;
  roundOutcome(kind: SessionKind, outcome: RoundOutcomeLabel): void;
  observePartialSign(seconds: number): void;
  /** One submission of this node in a round: its read, compute and chain time (ms). */
  observeRoundStep(phase: SubmissionPhase, parts: SubmissionParts): void;
  /** null: no active version. */
  activeVersion(id: number | null): void;
  /** Where `kms_jwt_keys_age_seconds` reads its value at each scrape (ms; null: no series). */
  watchJwksAge(ageMs: () => number | null): void;
  threshold(t: number): void;
  operatorCount(n: number): void;
  /** For tests and for a process that wants to merge registries; callers should not add metrics. */
  readonly registry: Registry;
}

export interface NodeMetricsOptions {
  /** Labels on every series, e.g. { operator: '0xabc…' } when several nodes share a scrape. */
  readonly defaultLabels?: Readonly<Record<string, string>>;
  /**
   * How many sessions keep `kms_round_phase` series at once. Normally one is in flight and at
   * most one older one awaits its outcome; the cap bounds the series if `null` is never sent.
   */
  readonly maxTrackedSessions?: number;
}

export function createNodeMetrics(options: NodeMetricsOptions = {}): NodeMetrics {
  const registry = new Registry();
  if (options.defaultLabels) registry.setDefaultLabels({ ...options.defaultLabels });
  const maxTracked = options.maxTrackedSessions ?? 4;

  const phase = new Gauge({
    name: 'kms_round_phase',
    help: 'Phase of a session in progress: 1 for its current phase, 0 for the others.',
    labelNames: ['session', 'phase'] as const,
    registers: [registry],
  });
  const outcomes = new Counter({
    name: 'kms_round_outcomes_total',
    help: 'Rounds that ended for this node, by kind and outcome.',
    labelNames: ['kind', 'outcome'] as const,
    registers: [registry],
  });
  const partialSign = new Histogram({
    name: 'kms_partial_sign_seconds',
    help: 'Time to compute one partial signature.',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25],
    registers: [registry],
  });
  const roundStep = new Histogram({
    name: 'kms_round_step_seconds',
    help: 'Time of one submission of a round, by phase and part: read (chain reads of the tick), compute (round machines), compute_cpu (their CPU time), persist (key store), chain (estimate, send, receipt).',
    labelNames: ['phase', 'part'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const activeVersion = new Gauge({ name: 'kms_active_version', help: 'Id of the newest active key version (0 = none).', registers: [registry] });
  const threshold = new Gauge({ name: 'kms_threshold', help: 'Threshold t of the active key version.', registers: [registry] });
  const operators = new Gauge({ name: 'kms_operators', help: 'Operators holding the active key version.', registers: [registry] });
  const refusals = new Counter({
    name: 'kms_refusals_total',
    help: 'Requests refused, by reason.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  let jwksAgeMs: (() => number | null) | null = null;
  new Gauge({
    name: 'kms_jwt_keys_age_seconds',
    help: 'Seconds since the jwt method\'s JWKS was last fetched successfully (beyond --jwt-jwks-max-age jwt requests are refused).',
    registers: [registry],
    collect() {
      const ms = jwksAgeMs?.() ?? null;
      if (ms === null) this.reset();
      else this.set(ms / 1000);
    },
  });
  const http = new Counter({
    name: 'kms_http_requests_total',
    help: 'HTTP requests answered, by listener (public, ops), route template, method and status.',
    labelNames: ['listener', 'route', 'method', 'status'] as const,
    registers: [registry],
  });

  // Sessions that currently have phase series, oldest first (Map keeps insertion order).
  const tracked = new Map<number, Phase>();
  const dropSession = (session: number) => {
    for (const p of ROUND_PHASES) phase.remove({ session: String(session), phase: p });
    tracked.delete(session);
  };
  const reasons: ReadonlySet<string> = new Set(REFUSAL_REASONS);

  return {
    registry,
    roundPhase(session, current) {
      if (!Number.isSafeInteger(session)) return;
      if (current === null) {
        dropSession(session);
        return;
      }
      tracked.delete(session);
      tracked.set(session, current);
      while (tracked.size > maxTracked) {
        const oldest = tracked.keys().next().value;
        if (oldest === undefined) break;
        dropSession(oldest);
      }
      for (const p of ROUND_PHASES) phase.set({ session: String(session), phase: p }, p === current ? 1 : 0);
    },
    roundOutcome(kind, outcome) {
      outcomes.inc({ kind, outcome });
    },
    observePartialSign(seconds) {
      if (Number.isFinite(seconds) && seconds >= 0) partialSign.observe(seconds);
    },
    observeRoundStep(p, parts) {
      for (const part of ['read', 'compute', 'compute_cpu', 'persist', 'chain'] as const) {
        const v = parts[part];
        if (Number.isFinite(v) && v >= 0) roundStep.observe({ phase: p, part }, v / 1000);
      }
    },
    activeVersion(id) {
      activeVersion.set(id ?? 0);
    },
    watchJwksAge(ageMs) {
      jwksAgeMs = ageMs;
    },
    threshold(t) {
      threshold.set(t);
    },
    operatorCount(n) {
      operators.set(n);
    },
    refusal(reason) {
      // The type already restricts it; the runtime check keeps a cast-through value out.
      refusals.inc({ reason: reasons.has(reason) ? reason : 'other' });
    },
    httpRequest(listener, route, method, status) {
      http.inc({ listener, route, method: HTTP_METHODS.has(method) ? method : 'other', status: String(status) });
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
