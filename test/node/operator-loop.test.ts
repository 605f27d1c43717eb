// The operator loop (src/node/operator-loop.ts) over the in-memory ledger: three nodes tick
// through a genesis DKG and a reshare on virtual chain time, several ticks per block time.
// What is checked here is what the loop adds on top of the round machines:
//
// - the timing telemetry of every submission (`SubmissionTiming`), from the injected clocks;
// - a settled session (its last step a no-op) is not stepped again, and its submissions are
//   not read again, until its phase or outcome changes — and the rounds still complete;
// - retention reads run only between rounds, and only when something changed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeDomain } from '../../src/crypto/domain.ts';
import { createOperatorSigner, generateOperatorSecretKey } from '../../src/crypto/operator-sig.ts';
import { generateSealKeyPair } from '../../src/crypto/seal.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import { MemoryKeyStore } from '../../src/node/memory-key-store.ts';
import { ensureSessionKey, OperatorLoop, type SubmissionTiming } from '../../src/node/operator-loop.ts';
import { bytesToHex } from '../../src/protocol/hex.ts';
import { ZERO_HASH, type Address, type Hex, type Ledger, type RecordedSubmission } from '../../src/protocol/ledger.ts';
import { MemoryLedger } from '../../src/protocol/memory-ledger.ts';

const REGISTRY: Address = '0x00000000000000000000000000000000000000aa';
const OWNER: Address = '0x00000000000000000000000000000000000000ff';
const OPS: readonly Address[] = [1, 2, 3].map((i) => `0x${String(i).padStart(40, '0')}` as Address);
const START = 1_000_000;
const INTERVAL = 60;

/**
 * Counts the calls of every ledger read (a Proxy over the memory ledger); reads through the
 * final view (the memory ledger is its own) are counted as `final:<name>`.
 */
