// The node's HTTP listeners (SPEC 5, issues 5 and 12) through inject(): no port, no chain.
// The public API and the operations listener (/status, /metrics: served there and only
// there) are built from the same fakes. Every endpoint is fed bad input (malformed JSON, oversized and deeply nested bodies, wrong types,
// missing and extra fields, wrong methods and media types, unknown routes) and must answer the
// right 4xx with {error: {code, message}}, without calling a dependency that could change
// state, and stay healthy. The fakes count their calls; the key-release hook in particular
// must never see an invalid request.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import {
  REDACT_CENSOR,
  buildApi,
  buildOpsApi,
  type ApiDeps,
  type OpsApiDeps,
  type AppReleaseHandler,
  type KeyReleaseContext,
  type NodeStatus,
  type PubkeyInfo,
} from '../../src/node/http/app.ts';
import { MAX_JSON_DEPTH, jsonDepthExceeds } from '../../src/node/http/json-body.ts';
import { TokenBuckets, clientKey } from '../../src/node/http/rate-limit.ts';
import { createNodeMetrics } from '../../src/node/metrics.ts';

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const h = (byte: string, n: number) => `0x${byte.repeat(n)}` as const;
const G2 = (b: string) => h(b, 96);
const OPERATOR = '0x1111111111111111111111111111111111111111';

const PUBKEY: PubkeyInfo = {
  mpk: G2('a1'),
  publicPoly: [G2('a1'), G2('a2'), G2('a3')],
  version: 7,
  threshold: 3,
  operators: [
    { address: OPERATOR, socket: 'http://127.0.0.1:7001' },
    { address: '0x2222222222222222222222222222222222222222', socket: 'http://127.0.0.1:7002' },
  ],
};

const STATUS: NodeStatus = {
  operator: OPERATOR,
  activeVersion: 7,
  session: { id: 8, kind: 'reshare', phase: 'ack', dealer: 'dealt', recipient: 'acked' },
  lastProcessedBoundary: 1_800_000_000,
  chainHead: { number: 1234, time: 1_800_000_030 },
  lastError: null,
};

const ECDSA = { method: 'ecdsa', signature: h('44', 65), time: 1_800_000_000 } as const;
const JWT = { method: 'jwt', token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln' } as const;
const VALID = { appId: h('11', 32), responseKey: h('22', 32), nonce: h('33', 16), attestation: ECDSA };
const SEALED = { operator: OPERATOR, version: 7, sealed: h('ee', 80) } as const;

interface Calls {
  pubkey: number;
  status: number;
  health: number;
  sign: number;
  secrets: number;
  /** /metrics renders. */
  metrics: number;
}
const NO_CALLS: Calls = { pubkey: 0, status: 0, health: 0, sign: 0, secrets: 0, metrics: 0 };

interface Harness {
  deps: ApiDeps;
  opsDeps: OpsApiDeps;
  calls: Calls;
  /** The public API. */
  app: ReturnType<typeof buildApi>;
  /** The operations listener, sharing the fakes (and the metrics) with `app`. */
  ops: ReturnType<typeof buildOpsApi>;
  logs: string[];
  metrics: ReturnType<typeof createNodeMetrics>;
  /** Advances the rate limiters' clock. */
  tick(ms: number): void;
  /** Closes both listeners. */
  close(): Promise<void>;
  lastCtx: KeyReleaseContext | null;
}

interface HarnessOptions {
  readonly release?: 'none' | 'ok' | 'throws' | 'hangs';
  readonly genesis?: boolean;
  readonly burst?: number;
  /** The operations listener's burst (default: unlimited for the test's purposes). */
  readonly opsBurst?: number;
  readonly healthy?: boolean;
  readonly requestTimeoutMs?: number;
  readonly overrides?: Partial<ApiDeps>;
  readonly opsOverrides?: Partial<OpsApiDeps>;
}

/** An Error carrying secret-named fields, as a careless dependency might throw. */
function secretLadenError(): Error {
  return Object.assign(new Error('boom FAKE-SECRET-0xdeadbeef'), {
    share: 'SHARE-VALUE-1',
    secret: 'SECRET-VALUE-2',
    key: 'KEY-VALUE-3',
    appKey: 'APPKEY-VALUE-4',
    token: 'TOKEN-VALUE-5',
    cause: { detail: { token: 'NESTED-TOKEN-6', share: 'NESTED-SHARE-7' } },
  });
}
const SECRET_VALUES = ['SHARE-VALUE-1', 'SECRET-VALUE-2', 'KEY-VALUE-3', 'APPKEY-VALUE-4', 'TOKEN-VALUE-5', 'NESTED-TOKEN-6', 'NESTED-SHARE-7'];

function harness(opts: HarnessOptions = {}): Harness {
  const calls: Calls = { ...NO_CALLS };
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void logs.push(s) });
  let now = 1_000;
  const metrics = createNodeMetrics();
  const self: Partial<Harness> = { lastCtx: null };

  const answer = async (kind: 'sign' | 'secrets', ctx: KeyReleaseContext) => {
    calls[kind]++;
    self.lastCtx = ctx;
    switch (opts.release) {
      case 'throws':
        throw secretLadenError();
      case 'hangs':
        // Resolves only when the request is abandoned, like a handler that honours the signal.
        return new Promise<typeof SEALED>((resolve) => ctx.signal.addEventListener('abort', () => resolve(SEALED)));
      default:
        // An extra field the response schema must drop.
        return { ...SEALED, share: 'SHARE-MUST-NOT-LEAK' };
    }
  };
  const release: AppReleaseHandler = {
    sign: (_req, ctx) => answer('sign', ctx),
    secrets: (_req, ctx) => answer('secrets', ctx),
  };

  const health = () => {
    calls.health++;
    return opts.healthy === false ? { ok: false, reason: 'no tick for 12 s' } : { ok: true };
  };
  // The real metrics, with the renders counted.
  const countedMetrics = {
    httpRequest: metrics.httpRequest,
    refusal: metrics.refusal,
    render: () => {
      calls.metrics++;
      return metrics.render();
    },
  };
  const deps: ApiDeps = {
    logger,
    requestTimeoutMs: opts.requestTimeoutMs ?? 5_000,
    rateLimit: { perClientPerSecond: 1, burst: opts.burst ?? 100_000 },
    clock: () => now,
    pubkey: (version) => {
      calls.pubkey++;
      if (opts.genesis === false) return null;
      if (version !== undefined && version !== 7 && version !== 6) return null;
      // A richer object than the schema: `share` must not reach the response.
      return { ...PUBKEY, version: version ?? 7, share: 'SHARE-MUST-NOT-LEAK' } as PubkeyInfo;
    },
    health,
    metrics: countedMetrics,
    appRelease: opts.release === undefined || opts.release === 'none' ? null : release,
    ...opts.overrides,
  };
  const opsDeps: OpsApiDeps = {
    logger,
    requestTimeoutMs: opts.requestTimeoutMs ?? 5_000,
    rateLimit: { perClientPerSecond: 1, burst: opts.opsBurst ?? 100_000 },
    clock: () => now,
    status: () => {
      calls.status++;
      return STATUS;
    },
    health,
    metrics: countedMetrics,
    ...opts.opsOverrides,
  };
  const app = buildApi(deps);
  const ops = buildOpsApi(opsDeps);
  return Object.assign(self, {
    deps,
    opsDeps,
    calls,
    app,
    ops,
    logs,
    metrics,
    tick: (ms: number) => {
      now += ms;
    },
    close: async () => {
      await Promise.all([app.close(), ops.close()]);
    },
  }) as Harness;
}

