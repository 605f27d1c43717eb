// Issue 15 item 5, on real processes (test/cluster/harness.ts: anvil, the registry, 4
// kms-server processes with SQLite stores, t = 3):
//
//   (a) a rolling restart of every node, one at a time, while rounds run: node 0 is restarted
//       (SIGTERM, start from its data directory) inside a session's deal window, node 1 inside
//       the next one's ack window, node 2 inside the one after's confirm window, node 3 between
//       sessions. Every session of the run completes, on consecutive boundaries (no round lost),
//       the MPK never changes, the last session has every node's confirmation, and t partials
//       including restarted nodes combine to exactly the app key of before;
//   (b) governance then requires protocol version 2, which this build does not speak: at the
//       next session every node sits out and says so — once in its log, in /status
//       (`protocol.refusedSession`), in its metrics, in `kms-server doctor` (exit 1, `protocol`
//       fails) and on the status page in headless Chromium; nothing is submitted, the session
//       fails and the key stays; governance lowers it again and the next session completes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Phase } from '../../src/protocol/session-rules.ts';
import { launchChromium } from './chromium.ts';
import { startCluster, type Cluster } from './harness.ts';
import { combineFrom, createEcdsaApp, nodeEnv, runTool, showRun, type EcdsaApp } from './tools.ts';

const INTERVAL = 20;
const WINDOWS = { deal: 5, ack: 5, confirm: 5 } as const;
const ALL = [0, 1, 2, 3] as const;
const OWNER_ACCOUNT = 15;

