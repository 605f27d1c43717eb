// Benign faults (issue 3): an operator offline for a whole round, a node whose RPC lags, a
// node that crashes after confirming or between persisting and sending, and skewed clocks.
// All honest nodes agree; the laggard joins again next round; the next round neither mixes
// source versions nor livelocks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { phaseAt } from '../../src/protocol/session-rules.ts';
import { digestOf } from '../../src/protocol/submission-digest.ts';
import { Scenario, type RoundReport } from '../../src/sim/scenario.ts';
import { assertHonestAgree, assertVersionSound, range } from './helpers.ts';

describe('faults', () => {
  it('a lagged view is a consistent past state of the ledger: a prefix of the log with its own counter and digest', async () => {
    const run = await new Scenario({ seed: 'lagged-view', n: 3 }).genesis().run();
    const g = run.rounds[0] as RoundReport;
    const all = await run.sim.ledger.getSubmissions(g.session as number);
    const head = await run.sim.headView();
    const opened = g.snapshot?.openedAt as number;
    assert.equal(head.mirrorAt(opened - 1).latestSessionId(), 0, 'before the session opened');
    for (const t of [...new Set(all.map((s) => s.at))]) {
      const v = head.mirrorAt(t);
      const subs = v.submissions(g.session as number);
      const s = v.session(g.session as number);
      assert.ok(s);
      assert.deepEqual(subs, all.filter((x) => x.at <= t));
      assert.equal(s.progress.counter, subs.length);
      assert.equal(s.progress.digest, digestOf(subs), 'the digest of exactly that prefix');
      assert.equal(s.progress.outcome === 'completed', (await run.sim.ledger.getVersion(g.session as number))!.completedAt <= t);
      if (s.progress.dealClosedAt !== null) assert.ok(s.progress.dealClosedAt <= t);
      assert.equal(v.mpk() !== null, s.progress.outcome === 'completed');
    }
    assert.equal(phaseAt(head.session(g.session as number)!, head.now), 'closed');
  });

  it('an operator offline for a whole round misses it, cannot deal from a stale version, and joins again next round', async () => {
    const run = await new Scenario({ seed: 'offline', n: 5 }).genesis().reshare().offline(4).reshare().run();
    const [g, missed, next] = run.rounds as RoundReport[];
    assert.ok(g && missed && next);
    assert.equal(missed.outcome, 'completed', 'four of five suffice (t_old = 4, quorum 4)');
    assertHonestAgree(missed, range(4));
    assert.equal(missed.nodes[4]?.version, null, 'op4 holds nothing of the round it missed');
    assert.deepEqual(missed.chain?.excluded.map((e) => [e.dealer, e.fault]), [[run.sim.op(4).address, 'no-deal']]);
    // Next round: the source is version 2, which op4 never got. It must not deal its version-1
    // share (that would mix source versions); it receives again.
    assert.equal(next.snapshot?.sourceVersion, missed.session);
    assert.equal(next.nodes[4]?.dealer, 'cannot-deal');
    const deals = (await run.sim.ledger.getSubmissions(next.session as number)).filter((s) => s.type === 'deal');
    assert.ok(!deals.some((d) => d.from === run.sim.op(4).address), 'no deal from the stale holder');
    assert.equal(next.outcome, 'completed');
    await assertVersionSound(run, next, range(5));
  });

  it('a node whose RPC lags 5 s behind takes part normally', async () => {
    const run = await new Scenario({ seed: 'lag-small', n: 5 }).genesis().lag(2, 5).reshare().lag(2, 5).run();
    for (const r of run.rounds) {
      assert.equal(r.chain?.qual.length, 5, `${r.label}: the laggard dealt in time`);
      await assertVersionSound(run, r, range(5));
    }
  });

  it('a node lagging 40 s (longer than every window) is left out of the round, then joins again next round', async () => {
    const run = await new Scenario({ seed: 'lag-large', n: 5 }).genesis().reshare().lag(3, 40).reshare().run();
    const [, lagged, next] = run.rounds as RoundReport[];
    assert.ok(lagged && next);
    assert.equal(lagged.outcome, 'completed');
    assertHonestAgree(lagged, [0, 1, 2, 4]);
    assert.deepEqual(lagged.chain?.excluded.map((e) => e.fault), ['no-deal'], 'its deal arrived after the window');
    const late = run.sim.transcript.filter((e) => e.node === 'op3' && e.kind === 'refused');
    assert.ok(late.length > 0 && late.every((e) => e.detail.endsWith('WrongPhase')), 'the laggard\'s late writes were refused by the ledger');
    assert.equal(lagged.nodes[3]?.version, null, 'the laggard could not confirm in time and keeps nothing');
    assert.equal(next.session, (lagged.session as number) + 1, 'the next interval\'s session');
    assert.equal(next.nodes[3]?.dealer, 'cannot-deal', 'no version-2 share: it does not deal from version 1');
    assert.equal(next.outcome, 'completed');
    assert.equal(next.nodes[3]?.recipient, 'active', 'the laggard holds the next version');
    await assertVersionSound(run, next, range(5));
  });

  it('a node that crashes right after confirming activates on restart and deals in the next round', async () => {
    // t = 5 of 5: the quorum max(5, 3) needs op2's own confirmation, so op2 is still
    // 'confirmed' (not yet 'active') when it crashes, and the next round needs its deal.
    const run = await new Scenario({ seed: 'crash-after-confirm', n: 5 })
      .genesis()
      .reshare({ threshold: 5 }).crash(2, { at: 'after-confirm', restartAfter: 'next-round' })
      .reshare()
      .run();
    const [, crashed, next] = run.rounds as RoundReport[];
    assert.ok(crashed && next);
    assert.equal(crashed.outcome, 'completed');
    assert.equal(crashed.nodes[2]?.recipient, 'confirmed', 'persisted as confirmed, still down at the end of the round');
    assert.equal(crashed.nodes[2]?.version?.status, 'pending');
    assert.equal(next.snapshot?.tOld, 5);
    assert.ok(next.chain?.qual.includes(run.sim.op(2).address), 'after restart it activated the version and dealt from it');
    await assertVersionSound(run, next, range(5));
    assert.ok(run.sim.transcript.some((e) => e.node === 'op2' && e.kind === 'transition' && e.detail === `session ${crashed.session}: recipient: confirmed → active`));
  });

  it('a node that crashes between persisting and sending its deal resends the same deal after restart', async () => {
    const run = await new Scenario({ seed: 'crash-before-send', n: 5 })
      .genesis()
      .reshare().crash(1, { at: 'before-send', restartAfter: 5 })
      .run();
    const r = run.rounds[1] as RoundReport;
    assert.equal(r.chain?.qual.length, 5, 'its deal arrived within the window');
    const sent = run.sim.transcript.filter((e) => e.node === 'op1' && e.kind === 'tx' && e.detail.startsWith(`deal session ${r.session}`));
    assert.equal(sent.length, 1);
    assert.ok(sent[0] && sent[0].ms >= 5000 + (run.sim.transcript.find((e) => e.node === 'op1' && e.kind === 'crash')?.ms ?? 0));
    await assertVersionSound(run, r, range(5));
  });

  it('a node that crashes after dealing and restarts mid-round catches up and confirms', async () => {
    const run = await new Scenario({ seed: 'crash-after-deal', n: 5 }).genesis().reshare().crash(0, { at: 'after-deal', restartAfter: 20 }).run();
    const r = run.rounds[1] as RoundReport;
    assert.equal(r.nodes[0]?.recipient, 'active');
    await assertVersionSound(run, r, range(5));
  });

  it('clock skew changes nothing: only chain time is a protocol input', async () => {
    const plan = (skew: boolean) => {
      const s = new Scenario({ seed: 'skew', n: 5 }).genesis();
      if (skew) s.skew(0, -3_600_000).skew(1, 86_400_000).skew(3, 2_500);
      return s.reshare().run();
    };
    const [plain, skewed] = [await plan(false), await plan(true)];
    assert.equal(skewed.digest, plain.digest, 'identical protocol transcripts');
    const local = (r: typeof plain) => r.sim.transcript.filter((e) => e.node === 'op1').map((e) => e.local);
    assert.notDeepEqual(local(skewed), local(plain), 'while the nodes\' local clocks differed');
    for (const r of skewed.rounds) await assertVersionSound(skewed, r, range(5));
  });
});
