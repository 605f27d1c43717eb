// Incident R5 (docs/reliability.md): n = 3, t = 2, and one node computes another outcome than
// the others. With t = 2 any two dealers of a reshare interpolate to the same constant term,
// so a node's divergent polynomial still "reconstructs the MPK": checking A_0 == MPK alone
// would accept it. Here divergence must be detected by the hash every confirmation names:
// only a majority on one hash completes the session (quorum max(t_new, floor(n/2)+1) = 2),
// and a node whose hash lost holds no share of the version (SPEC 1.3, 3, 4 (4)).
//
// Production OperatorLoops on the fork chain (test/sim/loop-cluster.ts, invariants checked
// after every block). Node 2 reads the chain through a view that hides dealer 0's deal in
// the reshare (a node-local fault: a buggy reader, a lying endpoint), so its QUAL is {1, 2}
// where the others' is {0, 1, 2}.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SIZES } from '../../src/protocol/session-rules.ts';
import type { RecordedSubmission } from '../../src/protocol/ledger.ts';
import { LoopCluster } from './loop-cluster.ts';

const RESHARE = 2;

describe('a node that computes another outcome (n = 3, t = 2)', () => {
  it('its divergent polynomial keeps A_0 == MPK, but its hash loses the confirmation vote and it holds no share of the version', async () => {
    let hidden = '';
    const c: LoopCluster = await LoopCluster.create({
      seed: 'divergent node', n: 3,
      readsOf: (i, view) => i !== 2 ? view : new Proxy(view, {
        // The view's own getters read private fields: they run on the view, not on the proxy.
        get(target, prop) {
          const v: unknown = Reflect.get(target, prop);
          if (typeof v !== 'function') return v;
          const f = (v as (...a: unknown[]) => unknown).bind(target);
          if (prop !== 'getSubmissions') return f;
          return async (id: number) => (await (f(id) as Promise<RecordedSubmission[]>)).filter((x) => !(id === RESHARE && x.type === 'deal' && x.from === hidden));
        },
      }),
    });
    hidden = c.nodes[0]?.address ?? '';
    const [a, b, d] = c.nodes;
    assert.ok(a && b && d);
    for (const id of [1, RESHARE]) {
      await c.runUntil(`session ${id} opens`, async () => (await c.chain.latestSessionId()) >= id, 90);
      await c.runUntil(`session ${id}: outcome final`, async () => {
        const s = await c.finalView.getSession(id);
        return s !== null && s.progress.outcome !== 'pending';
      }, 200);
    }
    for (let i = 0; i < 10; i++) await c.second();

    const s = await c.finalView.getSession(RESHARE);
    assert.ok(s);
    assert.equal(s.snapshot.tNew, 2);
    assert.equal(s.progress.outcome, 'completed');
    assert.equal(s.progress.dealCount, 3, `every dealer dealt on-chain\n${c.log.slice(-30).join('\n')}`);
    const won = s.progress.completedPolyHash;
    const confirms = (await c.finalView.getSubmissions(RESHARE)).filter((x) => x.type === 'confirm');
    const hashOf = (who: string) => confirms.find((x) => x.from === who)?.publicPolyHash;
    assert.equal(hashOf(a.address), won);
    assert.equal(hashOf(b.address), won);
    const lost = confirms.find((x) => x.from === d.address);
    assert.ok(lost && lost.publicPolyHash !== won, 'node 2 confirmed another polynomial: the divergence is on-chain, named by its hash');
    const mpk = await c.finalView.getMpk();
    assert.equal(lost.publicPoly.slice(0, 2 + 2 * SIZES.g2), mpk, 'its polynomial keeps A_0 == MPK: an MPK check alone would not see the divergence');

    for (const n of [a, b]) assert.equal(n.store.getVersion(RESHARE)?.status, 'active');
    assert.equal(d.store.getVersion(RESHARE), null, 'node 2 holds no share of the version its hash lost');
    assert.equal(d.store.activeVersion()?.id, 1, 'and keeps serving the version before it');
    assert.deepEqual(c.nodes.flatMap((n) => n.tickErrors), []);
  });
});
