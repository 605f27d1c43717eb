// Security review, issue 12 finding 2, in the node runtime (src/node/operator-loop.ts): a
// registry of an older deployment lists, for one operator, a session key that is not a valid
// secp256k1 point. Three real operator loops over the in-memory ledger, seen through a view
// that shows that operator's registered key as the invalid one everywhere the registry would
// (its operator record and every snapshot) — the current ledger refuses such keys, an old
// registry did not. What the runtime must do:
//
// - the dealers deal around it and warn, naming the recipient and the session;
// - the node with the bad key never fails a tick (its key store refuses to look up a key with
//   a wrong prefix: the loop must not ask), sits the session out and says why, once;
// - the round completes for the others; on its next start the node publishes a fresh valid
//   key (`ensureSessionKey`) and takes part in the next reshare.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeDomain } from '../../src/crypto/domain.ts';
import { createOperatorSigner, generateOperatorSecretKey } from '../../src/crypto/operator-sig.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { generateSealKeyPair, isValidSealPublicKey } from '../../src/crypto/seal.ts';
import { MemoryKeyStore } from '../../src/node/memory-key-store.ts';
import { ensureSessionKey, OperatorLoop } from '../../src/node/operator-loop.ts';
import { bytesToHex, hexToBytes } from '../../src/protocol/hex.ts';
import type { Address, Hex, Ledger, OperatorRecord, Session } from '../../src/protocol/ledger.ts';
import { MemoryLedger } from '../../src/protocol/memory-ledger.ts';

const REGISTRY: Address = '0x00000000000000000000000000000000000000aa';
const OWNER: Address = '0x00000000000000000000000000000000000000ff';
const OPS: readonly Address[] = [1, 2, 3].map((i) => `0x${String(i).padStart(40, '0')}` as Address);
const START = 1_000_000;
const INTERVAL = 60;
const domain = makeDomain({ chainId: 31337n, registry: REGISTRY });

/**
 * The ledger as an old registry would show it: wherever `real` (the key operator `who`
 * published) appears — its operator record, the snapshots — `shown` appears instead. Once the
 * operator publishes another key, the view shows that one as it is.
 */
function oldRegistryView(ledger: MemoryLedger, real: Hex, shown: Hex): Ledger {
  const swap = (k: Hex): Hex => (k === real ? shown : k);
  const op = (o: OperatorRecord | null): OperatorRecord | null => (o ? { ...o, sessionKey: swap(o.sessionKey) } : o);
  const session = (s: Session | null): Session | null => (s ? { ...s, snapshot: { ...s.snapshot, recipientKeys: s.snapshot.recipientKeys.map(swap) } } : s);
  return new Proxy(ledger, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      const f = (v as (...a: unknown[]) => unknown).bind(target);
      if (prop === 'getOperator') return async (a: Address) => op(await (f(a) as Promise<OperatorRecord | null>));
      if (prop === 'getOperators') return async () => (await (f() as Promise<OperatorRecord[]>)).map((o) => op(o) as OperatorRecord);
      if (prop === 'getSession') return async (id: number) => session(await (f(id) as Promise<Session | null>));
      return f;
    },
  });
}

interface Node {
  readonly address: Address;
  readonly store: MemoryKeyStore;
  loop: OperatorLoop;
  readonly warnings: { fields: Record<string, unknown>; msg: string }[];
  readonly errors: string[];
}

async function world(badKey: Hex) {
  const ledger = new MemoryLedger({ chainId: 31337, registry: REGISTRY, owner: OWNER, interval: INTERVAL, dealWindow: 10, ackWindow: 10, confirmWindow: 10, inclusionMargin: 0, startTime: START });
  const gov = ledger.writer(OWNER);
  const nodes: Node[] = [];
  for (const [i, address] of OPS.entries()) {
    await gov.allowOperator(address, true);
    const signer = createOperatorSigner('ecdsa', generateOperatorSecretKey('ecdsa', seededRng(`sig ${i}`)), domain);
    await ledger.writer(address).register({
      socket: `http://op${i}`, sigKeyType: 'ecdsa', sigPublicKey: bytesToHex(signer.publicKey),
      proofOfPossession: bytesToHex(signer.proofOfPossession(address)), sessionKey: bytesToHex(generateSealKeyPair(seededRng(`reg ${i}`)).publicKey),
    });
    const store = new MemoryKeyStore({ chainId: 31337n, registry: REGISTRY, operator: address });
    await ensureSessionKey(ledger, ledger.writer(address), store, address, START, seededRng(`key ${i}`));
    nodes.push({ address, store, loop: null as unknown as OperatorLoop, warnings: [], errors: [] });
  }
  // c's published key, as an old registry would have kept it.
  const c = nodes[2] as Node;
  const real = (await ledger.getOperator(c.address))?.sessionKey as Hex;
  const view = oldRegistryView(ledger, real, badKey);
  for (const [i, n] of nodes.entries()) {
    n.loop = new OperatorLoop({
      ledger: view, writer: ledger.writer(n.address), store: n.store, me: n.address, domain, consentThreshold: null,
      rngFor: (s, p) => seededRng(`${i} ${s} ${p}`),
      log: {
        debug() {}, info() {},
        warn: (fields: object, msg: string) => void n.warnings.push({ fields: fields as Record<string, unknown>, msg }),
        error: (_f: object, msg: string) => void n.errors.push(msg),
      },
    });
  }
  await gov.armGenesis(3);
  return { ledger, view, nodes };
}

