// The node's HTTP API (SPEC 5, issue 5) through app.inject(): no port, no chain. Every
// endpoint is fed bad input (malformed JSON, oversized and deeply nested bodies, wrong types,
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
  type ApiDeps,
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
}

interface Harness {
  deps: ApiDeps;
  calls: Calls;
  app: ReturnType<typeof buildApi>;
  logs: string[];
  metrics: ReturnType<typeof createNodeMetrics>;
  /** Advances the rate limiter's clock. */
  tick(ms: number): void;
  lastCtx: KeyReleaseContext | null;
}

interface HarnessOptions {
  readonly release?: 'none' | 'ok' | 'throws' | 'hangs';
  readonly genesis?: boolean;
  readonly burst?: number;
  readonly healthy?: boolean;
  readonly requestTimeoutMs?: number;
  readonly overrides?: Partial<ApiDeps>;
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
  const calls: Calls = { pubkey: 0, status: 0, health: 0, sign: 0, secrets: 0 };
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
    status: () => {
      calls.status++;
      return STATUS;
    },
    health: () => {
      calls.health++;
      return opts.healthy === false ? { ok: false, reason: 'no tick for 12 s' } : { ok: true };
    },
    metrics,
    appRelease: opts.release === undefined || opts.release === 'none' ? null : release,
    ...opts.overrides,
  };
  const app = buildApi(deps);
  return Object.assign(self, {
    deps,
    calls,
    app,
    logs,
    metrics,
    tick: (ms: number) => {
      now += ms;
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
  const res = await t.app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { ok: true });
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
      await t.app.close();
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
    await t.app.close();
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
    await t.app.close();
  });
});

// ---------------------------------------------------------------------------------------------
// Methods, routes, query strings
// ---------------------------------------------------------------------------------------------

const ROUTES: readonly { url: string; allow: string }[] = [
  { url: '/pubkey', allow: 'GET, HEAD' },
  { url: '/healthz', allow: 'GET, HEAD' },
  { url: '/status', allow: 'GET, HEAD' },
  { url: '/metrics', allow: 'GET, HEAD' },
  { url: '/app/sign', allow: 'POST' },
  { url: '/secrets', allow: 'POST' },
];

describe('http api: methods, routes and query strings', () => {
  it('a wrong method on a known path → 405 with Allow, before any body is read', async () => {
    const t = harness({ release: 'ok' });
    const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
    for (const r of ROUTES) {
      for (const m of methods) {
        if (r.allow.includes(m)) continue;
        for (const payload of [undefined, '{', nest(10_000, '[', ']'), 'x'.repeat(200 * 1024)]) {
          const res = await t.app.inject(payload === undefined ? { method: m, url: r.url } : json(m, r.url, payload));
          assertError(res, 405, 'method-not-allowed', `${m} ${r.url}`);
          assert.equal(res.headers.allow, r.allow);
        }
      }
    }
    assert.deepEqual(t.calls, { pubkey: 0, status: 0, health: 0, sign: 0, secrets: 0 });
    await assertStillHealthy(t);
    await t.app.close();
  });

  it('unknown routes → 404 not-found, bodies unread; a malformed URL → 400', async () => {
    const t = harness({ release: 'ok' });
    const unknown = ['/', '/nope', '/pubkey/', '/PUBKEY', '/app', '/app/sign/extra', '/secrets/x', '/app//sign', '/metrics.json', `/${'a'.repeat(5000)}`];
    for (const url of unknown) {
      assertError(await t.app.inject({ method: 'GET', url }), 404, 'not-found', `GET ${url}`);
      assertError(await t.app.inject(json('POST', url, '{')), 404, 'not-found', `POST ${url}`);
      assertError(await t.app.inject(json('POST', url, 'x'.repeat(200 * 1024))), 404, 'not-found', `POST big ${url}`);
    }
    assertError(await t.app.inject({ method: 'GET', url: '/pubkey%zz' }), 400, 'bad-request', 'bad url');
    assert.deepEqual(t.calls, { pubkey: 0, status: 0, health: 0, sign: 0, secrets: 0 });
    await assertStillHealthy(t);
    await t.app.close();
  });

  it('GET routes refuse any request body (malformed, oversized, deeply nested or valid JSON) with 400, unread', async () => {
    const t = harness({ release: 'ok' });
    for (const r of ROUTES.filter((x) => x.allow.includes('GET'))) {
      for (const payload of ['{', '{}', nest(10_000, '[', ']'), 'x'.repeat(200 * 1024)]) {
        const res = await t.app.inject(json('GET', r.url, payload));
        assertError(res, 400, 'bad-request', `GET ${r.url} with a body`);
        assert.equal(res.json().error.message, 'GET takes no request body');
      }
    }
    assert.deepEqual(t.calls, { pubkey: 0, status: 0, health: 0, sign: 0, secrets: 0 });
    await assertStillHealthy(t);
    await t.app.close();
  });

  it('GET routes refuse unknown or malformed query parameters, without calling their dependency', async () => {
    const t = harness();
    const bad: readonly [string, string][] = [
      ['/pubkey?foo=1', 'foo'],
      ['/pubkey?version=0', 'version'],
      ['/pubkey?version=-1', 'version'],
      ['/pubkey?version=1.5', 'version'],
      ['/pubkey?version=abc', 'version'],
      ['/pubkey?version=1e3', 'version'],
      ['/pubkey?version=1&version=2', 'version'],
      ['/pubkey?version=9999999999999', 'version'],
      ['/status?verbose=1', 'verbose'],
      ['/healthz?x=1', 'x'],
      ['/metrics?format=json', 'format'],
    ];
    for (const [url, field] of bad) {
      const res = await t.app.inject({ method: 'GET', url });
      assertError(res, 400, 'bad-request', url);
      assert.ok(res.json().error.message.includes(field), `${url}: ${res.body}`);
    }
    assert.deepEqual(t.calls, { pubkey: 0, status: 0, health: 0, sign: 0, secrets: 0 });
    await t.app.close();
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
    await t.app.close();
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
    await t.app.close();
  });

  it('?version=N: that version, or 404 unknown-version', async () => {
    const t = harness();
    const v6 = await t.app.inject({ method: 'GET', url: '/pubkey?version=6' });
    assert.equal(v6.statusCode, 200, v6.body);
    assert.equal(v6.json().version, 6);
    assertError(await t.app.inject({ method: 'GET', url: '/pubkey?version=5' }), 404, 'unknown-version');
    await t.app.close();
  });

  it('a pubkey() that ignores the version argument cannot mislabel the active version', async () => {
    const t = harness({ overrides: { pubkey: () => PUBKEY } });
    assertError(await t.app.inject({ method: 'GET', url: '/pubkey?version=2' }), 404, 'unknown-version');
    await t.app.close();
  });
});

