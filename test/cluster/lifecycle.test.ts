// Issue 5 acceptance, the life of one deployment on real processes, a real chain and real
// SQLite files (test/cluster/harness.ts):
//
//   4 kms-server processes → genesis after arm-genesis → a first reshare (shares checked)
//   → two automatic reshares at consecutive boundaries → a fifth operator joins → governance
//   lowers the threshold while an original operator leaves; the fifth node, started with
//   --threshold-override 4, stays out of that session.
//
// One cluster runs the whole story; each step starts from the state the previous one left, so
// a failing step fails the steps after it. Sessions are identified from the chain, never
// assumed: one that opens while nodes are starting may fail, and a step then waits for the
// first version completed after it.
//
// What is asserted is cryptographic truth, not liveness. Shares are read from stopped nodes'
// stores (a running node holds its store locked), which happens twice: after the first
// reshare (the store still keeps the genesis version) and at the end (the join and threshold
// versions). Each partial signature is checked by pairing against the public share computed
// from the on-chain polynomial, and t of them are combined into the app key, which must verify
// against the pinned MPK and be the same key at every version and for every t-subset.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { bls } from '../../src/crypto/bls12381/index.ts';
import type { NodeStatus } from '../../src/node/http/schemas.ts';
import { bytesToHex } from '../../src/protocol/hex.ts';
import type { Hex, VersionRecord } from '../../src/protocol/ledger.ts';
import { startCluster, type Cluster } from './harness.ts';
import { APP_ID, appKey, keyVerifies, partialVerifies, polyHashOf, publicPolyOf, sameBytes, shareOf, subsets, type Holder } from './keys.ts';

const INTERVAL = 20;
const WINDOWS = { deal: 5, ack: 5, confirm: 5 } as const;
const ORIGINAL = [0, 1, 2, 3] as const;

