// Issue 5 acceptance, faults on real processes, a real chain and real SQLite files
// (test/cluster/harness.ts), one cluster of 5 nodes with a governance threshold of 3 (so a
// round with one node killed still has a spare dealer and a spare confirmation: on a loaded
// machine a slow node must not decide the test) taken through them in order:
//
//   - every endpoint of both listeners (the public API; the operations listener with /status
//     and /metrics, which the public one does not serve) fed malformed JSON, oversized bodies,
//     wrong types, wrong methods and deep nesting over real HTTP answers 4xx, changes nothing
//     (node state, chain, the node's account nonce) and the node stays healthy;
//   - a node killed (SIGKILL) in each phase of a reshare: before it deals, after it dealt,
//     after it confirmed. The others agree on the outcome (the same version and polynomial
//     hash as the chain), and the killed node restarts from its data directory and takes part
//     in the next round;
//   - at the end, every node's shares are read from its stopped store: the partials of the
//     final versions verify, and any t of them combine to an app key that verifies against the
//     pinned MPK, the same key for every subset;
//   - a restart with a wrong storage key refuses to start (exit 1, one line on stderr) and
//     leaves every file of the data directory byte-identical (run last, with every node
//     stopped, so its start-up does not compete with a running round).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Hex, RecordedSubmission, VersionRecord } from '../../src/protocol/ledger.ts';
import { phaseAt, type Phase } from '../../src/protocol/session-rules.ts';
import { startCluster, type Cluster } from './harness.ts';
import { appKey, keyVerifies, partialVerifies, polyHashOf, publicPolyOf, sameBytes, shareOf, subsets, type Holder } from './keys.ts';

const INTERVAL = 20;
const WINDOWS = { deal: 5, ack: 5, confirm: 5 } as const;
const ALL = [0, 1, 2, 3, 4] as const;

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** One raw HTTP request (node:http: fetch refuses a GET with a body). */
function send(url: string, method: string, path: string, body?: string, contentType = 'application/json'): Promise<Answer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname, port: u.port, method, path,
        headers: body === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    // The server may answer and close before it has read an oversized body: that is the point.
    req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)));
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** sha256 of every file in a directory (name → digest). */
function hashDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) out[name] = createHash('sha256').update(readFileSync(join(dir, name))).digest('hex');
  return out;
}