const JSON_CT = { 'content-type': 'application/json' };

function json(method: InjectOptions['method'], url: string, body: string, headers: Record<string, string> = JSON_CT): InjectOptions {
  return { method, url, payload: body, headers };
}

/** Asserts status, code and the exact error envelope. */
function assertError(res: LightMyRequestResponse, status: number, code: string, what = ''): void {
  const label = `${what} → ${res.statusCode} ${res.body.slice(0, 200)}`;
  assert.equal(res.statusCode, status, label);
  assert.match(String(res.headers['content-type']), /^application\/json/, label);
  const body = res.json() as { error: { code: string; message: string } };
  assert.deepEqual(Object.keys(body), ['error'], label);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message'], label);
  assert.equal(body.error.code, code, label);
  assert.equal(typeof body.error.message, 'string', label);
  assert.ok(body.error.message.length > 0 && body.error.message.length <= 300, label);
}

async function assertStillHealthy(t: Harness): Promise<void> {
  for (const listener of [t.app, t.ops]) {
    const res = await listener.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { ok: true });
  }
}

const nest = (depth: number, open: string, close: string, inner = '1') => open.repeat(depth) + inner + close.repeat(depth);

// ---------------------------------------------------------------------------------------------
// Bad input for the key-release routes
// ---------------------------------------------------------------------------------------------

interface BadCase {
  readonly name: string;
  readonly status: number;
  readonly code: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  /** Expected substring of the message (it must name the field). */
  readonly mentions?: string;
}

const body = (o: unknown) => JSON.stringify(o);
const without = (k: keyof typeof VALID) => {
  const o: Record<string, unknown> = { ...VALID };
  delete o[k];
  return o;
};

