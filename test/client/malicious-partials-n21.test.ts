// Incident R13 (docs/reliability.md): malicious partials at n = 21. Twenty-one fake operator
// nodes (test/client/world.ts: the real HTTP API and key-release wire format, a real Feldman
// deal of t = ceil(2·21/3) = 14 on the in-memory ledger). n − t = 7 of them misbehave at once,
// each in another way — invalid partials that are correctly signed, answers signed with the
// wrong key, unsigned answers, sealed garbage, another operator's identity, a refusal, a node
// that never answers. The client verifies every partial against PK_j from the on-chain
// polynomial, drops and names the seven, and still combines the one app key d = x·Q(appId);
// with an eighth bad operator it has 13 < t valid partials and throws, naming all eight.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NotEnoughPartialsError, type OperatorFault } from '../../src/client/index.ts';
import { buildWorld, memoryChain, type Behavior, type World } from './world.ts';

const N = 21;
const T = 14;
const BAD: readonly Behavior[] = ['corrupt-partial', 'corrupt-partial', 'bad-signature', 'unsigned', 'garbage', 'impersonate', 'refuse'];

describe('requestAppKey against 21 operators (t = 14), seven of them malicious', () => {
  let w: World;
  before(async () => {
    w = await buildWorld({ n: N, chain: memoryChain('n21', N + 2), seed: 'n21' });
  });
  after(async () => w?.close());

  const misbehave = (count: number): Set<string> => {
    for (const op of w.ops) op.behavior = 'honest';
    const bad = new Set<string>();
    // Spread over the list (not the first seven): the client must not rely on order.
    for (let k = 0; k < count; k++) {
      const op = w.ops[k * 2 + 1];
      assert.ok(op);
      op.behavior = k < BAD.length ? (BAD[k] as Behavior) : 'hang';
      bad.add(op.address);
    }
    return bad;
  };

  test('n − t = 7 malicious operators: the client drops and names each of them and still gets the app key', async () => {
    const bad = misbehave(BAD.length);
    const r = await w.client({ timeoutMs: 10_000 }).requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key });
    assert.equal(r.threshold, T);
    assert.equal(r.appKey, w.appKey(), 'the key is x·Q(appId), verified against the MPK');
    assert.deepEqual(new Set(r.faults.map((f: OperatorFault) => f.operator)), bad, 'every malicious operator is named, and no honest one');
    assert.equal(r.partials.filter((p) => p.valid).length, N - BAD.length);
  });

  test('one more (8 > n − t): NotEnoughPartialsError naming all eight, and no key', async () => {
    const bad = misbehave(BAD.length + 1);
    await assert.rejects(w.client({ timeoutMs: 2_000 }).requestAppKey({ appId: w.appId, ownerKey: w.appOwner.key }), (e: unknown) => {
      assert.ok(e instanceof NotEnoughPartialsError, String(e));
      assert.deepEqual(new Set(e.faults.map((f) => f.operator)), bad);
      return true;
    });
  });
});
