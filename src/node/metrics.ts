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
 *   kms_http_request_seconds{listener,route}  histogram of answer times (key release: route
 *                                             /app/sign, /secrets)
 *
 * The network as this node reads it from the chain (`status-page/network-watch.ts`, refreshed
 * every few seconds), for the alert rules in deploy/prometheus/alerts.yml:
 *
 *   kms_chain_time_seconds                    chain time of the block the view was read at
 *   kms_chain_active_version                  the chain's active version (0 = none)
 *   kms_chain_active_version_completed_seconds  chain time that version completed
 *   kms_reshare_interval_seconds              the interval governance has in effect
 *   kms_active_share_missing                  1: this operator holds a share of the chain's
 *                                             active version on-chain, but its store has none
 *   kms_last_session_id                       the newest closed session
 *   kms_last_session_missed_submissions       deals, acks and confirmations this operator owed
 *                                             in that session and did not make
 *   kms_governance_queued_changes{kind}       governance changes waiting for their time, by kind
 *                                             (thresholdOverride, churnCap, schedule,
 *                                             allowOperator, ownership)
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
  // The app owner froze key release (issue 16).
  'app-frozen',
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
  /**
   * `route` is a route template from our table or `unmatched`; never a raw URL. `seconds`: the
   * time to answer (observed for matched routes only).
   */
  httpRequest(listener: HttpListener, route: string, method: string, status: number, seconds?: number): void;
  refusal(reason: RefusalReason): void;
  /** The exposition text and its content type. */
  render(): Promise<{ readonly contentType: string; readonly body: string }>;
}

export type SubmissionPhase = 'deal' | 'ack' | 'confirm';

/** Kinds of `kms_governance_queued_changes`: the ledger's queued kinds, and a proposed new owner. */
export const QUEUED_CHANGE_KINDS = Object.freeze(['thresholdOverride', 'churnCap', 'schedule', 'allowOperator', 'ownership'] as const);
export type QueuedChangeKind = (typeof QUEUED_CHANGE_KINDS)[number];

/** What the node read about the network at one block (`status-page/network-watch.ts`). */
export interface NetworkFacts {
  readonly chainTime: number;
  /** The chain's active version and when it completed (chain time); null before genesis. */
  readonly activeVersion: { readonly id: number; readonly completedAt: number } | null;
  readonly interval: number;
  readonly activeShareMissing: boolean;
  /** The newest closed session and what this operator owed in it but did not submit. */
  readonly lastSession: { readonly id: number; readonly missedSubmissions: number } | null;
  readonly queued: Readonly<Record<QueuedChangeKind, number>>;
}

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
  /** The network as read from the chain (gauges for the alert rules). */
  network(facts: NetworkFacts): void;
  /**
   * The protocol version sessions require now (`required`), the newest this node speaks, and
   * whether it cannot act in sessions opened now or once a queued change applies.
   */
  protocol(p: { readonly required: number; readonly spokenMax: number; readonly unsupportedNow: boolean; readonly unsupportedQueued: boolean }): void;
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
  const httpSeconds = new Histogram({
    name: 'kms_http_request_seconds',
    help: 'Time to answer an HTTP request, by listener and route template (key release: /app/sign, /secrets).',
    labelNames: ['listener', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const chainTime = new Gauge({ name: 'kms_chain_time_seconds', help: 'Chain time of the block the node last read the network at.', registers: [registry] });
  const chainActive = new Gauge({ name: 'kms_chain_active_version', help: 'The chain\'s active key version (0 = none yet).', registers: [registry] });
  const chainActiveAt = new Gauge({ name: 'kms_chain_active_version_completed_seconds', help: 'Chain time the chain\'s active key version completed (0 = none yet).', registers: [registry] });
  const interval = new Gauge({ name: 'kms_reshare_interval_seconds', help: 'Reshare interval governance has in effect.', registers: [registry] });
  const shareMissing = new Gauge({ name: 'kms_active_share_missing', help: '1: this operator holds a share of the chain\'s active version on-chain, but its key store has none.', registers: [registry] });
  const lastSession = new Gauge({ name: 'kms_last_session_id', help: 'Id of the newest closed session (0 = none yet).', registers: [registry] });
  const lastMissed = new Gauge({ name: 'kms_last_session_missed_submissions', help: 'Deals, acks and confirmations this operator owed in the newest closed session and did not make.', registers: [registry] });
  const queued = new Gauge({ name: 'kms_governance_queued_changes', help: 'Governance changes queued and not yet in effect, by kind.', labelNames: ['kind'] as const, registers: [registry] });
  for (const kind of QUEUED_CHANGE_KINDS) queued.set({ kind }, 0);
  const protocolRequired = new Gauge({ name: 'kms_protocol_required_version', help: 'Protocol version sessions opened now require (governance; 0 = not read yet).', registers: [registry] });
  const protocolSpoken = new Gauge({ name: 'kms_protocol_spoken_max_version', help: 'Newest protocol version this node speaks.', registers: [registry] });
  const protocolUnsupported = new Gauge({
    name: 'kms_protocol_unsupported',
    help: '1: this node does not speak the protocol version sessions require (when="now": it sits them out; when="queued": once the queued change applies).',
    labelNames: ['when'] as const, registers: [registry],
  });
  protocolUnsupported.set({ when: 'now' }, 0);
  protocolUnsupported.set({ when: 'queued' }, 0);

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
    network(f) {
      chainTime.set(f.chainTime);
      chainActive.set(f.activeVersion?.id ?? 0);
      chainActiveAt.set(f.activeVersion?.completedAt ?? 0);
      interval.set(f.interval);
      shareMissing.set(f.activeShareMissing ? 1 : 0);
      lastSession.set(f.lastSession?.id ?? 0);
      lastMissed.set(f.lastSession?.missedSubmissions ?? 0);
      for (const kind of QUEUED_CHANGE_KINDS) queued.set({ kind }, f.queued[kind]);
    },
    protocol(p) {
      protocolRequired.set(p.required);
      protocolSpoken.set(p.spokenMax);
      protocolUnsupported.set({ when: 'now' }, p.unsupportedNow ? 1 : 0);
      protocolUnsupported.set({ when: 'queued' }, p.unsupportedQueued ? 1 : 0);
    },
    refusal(reason) {
      // The type already restricts it; the runtime check keeps a cast-through value out.
      refusals.inc({ reason: reasons.has(reason) ? reason : 'other' });
    },
    httpRequest(listener, route, method, status, seconds) {
      http.inc({ listener, route, method: HTTP_METHODS.has(method) ? method : 'other', status: String(status) });
      if (route !== 'unmatched' && seconds !== undefined && Number.isFinite(seconds) && seconds >= 0) httpSeconds.observe({ listener, route }, seconds);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