const RELEASE_BAD: readonly BadCase[] = [
  // Malformed JSON
  { name: 'truncated object', body: '{"appId": "0x', status: 400, code: 'bad-json' },
  { name: 'trailing comma', body: '{"appId": 1,}', status: 400, code: 'bad-json' },
  { name: 'single quotes', body: "{'appId': 1}", status: 400, code: 'bad-json' },
  { name: 'bare word', body: 'nul', status: 400, code: 'bad-json' },
  { name: 'two documents', body: '{}{}', status: 400, code: 'bad-json' },
  { name: 'NaN literal', body: '{"version": NaN}', status: 400, code: 'bad-json' },
  { name: 'unbalanced closers', body: ']]]}}}', status: 400, code: 'bad-json' },
  { name: 'prototype poisoning', body: '{"__proto__": {"admin": true}}', status: 400, code: 'bad-json' },
  { name: 'constructor poisoning', body: '{"constructor": {"prototype": {"admin": true}}}', status: 400, code: 'bad-json' },
  { name: 'empty body with JSON type', body: '', status: 400, code: 'bad-json' },
  // Deep nesting (cheap scan before the parser)
  { name: '10 000 nested arrays', body: nest(10_000, '[', ']'), status: 400, code: 'json-too-deep' },
  { name: '10 000 nested objects', body: nest(10_000, '{"a":', '}'), status: 400, code: 'json-too-deep' },
  { name: 'deep inside a valid field', body: body({ ...VALID, x: JSON.parse(nest(40, '[', ']')) as unknown }), status: 400, code: 'json-too-deep' },
  { name: 'one level over the limit', body: nest(MAX_JSON_DEPTH + 1, '[', ']'), status: 400, code: 'json-too-deep' },
  // Oversized
  { name: '70 KiB body', body: body({ ...VALID, pad: 'x'.repeat(70 * 1024) }), status: 413, code: 'payload-too-large' },
  { name: 'oversized junk', body: 'x'.repeat(200 * 1024), status: 413, code: 'payload-too-large' },
  // Media type
  { name: 'text/plain', body: body(VALID), headers: { 'content-type': 'text/plain' }, status: 415, code: 'unsupported-media-type' },
  { name: 'form-encoded', body: 'appId=0x11', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, code: 'unsupported-media-type' },
  { name: 'multipart', body: '--x\r\n\r\n--x--', headers: { 'content-type': 'multipart/form-data; boundary=x' }, status: 415, code: 'unsupported-media-type' },
  { name: 'json-seq', body: body(VALID), headers: { 'content-type': 'application/json-seq' }, status: 415, code: 'unsupported-media-type' },
  { name: 'garbage content-type', body: body(VALID), headers: { 'content-type': '%%%' }, status: 415, code: 'unsupported-media-type' },
  // Wrong top-level type
  { name: 'null', body: 'null', status: 400, code: 'bad-request', mentions: 'body' },
  { name: 'array', body: '[]', status: 400, code: 'bad-request', mentions: 'body' },
  { name: 'string', body: '"hello"', status: 400, code: 'bad-request', mentions: 'body' },
  { name: 'number', body: '42', status: 400, code: 'bad-request', mentions: 'body' },
  { name: 'empty object', body: '{}', status: 400, code: 'bad-request', mentions: 'body.appId' },
  // Missing fields
  ...(['appId', 'responseKey', 'nonce', 'attestation'] as const).map(
    (k): BadCase => ({ name: `missing ${k}`, body: body(without(k)), status: 400, code: 'bad-request', mentions: k }),
  ),
  { name: 'missing attestation.method', body: body({ ...VALID, attestation: { signature: ECDSA.signature, time: 1 } }), status: 400, code: 'bad-request', mentions: 'method' },
  { name: 'missing attestation.signature', body: body({ ...VALID, attestation: { method: 'ecdsa', time: 1 } }), status: 400, code: 'bad-request', mentions: 'signature' },
  { name: 'missing attestation.time', body: body({ ...VALID, attestation: { method: 'ecdsa', signature: ECDSA.signature } }), status: 400, code: 'bad-request', mentions: 'time' },
  { name: 'missing jwt token', body: body({ ...VALID, attestation: { method: 'jwt' } }), status: 400, code: 'bad-request', mentions: 'token' },
  // Extra fields
  { name: 'extra top-level field', body: body({ ...VALID, admin: true }), status: 400, code: 'bad-request', mentions: 'admin' },
  { name: 'extra attestation field', body: body({ ...VALID, attestation: { ...ECDSA, extra: 1 } }), status: 400, code: 'bad-request', mentions: 'extra' },
  { name: 'jwt field on ecdsa', body: body({ ...VALID, attestation: { ...ECDSA, token: JWT.token } }), status: 400, code: 'bad-request', mentions: 'token' },
  { name: 'huge unexpected field name', body: body({ ...VALID, ['k'.repeat(5000)]: 1 }), status: 400, code: 'bad-request' },
  // Wrong types
  { name: 'appId number', body: body({ ...VALID, appId: 17 }), status: 400, code: 'bad-request', mentions: 'appId' },
  { name: 'appId without 0x', body: body({ ...VALID, appId: '11'.repeat(32) }), status: 400, code: 'bad-request', mentions: 'appId' },
  { name: 'appId 31 bytes', body: body({ ...VALID, appId: h('11', 31) }), status: 400, code: 'bad-request', mentions: 'appId' },
  { name: 'appId 33 bytes', body: body({ ...VALID, appId: h('11', 33) }), status: 400, code: 'bad-request', mentions: 'appId' },
  { name: 'appId not hex', body: body({ ...VALID, appId: `0x${'zz'.repeat(32)}` }), status: 400, code: 'bad-request', mentions: 'appId' },
  { name: 'responseKey odd length', body: body({ ...VALID, responseKey: `${h('22', 32)}0` }), status: 400, code: 'bad-request', mentions: 'responseKey' },
  { name: 'responseKey array', body: body({ ...VALID, responseKey: [1, 2] }), status: 400, code: 'bad-request', mentions: 'responseKey' },
  { name: 'nonce 15 bytes', body: body({ ...VALID, nonce: h('33', 15) }), status: 400, code: 'bad-request', mentions: 'nonce' },
  { name: 'nonce 33 bytes', body: body({ ...VALID, nonce: h('33', 33) }), status: 400, code: 'bad-request', mentions: 'nonce' },
  { name: 'nonce null', body: body({ ...VALID, nonce: null }), status: 400, code: 'bad-request', mentions: 'nonce' },
  { name: 'version as string', body: body({ ...VALID, version: '3' }), status: 400, code: 'bad-request', mentions: 'version' },
  { name: 'version 0', body: body({ ...VALID, version: 0 }), status: 400, code: 'bad-request', mentions: 'version' },
  { name: 'version fractional', body: body({ ...VALID, version: 1.5 }), status: 400, code: 'bad-request', mentions: 'version' },
  { name: 'version 2^60', body: body({ ...VALID, version: 2 ** 60 }), status: 400, code: 'bad-request', mentions: 'version' },
  { name: 'version 1e400', body: body(VALID).replace(/}$/, ',"version":1e400}'), status: 400, code: 'bad-request', mentions: 'version' },
  { name: 'time negative', body: body({ ...VALID, time: -1 }), status: 400, code: 'bad-request', mentions: 'time' },
  { name: 'version and time', body: body({ ...VALID, version: 2, time: 5 }), status: 400, code: 'bad-request', mentions: 'not both' },
  { name: 'attestation string', body: body({ ...VALID, attestation: 'ecdsa' }), status: 400, code: 'bad-request', mentions: 'attestation' },
  { name: 'unknown method', body: body({ ...VALID, attestation: { method: 'tpm', quote: 'x' } }), status: 400, code: 'bad-request', mentions: 'method' },
  { name: 'method number', body: body({ ...VALID, attestation: { method: 1 } }), status: 400, code: 'bad-request', mentions: 'method' },
  { name: 'signature 64 bytes', body: body({ ...VALID, attestation: { ...ECDSA, signature: h('44', 64) } }), status: 400, code: 'bad-request', mentions: 'signature' },
  { name: 'signature time as string', body: body({ ...VALID, attestation: { ...ECDSA, time: '1800000000' } }), status: 400, code: 'bad-request', mentions: 'time' },
  { name: 'jwt not compact', body: body({ ...VALID, attestation: { method: 'jwt', token: 'not a jwt' } }), status: 400, code: 'bad-request', mentions: 'token' },
  { name: 'jwt empty', body: body({ ...VALID, attestation: { method: 'jwt', token: '' } }), status: 400, code: 'bad-request', mentions: 'token' },
  { name: 'jwt over 16 KiB', body: body({ ...VALID, attestation: { method: 'jwt', token: `a.${'b'.repeat(16 * 1024)}.c` } }), status: 400, code: 'bad-request', mentions: 'token' },
  { name: 'deep-looking string is not deep', body: body({ ...VALID, appId: `"[[[[\\"${'['.repeat(100)}` }), status: 400, code: 'bad-request', mentions: 'appId' },
];