function counting(ledger: MemoryLedger, prefix = ''): { ledger: Ledger; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  let final: Ledger | null = null;
  const proxy = new Proxy(ledger, {
    get(target, prop, receiver) {
      if (prop === 'finalView' && prefix === '') {
        final ??= countingInto(ledger, calls, 'final:');
        return () => final;
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || typeof prop !== 'string' || prop === 'writer') return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      return (...args: unknown[]) => {
        calls.set(prefix + prop, (calls.get(prefix + prop) ?? 0) + 1);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { ledger: proxy, calls };
}

function countingInto(ledger: MemoryLedger, calls: Map<string, number>, prefix: string): Ledger {
  const inner = counting(ledger, prefix);
  const proxy = new Proxy(inner.ledger, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && !['writer', 'finalView', 'chainId', 'registry'].includes(prop)) {
        const v: unknown = Reflect.get(target, prop, receiver);
        if (typeof v === 'function') {
          return (...args: unknown[]) => {
            calls.set(prefix + prop, (calls.get(prefix + prop) ?? 0) + 1);
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  return proxy;
}

/** Reads through the final view (retention and finality work). */
function finalReads(calls: Map<string, number>): number {
  let n = 0;
  for (const [k, v] of calls) if (k.startsWith('final:')) n += v;
  return n;
}

interface TestNode {
  readonly address: Address;
  readonly loop: OperatorLoop;
  readonly store: MemoryKeyStore;
  readonly calls: Map<string, number>;
  readonly timings: { session: number; kind: string; t: SubmissionTiming }[];
}

async function world(arm = true, receiptHeads?: Hex[]) {
  const ledger = new MemoryLedger({ chainId: 31337, registry: REGISTRY, owner: OWNER, interval: INTERVAL, dealWindow: 10, ackWindow: 10, confirmWindow: 10, inclusionMargin: 0, startTime: START });
  const domain = makeDomain({ chainId: 31337n, registry: REGISTRY });
  const gov = ledger.writer(OWNER);
  let wall = 0;
  let cpu = 0;
  const nodes: TestNode[] = [];
  for (const [i, address] of OPS.entries()) {
    await gov.allowOperator(address, true);
    const sig = generateOperatorSecretKey('ecdsa', seededRng(`sig ${i}`));
    const signer = createOperatorSigner('ecdsa', sig, domain);
    const writer = ledger.writer(address);
    await writer.register({
      socket: `http://op${i}`, sigKeyType: 'ecdsa', sigPublicKey: bytesToHex(signer.publicKey),
      proofOfPossession: bytesToHex(signer.proofOfPossession(address)), sessionKey: bytesToHex(generateSealKeyPair(seededRng(`reg ${i}`)).publicKey),
    });
    const store = new MemoryKeyStore({ chainId: 31337n, registry: REGISTRY, operator: address });
    await ensureSessionKey(ledger, writer, store, address, START, seededRng(`key ${i}`));
    const c = counting(ledger);
    const timings: TestNode['timings'] = [];
    const silent = { debug() {}, info() {}, warn() {}, error() {} };
    const loop = new OperatorLoop({
      ledger: c.ledger, writer, store, me: address, domain, consentThreshold: null,
      rngFor: (s, p) => seededRng(`${i} ${s} ${p}`), log: silent,
      observer: { submitted: (session, kind, t) => timings.push({ session, kind, t }) },
      // Every reading of the clocks advances them: the telemetry must come from them alone.
      clock: () => (wall += 5),
      cpuClock: () => (cpu += 2),
      // Read at every send: the test changes the array between rounds.
      ...(receiptHeads ? { receiptHead: () => receiptHeads[i] as Hex } : {}),
    });
    nodes.push({ address, loop, store, calls: c.calls, timings });
  }
  if (arm) await gov.armGenesis(3);
  return { ledger, nodes };
}

/** Every node ticks `ticks` times at each chain second from `from` to `to`. */
async function run(ledger: MemoryLedger, nodes: readonly TestNode[], from: number, to: number, ticks = 3): Promise<void> {
  for (let t = from; t <= to; t++) {
    ledger.setTime(t);
    for (let k = 0; k < ticks; k++) for (const n of nodes) await n.loop.tick();
  }
}

describe('operator loop over the memory ledger', () => {
  it('runs a DKG and a reshare; settled sessions are neither stepped nor re-read until their phase changes', async () => {
    const { ledger, nodes } = await world();
    // Armed, the nodes open the DKG at once (the current interval's boundary has passed); with
    // every node acting within the same second, its windows close early.
    await run(ledger, nodes, START + 1, START + 4);
    assert.equal((await ledger.activeVersion())?.id, 1, 'genesis completed');
    const subs: RecordedSubmission[] = await ledger.getSubmissions(1);
    assert.equal(subs.filter((s) => s.type === 'deal').length, 3);
    assert.equal(subs.filter((s) => s.type === 'confirm').length, 3);

    // The reshare: c lags, a and b tick ten times each in the deal phase. Each of them reads
    // the submissions twice (the step that deals, then the no-op step that sees its own deal
    // and settles) and not again while the phase does not change.
    const [a, b] = nodes as [TestNode, TestNode, TestNode];
    const boundary = Math.ceil((START + 5) / INTERVAL) * INTERVAL;
    ledger.setTime(boundary);
    const reads = (n: TestNode) => n.calls.get('getSubmissions') ?? 0;
    const [a0, b0] = [reads(a), reads(b)];
    for (let k = 0; k < 10; k++) for (const n of [a, b]) await n.loop.tick();
    const s2 = await ledger.getSession(2);
    assert.equal(s2?.progress.dealCount, 2, 'a and b dealt, c not yet');
    assert.equal(reads(a) - a0, 2, 'a: two submission reads in ten ticks');
    assert.equal(reads(b) - b0, 2, 'b: two submission reads in ten ticks');
    // As a guard against a reorg that dropped its deal, a settled session is still stepped
    // (and its submissions read) every tenth tick.
    for (let k = 0; k < 10; k++) for (const n of [a, b]) await n.loop.tick();
    assert.equal(reads(a) - a0, 3, 'a: one more read in ten more ticks');
    // c deals: the phase changes for everyone, who step again, and the reshare completes.
    await run(ledger, nodes, boundary + 1, boundary + 3);
    assert.equal((await ledger.activeVersion())?.id, 2, 'the reshare completed');
    for (const n of nodes) assert.equal(n.store.activeVersion()?.id, 2);
  });

  it('each confirmation commits the node\'s receipt-log head as it is when the confirmation is sent', async () => {
    const heads: Hex[] = [`0x${'a1'.repeat(32)}`, `0x${'b2'.repeat(32)}`, ZERO_HASH];
    const { ledger, nodes } = await world(true, heads);
    await run(ledger, nodes, START + 1, START + 4);
    assert.equal((await ledger.activeVersion())?.id, 1, 'genesis completed');
    const headsIn = async (session: number) => new Map((await ledger.getSubmissions(session)).flatMap((s) => (s.type === 'confirm' ? [[s.from, s.receiptHead]] : [])));
    const g = await headsIn(1);
    for (const [i, n] of nodes.entries()) {
      assert.equal(g.get(n.address), heads[i], `node ${i}'s confirmation carries its head`);
      assert.equal(await ledger.getReceiptHead(n.address), heads[i]);
    }
    // Releases happened meanwhile: the reshare's confirmations commit the newer heads.
    heads[0] = `0x${'c3'.repeat(32)}`;
    heads[2] = `0x${'d4'.repeat(32)}`;
    const boundary = Math.ceil((START + 5) / INTERVAL) * INTERVAL;
    await run(ledger, nodes, boundary, boundary + 4);
    assert.equal((await ledger.activeVersion())?.id, 2, 'the reshare completed');
    const r = await headsIn(2);
    for (const [i, n] of nodes.entries()) assert.equal(r.get(n.address), heads[i], `node ${i} commits its current head`);
    assert.equal(await ledger.getReceiptHead((nodes[2] as TestNode).address), heads[2]);
  });

  it('a late recipient whose session completed meanwhile goes confirmed → active in one step and keeps its share', async () => {
    const { ledger, nodes } = await world();
    const [a, b, late] = nodes as [TestNode, TestNode, TestNode];
    ledger.setTime(START + 1);
    // Deal and ack with everyone, then only a and b: t = 2, quorum 2, so they complete the DKG.
    for (let k = 0; k < 2; k++) for (const n of nodes) await n.loop.tick();
    assert.equal((await ledger.getSession(1))?.progress.ackCount, 3, 'every recipient acked');
    for (let k = 0; k < 2; k++) for (const n of [a, b]) await n.loop.tick();
    assert.equal((await ledger.getSession(1))?.progress.outcome, 'completed');
    // The late node's step: acks-final → confirmed, then completed → active. It used to skip
    // storing the version (stored only on a step ending in `confirmed`), then fail every tick.
    const report = await late.loop.tick();
    assert.equal(report.sessions.find((x) => x.id === 1)?.recipient, 'active');
    const v = late.store.getVersion(1);
    assert.equal(v?.status, 'active');
    assert.equal(v?.publicPolyHash, (await ledger.getSession(1))?.progress.completedPolyHash);
    assert.equal(late.timings.at(-1)?.kind, 'confirm', 'and it still sent its confirmation');
    assert.equal((await ledger.getSubmissions(1)).filter((x) => x.type === 'confirm').length, 3);
    const again = await late.loop.tick();
    assert.equal(again.retry, false);
  });

  it('a boundary that passes while the previous session still runs gets its session once that one closes', async () => {
    const { ledger, nodes } = await world(false);
    const [a] = nodes as [TestNode, TestNode, TestNode];
    const next = Math.ceil(START / INTERVAL) * INTERVAL; // the next boundary after START
    // Genesis is armed late in an interval: a opens the DKG 5 s before the next boundary and
    // deals; its windows (10 s each) run well past that boundary.
    ledger.setTime(next - 5);
    await ledger.writer(OWNER).armGenesis(3);
    await a.loop.tick();
    assert.equal((await ledger.getSession(1))?.snapshot.boundary, next - INTERVAL);
    // Past the boundary, every node tries to open its session: refused, the DKG still runs.
    // The DKG then completes, and the boundary's reshare opens right after it closes — not a
    // whole interval later (the loop used to mark the boundary done on that refusal).
    await run(ledger, nodes, next + 1, next + 40);
    assert.equal((await ledger.getSession(1))?.progress.outcome, 'completed');
    const s2 = await ledger.getSession(2);
    assert.equal(s2?.snapshot.kind, 'reshare', 'the reshare of that boundary opened');
    assert.equal(s2?.snapshot.boundary, next);
    assert.ok((s2?.snapshot.openedAt ?? 0) < next + INTERVAL);
    assert.equal((await ledger.activeVersion())?.id, 2, 'and completed');
  });

  it('a node that lost its session key sits the session out without failing its ticks, says so once per phase, and the others complete', async () => {
    const { ledger, nodes } = await world();
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
    // c's data directory is replaced: a fresh store, without the session key the registry lists.
    const warnings: string[] = [];
    const lost = new MemoryKeyStore({ chainId: 31337n, registry: REGISTRY, operator: c.address });
    const cLoop = new OperatorLoop({
      ledger, writer: ledger.writer(c.address), store: lost, me: c.address, domain: makeDomain({ chainId: 31337n, registry: REGISTRY }), consentThreshold: null,
      rngFor: (s, p) => seededRng(`c ${s} ${p}`),
      log: { debug() {}, info() {}, warn: (_o: unknown, msg?: string) => void warnings.push(String(msg)), error() {} },
    });
    for (let t = START + 1; t <= START + 40; t++) {
      ledger.setTime(t);
      for (let k = 0; k < 3; k++) {
        await a.loop.tick();
        await b.loop.tick();
        await cLoop.tick(); // must not throw
      }
    }
    assert.equal((await ledger.getSession(1))?.progress.outcome, 'completed', 'a and b completed the DKG');
    assert.equal(a.store.activeVersion()?.id, 1);
    assert.equal(lost.getVersion(1), null, 'c holds nothing of it');
    const missing = warnings.filter((w) => /no secret for the session key/.test(w));
    assert.ok(missing.length >= 1 && missing.length <= 3, `warned once per phase, not per tick (${missing.length})`);
    assert.ok(missing.every((w) => /sits the session out/.test(w)));
  });

  it('reports where each submission\'s time went, from the injected clocks', async () => {
    const { ledger, nodes } = await world();
    await run(ledger, nodes, START + 1, START + 2, 2);
    for (const n of nodes) {
      assert.deepEqual(n.timings.map((x) => x.kind), ['deal', 'ack', 'confirm']);
      for (const { t } of n.timings) {
        assert.ok(t.tickAt < t.steppedAt && t.steppedAt < t.computedAt && t.computedAt < t.sentAt && t.sentAt < t.minedAt, JSON.stringify(t));
        assert.equal(t.computeCpuMs, 2, 'one cpu clock step between the two readings');
        assert.equal(t.resend, false);
      }
    }
  });

  it('runs finality work and retention only between rounds, and only when something changed', async () => {
    const { ledger, nodes } = await world(false);
    const n = nodes[0] as TestNode;
    // Before genesis nothing changes between ticks: the final view is read in one pass only.
    ledger.setTime(START + 1);
    await n.loop.tick();
    const first = finalReads(n.calls);
    assert.ok(first > 0, 'the first tick looks at the final view');
    for (let k = 0; k < 9; k++) await n.loop.tick();
    assert.equal(finalReads(n.calls), first, 'no more final-view reads in nine idle ticks');
    // During a round: none; after it (the round closed, a version appeared): more.
    await ledger.writer(OWNER).armGenesis(3);
    const during: number[] = [];
    for (let t = START + 2; t <= START + 4; t++) {
      ledger.setTime(t);
      for (let k = 0; k < 3; k++) {
        for (const m of nodes) await m.loop.tick();
        if ((await ledger.activeVersion()) === null) during.push(finalReads(n.calls));
      }
    }
    assert.ok(during.length > 0 && during.every((c) => c === first), `no final-view reads while the DKG ran (${during.join(' ')})`);
    assert.equal((await ledger.activeVersion())?.id, 1);
    assert.ok(finalReads(n.calls) > first, 'the finished round was settled on the final view');
    assert.equal(n.store.mpk(), await ledger.getMpk(), 'the store is bound to the MPK once the genesis is final');
  });
});