describe('http api: /healthz, /status, /metrics', () => {
  it('/healthz: 200 {ok:true} while healthy, 503 unhealthy with the reason otherwise', async () => {
    const ok = harness();
    await assertStillHealthy(ok);
    const bad = harness({ healthy: false });
    const res = await bad.app.inject({ method: 'GET', url: '/healthz' });
    assertError(res, 503, 'unhealthy');
    assert.equal(res.json().error.message, 'no tick for 12 s');
    await ok.app.close();
    await bad.app.close();
  });

  it('/status: the node status as JSON; a long last error is clipped', async () => {
    const t = harness();
    const res = await t.app.inject({ method: 'GET', url: '/status' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), STATUS);
    const long = harness({ overrides: { status: () => ({ ...STATUS, lastError: { message: 'e'.repeat(10_000), at: 5 } }) } });
    const r2 = await long.app.inject({ method: 'GET', url: '/status' });
    assert.equal(r2.statusCode, 200);
    assert.ok((r2.json() as NodeStatus).lastError!.message.length <= 300);
    await t.app.close();
    await long.app.close();
  });

  it('/metrics: Prometheus text with every metric, fed by the facade and the HTTP layer', async () => {
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
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
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
    assert.match(text, /kms_http_requests_total\{route="\/pubkey",method="GET",status="200"\} 1/);
    assert.match(text, /kms_http_requests_total\{route="\/pubkey",method="DELETE",status="405"\} 1/);
    // Unmatched URLs share one label value: a scanner cannot mint series.
    assert.match(text, /kms_http_requests_total\{route="unmatched",method="GET",status="404"\} 1/);
    assert.doesNotMatch(text, /nope/);
    t.metrics.roundPhase(8, null);
    assert.doesNotMatch((await t.metrics.render()).body, /session="8"/);
    await t.app.close();
  });
});

// ---------------------------------------------------------------------------------------------
// Rate limit
// ---------------------------------------------------------------------------------------------

describe('http api: per-client rate limit', () => {
  it('429 rate-limited with Retry-After after the burst; per client; refills; probes exempt', async () => {
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
    // Monitoring is exempt.
    await assertStillHealthy(t);
    assert.equal((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
    // Another client has its own bucket.
    assert.equal((await t.app.inject({ method: 'GET', url: '/pubkey', remoteAddress: '10.0.0.2' })).statusCode, 200);
    // One token per second comes back.
    t.tick(1_000);
    assert.equal((await t.app.inject({ method: 'POST', url: '/app/sign', payload: VALID })).statusCode, 200);
    assertError(await t.app.inject({ method: 'GET', url: '/pubkey' }), 429, 'rate-limited');
    assert.match((await t.metrics.render()).body, /kms_refusals_total\{reason="rate-limited"\} 5/);
    await t.app.close();
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
    await t.app.close();
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
    await t.app.close();
  });

  it('logger options instead of an instance also get the redaction', async () => {
    const lines: string[] = [];
    const t = harness();
    const app = buildApi({ ...t.deps, logger: { level: 'info', hooks: { streamWrite: (s: string) => (lines.push(s), '') } } });
    app.log.info({ share: 'S-15' }, 'probe');
    assert.ok(lines.some((l) => l.includes(REDACT_CENSOR)), lines.join(''));
    assert.ok(!lines.join('').includes('S-15'));
    await app.close();
    await t.app.close();
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
    await t.app.close();
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
