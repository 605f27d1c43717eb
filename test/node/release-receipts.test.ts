// Release receipts on the node (issue 16, item 4): every answered release carries a signed
// receipt that describes it, is logged before the answer leaves, and is served by
// GET /receipts within its bounds. Over the bench's release world (MemoryLedger, one app,
// one active version), through `buildApi().inject`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { keyRequestTypedData, receiptMismatch, requestHash, verifyAnswerSignature, type KeyReleaseAnswer, type KeyReleaseRequestFields, type KeyReleaseRoute } from '../../src/crypto/key-release.ts';
import { parseHex, toHex, type Hex } from '../../src/crypto/domain.ts';
import { decodeReceipt, responseKeyHash, verifyLog } from '../../src/crypto/receipt.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { buildApi } from '../../src/node/http/app.ts';
import type { KeyReleaseRequest } from '../../src/node/http/schemas.ts';
import { MemoryReceiptLog, type ReceiptLog } from '../../src/node/receipt-log.ts';
import { createAppRelease } from '../../src/node/release/handler.ts';
import { CHAIN_ID, DOMAIN, REGISTRY, releaseWorld } from '../../bench/release-world.ts';
import { newRequester, openReleaseAnswer, type Requester } from './release-fixtures.ts';

const rng = seededRng('release-receipts');

async function setup(log: ReceiptLog = new MemoryReceiptLog()) {
  const w = await releaseWorld('receipts-test', 'ecdsa');
  const op = await w.parts.ledger.getApp(w.appId);
  assert.ok(op, 'the app exists');
  const reg = (await (w.parts.ledger as unknown as { getOperator(a: string): Promise<{ sigPublicKey: Hex } | null> }).getOperator(w.parts.me))?.sigPublicKey;
  assert.ok(reg, 'the operator is registered');
  const api = buildApi({
    logger: pino({ level: 'silent' }),
    rateLimit: { perClientPerSecond: 1000, burst: 100_000 },
    pubkey: () => null,
    health: () => ({ ok: true }),
    metrics: w.metrics,
    appRelease: createAppRelease({ ...w.parts, receipts: log }),
    receipts: { operator: w.parts.me, log },
  });
  const request = async (route: KeyReleaseRoute = '/app/sign'): Promise<{ req: KeyReleaseRequest; who: Requester }> => {
    const who = newRequester(rng);
    const time = Math.floor(Date.now() / 1000);
    const signature = await w.owner.signTypedData(keyRequestTypedData({ chainId: CHAIN_ID, registry: REGISTRY, route, appId: w.appId, responseKey: who.responseKey, nonce: who.nonce, time }));
    return { req: { appId: w.appId, responseKey: who.responseKey, nonce: who.nonce, attestation: { method: 'ecdsa', signature, time } }, who };
  };
  const post = async (route: KeyReleaseRoute, req: KeyReleaseRequest) => {
    const res = await api.inject({ method: 'POST', url: route, payload: req });
    return { status: res.statusCode, json: res.json() as Record<string, unknown>, body: res.body };
  };
  const get = async (url: string) => {
    const res = await api.inject({ method: 'GET', url });
    return { status: res.statusCode, json: res.json() as Record<string, unknown> };
  };
  return { w, api, log, request, post, get, sigPublicKey: parseHex(reg, 20, 'sigPublicKey') };
}

