// The /app/sign fast path (issue 7): what the handler caches and how the routes log and abort.
//
// - Partials are cached per (key version, app identity): answers interleaved across two key
//   versions and two apps each carry exactly s_v·Q(app) of the version they name, and a second
//   request for the same pair gets the same partial.
// - The EIP-712 check through the fast digest and libsecp256k1 accepts exactly the owner: after
//   the owner changes on-chain, the old owner's signatures are refused and the new owner's
//   accepted; a signature by another key is refused.
// - At `info`, an answered release request writes one log line (`key released`, with request id
//   and client address), not fastify's two request lines; at `debug` everything is logged.
// - The handler's signal stays quiet for an answered request and aborts when the response ends
//   before the handler returns.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keccak_256 } from '@noble/hashes/sha3.js';
import pino from 'pino';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { bls } from '../../src/crypto/bls12381/index.ts';
import { makeDomain, parseHex, toHex, type Hex } from '../../src/crypto/domain.ts';
import * as fr from '../../src/crypto/fr.ts';
import { appIdentity, generateResponseKeyPair, keyRequestTypedData, openAnswer, requestHash } from '../../src/crypto/key-release.ts';
import { generateOperatorSecretKey } from '../../src/crypto/operator-sig.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { partialSign } from '../../src/crypto/threshold.ts';
import { deal } from '../../src/crypto/vss.ts';
import { buildApi, type AppReleaseHandler, type KeyReleaseContext, type KeyReleaseRequest } from '../../src/node/http/app.ts';
import { ApiError } from '../../src/node/http/errors.ts';
import { MemoryKeyStore } from '../../src/node/memory-key-store.ts';
import { ledgerWithOperator } from './release-fixtures.ts';
import { createNodeMetrics } from '../../src/node/metrics.ts';
import { createAppRelease } from '../../src/node/release/handler.ts';
import type { Address } from '../../src/protocol/ledger.ts';

const rng = seededRng('node/release-fast-path.test');
const CHAIN_ID = 31337n;
const REGISTRY = '0x5fbdb2315678afecb367f032d93f642f64180aa3' as Address;
const DOMAIN = makeDomain({ chainId: CHAIN_ID, registry: REGISTRY });
const NOW_S = 1_800_000_000;
const account = (): PrivateKeyAccount => privateKeyToAccount(toHex(generateOperatorSecretKey('ecdsa', rng)));
const addr = (a: PrivateKeyAccount): Address => a.address.toLowerCase() as Address;

async function world() {
  const me = addr(account());
  const { ledger, sigKey } = await ledgerWithOperator({ chainId: CHAIN_ID, registry: REGISTRY, domain: DOMAIN, rng, startTime: NOW_S - 1000, gov: addr(account()), me });
  const holders = [me, addr(account()), addr(account())];
  const xs = holders.map((a) => operatorX(a));
  const secret = fr.random(rng);
  const store = new MemoryKeyStore({ chainId: CHAIN_ID, registry: REGISTRY, operator: me });
  const shares = new Map<number, bigint>();
  for (const [id, status] of [[1, 'retired'], [2, 'active']] as const) {
    const d = deal(rng, 2, xs, secret);
    const poly = new Uint8Array(96 * d.commitments.length);
    d.commitments.forEach((c, k) => poly.set(bls.g2.encode(c), 96 * k));
    if (store.mpk() === null) store.bindMpk(toHex(poly.subarray(0, 96)));
    store.putVersion({
      id, status, share: d.shares[0] as bigint, publicPoly: toHex(poly), publicPolyHash: toHex(keccak_256(poly)), threshold: 2, holders,
      confirmedAt: NOW_S - 500 + id, activatedAt: NOW_S - 400 + id,
    });
    shares.set(id, d.shares[0] as bigint);
  }
  const owner = account();
  const w = ledger.writer(addr(owner));
  const apps = [await w.createApp(toHex(rng(32)), ['ecdsa']), await w.createApp(toHex(rng(32)), ['ecdsa'])];
  const logs: string[] = [];
  const metrics = createNodeMetrics();
  // The registry has no app transfer yet; `owners` stands in for one (the record's owner as read).
  const owners = new Map<string, Address>();
  const reader = {
    chainId: ledger.chainId,
    registry: ledger.registry,
    getApp: async (appId: Hex) => {
      const app = await ledger.getApp(appId);
      const moved = owners.get(appId.toLowerCase());
      return app === null || moved === undefined ? app : { ...app, owner: moved };
    },
    getRelease: (appId: Hex, index: number) => ledger.getRelease(appId, index),
  };
  // `tick` moves the clock on (app records are read live from this in-memory reader).
  let nowMs = NOW_S * 1000;
  const handler = createAppRelease({ ledger: reader, store, me, domain: DOMAIN, sigKeyType: 'ecdsa', sigKey, metrics }, { clock: () => nowMs });
  const api = buildApi({
    logger: pino({ level: 'info' }, { write: (s: string) => void logs.push(s) }),
    rateLimit: { perClientPerSecond: 1000, burst: 100_000 },
    pubkey: () => null,
    health: () => ({ ok: true }),
    metrics,
    appRelease: handler,
  });
  return { owners, owner, apps, shares, api, logs, tick: () => void (nowMs += 10) };
}

