// Protocol versions on the production operator loop (issue 15 item 5): a session requires the
// version governance had in effect when it opened; a node whose build does not speak it sits
// the session out (no state, no submission), says so once, and reports it in `protocol`; it
// rejoins as soon as a session requires a version it speaks. Four OperatorLoops on the fork
// chain with the cluster's invariants checked after every block (MPK fixed, every stored share
// valid, nothing retired before its time).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LedgerWriter } from '../../src/protocol/ledger.ts';
import type { SpokenProtocol } from '../../src/protocol/protocol-version.ts';
import { LoopCluster } from './loop-cluster.ts';
import { OWNER } from './fork-chain-world.ts';

const OLD: SpokenProtocol = { min: 1, max: 1 };
const NEW: SpokenProtocol = { min: 1, max: 2 };

/** Sends a governance call and mines until it is included. */
async function govern(c: LoopCluster, call: (w: LedgerWriter) => Promise<void>): Promise<void> {
  let done = false;
  const p = call(c.chain.writer(OWNER)).then(() => {
    done = true;
  });
  await c.runUntil('the governance call is mined', () => done, 5);
  await p;
}

async function untilFinal(c: LoopCluster, id: number): Promise<void> {
  await c.runUntil(`session ${id} opens`, async () => (await c.chain.latestSessionId()) >= id, 120);
  await c.runUntil(`session ${id}: outcome final`, async () => {
    const s = await c.finalView.getSession(id);
    return s !== null && s.progress.outcome !== 'pending';
  }, 200);
}

const errorsAbout = (c: LoopCluster, node: number, session: number): string[] =>
  c.log.filter((l) => l.includes(`node ${node} error:`) && l.includes(`session ${session} requires protocol version`));

describe('protocol versions on the operator loop', () => {
  it('a node whose build does not speak the required version sits the session out and says so once; the upgraded nodes complete it; it rejoins when the version is lowered', async () => {
    const c = await LoopCluster.create({ seed: 'protocol/mixed', protocols: [NEW, NEW, NEW, OLD] });
    const old = c.nodes[3]!;
    await untilFinal(c, 1);
    assert.equal((await c.finalView.getSession(1))?.snapshot.protocolVersion, 1);
    assert.equal(old.loop.protocol?.verdict, 'ok');

    await govern(c, (w) => w.setProtocolVersion(2));
    assert.equal(old.loop.protocol?.verdict, 'unsupported', 'the old build sees at once that sessions from now on need an upgrade');
    assert.equal(c.nodes[0]!.loop.protocol?.verdict, 'ok');
    await untilFinal(c, 2);
    const s2 = await c.finalView.getSession(2);
    assert.ok(s2);
    assert.equal(s2.snapshot.protocolVersion, 2);
    assert.ok(s2.snapshot.dealers.includes(old.address) && s2.snapshot.recipients.includes(old.address), 'the old node had roles in it');
    assert.equal(s2.progress.outcome, 'completed', 'three upgraded nodes (t = 3) complete the reshare');
    const subs = await c.finalView.getSubmissions(2);
    assert.deepEqual(subs.filter((x) => x.from === old.address), [], 'the old node submitted nothing in a session it cannot speak');
    assert.equal(subs.filter((x) => x.type === 'deal').length, 3);
    assert.equal(old.store.getRoundState(2), null, 'and kept no round state for it');
    assert.equal(old.store.getVersion(2), null, 'it holds no share of the version it did not take part in');
    assert.equal(errorsAbout(c, 3, 2).length, 1, 'it says so once, not at every block');
    assert.match(errorsAbout(c, 3, 2)[0] ?? '', /this node speaks version 1: it sits the session out \(upgrade kms-server/);
    assert.equal(old.loop.protocol?.refusedSession?.id, 2);
    assert.equal(old.store.activeVersion()?.id, 1, 'it still serves the version it holds');

    // The way back from a premature raise: lowered to 1, the old node takes part again.
    await govern(c, (w) => w.setProtocolVersion(1));
    await untilFinal(c, 3);
    const s3 = await c.finalView.getSession(3);
    assert.equal(s3?.progress.outcome, 'completed');
    assert.ok((await c.finalView.getSubmissions(3)).some((x) => x.from === old.address && x.type === 'confirm'), 'the old node confirmed the next version');
    for (let i = 0; i < 6; i++) await c.second();
    assert.equal(old.store.activeVersion()?.id, 3, 'and serves it');
    assert.equal(old.loop.protocol?.verdict, 'ok');
    assert.equal(old.loop.protocol?.refusedSession, null);
    const { completed } = await c.checkSettled();
    assert.equal(completed, 3);
  });

  it('when no node speaks the required version, nobody acts: the session fails and the key stays as it was', async () => {
    const c = await LoopCluster.create({ seed: 'protocol/none', protocols: [OLD, OLD, OLD, OLD] });
    await untilFinal(c, 1);
    const mpk = await c.finalView.getMpk();
    await govern(c, (w) => w.setProtocolVersion(2));
    await untilFinal(c, 2);
    const s2 = await c.finalView.getSession(2);
    assert.equal(s2?.progress.outcome, 'failed');
    assert.deepEqual(await c.finalView.getSubmissions(2), [], 'no node submitted anything');
    for (const [i, n] of c.nodes.entries()) {
      assert.equal(errorsAbout(c, i, 2).length, 1, `node ${i} said why once`);
      assert.equal(n.store.activeVersion()?.id, 1, `node ${i} still serves version 1`);
    }
    assert.equal(await c.finalView.getMpk(), mpk);
    assert.equal((await c.finalView.activeVersion())?.id, 1);
  });
});