describe('cluster lifecycle: genesis → reshares → join → threshold change and leave', { timeout: 330_000 }, () => {
  let c: Cluster;
  /** The pinned MPK and the app key every version must reproduce. */
  let mpk: Hex;
  let key: Uint8Array;
  let joined: VersionRecord;
  /** The version made by the first session after the threshold change (and the leave). */
  let changed: VersionRecord;
  /** The last session opened before governance changed the threshold. */
  let beforeChange = 0;
  /** Index of the fifth operator. */
  let newcomer = -1;
  /** The last session opened before the nodes were stopped to read their stores. */
  let stoppedAfter = 0;
  /** /status of every node just before the final stop. */
  const finalStatus = new Map<number, NodeStatus>();

  /** Every listed node's /pubkey reports the pinned MPK and exactly this version's polynomial. */
  const assertPubkeys = async (v: VersionRecord, nodes: readonly number[]) => {
    for (const i of nodes) {
      const pk = await c.pubkey(i);
      assert.equal(pk.mpk, mpk, `node ${i}: /pubkey MPK`);
      assert.equal(pk.version, v.id, `node ${i}: /pubkey version`);
      assert.equal(pk.threshold, v.threshold, `node ${i}: /pubkey threshold`);
      assert.equal(polyHashOf(pk.publicPoly), v.publicPolyHash, `node ${i}: /pubkey serves the confirmed polynomial`);
    }
  };

  /** Shares of `versionId` held by the given (stopped) nodes. */
  const holdersOf = (nodes: readonly number[], versionId: number): Holder[] =>
    nodes.map((i) => {
      const h = shareOf(c.nodes[i]!.address, c.readStore(i), versionId);
      assert.ok(h, `node ${i} holds a share of version ${versionId}`);
      return h;
    });

  /**
   * Each holder's partial verifies against PK_j from the chain's polynomial; every t-subset
   * combines to the genesis app key; t−1 partials do not.
   */
  const assertCombines = (v: VersionRecord, holders: readonly Holder[]) => {
    const poly = publicPolyOf(v);
    assert.equal(bytesToHex(bls.g2.encode(poly[0]!)), mpk, `version ${v.id}: A_0 is the pinned MPK`);
    for (const h of holders) assert.ok(partialVerifies(poly, h), `version ${v.id}: ${h.address}'s partial verifies against its public share`);
    const sets = subsets(holders, v.threshold);
    assert.ok(sets.length >= 1, `version ${v.id}: at least t holders`);
    for (const s of sets) {
      const d = appKey(s);
      assert.ok(keyVerifies(mpk, d), `version ${v.id}: the partials of ${s.map((h) => h.address.slice(0, 8)).join(', ')} combine to a key that verifies against the MPK`);
      assert.ok(sameBytes(d, key), `version ${v.id}: the same app key as at genesis`);
    }
    assert.ok(!keyVerifies(mpk, appKey(holders.slice(0, v.threshold - 1))), `version ${v.id}: t−1 partials do not give the key`);
  };

  before(async () => {
    c = await startCluster({ n: 4, interval: INTERVAL, windows: WINDOWS, tickMs: 500, name: 'lifecycle' });
  });
  after(async () => {
    await c?.stop();
  });

  it('4 nodes: genesis after arm-genesis; every /pubkey reports the pinned MPK', async () => {
    // Running nodes start nothing before governance arms genesis (SPEC 1.4).
    assert.equal(await c.ledger.latestSessionId(), 0);
    assert.equal(await c.ledger.getMpk(), null);
    await c.waitForRoom(10); // a DKG that straddles a boundary would cost an interval
    await c.armGenesis();
    const v1 = await c.waitForVersion(1);
    assert.equal(v1.id, 1);
    assert.equal((await c.ledger.getSession(1))?.snapshot.kind, 'dkg');
    const pinned = await c.ledger.getMpk();
    assert.ok(pinned);
    mpk = pinned;
    assert.equal(bytesToHex(bls.g2.encode(publicPolyOf(v1)[0]!)), mpk, 'the MPK is A_0 of the genesis polynomial');
    assert.equal(v1.threshold, 3, 'ceil(2·4/3)');
    assert.deepEqual([...v1.holders].sort(), c.nodes.map((n) => n.address).sort());
    await assertPubkeys(v1, ORIGINAL);
  });

  it('partials of any t genesis shares combine to one app key that verifies; the first reshare keeps it', async () => {
    const first = await c.waitForVersion(2);
    assert.equal((await c.ledger.getSession(first.id))?.snapshot.kind, 'reshare');
    await assertPubkeys(first, ORIGINAL);
    // Stop before the next reshare completes: until then every store still keeps version 1.
    await c.stopNodes(ORIGINAL);
    const genesis = await c.ledger.getVersion(1);
    assert.ok(genesis);
    const holders = holdersOf(ORIGINAL, 1);
    const keys = subsets(holders, 3).map((s) => appKey(s));
    assert.equal(keys.length, 4);
    key = keys[0]!;
    assert.ok(keyVerifies(mpk, key), 'e(d, G2) == e(Q(id), MPK)');
    assert.ok(!keyVerifies(mpk, key, `${APP_ID}/other`), 'and only for its own app id');
    assertCombines(genesis, holders); // all four 3-subsets give this same key
    assertCombines(first, holdersOf(ORIGINAL, first.id)); // and so do the reshared shares

    // Restart, together with the fifth operator's node: not registered yet (it waits), and
    // consenting to threshold 4 only.
    stoppedAfter = await c.ledger.latestSessionId();
    const [, added] = await Promise.all([c.startNodes(ORIGINAL), c.addOperator({ register: false, consent: 4 })]);
    newcomer = added;
  });

  it('automatic reshares at two consecutive boundaries: MPK unchanged, the active version moves on every node', async () => {
    // The pair starts with the first version every node holds after the restart (a session
    // that opened while they were starting counts only if all of them made it into it).
    const a = await c.waitForVersion(stoppedAfter + 1, { nodes: ORIGINAL });
    await assertPubkeys(a, ORIGINAL);
    const b = await c.waitForVersion(a.id + 1, { nodes: ORIGINAL });
    await assertPubkeys(b, ORIGINAL);
    // The fifth operator registers once the next session is open: it is not in that
    // snapshot, and joins in the one after (which then still is the first pair's successor).
    const [sa, sb] = await Promise.all([c.ledger.getSession(a.id), c.ledger.getSession(b.id)]);
    assert.equal(sa?.snapshot.kind, 'reshare');
    assert.equal(sb?.snapshot.kind, 'reshare');
    assert.equal(b.id, a.id + 1, 'the session after the first reshare completed too');
    assert.equal(sb.snapshot.sourceVersion, a.id);
    assert.equal(sb.snapshot.boundary - sa.snapshot.boundary, INTERVAL, 'the second reshare ran at the very next boundary');
    assert.equal(await c.ledger.getMpk(), mpk, 'the pinned MPK never changes');
    for (const i of ORIGINAL) {
      const seen = c.nodes[i]!.seenVersions;
      assert.ok(seen.indexOf(a.id) >= 0 && seen.indexOf(a.id) < seen.indexOf(b.id), `node ${i} moved from version ${a.id} to ${b.id} (saw ${seen.join(' → ')})`);
    }
    await c.registerOperator(newcomer);
  });

  it('a fifth operator is allowed, registers and holds a valid share after the next boundary', async () => {
    const five = [...ORIGINAL, newcomer];
    const me = c.nodes[newcomer]!.address;
    const registeredAfter = await c.ledger.latestSessionId();
    joined = await c.waitForVersion(registeredAfter + 1, { nodes: five });
    const j = await c.ledger.getSession(joined.id);
    assert.ok(j);
    assert.ok(j.snapshot.recipients.includes(me), 'the newcomer received');
    assert.ok(!j.snapshot.dealers.includes(me), 'the newcomer did not deal');
    assert.equal(joined.threshold, 4, 'ceil(2·5/3)');
    assert.deepEqual([...joined.holders].sort(), five.map((i) => c.nodes[i]!.address).sort());
    await assertPubkeys(joined, five);

    // Governance lowers the threshold, and operator 0 deregisters: both apply from the next
    // session on. Then the run goes on until that session completed (next tests).
    await Promise.all([c.setThreshold(3), c.deregister(0)]);
    beforeChange = await c.ledger.latestSessionId();
    changed = await c.waitForVersion(beforeChange + 1, { nodes: [1, 2, 3] });
    for (const i of [0, 1, 2, 3, newcomer]) finalStatus.set(i, await c.status(i));
    await c.stopNodes(five);

    // The newcomer's share: its partial verifies against PK_5 = Σ A_k·x_5^k from the chain's
    // polynomial, and combines with any three others (t = 4) to the genesis key.
    const holders = holdersOf(five, joined.id);
    assert.ok(partialVerifies(publicPolyOf(joined), holders[4]!), 'the newcomer\'s partial verifies against PK_5');
    assertCombines(joined, holders);
  });

  it('a governance threshold change takes effect at the next session; a node with another --threshold-override stays out and says why', async () => {
    const first = await c.ledger.getSession(beforeChange + 1);
    assert.ok(first);
    assert.equal((await c.ledger.getSession(joined.id))?.snapshot.tNew, 4, 'before the change: 4');
    assert.equal(first.snapshot.tNew, 3, 'the first session after the change takes the override');
    const s = await c.ledger.getSession(changed.id);
    assert.ok(s);
    assert.equal(s.snapshot.tNew, 3);
    assert.equal(changed.threshold, 3);
    assert.equal(publicPolyOf(changed).length, 3, 'degree 2: three coefficients');
    // Any 3 of its holders give the genesis key, 2 do not (the stores were read after the stop).
    assertCombines(changed, holdersOf([1, 2, 3], changed.id));

    // The newcomer, started with --threshold-override 4, was listed but stayed out.
    const me = c.nodes[newcomer]!.address;
    assert.ok(s.snapshot.recipients.includes(me) && s.snapshot.dealers.includes(me), 'the newcomer was listed to deal and receive');
    const subs = await c.ledger.getSubmissions(changed.id);
    assert.ok(!subs.some((x) => x.from === me), 'but submitted no deal, ack or confirmation');
    // It serves the previous version until the new one's completion is final; then, holding no
    // share of the chain's active version, it serves nothing stale (src/node/stale-store.ts).
    assert.ok([joined.id, null].includes(finalStatus.get(newcomer)?.activeVersion ?? null), 'and did not activate the new version');
    assert.equal(shareOf(me, c.readStore(newcomer), changed.id), null, 'it holds no share of the new version');
    const log = readFileSync(c.nodes[newcomer]!.logPath, 'utf8');
    assert.match(log, /threshold consent: this node takes part only in sessions with threshold 4/);
    const declined = log.split('\n').find((l) => l.includes(`"session":${changed.id},`) && l.includes('declining session (threshold consent)'));
    assert.ok(declined, `the newcomer's log says it declined session ${changed.id}`);
    assert.match(declined, /session threshold 3 differs from --threshold-override 4/);
  });

  it('a deregistered operator deals once more and then holds nothing that combines with the new version', async () => {
    const leaver = c.nodes[0]!.address;
    const s = await c.ledger.getSession(changed.id);
    assert.ok(s);
    assert.ok(s.snapshot.dealers.includes(leaver), 'the leaver was still a dealer');
    assert.ok(!s.snapshot.recipients.includes(leaver), 'but no recipient');
    assert.ok(!changed.holders.includes(leaver));
    const subs = await c.ledger.getSubmissions(changed.id);
    assert.ok(subs.some((x) => x.type === 'deal' && x.from === leaver), 'the leaver dealt in its last session');
    assert.equal(await c.ledger.getOperator(leaver), null, 'and left the registry when that session completed');
    assert.ok([joined.id, null].includes(finalStatus.get(0)?.activeVersion ?? null), 'the leaver never activated the new version');

    // Nothing the leaver holds is a share of the new version, combines with it, or verifies as its partial.
    const kept = c.readStore(0);
    assert.ok(kept.length > 0 && kept.every((x) => x.id !== changed.id));
    const holders = holdersOf([1, 2, 3], changed.id);
    for (const old of kept) {
      const h = { address: leaver, share: old.share };
      assert.ok(!keyVerifies(mpk, appKey([h, ...holders.slice(0, changed.threshold - 1)])), `the leaver's share of version ${old.id} does not combine with version ${changed.id}`);
      assert.ok(!partialVerifies(publicPolyOf(changed), h), `nor does it verify as a partial of version ${changed.id}`);
    }
  });
});