async function attested(signer: PrivateKeyAccount, appId: Hex, version?: number) {
  const pair = generateResponseKeyPair(rng);
  const base = { appId, responseKey: toHex(pair.publicKey), nonce: toHex(rng(16)) };
  const typed = keyRequestTypedData({ chainId: CHAIN_ID, registry: REGISTRY, route: '/app/sign', ...base, time: NOW_S, version });
  const signature = await signer.signTypedData(typed);
  const req: KeyReleaseRequest = { ...base, ...(version !== undefined ? { version } : {}), attestation: { method: 'ecdsa', signature, time: NOW_S } };
  return { req, secretKey: pair.secretKey };
}

describe('release fast path: handler caches', () => {
  it('partials interleaved across two key versions and two apps are each s_v·Q(app) of the version named', async () => {
    const w = await world();
    const seen = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      for (const version of [1, 2, undefined]) {
        for (const appId of w.apps) {
          const { req, secretKey } = await attested(w.owner, appId, version);
          const res = await w.api.inject({ method: 'POST', url: '/app/sign', payload: req });
          assert.equal(res.statusCode, 200, res.body);
          const sealed = (res.json() as { sealed: Hex }).sealed;
          const answer = openAnswer(secretKey, requestHash(req), parseHex(sealed, undefined, 'sealed'));
          const v = version ?? 2;
          assert.equal(answer.version, v);
          assert.deepEqual(answer.partial, partialSign(w.shares.get(v) as bigint, appIdentity(appId)), `version ${v}, app ${appId}`);
          const key = `${v}/${appId}`;
          const hex = toHex(answer.partial);
          assert.equal(seen.get(key) ?? hex, hex);
          seen.set(key, hex);
        }
      }
    }
    assert.equal(new Set(seen.values()).size, 4);
  });

  it('only the current on-chain owner is accepted: after a transfer the old owner is refused, the new one accepted', async () => {
    const w = await world();
    const appId = w.apps[0] as Hex;
    const post = async (signer: PrivateKeyAccount) => {
      const { req } = await attested(signer, appId);
      return w.api.inject({ method: 'POST', url: '/app/sign', payload: req });
    };
    for (let i = 0; i < 3; i++) assert.equal((await post(w.owner)).statusCode, 200);
    const stranger = account();
    const byStranger = await post(stranger);
    assert.equal(byStranger.statusCode, 403);
    assert.equal((byStranger.json() as { error: { code: string } }).error.code, 'not-app-owner');

    const next = account();
    w.owners.set(appId.toLowerCase(), addr(next));
    w.tick();
    const byOld = await post(w.owner);
    assert.equal(byOld.statusCode, 403);
    assert.equal((byOld.json() as { error: { code: string } }).error.code, 'not-app-owner');
    assert.equal((await post(next)).statusCode, 200);
    assert.equal((await post(stranger)).statusCode, 403);
  });
});