describe('http api: key-release routes refuse bad input and touch nothing', () => {
  for (const url of ['/app/sign', '/secrets']) {
    it(`POST ${url}: ${RELEASE_BAD.length} bad requests → 4xx {error:{code,message}}, handler never called`, async () => {
      const t = harness({ release: 'ok' });
      for (const c of RELEASE_BAD) {
        const res = await t.app.inject(json('POST', url, c.body ?? '', c.headers ?? JSON_CT));
        assertError(res, c.status, c.code, c.name);
        if (c.mentions !== undefined) assert.ok((res.json() as { error: { message: string } }).error.message.includes(c.mentions), `${c.name}: ${res.body}`);
        // The ajv dump (schema paths, patterns) never reaches the client.
        assert.doesNotMatch(res.body, /schemaPath|instancePath|\^0x|must match/, c.name);
      }
      // No body at all (no content-type): a schema error, not a crash.
      assertError(await t.app.inject({ method: 'POST', url }), 400, 'bad-request', 'no body');
      assert.equal(t.calls.sign + t.calls.secrets, 0, 'the release hook saw an invalid request');
      assert.equal(t.calls.pubkey + t.calls.status, 0);
      await assertStillHealthy(t);
      // And a valid request still works afterwards.
      const ok = await t.app.inject({ method: 'POST', url, payload: VALID });
      assert.equal(ok.statusCode, 200, ok.body);
      await t.close();
    });
  }

  it('a valid request passes the schema: ecdsa, jwt, version, time, nonce of 32 bytes, upper-case hex', async () => {
    const t = harness({ release: 'ok' });
    const variants = [
      VALID,
      { ...VALID, attestation: JWT },
      { ...VALID, version: 3 },
      { ...VALID, time: 1_800_000_000 },
      { ...VALID, nonce: h('ab', 32) },
      { ...VALID, appId: h('AB', 32) },
    ];
    for (const v of variants) {
      const res = await t.app.inject({ method: 'POST', url: '/app/sign', payload: v });
      assert.equal(res.statusCode, 200, res.body);
      // Exactly the schema's fields: the handler's extra `share` is dropped.
      assert.deepEqual(res.json(), SEALED);
    }
    assert.equal(t.calls.sign, variants.length);
    const s = await t.app.inject({ method: 'POST', url: '/secrets', payload: VALID, headers: { 'content-type': 'application/json; charset=utf-8' } });
    assert.equal(s.statusCode, 200, s.body);
    assert.equal(t.calls.secrets, 1);
    assert.equal(t.lastCtx?.clientIp, '127.0.0.1');
    assert.equal(t.lastCtx?.signal.aborted, false);
    await t.close();
  });

  it('before the apps issue: a valid request is refused with 403 attestation-unavailable and counted', async () => {
    const t = harness({ release: 'none' });
    for (const url of ['/app/sign', '/secrets']) {
      const res = await t.app.inject({ method: 'POST', url, payload: VALID });
      assertError(res, 403, 'attestation-unavailable', url);
      assert.equal(res.json().error.message, 'no attestation method is enabled on this node yet');
      // Validation still comes first.
      assertError(await t.app.inject(json('POST', url, '{')), 400, 'bad-json');
    }
    const text = (await t.metrics.render()).body;
    assert.match(text, /kms_refusals_total\{reason="attestation-unavailable"\} 2/);
    await t.close();
  });
});

// ---------------------------------------------------------------------------------------------
// Methods, routes, query strings
// ---------------------------------------------------------------------------------------------

type Listener = 'public' | 'ops';
const ROUTES: readonly { listener: Listener; url: string; allow: string }[] = [
  { listener: 'public', url: '/pubkey', allow: 'GET, HEAD' },
  { listener: 'public', url: '/healthz', allow: 'GET, HEAD' },
  { listener: 'public', url: '/app/sign', allow: 'POST' },
  { listener: 'public', url: '/secrets', allow: 'POST' },
  { listener: 'ops', url: '/healthz', allow: 'GET, HEAD' },
  { listener: 'ops', url: '/status', allow: 'GET, HEAD' },
  { listener: 'ops', url: '/metrics', allow: 'GET, HEAD' },
];
const on = (t: Harness, l: Listener) => (l === 'public' ? t.app : t.ops);