describe('cluster faults: hostile input, a node killed in each phase of a reshare, a wrong storage key', { timeout: 330_000 }, () => {
  let c: Cluster;
  let mpk: Hex;

  /** Submissions of node i in a session. */
  const submissionsOf = async (session: number, i: number): Promise<RecordedSubmission['type'][]> =>
    (await c.ledger.getSubmissions(session)).filter((s) => s.from === c.nodes[i]!.address).map((s) => s.type);

  /**
   * Waits until session `id` is over, then checks that every listed node agrees with the chain:
   * the same active version, and for a completed session the confirmed polynomial in /pubkey.
   * Returns the chain's active version.
   */
  const assertAgreement = async (id: number, nodes: readonly number[]): Promise<VersionRecord> => {
    await c.waitForPhase(id, 'closed', { nodes });
    const s = await c.ledger.getSession(id);
    assert.ok(s && s.progress.outcome !== 'pending', `session ${id} has an outcome`);
    const v = await c.waitForVersion(s.progress.outcome === 'completed' ? id : 1, { nodes });
    if (s.progress.outcome === 'completed') assert.equal(v.id, id);
    for (const i of nodes) {
      const pk = await c.pubkey(i);
      assert.equal(pk.mpk, mpk, `node ${i}: MPK`);
      assert.equal(pk.version, v.id, `node ${i}: the same version as the chain`);
      assert.equal(polyHashOf(pk.publicPoly), v.publicPolyHash, `node ${i}: the same polynomial hash as the chain`);
    }
    return v;
  };

  /** The id of the next session, once the chain is quiet with `room` seconds before the next boundary. */
  const beforeNextSession = (room = 6): Promise<number> => c.waitForQuiet(room);

  /**
   * The session in which node i's `type` submission is still to come: the one running now if
   * it is still before phase `until` and node i has not submitted yet, else the next one.
   */
  const sessionAhead = async (i: number, type: RecordedSubmission['type'], until: Phase): Promise<number> => {
    const latest = await c.ledger.latestSessionId();
    const [s, now] = await Promise.all([c.ledger.getSession(latest), c.ledger.now()]);
    const order: readonly Phase[] = ['deal', 'ack', 'confirm', 'closed'];
    if (s && order.indexOf(phaseAt(s, now)) < order.indexOf(until) && !(await submissionsOf(latest, i)).includes(type)) return latest;
    return beforeNextSession();
  };

  before(async () => {
    c = await startCluster({ n: 5, interval: INTERVAL, windows: WINDOWS, tickMs: 500, thresholdOverride: 3, name: 'faults' });
    await c.waitForRoom(12);
    await c.armGenesis();
    const v1 = await c.waitForVersion(1);
    assert.equal(v1.threshold, 3);
    const pinned = await c.ledger.getMpk();
    assert.ok(pinned);
    mpk = pinned;
  });
  after(async () => {
    await c?.stop();
  });

  it('every endpoint answers malformed, oversized, mistyped, wrongly-sent and deeply nested input with 4xx and changes nothing', async () => {
    const node = c.nodes[0]!;
    const snapshot = async () => {
      const s = await c.status(0);
      return {
        status: { activeVersion: s.activeVersion, session: s.session, lastProcessedBoundary: s.lastProcessedBoundary },
        pubkey: await c.pubkey(0),
        nonce: await c.ledger.client.getTransactionCount({ address: node.address }),
        latestSession: await c.ledger.latestSessionId(),
      };
    };

    const malformed = ['{"appId": "0x', '{,}', 'nul', '{"a":1}}', '\u0000', ''];
    const oversized = `{"appId":"0x${'ab'.repeat(40 * 1024)}"}`; // 80 KiB > the 64 KiB limit
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const deepObject = `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`;
    const wrongTypes = [
      JSON.stringify({ appId: 1, responseKey: [], nonce: {}, attestation: 'ecdsa' }),
      JSON.stringify({ appId: `0x${'11'.repeat(32)}`, responseKey: `0x${'22'.repeat(32)}`, nonce: `0x${'33'.repeat(16)}`, attestation: { method: 'ecdsa', signature: 5, time: 'now' } }),
      JSON.stringify({ appId: `0x${'11'.repeat(32)}`, responseKey: `0x${'22'.repeat(32)}`, nonce: `0x${'33'.repeat(16)}`, version: '1', attestation: { method: 'ecdsa', signature: `0x${'44'.repeat(65)}`, time: 1 } }),
      JSON.stringify([1, 2, 3]),
      JSON.stringify('a string'),
      '42',
    ];
    const cases: { what: string; method: string; path: string; body?: string; type?: string; ops?: true }[] = [];
    for (const path of ['/app/sign', '/secrets']) {
      for (const body of malformed) cases.push({ what: 'malformed JSON', method: 'POST', path, body });
      cases.push({ what: 'oversized body', method: 'POST', path, body: oversized });
      cases.push({ what: 'deep nesting', method: 'POST', path, body: deep }, { what: 'deep objects', method: 'POST', path, body: deepObject });
      for (const body of wrongTypes) cases.push({ what: 'wrong types', method: 'POST', path, body });
      cases.push({ what: 'wrong media type', method: 'POST', path, body: '{}', type: 'text/plain' });
      for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) cases.push({ what: 'wrong method', method, path, ...(method === 'GET' ? {} : { body: '{}' }) });
    }
    const gets: { path: string; ops?: true }[] = [{ path: '/pubkey' }, { path: '/healthz' }, { path: '/healthz', ops: true }, { path: '/status', ops: true }, { path: '/metrics', ops: true }];
    for (const { path, ops } of gets) {
      const on = ops ? { ops } : {};
      cases.push(
        { what: 'malformed JSON body', method: 'GET', path, body: malformed[0]!, ...on },
        { what: 'oversized body', method: 'GET', path, body: oversized, ...on },
        { what: 'deep nesting', method: 'GET', path, body: deep, ...on },
        { what: 'wrong query type', method: 'GET', path: `${path}?version=abc`, ...on },
        { what: 'unknown query field', method: 'GET', path: `${path}?x=1`, ...on },
      );
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) cases.push({ what: 'wrong method', method, path, body: '{}', ...on });
    }
    // Not served on the public listener at all (issue 12).
    for (const path of ['/status', '/metrics']) cases.push({ what: 'an operations route on the public listener', method: 'GET', path });
    cases.push(
      { what: 'negative version', method: 'GET', path: '/pubkey?version=-1' },
      { what: 'huge version', method: 'GET', path: '/pubkey?version=99999999999999999999' },
      { what: 'unknown version', method: 'GET', path: '/pubkey?version=999' },
      { what: 'unknown route', method: 'POST', path: '/app/sign/x', body: deep },
    );
    assert.ok(cases.length > 60);
    // The barrage runs between two sessions. If a boundary passes anyway (a loaded machine can
    // stretch it), the node legitimately moved on: run it again in the next quiet window.
    for (let attempt = 1; ; attempt++) {
      await beforeNextSession();
      const before = await snapshot();
      for (let k = 0; k < cases.length; k += 8) {
        await Promise.all(cases.slice(k, k + 8).map(async (x) => {
          const r = await send(x.ops ? node.opsUrl : node.url, x.method, x.path, x.body, x.type);
          const label = `${x.ops ? 'ops ' : ''}${x.method} ${x.path} (${x.what}) → ${r.status} ${r.body.slice(0, 160)}`;
          if (x.what === 'an operations route on the public listener') assert.equal(r.status, 404, label);
          assert.ok(r.status >= 400 && r.status < 500, label);
          assert.notEqual(r.status, 429, `${label}: refused for its content, not rate-limited`);
          const body = JSON.parse(r.body) as { error?: { code?: unknown; message?: unknown } };
          assert.equal(typeof body.error?.code, 'string', label);
          assert.equal(typeof body.error?.message, 'string', label);
        }));
      }
      const after = await snapshot();
      // The protocol's own progress (a session opened late in the interval) is not the barrage's doing.
      const moved = after.latestSession !== before.latestSession || JSON.stringify(after.status) !== JSON.stringify(before.status);
      if (moved && attempt < 3) continue;
      assert.deepEqual(after, before, 'no state changed: versions, session, boundary, /pubkey, the node\'s transactions, the chain');
      break;
    }
    assert.equal((await send(node.url, 'GET', '/healthz')).status, 200, 'the node is still healthy');
    assert.equal((await send(node.opsUrl, 'GET', '/healthz')).status, 200, 'on both listeners');
    const metrics = await c.metrics(0);
    assert.match(metrics, /kms_http_requests_total\{listener="public",[^}]*status="400"[^}]*\} [1-9]/, 'and counted the refusals');
    assert.match(metrics, /kms_http_requests_total\{listener="ops",[^}]*status="400"[^}]*\} [1-9]/, 'on both listeners');
    assert.match(metrics, /kms_http_requests_total\{listener="public",route="unmatched",method="GET",status="404"[^}]*\} [1-9]/, '/status and /metrics are unmatched on the public listener');
  });

  it('a node killed before it deals: the others agree; it restarts from its data directory and takes part again', async () => {
    const id = await beforeNextSession();
    await c.kill(1, 'SIGKILL');
    const s = await c.waitForSession(id);
    assert.ok(s.snapshot.dealers.includes(c.nodes[1]!.address), 'it was listed as a dealer');
    // Back once its deal window is over (in the background: the round goes on meanwhile).
    await c.waitForPhase(id, 'ack');
    const back = c.startNodes([1]);
    await assertAgreement(id, [0, 2, 3, 4]);
    assert.ok(!(await submissionsOf(id, 1)).includes('deal'), 'the killed node did not deal');
    await back;
  });

  it('a node killed after it dealt: the others agree; the node killed before takes part in this round', async () => {
    const id = await sessionAhead(2, 'deal', 'ack');
    await c.waitForSubmission(id, 2, 'deal', { timeoutMs: 60_000 });
    await c.kill(2, 'SIGKILL');
    const subs = await submissionsOf(id, 2);
    assert.ok(subs.includes('deal') && !subs.includes('confirm'), `killed after dealing, before confirming (${subs.join(', ')})`);
    // It restarts at once and resumes the round from its store where it can.
    const back = c.startNodes([2]);
    const v = await assertAgreement(id, [0, 1, 3, 4]);
    assert.ok((await submissionsOf(id, 1)).includes('confirm'), `node 1, restarted, confirmed in session ${id}`);
    if (v.id === id) assert.equal((await c.status(1)).activeVersion, id, 'and is active on the new version');
    await back;
  });

  it('a node killed after it confirmed: the others agree; it restarts into the version it confirmed; every node takes part in the next round', async () => {
    const id = await sessionAhead(3, 'confirm', 'confirm');
    await c.waitForSubmission(id, 3, 'confirm', { timeoutMs: 60_000 });
    await c.kill(3, 'SIGKILL');
    const back = c.startNodes([3]);
    const v = await assertAgreement(id, [0, 1, 2, 4]);
    assert.ok((await submissionsOf(id, 2)).includes('confirm'), `node 2, restarted, confirmed in session ${id}`);
    if (v.id === id) assert.equal((await c.status(2)).activeVersion, id, 'and is active on the new version');
    await back;
    if (v.id === id) {
      // It confirmed the winning polynomial before dying: it activates it from its own store.
      await c.waitFor('node 3 to activate the version it confirmed', async () => ((await c.status(3)).activeVersion === id ? true : undefined), { nodes: [3] });
      assert.equal(polyHashOf((await c.pubkey(3)).publicPoly), v.publicPolyHash);
    }
    const next = await c.waitForVersion(v.id + 1, { nodes: ALL });
    for (const i of ALL) assert.ok((await submissionsOf(next.id, i)).includes('confirm'), `node ${i} confirmed in session ${next.id}`);

    // Cryptographic truth after all of it: every node's share of the last two versions.
    await c.stopNodes(ALL);
    let first: Uint8Array | null = null;
    for (const version of [v, next]) {
      const holders: Holder[] = [];
      for (const i of ALL) {
        const h = shareOf(c.nodes[i]!.address, c.readStore(i), version.id);
        if (h) holders.push(h);
      }
      assert.ok(holders.length >= version.threshold, `version ${version.id}: at least t holders`);
      const poly = publicPolyOf(version);
      for (const h of holders) assert.ok(partialVerifies(poly, h), `version ${version.id}: ${h.address}'s partial verifies`);
      for (const set of subsets(holders, version.threshold)) {
        const d = appKey(set);
        assert.ok(keyVerifies(mpk, d), `version ${version.id}: a t-subset combines to a key that verifies against the MPK`);
        first ??= d;
        assert.ok(sameBytes(d, first), 'the same app key across subsets and versions');
      }
    }
    assert.equal(shareOf(c.nodes[3]!.address, c.readStore(3), next.id) !== null, true, 'the node killed last holds the final version');
  });

  it('a restart with a wrong storage key refuses to start (exit 1, one line on stderr) and leaves the store byte-identical', async () => {
    // Every node is stopped (previous test): nothing else runs while this one starts.
    const node = c.nodes[0]!;
    assert.equal(c.running(0), false);
    const before = hashDir(node.dataDir);
    assert.ok(Object.keys(before).includes('keystore.sqlite'));
    const wrong = `0x${'5a'.repeat(32)}`;
    const r = await c.restart(0, { env: { KMS_STORE_KEY: wrong } });
    assert.equal(r.started, false, 'the node must not start');
    if (r.started) return;
    assert.equal(r.code, 1, `exit code 1 (stderr: ${r.stderr})`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
    assert.match(lines[0]!, /^error: refusing to start: .*storage key/);
    assert.ok(!r.stderr.includes(node.storeKey.slice(2)) && !r.stderr.includes(wrong.slice(2)), 'no key in the message');
    assert.deepEqual(hashDir(node.dataDir), before, 'every file of the data directory is byte-identical');
    // And the store still opens with the right key, its shares intact.
    assert.ok(c.readStore(0).length > 0);
  });
});
