// Issue 15 item 4 acceptance: the network status page on real processes, checked in a real
// headless Chromium against what the chain says (test/cluster/harness.ts, test/cluster/chromium.ts).
//
//   4 kms-server processes → genesis → operator 1 registers a hostile socket URL on-chain and
//   governance proposes a new owner (a queued change) → node 3 is stopped through a whole
//   reshare (it misses its deal, ack and confirmation) → node 3 restarts: its gauges say it
//   missed 3 submissions in the last session and that it holds no share of the active version
//   → node 0's page, loaded in Chromium, shows the chain's MPK, active version, threshold,
//   operators, every session's outcome and who did not submit; the hostile socket URL is text,
//   nothing of it runs → a screenshot is kept (its path is printed) → every metric the alert
//   rules and the dashboard name is exported by a running node.
//
// The page is checked against the registry read directly here (ChainLedger), never against the
// node's own JSON: a node that misread the chain would otherwise agree with itself.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import type { Address, VersionRecord } from '../../src/protocol/ledger.ts';
import { artifactDir, launchChromium } from './chromium.ts';
import { startCluster, type Cluster } from './harness.ts';

const INTERVAL = 20;
const WINDOWS = { deal: 5, ack: 5, confirm: 5 } as const;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** A socket URL an operator may register (≤ 256 bytes): markup, an inline handler, a script. */
const HOSTILE_SOCKET = 'http://evil.example/"><img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b id="xss">bold</b>';
const NEW_OWNER = '0x000000000000000000000000000000000000beef' as Address;

/** `name value` of a sample with exactly these labels (besides the node's operator label). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries((m[2] ?? '').split(',').filter(Boolean).map((kv) => {
      const [k, v] = kv.split('=');
      return [k, (v ?? '').replace(/^"|"$/g, '')];
    }));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** Metric names in the alert rules and the dashboard (Prometheus' own `up` excluded: it is not a node's). */