describe('http api: methods, routes and query strings', () => {
  it('a wrong method on a known path → 405 with Allow, before any body is read', async () => {
    const t = harness({ release: 'ok' });
    const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
    for (const r of ROUTES) {
      for (const m of methods) {
        if (r.allow.includes(m)) continue;
        for (const payload of [undefined, '{', nest(10_000, '[', ']'), 'x'.repeat(200 * 1024)]) {
          const res = await on(t, r.listener).inject(payload === undefined ? { method: m, url: r.url } : json(m, r.url, payload));
          assertError(res, 405, 'method-not-allowed', `${r.listener}: ${m} ${r.url}`);
          assert.equal(res.headers.allow, r.allow);
        }
      }
    }
    assert.deepEqual(t.calls, NO_CALLS);
    await assertStillHealthy(t);
    await t.close();
  });

  it('unknown routes → 404 not-found, bodies unread; a malformed URL → 400', async () => {
    const t = harness({ release: 'ok' });
    const unknown = ['/', '/nope', '/pubkey/', '/PUBKEY', '/app', '/app/sign/extra', '/secrets/x', '/app//sign', '/metrics.json', '/status/', `/${'a'.repeat(5000)}`];
    for (const [name, listener] of [['public', t.app], ['ops', t.ops]] as const) {
      for (const url of unknown) {
        assertError(await listener.inject({ method: 'GET', url }), 404, 'not-found', `${name}: GET ${url}`);
        assertError(await listener.inject(json('POST', url, '{')), 404, 'not-found', `${name}: POST ${url}`);
        assertError(await listener.inject(json('POST', url, 'x'.repeat(200 * 1024))), 404, 'not-found', `${name}: POST big ${url}`);
      }
      assertError(await listener.inject({ method: 'GET', url: '/status%zz' }), 400, 'bad-request', `${name}: bad url`);
    }
    assert.deepEqual(t.calls, NO_CALLS);
    await assertStillHealthy(t);
    await t.close();
  });

  it('GET routes refuse any request body (malformed, oversized, deeply nested or valid JSON) with 400, unread', async () => {
    const t = harness({ release: 'ok' });
    for (const r of ROUTES.filter((x) => x.allow.includes('GET'))) {
      for (const payload of ['{', '{}', nest(10_000, '[', ']'), 'x'.repeat(200 * 1024)]) {
        const res = await on(t, r.listener).inject(json('GET', r.url, payload));
        assertError(res, 400, 'bad-request', `${r.listener}: GET ${r.url} with a body`);
        assert.equal(res.json().error.message, 'GET takes no request body');
      }
    }
    assert.deepEqual(t.calls, NO_CALLS);
    await assertStillHealthy(t);
    await t.close();
  });

  it('GET routes refuse unknown or malformed query parameters, without calling their dependency', async () => {
    const t = harness();
    const bad: readonly [Listener, string, string][] = [
      ['public', '/pubkey?foo=1', 'foo'],
      ['public', '/pubkey?version=0', 'version'],
      ['public', '/pubkey?version=-1', 'version'],
      ['public', '/pubkey?version=1.5', 'version'],
      ['public', '/pubkey?version=abc', 'version'],
      ['public', '/pubkey?version=1e3', 'version'],
      ['public', '/pubkey?version=1&version=2', 'version'],
      ['public', '/pubkey?version=9999999999999', 'version'],
      ['public', '/healthz?x=1', 'x'],
      ['ops', '/status?verbose=1', 'verbose'],
      ['ops', '/healthz?x=1', 'x'],
      ['ops', '/metrics?format=json', 'format'],
    ];
    for (const [listener, url, field] of bad) {
      const res = await on(t, listener).inject({ method: 'GET', url });
      assertError(res, 400, 'bad-request', `${listener}: ${url}`);
      assert.ok(res.json().error.message.includes(field), `${url}: ${res.body}`);
    }
    assert.deepEqual(t.calls, NO_CALLS);
    await t.close();
  });
});

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------

describe('http api: GET /pubkey', () => {
  it('503 not-ready before genesis (also for a named version)', async () => {
    const t = harness({ genesis: false });
    assertError(await t.app.inject({ method: 'GET', url: '/pubkey' }), 503, 'not-ready');
    assertError(await t.app.inject({ method: 'GET', url: '/pubkey?version=3' }), 503, 'not-ready');
    await t.close();
  });

  it('after genesis: exactly {mpk, publicPoly, version, threshold, operators}', async () => {
    const t = harness();
    const res = await t.app.inject({ method: 'GET', url: '/pubkey' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), PUBKEY); // the dep's extra `share` is not serialised
    assert.doesNotMatch(res.body, /SHARE-MUST-NOT-LEAK/);
    const head = await t.app.inject({ method: 'HEAD', url: '/pubkey' });
    assert.equal(head.statusCode, 200);
    assert.equal(head.body, '');
    await t.close();
  });

  it('?version=N: that version, or 404 unknown-version', async () => {
    const t = harness();
    const v6 = await t.app.inject({ method: 'GET', url: '/pubkey?version=6' });
    assert.equal(v6.statusCode, 200, v6.body);
    assert.equal(v6.json().version, 6);
    assertError(await t.app.inject({ method: 'GET', url: '/pubkey?version=5' }), 404, 'unknown-version');
    await t.close();
  });

  it('a pubkey() that ignores the version argument cannot mislabel the active version', async () => {
    const t = harness({ overrides: { pubkey: () => PUBKEY } });
    assertError(await t.app.inject({ method: 'GET', url: '/pubkey?version=2' }), 404, 'unknown-version');
    await t.close();
  });
});