describe('release fast path: routes', () => {
  function stubApi(level: 'info' | 'debug', handler: (ctx: KeyReleaseContext) => Promise<void>, requestTimeoutMs = 5_000) {
    const logs: Record<string, unknown>[] = [];
    const sealed = { operator: '0x00000000000000000000000000000000000000aa' as Hex, version: 1, sealed: '0x00' as Hex };
    const release: AppReleaseHandler = {
      sign: async (_req, ctx) => {
        await handler(ctx);
        ctx.released({ appId: '0xab', kind: 'sign' });
        return sealed;
      },
      secrets: async () => {
        throw new ApiError(403, 'not-app-owner', 'refused', { refusal: 'not-app-owner' });
      },
    };
    const api = buildApi({
      logger: pino({ level }, { write: (s: string) => void logs.push(JSON.parse(s) as Record<string, unknown>) }),
      requestTimeoutMs,
      rateLimit: { perClientPerSecond: 1000, burst: 100_000 },
      pubkey: () => null,
      health: () => ({ ok: true }),
      metrics: createNodeMetrics(),
      appRelease: release,
    });
    return { api, logs };
  }

  const BODY: KeyReleaseRequest = {
    appId: `0x${'a1'.repeat(32)}`, responseKey: `0x${'09'.repeat(32)}`, nonce: `0x${'5e'.repeat(16)}`,
    attestation: { method: 'ecdsa', signature: `0x${'44'.repeat(65)}`, time: NOW_S },
  };

  it('at info: one `key released` line per answered request, none for a refusal', async () => {
    const { api, logs } = stubApi('info', async () => undefined);
    const ok = await api.inject({ method: 'POST', url: '/app/sign', payload: BODY });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.deepEqual(logs.map((l) => l['msg']), ['key released']);
    const line = logs[0] as Record<string, unknown>;
    assert.equal(line['reqId'], ok.headers['request-id'] ?? line['reqId']);
    assert.equal(typeof line['reqId'], 'string');
    assert.equal(line['remoteAddress'], '127.0.0.1');
    const refused = await api.inject({ method: 'POST', url: '/secrets', payload: BODY });
    assert.equal(refused.statusCode, 403);
    assert.equal(logs.length, 1);
    // Other routes keep fastify's request lines.
    await api.inject({ method: 'GET', url: '/healthz' });
    assert.ok(logs.some((l) => l['msg'] === 'request completed'));
    await api.close();
  });

  it('at debug: fastify’s request lines and the refusal are logged too', async () => {
    const { api, logs } = stubApi('debug', async () => undefined);
    await api.inject({ method: 'POST', url: '/app/sign', payload: BODY });
    await api.inject({ method: 'POST', url: '/secrets', payload: BODY });
    const msgs = logs.map((l) => l['msg']);
    for (const m of ['incoming request', 'key released', 'request completed', 'request refused']) assert.ok(msgs.includes(m), `${m} in ${msgs.join(', ')}`);
    await api.close();
  });

  it('the signal stays quiet for an answered request, and aborts when the response ends before the handler returns', async () => {
    let answered: KeyReleaseContext | undefined;
    const quick = stubApi('info', async (ctx) => void (answered = ctx), 200);
    assert.equal((await quick.api.inject({ method: 'POST', url: '/app/sign', payload: BODY })).statusCode, 200);
    await new Promise((r) => setTimeout(r, 300)); // past the timeout: the timer was cleared
    assert.equal(answered?.signal.aborted, false);
    await quick.api.close();

    let hung: KeyReleaseContext | undefined;
    const slow = stubApi('info', (ctx) => {
      hung = ctx;
      return new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    }, 100);
    const res = await slow.api.inject({ method: 'POST', url: '/app/sign', payload: BODY });
    assert.equal(res.statusCode, 503);
    const signal = hung?.signal;
    if (signal !== undefined && !signal.aborted) await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
    assert.equal(signal?.aborted, true);
    await slow.api.close();
  });
});