function namedMetrics(): Map<string, string> {
  const where = new Map<string, string>();
  const rules = readFileSync(join(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8');
  for (const m of rules.matchAll(/\bkms_[a-z0-9_]+/g)) where.set(m[0], 'deploy/prometheus/alerts.yml');
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/eigenx-kms.json'), 'utf8')) as unknown;
  const walk = (v: unknown): void => {
    if (typeof v === 'string') for (const m of v.matchAll(/\bkms_[a-z0-9_]+/g)) where.set(m[0], where.has(m[0]) ? where.get(m[0]) as string : 'deploy/grafana/eigenx-kms.json');
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(dashboard);
  return where;
}

describe('network status page on a real cluster, in headless Chromium', { timeout: 300_000 }, () => {
  let c: Cluster;
  let browser: Browser;
  let page: Page;
  /** The version completed while node 3 was stopped. */
  let missedVersion: VersionRecord;

  before(async () => {
    // The browser first: a machine without it fails here, before a cluster is started.
    browser = await launchChromium();
    c = await startCluster({ n: 4, interval: INTERVAL, windows: WINDOWS, name: 'status-page' });
    await c.armGenesis();
    const genesis = await c.waitForVersion(1, { timeoutMs: 120_000 });
    await c.ledger.writer(c.nodes[1]!.address).updateSocket(HOSTILE_SOCKET);
    await c.gov.transferOwnership(NEW_OWNER);
    // Node 3 sits out one whole reshare: stopped between sessions, started after one completed.
    const next = await c.waitForQuiet(0);
    await c.stopNodes([3]);
    await c.waitForSession(Math.max(next, genesis.id + 1), { timeoutMs: 60_000 });
    missedVersion = await c.waitForVersion(Math.max(next, genesis.id + 1), { nodes: [0, 1, 2], timeoutMs: 90_000 });
    // Not before the session's confirm window closed: a recipient that missed the deals and acks
    // can still read the deals sealed to it on-chain and confirm late (and then it missed two).
    const satOut = await c.ledger.getSession(missedVersion.id);
    assert.ok(satOut);
    const windowsEnd = satOut.snapshot.openedAt + satOut.snapshot.dealWindow + satOut.snapshot.ackWindow + satOut.snapshot.confirmWindow;
    await c.waitFor('the sat-out session\'s confirm window to close', async () => ((await c.ledger.now()) > windowsEnd ? true : undefined), { timeoutMs: 60_000, pollMs: 250 });
    await c.startNodes([3]);
  });

  after(async () => {
    await page?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await c?.stop();
  });

  it('a node that sat out a reshare says so in its gauges: 3 submissions missed, no share of the active version', async () => {
    // The session completes once the quorum confirmed, before its confirm window ends; a missed
    // confirmation is only known once that window closed: read the gauges at a block past it.
    const satOut = await c.ledger.getSession(missedVersion.id);
    assert.ok(satOut);
    const windowsEnd = satOut.snapshot.openedAt + satOut.snapshot.dealWindow + satOut.snapshot.ackWindow + satOut.snapshot.confirmWindow;
    const m = await c.waitFor('node 3 to read the network after its restart, past the sat-out session\'s windows', async () => {
      const text = await c.metrics(3);
      const read = sample(text, 'kms_last_session_id') === missedVersion.id && sample(text, 'kms_chain_active_version') === missedVersion.id;
      return read && (sample(text, 'kms_chain_time_seconds') ?? 0) >= windowsEnd ? text : undefined;
    }, { timeoutMs: 40_000, pollMs: 250, nodes: [3] });
    assert.equal(sample(m, 'kms_last_session_missed_submissions'), 3, 'deal, ack and confirmation of the session it sat out');
    assert.equal(sample(m, 'kms_active_share_missing'), 1, 'a holder on-chain, no share in its store');
    const m0 = await c.metrics(0);
    assert.equal(sample(m0, 'kms_last_session_missed_submissions'), 0, 'node 0 made every submission');
    assert.equal(sample(m0, 'kms_active_share_missing'), 0);
    assert.equal(sample(m0, 'kms_governance_queued_changes', { kind: 'ownership' }), 1, 'the proposed owner is a queued change');
    assert.equal(sample(m0, 'kms_reshare_interval_seconds'), INTERVAL);
  });

  it('the page shows the chain: MPK, active version, threshold, operators, session outcomes, who did not submit', async () => {
    const opsUrl = c.nodes[0]!.opsUrl;
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const outside: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(opsUrl) && !r.url().startsWith('data:')) outside.push(r.url());
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(msg.text());
    });
    const res = await page.goto(`${opsUrl}/`);
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()['content-security-policy'] ?? '', /default-src 'none'/);
    await page.waitForSelector('body[data-loaded="true"] [data-field="mpk"]', { timeout: 20_000 });

    // Read the chain at one moment and wait until the page shows that moment (it polls every 5 s).
    const [mpk, active, operators] = await Promise.all([c.ledger.getMpk(), c.ledger.activeVersion(), c.ledger.getOperators()]);
    assert.ok(mpk && active);
    // (Expressions as strings: this project's type check has no DOM library.)
    await page.waitForFunction(`document.querySelector('[data-field="version"]')?.textContent === '${active.id}'`, undefined, { timeout: 20_000 });
    assert.equal(await page.textContent('[data-field="mpk"]'), mpk);
    assert.equal(await page.textContent('[data-field="threshold"]'), String(active.threshold));
    assert.equal(await page.textContent('[data-field="holders"]'), String(active.holders.length));

    const shownOperators = await page.$$eval('tr[data-operator]', (rows) => rows.map((r) => r.getAttribute('data-operator')));
    assert.deepEqual([...shownOperators].sort(), operators.map((o) => o.address.toLowerCase()).sort(), 'every registered operator, by address');

    // The session node 3 sat out completes before its confirm window ends (node 3 never
    // confirms): wait until the page shows a block past that window.
    const sat = await c.ledger.getSession(missedVersion.id);
    assert.ok(sat);
    const satEnd = sat.snapshot.openedAt + sat.snapshot.dealWindow + sat.snapshot.ackWindow + sat.snapshot.confirmWindow;
    // Polled from here: waitForFunction evaluates its predicate with eval, which the page's CSP refuses.
    await c.waitFor('the page to show a block past the sat-out session\'s windows', async () => (Number(await page.getAttribute('body', 'data-chain-time')) >= satEnd ? true : undefined), { timeoutMs: 30_000, pollMs: 250 });
    // Every session on the page has the chain's outcome; who did not submit matches the chain's submissions.
    // One read of the DOM: the rows and the block they were drawn from (the page redraws every 5 s).
    const drawn = await page.$$eval('tr[data-session]', (rows) => ({
      time: Number(rows[0]?.ownerDocument.body.getAttribute('data-chain-time')),
      rows: rows.map((r) => ({
        id: Number(r.getAttribute('data-session')),
        outcome: r.querySelector('[data-field="session-outcome"]')?.textContent ?? '',
        missing: [...r.querySelectorAll('[data-missing]')].map((x) => x.getAttribute('data-missing')),
      })),
    }));
    const shown = drawn.rows;
    assert.ok(shown.length >= 2 && shown.some((s) => s.id === missedVersion.id), `sessions shown: ${shown.map((s) => s.id).join(', ')}`);
    // Sessions whose windows had all ended at the block the page shows are final there: their
    // outcome and who did not submit must be the chain's.
    const pageTime = drawn.time;
    assert.ok(pageTime > 0, 'the page says which block it shows');
    let checked = 0;
    for (const s of shown) {
      const session = await c.ledger.getSession(s.id);
      assert.ok(session, `session ${s.id} on-chain`);
      const { openedAt, dealWindow, ackWindow, confirmWindow } = session.snapshot;
      if (openedAt + dealWindow + ackWindow + confirmWindow > pageTime) continue;
      checked++;
      assert.equal(s.outcome, session.progress.outcome, `session ${s.id}: outcome`);
      const subs = await c.ledger.getSubmissions(s.id);
      const did = (type: string) => new Set(subs.filter((x) => x.type === type).map((x) => x.from.toLowerCase()));
      const expected = [
        ...session.snapshot.dealers.filter((a) => !did('deal').has(a.toLowerCase())).map((a) => `deal:${a.toLowerCase()}`),
        ...session.snapshot.recipients.filter((a) => !did('ack').has(a.toLowerCase())).map((a) => `ack:${a.toLowerCase()}`),
        ...session.snapshot.recipients.filter((a) => !did('confirm').has(a.toLowerCase())).map((a) => `confirm:${a.toLowerCase()}`),
      ];
      assert.deepEqual([...s.missing].sort(), expected.sort(), `session ${s.id}: who did not submit`);
    }
    assert.ok(checked >= 2, `at least the genesis and the reshare node 3 sat out were checked (${checked})`);
    const three = c.nodes[3]!.address.toLowerCase();
    const missed = shown.find((s) => s.id === missedVersion.id)!;
    assert.deepEqual([...missed.missing].sort(), [`ack:${three}`, `confirm:${three}`, `deal:${three}`], 'node 3 missed its deal, ack and confirmation');

    assert.match(await page.textContent('[data-field="queued"]') ?? '', /ownership/, 'the proposed owner is shown as a queued change');
    assert.match(await page.textContent('[data-field="health"]') ?? '', /healthy/);
    // The doctor section shows what /status/doctor answers: every check with its status, or why there is none.
    const doctor = (await (await fetch(`${opsUrl}/status/doctor`)).json()) as { available: boolean; reason?: string; verdict?: { checks: { id: string; status: string }[] } };
    if (doctor.available) {
      await page.waitForSelector('#doctor tr[data-check]', { timeout: 20_000 });
      const checks = await page.$$eval('#doctor tr[data-check]', (rows) => rows.map((r) => [r.getAttribute('data-check'), r.children[1]?.textContent]));
      assert.deepEqual(checks, doctor.verdict?.checks.map((c) => [c.id, c.status]), 'every doctor check and its status');
    } else {
      assert.equal(await page.textContent('#doctor p'), doctor.reason, 'why no doctor verdict is shown');
    }
    assert.deepEqual(outside, [], 'the page loads nothing from outside its own listener');
    assert.deepEqual(errors, [], 'no script error');

    const shot = join(artifactDir(), `status-page-${Date.now()}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`status page screenshot: ${shot}`);
  });

  it('escapes what it renders: a hostile socket URL registered on-chain shows as text and runs nothing', async () => {
    assert.ok(page, 'the page was loaded by the previous test');
    const row = `tr[data-operator="${c.nodes[1]!.address.toLowerCase()}"]`;
    assert.equal(await page.textContent(`${row} [data-field="operator-socket"]`), HOSTILE_SOCKET, 'the socket URL, character for character');
    assert.equal(await page.evaluate('typeof window.__xss'), 'undefined', 'no injected script or handler ran');
    assert.equal(await page.$$eval('#operators img, #operators script, #xss', (found) => found.length), 0, 'no element was made from the socket URL');
  });

  it('every metric the alert rules and the dashboard name is exported by a running node', async () => {
    const text = await c.metrics(0);
    const declared = new Map<string, string>();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) declared.set(m[1]!, m[2]!);
    const exported = (name: string): boolean => {
      if (declared.has(name)) return true;
      const base = name.replace(/_(bucket|sum|count)$/, '');
      return base !== name && declared.get(base) === 'histogram';
    };
    const named = namedMetrics();
    assert.ok(named.size >= 10, `the rules and dashboard name ${named.size} metrics`);
    const missing = [...named].filter(([name]) => !exported(name)).map(([name, file]) => `${name} (${file})`);
    assert.deepEqual(missing, [], 'metrics named in deploy/ but not exported by kms-server');
  });
});