describe('http api: /healthz, /status, /metrics', () => {
  it('/healthz on both listeners: 200 {ok:true} while healthy, 503 unhealthy with the reason otherwise', async () => {
    const ok = harness();
    await assertStillHealthy(ok);
    const bad = harness({ healthy: false });
    for (const listener of [bad.app, bad.ops]) {
      const res = await listener.inject({ method: 'GET', url: '/healthz' });
      assertError(res, 503, 'unhealthy');
      assert.equal(res.json().error.message, 'no tick for 12 s');
    }
    await ok.close();
    await bad.close();
  });

  it('/status (ops listener): the node status as JSON; a long last error is clipped', async () => {
    const t = harness();
    const res = await t.ops.inject({ method: 'GET', url: '/status' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), STATUS);
    const long = harness({ opsOverrides: { status: () => ({ ...STATUS, lastError: { message: 'e'.repeat(10_000), at: 5 } }) } });
    const r2 = await long.ops.inject({ method: 'GET', url: '/status' });
    assert.equal(r2.statusCode, 200);
    assert.ok((r2.json() as NodeStatus).lastError!.message.length <= 300);
    await t.close();
    await long.close();
  });

  it('/metrics (ops listener): Prometheus text with every metric, fed by the facade and both listeners', async () => {
    const t = harness();
    t.metrics.roundPhase(8, 'deal');
    t.metrics.roundPhase(8, 'ack');
    t.metrics.roundOutcome('reshare', 'completed');
    t.metrics.roundOutcome('dkg', 'declined');
    t.metrics.observePartialSign(0.0011);
    t.metrics.observeRoundStep('ack', { read: 40, compute: 12, compute_cpu: 10, persist: 3, chain: Number.NaN });
    t.metrics.activeVersion(7);
    t.metrics.threshold(3);
    t.metrics.operatorCount(4);
    await t.app.inject({ method: 'GET', url: '/pubkey' });
    await t.app.inject({ method: 'GET', url: '/nope/123' });
    await t.app.inject({ method: 'DELETE', url: '/pubkey' });
    await t.ops.inject({ method: 'GET', url: '/status' });
    await t.ops.inject({ method: 'GET', url: '/pubkey' });
    const res = await t.ops.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const text = res.body;
    for (const name of [
      'kms_round_phase',
      'kms_round_outcomes_total',
      'kms_partial_sign_seconds',
      'kms_round_step_seconds',
      'kms_active_version',
      'kms_threshold',
      'kms_operators',
      'kms_refusals_total',
      'kms_http_requests_total',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.match(text, /kms_round_phase\{session="8",phase="ack"\} 1/);
    assert.match(text, /kms_round_phase\{session="8",phase="deal"\} 0/);
    assert.match(text, /kms_round_outcomes_total\{kind="reshare",outcome="completed"\} 1/);
    assert.match(text, /kms_partial_sign_seconds_count 1/);
    assert.match(text, /kms_round_step_seconds_count\{phase="ack",part="compute"\} 1/);
    assert.match(text, /kms_round_step_seconds_bucket\{le="0.05",phase="ack",part="read"\} 1/);
    // A figure that is not a duration is dropped, not recorded.
    assert.doesNotMatch(text, /kms_round_step_seconds_count\{phase="ack",part="chain"\}/);
    assert.match(text, /kms_active_version 7/);
    assert.match(text, /kms_http_requests_total\{listener="public",route="\/pubkey",method="GET",status="200"\} 1/);
    assert.match(text, /kms_http_requests_total\{listener="public",route="\/pubkey",method="DELETE",status="405"\} 1/);
    assert.match(text, /kms_http_requests_total\{listener="ops",route="\/status",method="GET",status="200"\} 1/);
    // Unmatched URLs share one label value per listener: a scanner cannot mint series.
    assert.match(text, /kms_http_requests_total\{listener="public",route="unmatched",method="GET",status="404"\} 1/);
    assert.match(text, /kms_http_requests_total\{listener="ops",route="unmatched",method="GET",status="404"\} 1/);
    assert.doesNotMatch(text, /nope/);
    t.metrics.roundPhase(8, null);
    assert.doesNotMatch((await t.metrics.render()).body, /session="8"/);
    await t.close();
  });
});

// ---------------------------------------------------------------------------------------------
// Rate limit
// ---------------------------------------------------------------------------------------------

describe('http api: per-client rate limit', () => {
  it('429 rate-limited with Retry-After after the burst; per client; refills; the public probe exempt', async () => {
    const t = harness({ release: 'ok', burst: 3 });
    for (let i = 0; i < 3; i++) assert.equal((await t.app.inject({ method: 'GET', url: '/pubkey' })).statusCode, 200);
    const limited = await t.app.inject({ method: 'GET', url: '/pubkey' });
    assertError(limited, 429, 'rate-limited');
    assert.equal(limited.headers['retry-after'], '1');
    // Before the body is read and before the handler: a valid key-release request is not run.
    assertError(await t.app.inject({ method: 'POST', url: '/app/sign', payload: VALID }), 429, 'rate-limited');
    const big = await t.app.inject(json('POST', '/app/sign', 'x'.repeat(200 * 1024)));
    assertError(big, 429, 'rate-limited');
    // Its body was never read: the connection is closed rather than kept alive.
    assert.equal(big.headers.connection, 'close');
    assertError(await t.app.inject({ method: 'GET', url: '/nope' }), 429, 'rate-limited');
    assert.equal(t.calls.sign, 0);
    assert.equal(t.calls.pubkey, 3);
    // The load balancer's probe is exempt (the public /healthz)…
    await assertStillHealthy(t);
    // …and the operations listener has buckets of its own: the client is still served there.
    assert.equal((await t.ops.inject({ method: 'GET', url: '/status' })).statusCode, 200);
    // Another client has its own bucket.
    assert.equal((await t.app.inject({ method: 'GET', url: '/pubkey', remoteAddress: '10.0.0.2' })).statusCode, 200);
    // One token per second comes back.
    t.tick(1_000);
    assert.equal((await t.app.inject({ method: 'POST', url: '/app/sign', payload: VALID })).statusCode, 200);
    assertError(await t.app.inject({ method: 'GET', url: '/pubkey' }), 429, 'rate-limited');
    assert.match((await t.metrics.render()).body, /kms_refusals_total\{reason="rate-limited"\} 5/);
    await t.close();
  });

  it('token buckets: Retry-After rounds up; idle buckets are evicted past the cap', () => {
    let now = 0;
    const b = new TokenBuckets({ perClientPerSecond: 0.25, burst: 1, maxClients: 10 }, () => now);
    assert.equal(b.take('a'), 0);
    assert.equal(b.take('a'), 4);
    now = 3_000;
    assert.equal(b.take('a'), 1);
    now = 4_000;
    assert.equal(b.take('a'), 0);
    for (let i = 0; i < 100; i++) b.take(`c${i}`);
    assert.ok(b.size <= 10, `size ${b.size}`);
    assert.throws(() => new TokenBuckets({ perClientPerSecond: 0, burst: 1 }, () => 0), RangeError);
    assert.throws(() => new TokenBuckets({ perClientPerSecond: 1, burst: 0 }, () => 0), RangeError);
  });

  it('clients are keyed by IPv4 address or IPv6 /64', () => {
    assert.equal(clientKey('10.1.2.3'), '10.1.2.3');
    assert.equal(clientKey('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(clientKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:db8:1:2::9'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:0DB8::1'), '2001:db8:0:0::/64');
    assert.equal(clientKey('::1'), '0:0:0:0::/64');
    assert.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  });
});

// ---------------------------------------------------------------------------------------------
// The operations listener (issue 12)
// ---------------------------------------------------------------------------------------------

describe('http api: /status and /metrics live on the operations listener only (issue 12)', () => {
  it('/status and /metrics are not served on the public listener: 404 not-found, nothing rendered', async () => {
    const t = harness();
    for (const url of ['/status', '/metrics']) {
      for (const method of ['GET', 'HEAD'] as const) {
        const res = await t.app.inject({ method, url });
        assert.equal(res.statusCode, 404, `public ${method} ${url}: ${res.body}`);
        if (method === 'GET') assertError(res, 404, 'not-found', `public GET ${url}`);
      }
      // Not even as a known path with another method (that would be a 405 naming it).
      assertError(await t.app.inject(json('POST', url, '{}')), 404, 'not-found', `public POST ${url}`);
      assertError(await t.app.inject({ method: 'GET', url: `${url}?x=1` }), 404, 'not-found', `public GET ${url}?x=1`);
    }
    assert.equal(t.calls.status, 0, 'the public listener read the node status');
    assert.equal(t.calls.metrics, 0, 'the public listener rendered the metrics');
    await t.close();
  });

  it('/healthz, /status and /metrics are served on the ops listener, and nothing else: /pubkey and key release are 404 there', async () => {
    const t = harness({ release: 'ok' });
    const health = await t.ops.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200);
    assert.deepEqual(health.json(), { ok: true });
    const status = await t.ops.inject({ method: 'GET', url: '/status' });
    assert.equal(status.statusCode, 200);
    assert.deepEqual(status.json(), STATUS);
    const metrics = await t.ops.inject({ method: 'GET', url: '/metrics' });
    assert.equal(metrics.statusCode, 200);
    assert.match(String(metrics.headers['content-type']), /^text\/plain/);
    assert.match(metrics.body, /^# TYPE kms_http_requests_total counter$/m);
    assert.equal(t.calls.status, 1);
    assert.equal(t.calls.metrics, 1);
    for (const url of ['/pubkey', '/pubkey?version=7']) assertError(await t.ops.inject({ method: 'GET', url }), 404, 'not-found', `ops GET ${url}`);
    for (const url of ['/app/sign', '/secrets']) assertError(await t.ops.inject({ method: 'POST', url, payload: VALID }), 404, 'not-found', `ops POST ${url}`);
    assert.equal(t.calls.pubkey + t.calls.sign + t.calls.secrets, 0, 'the ops listener reached a public dependency');
    await t.close();
  });

  it('the ops listener rate-limits every route, its probe included: 429 rate-limited with Retry-After after its burst, in buckets of its own', async () => {
    const t = harness({ opsBurst: 4 });
    const routes = ['/status', '/metrics', '/healthz', '/status'];
    for (const url of routes) assert.equal((await t.ops.inject({ method: 'GET', url })).statusCode, 200, url);
    for (const url of ['/healthz', '/metrics', '/status', '/nope']) {
      const res = await t.ops.inject({ method: 'GET', url });
      assertError(res, 429, 'rate-limited', `ops ${url} after the burst`);
      assert.equal(res.headers['retry-after'], '1');
    }
    assert.equal(t.calls.status, 2, 'a refused /status read the node status');
    assert.equal(t.calls.metrics, 1, 'a refused /metrics rendered the metrics');
    // A request with a body is refused before a byte of it is read.
    const big = await t.ops.inject(json('GET', '/status', 'x'.repeat(200 * 1024)));
    assertError(big, 429, 'rate-limited');
    assert.equal(big.headers.connection, 'close');
    // The public listener does not share the ops buckets (nor the reverse: the public
    // per-client test above).
    assert.equal((await t.app.inject({ method: 'GET', url: '/pubkey' })).statusCode, 200);
    // Another client has its own bucket; a token per second comes back.
    assert.equal((await t.ops.inject({ method: 'GET', url: '/status', remoteAddress: '10.0.0.2' })).statusCode, 200);
    t.tick(1_000);
    assert.equal((await t.ops.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
    assertError(await t.ops.inject({ method: 'GET', url: '/metrics' }), 429, 'rate-limited');
    const text = (await t.metrics.render()).body;
    assert.match(text, /kms_http_requests_total\{listener="ops",route="\/status",method="GET",status="429"\} 2/);
    assert.match(text, /kms_refusals_total\{reason="rate-limited"\} 6/);
    await t.close();
  });

  it('the ops listener logs its requests like the public one, marked listener=ops, without query strings', async () => {
    const t = harness();
    await t.ops.inject({ method: 'GET', url: '/status' });
    await t.ops.inject({ method: 'GET', url: '/metrics?token=QUERY-TOKEN-9' });
    await t.app.inject({ method: 'GET', url: '/pubkey' });
    const lines = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    const completed = lines.filter((l) => l.msg === 'request completed');
    assert.deepEqual(completed.map((l) => l.listener), ['ops', 'ops', 'public']);
    const refused = lines.find((l) => l.msg === 'request refused');
    assert.equal(refused?.listener, 'ops', 'the refused /metrics?token=… is logged by the ops listener');
    assert.ok(!t.logs.join('').includes('QUERY-TOKEN-9'));
    await t.close();
  });

  it('buildOpsApi refuses nonsensical limits', () => {
    const t = harness();
    assert.throws(() => buildOpsApi({ ...t.opsDeps, bodyLimit: 0 }), RangeError);
    assert.throws(() => buildOpsApi({ ...t.opsDeps, requestTimeoutMs: -5 }), RangeError);
    assert.throws(() => buildOpsApi({ ...t.opsDeps, rateLimit: { perClientPerSecond: 1, burst: 0 } }), RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Dependency failures, timeouts, logs
// ---------------------------------------------------------------------------------------------

describe('http api: failures inside dependencies', () => {
  it('a dependency that throws → 500 internal, no detail in the response; logs redact secret fields', async () => {
    const t = harness({
      release: 'throws',
      overrides: {
        pubkey: () => {
          throw secretLadenError();
        },
      },
    });
    for (const req of [{ method: 'GET', url: '/pubkey' }, { method: 'POST', url: '/app/sign', payload: VALID }] as const) {
      const res = await t.app.inject(req);
      assertError(res, 500, 'internal', req.url);
      assert.equal(res.json().error.message, 'internal error');
      assert.doesNotMatch(res.body, /FAKE-SECRET|boom|VALUE|stack/);
    }
    // The log has the details for the operator…
    const errors = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request failed');
    assert.equal(errors.length, 2);
    const err = errors[0]!.err as Record<string, unknown>;
    assert.match(String(err.message), /FAKE-SECRET/);
    assert.equal(err.type, 'Error');
    // …but every secret-named field is censored, nested ones included.
    for (const f of ['share', 'secret', 'key', 'appKey', 'token']) assert.equal(err[f], REDACT_CENSOR, f);
    const all = t.logs.join('');
    for (const v of SECRET_VALUES) assert.ok(!all.includes(v), `log contains ${v}`);
    await assertStillHealthy(t);
    await t.close();
  });

  it('the request logger redacts secret-named fields and logs no query strings', async () => {
    const t = harness();
    await t.app.inject({ method: 'GET', url: '/pubkey?token=QUERY-TOKEN-8' });
    const circular: Record<string, unknown> = { name: 'loop' };
    circular.self = circular;
    t.app.log.info(
      {
        share: 'S-9',
        secret: 'S-10',
        key: 'S-11',
        appKey: 'S-12',
        token: 'S-13',
        nested: { deeper: { list: [{ share: 'S-14' }] } },
        a: { b: { c: { d: { e: { f: { g: { Token: 'S-15', accessToken: 'S-16', sessionSecret: 'S-17' } } } } } } },
        circular,
        // Public values with key-like names stay readable.
        responseKey: '0xpublic',
        publicKey: '0xpublic2',
      },
      'probe',
    );
    const all = t.logs.join('');
    for (const v of ['QUERY-TOKEN-8', 'S-9', 'S-10', 'S-11', 'S-12', 'S-13', 'S-14', 'S-15', 'S-16', 'S-17']) assert.ok(!all.includes(v), `log contains ${v}`);
    const probe = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'probe');
    assert.ok(probe);
    assert.equal(probe.share, REDACT_CENSOR);
    assert.equal(probe.responseKey, '0xpublic');
    assert.equal(probe.publicKey, '0xpublic2');
    assert.deepEqual(probe.circular, { name: 'loop', self: '[circular]' });
    await t.close();
  });

  it('logger options instead of an instance also get the redaction', async () => {
    const lines: string[] = [];
    const t = harness();
    const app = buildApi({ ...t.deps, logger: { level: 'info', hooks: { streamWrite: (s: string) => (lines.push(s), '') } } });
    app.log.info({ share: 'S-15' }, 'probe');
    assert.ok(lines.some((l) => l.includes(REDACT_CENSOR)), lines.join(''));
    assert.ok(!lines.join('').includes('S-15'));
    await app.close();
    await t.close();
  });

  it('a handler slower than the request timeout → 503 timeout, and its signal is aborted', async () => {
    const t = harness({ release: 'hangs', requestTimeoutMs: 50 });
    const started = performance.now();
    const res = await t.app.inject({ method: 'POST', url: '/app/sign', payload: VALID });
    assertError(res, 503, 'timeout');
    assert.ok(performance.now() - started < 2_000);
    // The handler's own timeout signal fires at the same deadline as fastify's 503; allow it
    // the few milliseconds by which the two timers may differ.
    const signal = t.lastCtx?.signal;
    if (signal && !signal.aborted) await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
    assert.equal(signal?.aborted, true);
    await assertStillHealthy(t);
    await t.close();
  });

  it('buildApi refuses nonsensical limits', () => {
    const t = harness();
    assert.throws(() => buildApi({ ...t.deps, bodyLimit: 0 }), RangeError);
    assert.throws(() => buildApi({ ...t.deps, requestTimeoutMs: -5 }), RangeError);
    assert.throws(() => buildApi({ ...t.deps, rateLimit: { perClientPerSecond: Number.NaN, burst: 1 } }), RangeError);
  });
});

describe('http api: JSON depth scan', () => {
  it('counts nesting outside strings only', () => {
    assert.equal(jsonDepthExceeds(nest(32, '[', ']'), 32), false);
    assert.equal(jsonDepthExceeds(nest(33, '[', ']'), 32), true);
    assert.equal(jsonDepthExceeds(nest(33, '{"a":', '}'), 32), true);
    assert.equal(jsonDepthExceeds(`["${'['.repeat(100)}"]`, 32), false);
    // An escaped quote does not end the string; an escaped backslash before a quote does.
    assert.equal(jsonDepthExceeds(`["\\"${'['.repeat(100)}"]`, 32), false);
    assert.equal(jsonDepthExceeds(`["\\\\", ${nest(40, '[', ']')}]`, 32), true);
    // Siblings do not add up.
    assert.equal(jsonDepthExceeds(`[${Array(1000).fill('[[]]').join(',')}]`, 32), false);
  });
});