/** Every node ticks three times at each chain second from `from` to `to`; no tick may throw. */
async function run(ledger: MemoryLedger, nodes: readonly Node[], from: number, to: number): Promise<void> {
  for (let t = from; t <= to; t++) {
    ledger.setTime(t);
    for (let k = 0; k < 3; k++) for (const n of nodes) await n.loop.tick();
  }
}

const Fp = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;
const BAD_KEYS: readonly { readonly name: string; readonly key: Hex }[] = [
  // The store refuses to even look up a key with this prefix: the loop must not ask it.
  { name: 'a wrong prefix', key: `0x05${'11'.repeat(32)}` },
  { name: 'an off-curve x', key: `0x02${(5n).toString(16).padStart(64, '0')}` },
  { name: 'x ≥ p', key: `0x03${Fp.toString(16)}` },
];

describe('the operator loop with a recipient whose registered session key is not a point', () => {
  for (const { name, key } of BAD_KEYS) {
    it(`with ${name}: the others deal around it and warn naming it, its own node sits the session out without a failed tick, and after a restart it takes part again`, async () => {
      assert.equal(isValidSealPublicKey(hexToBytes(key)), false);
      const { ledger, view, nodes } = await world(key);
      const [a, b, c] = nodes as [Node, Node, Node];

      // Genesis: t = 2 of 3, quorum 2. c deals (its dealing needs no key of its own) but cannot
      // receive. It is over before the next boundary (START + 20).
      const boundary = Math.ceil(START / INTERVAL) * INTERVAL;
      assert.ok(boundary >= START + 15);
      await run(ledger, nodes, START + 1, boundary - 1);
      const s1 = await view.getSession(1);
      assert.equal(s1?.snapshot.recipientKeys[2], key, 'the snapshot lists the invalid key for c');
      assert.equal(s1?.progress.outcome, 'completed', 'genesis completed without c');
      assert.equal((await ledger.getSubmissions(1)).filter((s) => s.type === 'deal').length, 3, 'every dealer dealt');
      for (const n of [a, b]) assert.equal(n.store.activeVersion()?.id, 1);
      assert.equal(c.store.getVersion(1), null, 'c holds nothing of it');
      for (const n of nodes) assert.deepEqual(n.errors, [], `${n.address}: no failed tick`);

      for (const n of nodes) {
        const around = n.warnings.filter((w) => w.fields['recipient'] === c.address);
        assert.equal(around.length, 1, `${n.address} warned once about c's key`);
        assert.equal(around[0]?.fields['session'], 1);
        assert.equal(around[0]?.fields['key'], key);
        assert.match(around[0]?.msg ?? '', /not a valid secp256k1 point/);
      }
      const own = c.warnings.filter((w) => /sits session 1 out/.test(w.msg));
      assert.equal(own.length, 1, 'c says once why it sits the session out');

      // c restarts (a new loop over the same store): its start-up publishes a fresh key.
      const published = await ensureSessionKey(view, ledger.writer(c.address), c.store, c.address, await ledger.now(), seededRng('restart'));
      assert.ok(published && published !== key && isValidSealPublicKey(hexToBytes(published)), 'a fresh valid key');
      assert.equal((await view.getOperator(c.address))?.sessionKey, published);

      // The next reshare: c is a recipient with a usable key; every node ends on version 2.
      await run(ledger, nodes, boundary, boundary + 40);
      const s2 = await view.getSession(2);
      assert.equal(s2?.snapshot.recipientKeys[2], published);
      assert.equal(s2?.progress.outcome, 'completed');
      for (const n of nodes) assert.equal(n.store.activeVersion()?.id, 2, `${n.address} active on version 2`);
      for (const n of nodes) assert.deepEqual(n.errors, []);
      assert.equal(a.warnings.filter((w) => w.fields['session'] === 2).length, 0, 'nothing to warn about any more');
    });
  }
});