describe('rolling upgrades on real processes', { timeout: 600_000 }, () => {
  let c: Cluster;
  let app: EcdsaApp;
  let keyBefore = '';
  let mpk: string | null = null;

  before(async () => {
    c = await startCluster({ n: 4, interval: INTERVAL, windows: WINDOWS, name: 'rolling-upgrade' });
    await c.waitForRoom(15);
    await c.armGenesis();
    await c.waitForVersion(1, { timeoutMs: 120_000 });
    app = await createEcdsaApp(c, OWNER_ACCOUNT);
    keyBefore = (await combineFrom(c, [0, 1, 2], app)).key;
    mpk = await c.ledger.getMpk();
  });

  after(async () => {
    await c?.stop();
  });

  /** SIGTERM and start again from the same data directory: what an upgrade's restart does. */
  const restart = async (i: number): Promise<void> => {
    await c.kill(i, 'SIGTERM');
    await c.startNodes([i]);
  };

  it('(a) a rolling restart of every node, one at a time, in each window and between sessions, loses no round', async () => {
    const first = (await c.ledger.latestSessionId()) + 1;
    const plan: readonly [number, Exclude<Phase, 'closed'>][] = [[0, 'deal'], [1, 'ack'], [2, 'confirm']];
    for (const [k, [i, phase]] of plan.entries()) {
      const id = first + k;
      await c.waitForSession(id, { timeoutMs: 60_000 });
      const seen = await c.waitForPhase(id, phase, { timeoutMs: 60_000 });
      assert.equal(seen, phase, `node ${i} is restarted inside session ${id}'s ${phase} window (else the test timing is off)`);
      await restart(i);
    }
    // Node 3 between sessions: after the third session closed, before the next boundary.
    await c.waitForQuiet(5, { timeoutMs: 60_000 });
    await restart(3);
    const last = first + plan.length;
    const v = await c.waitForVersion(last, { timeoutMs: 90_000 });
    assert.equal(v.id, last);

    // No round lost: every session of the run completed, one per boundary, none skipped.
    for (let id = first; id <= last; id++) {
      const s = await c.ledger.getSession(id);
      assert.ok(s, `session ${id} exists`);
      assert.equal(s.progress.outcome, 'completed', `session ${id} completed`);
      if (id > first) assert.equal(s.snapshot.boundary, (await c.ledger.getSession(id - 1))!.snapshot.boundary + INTERVAL, `session ${id} is on the boundary after session ${id - 1}'s`);
    }
    const confirmed = (await c.ledger.getSubmissions(last)).filter((x) => x.type === 'confirm').map((x) => x.from);
    assert.deepEqual(new Set(confirmed), new Set(ALL.map((i) => c.nodes[i]!.address)), 'every node, each restarted once, confirmed the last session');
    assert.equal(await c.ledger.getMpk(), mpk, 'the MPK never changed');
    for (const nodes of [[0, 1, 3], [1, 2, 3], [0, 2, 3]] as const) {
      const now = await combineFrom(c, nodes, app);
      assert.equal(now.version, last);
      assert.equal(now.key, keyBefore, `nodes ${nodes.join(', ')} (restarted) combine to exactly the app key of before`);
    }
  });

  it('(b) a required protocol version no node speaks: every node sits the session out and says so everywhere; lowered again, rounds resume', async () => {
    await c.waitForQuiet(8, { timeoutMs: 60_000 });
    const active = await c.ledger.activeVersion();
    assert.ok(active);
    await c.gov.setProtocolVersion(2);
    const id = (await c.ledger.latestSessionId()) + 1;
    const session = await c.waitForSession(id, { timeoutMs: 60_000 });
    assert.equal(session.snapshot.protocolVersion, 2);

    for (const i of ALL) {
      const status = await c.waitFor(`node ${i} to report that it sits session ${id} out`, async () => {
        const s = await c.status(i);
        return s.protocol?.refusedSession?.id === id ? s : undefined;
      }, { timeoutMs: 30_000, pollMs: 250 });
      assert.equal(status.protocol?.verdict, 'unsupported');
      assert.deepEqual([status.protocol?.required, status.protocol?.speaks], [2, { min: 1, max: 1 }]);
      assert.equal(status.activeVersion, active.id, `node ${i} still serves version ${active.id}`);
      const log = readFileSync(c.nodes[i]!.logPath, 'utf8');
      const lines = log.split('\n').filter((l) => l.includes(`session ${id} requires protocol version 2`));
      assert.equal(lines.length, 1, `node ${i} says it once`);
      assert.match(lines[0] ?? '', /"level":50/);
      const metrics = await c.metrics(i);
      assert.match(metrics, /^kms_protocol_unsupported\{[^}]*when="now"[^}]*\} 1$/m);
      assert.match(metrics, /^kms_protocol_required_version(\{[^}]*\})? 2$/m);
    }

    const doctor = await runTool(['doctor', '--json'], nodeEnv(c, 0));
    assert.equal(doctor.code, 1, showRun(doctor));
    const report = JSON.parse(doctor.stdout) as { ok: boolean; checks: { id: string; status: string; message: string; fix: string | null }[] };
    const check = report.checks.find((x) => x.id === 'protocol');
    assert.equal(check?.status, 'fail');
    assert.match(check?.message ?? '', /sessions require protocol version 2; this build speaks version 1/);
    assert.match(check?.fix ?? '', /upgrade kms-server/);

    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${c.nodes[1]!.opsUrl}/`);
      // Polled from here: the page's CSP (no eval) rules out a page-side polling predicate.
      const shown = await c.waitFor('the status page to show the protocol refusal', async () => {
        const text = (await page.textContent('[data-field="protocol"]', { timeout: 1000 }).catch(() => null)) ?? '';
        return text.includes(`session ${id} requires protocol version 2`) ? text : undefined;
      }, { timeoutMs: 20_000, pollMs: 500 });
      assert.match(shown, /this node speaks version 1: it sits the session out/);
      assert.equal(await page.getAttribute('[data-field="protocol"] span', 'class'), 'bad');
    } finally {
      await browser.close();
    }

    // Nobody acted: the session fails, the key stays. Lowered again, the next session completes.
    const failed = await c.waitFor(`session ${id} to fail`, async () => {
      const s = await c.ledger.getSession(id);
      return s && s.progress.outcome !== 'pending' ? s : undefined;
    }, { timeoutMs: 60_000 });
    assert.equal(failed.progress.outcome, 'failed');
    assert.deepEqual(await c.ledger.getSubmissions(id), []);
    await c.gov.setProtocolVersion(1);
    const v = await c.waitForVersion(id + 1, { timeoutMs: 90_000 });
    assert.equal((await c.ledger.getSession(v.id))?.snapshot.protocolVersion, 1);
    for (const i of ALL) assert.equal((await c.status(i)).protocol?.verdict, 'ok');
    assert.equal((await combineFrom(c, [0, 1, 2], app)).key, keyBefore);
    assert.equal(await c.ledger.getMpk(), mpk);
  });
});