describe('release receipts on the node', () => {
  it('every answer carries a signed receipt that describes it, logged in order; a retry adds none', async () => {
    const s = await setup();
    const answers: { answer: KeyReleaseAnswer; req: KeyReleaseRequest; route: KeyReleaseRoute }[] = [];
    for (const route of ['/app/sign', '/secrets', '/app/sign'] as const) {
      const { req, who } = await s.request(route);
      const res = await s.post(route, req);
      assert.equal(res.status, 200, res.body);
      answers.push({ answer: openReleaseAnswer(who, req, res.json.sealed as string), req, route });
      if (route === '/secrets') {
        const again = await s.post(route, req);
        assert.equal(again.body, res.body, 'an identical retry gets the same bytes');
      }
    }
    assert.equal(s.log.head().count, 3, 'three releases, three entries (the retry added none)');
    const logged = s.log.list({ from: 0, limit: 10 });
    for (const [i, { answer, req, route }] of answers.entries()) {
      const rh = requestHash(req as KeyReleaseRequestFields);
      const responseKey = parseHex(req.responseKey, 32, 'responseKey');
      assert.ok(answer.receipt, 'the answer carries its receipt');
      assert.deepEqual(answer.receipt, logged[i]?.receipt, 'the logged receipt is the one in the answer');
      assert.deepEqual(answer.signature, logged[i]?.signature);
      assert.equal(receiptMismatch(answer, rh, responseKey), null);
      assert.ok(verifyAnswerSignature(answer, rh, DOMAIN, 'ecdsa', s.sigPublicKey, responseKey), 'one signature: the receipt\'s, which binds the partial');
      const r = decodeReceipt(answer.receipt);
      assert.deepEqual(
        [r.operator, r.position, r.appId, r.epoch, r.version, r.route, r.method, r.requestHash, r.responseKeyHash],
        [s.w.parts.me, i, s.w.appId, 0, s.w.activeVersion, route, 'ecdsa', toHex(rh), responseKeyHash(responseKey)],
      );
    }
    const v = verifyLog({ entries: logged, operator: s.w.parts.me, domain: DOMAIN, sigKeyType: 'ecdsa', sigPublicKey: s.sigPublicKey, committedHead: s.log.head().hash });
    assert.ok(v.consistent && v.committedCount === 3, 'the log verifies against its head, 3 entries');
  });

  it('an answer whose receipt describes another request, key or partial is refused by the client check', async () => {
    const s = await setup();
    const a = await s.request();
    const b = await s.request();
    const ra = await s.post('/app/sign', a.req);
    const rb = await s.post('/app/sign', b.req);
    const answerA = openReleaseAnswer(a.who, a.req, ra.json.sealed as string);
    const answerB = openReleaseAnswer(b.who, b.req, rb.json.sealed as string);
    const rh = requestHash(a.req as KeyReleaseRequestFields);
    const key = parseHex(a.req.responseKey, 32, 'responseKey');
    // A node that logs one request's receipt and answers another with it: the receipt and its
    // signature are genuine, but they are not this answer's.
    const swapped: KeyReleaseAnswer = { ...answerA, receipt: answerB.receipt as Uint8Array, signature: answerB.signature };
    assert.match(String(receiptMismatch(swapped, rh, key)), /another request/);
    assert.ok(!verifyAnswerSignature(swapped, rh, DOMAIN, 'ecdsa', s.sigPublicKey, key));
    const otherPartial = Uint8Array.from(answerA.partial);
    otherPartial[47] = (otherPartial[47] as number) ^ 1;
    assert.match(String(receiptMismatch({ ...answerA, partial: otherPartial }, rh, key)), /does not commit to this partial/);
    assert.match(String(receiptMismatch(answerA, rh, parseHex(b.req.responseKey, 32, 'k'))), /another response key/);
    assert.ok(!verifyAnswerSignature(answerA, rh, DOMAIN, 'ecdsa', s.sigPublicKey), 'a receipt answer is not accepted without the response key to check it');
  });

  it('a receipt that cannot be made durable means no key: 503, nothing sealed', async () => {
    const inner = new MemoryReceiptLog();
    const unsynced: ReceiptLog = {
      head: () => inner.head(),
      durableHead: () => inner.head(),
      durable: () => Promise.reject(new Error('EIO: i/o error, fdatasync')),
      append: (r, sig) => inner.append(r, sig),
      list: (q) => inner.list(q),
      close: () => inner.close(),
    };
    const s = await setup(unsynced);
    const res = await s.post('/app/sign', (await s.request()).req);
    assert.equal(res.status, 503);
    assert.equal(res.json.sealed, undefined);
  });

  it('a receipt that cannot be logged means no key: 503, nothing sealed, nothing logged', async () => {
    const inner = new MemoryReceiptLog();
    const failing: ReceiptLog = {
      head: () => inner.head(),
      durableHead: () => inner.head(),
      durable: () => inner.durable(),
      append: () => { throw new Error('SQLITE_FULL: database or disk is full'); },
      list: (q) => inner.list(q),
      close: () => inner.close(),
    };
    const s = await setup(failing);
    const { req } = await s.request();
    const res = await s.post('/app/sign', req);
    assert.equal(res.status, 503);
    assert.equal(res.json.sealed, undefined);
    assert.doesNotMatch(res.body, /SQLITE_FULL/, 'the storage error stays in the node log');
    assert.equal(inner.head().count, 0);
  });

  it('GET /receipts pages through the log within its bounds and filters by app', async () => {
    const s = await setup();
    for (let i = 0; i < 3; i++) assert.equal((await s.post('/app/sign', (await s.request()).req)).status, 200);
    const all = await s.get('/receipts');
    assert.equal(all.status, 200);
    assert.equal(all.json.count, 3);
    assert.equal(all.json.head, s.log.head().hash);
    assert.equal(all.json.operator, s.w.parts.me);
    assert.equal(all.json.next, null);
    const p1 = await s.get('/receipts?from=0&limit=2');
    assert.deepEqual([(p1.json.entries as unknown[]).length, p1.json.next], [2, 2]);
    const p2 = await s.get(`/receipts?from=${String(p1.json.next)}&limit=2`);
    assert.deepEqual([(p2.json.entries as { position: number }[]).map((e) => e.position), p2.json.next], [[2], null]);
    const entry = (all.json.entries as Record<string, unknown>[])[1] as Record<string, unknown>;
    assert.deepEqual(Object.keys(entry).sort(), ['appId', 'hash', 'position', 'receipt', 'signature']);
    const mine = await s.get(`/receipts?appId=${s.w.appId.toUpperCase().replace('0X', '0x')}`);
    assert.equal((mine.json.entries as unknown[]).length, 3);
    const other = await s.get(`/receipts?appId=0x${'ee'.repeat(32)}`);
    assert.deepEqual([other.json.entries, other.json.count], [[], 3]);
    for (const bad of ['limit=501', 'limit=0', 'limit=-1', 'from=-1', 'from=1.5', 'appId=0x12', 'foo=1', `from=${'9'.repeat(16)}`]) {
      const r = await s.get(`/receipts?${bad}`);
      assert.equal(r.status, 400, bad);
      assert.equal((r.json.error as { code: string }).code, 'bad-request', bad);
    }
    const max = await s.get('/receipts?limit=500');
    assert.equal(max.status, 200);
  });
});
