// Issue 15 item 3: the shipped Prometheus alert rules (deploy/prometheus/alerts.yml) are valid,
// their unit tests (alerts.test.yml) pass under the real `promtool`, and those tests can fail:
// each alert, made never to fire, breaks its test. Every alert has a runbook in
// docs/operations.md. Every query of the Grafana dashboard (deploy/grafana/eigenx-kms.json)
// parses as PromQL (promtool checks it as a recording rule). That every metric the rules name is exported by a running node is checked
// on real processes in test/cluster/status-page.test.ts.
//
// promtool comes from Debian's `prometheus` package (.ci/run installs it). Without it this
// test fails with the command that fixes it: it never skips.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIR = join(ROOT, 'deploy/prometheus');
const RULES = join(DIR, 'alerts.yml');
const TESTS = join(DIR, 'alerts.test.yml');
const PROMTOOL = process.env['KMS_PROMTOOL'] ?? 'promtool';

function promtool(args: readonly string[], cwd: string): { code: number | null; out: string } {
  const r = spawnSync(PROMTOOL, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    assert.fail(`promtool is not installed: install Debian's prometheus package (apt-get install -y --no-install-recommends prometheus; .ci/run does) or point KMS_PROMTOOL at a promtool binary`);
  }
  if (r.error) throw r.error;
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const rulesText = readFileSync(RULES, 'utf8');
const alertNames = [...rulesText.matchAll(/^\s*- alert: (\w+)$/gm)].map((m) => m[1] as string);

/** alerts.yml with alert `name`'s expression replaced by one that never fires. */
function neverFires(name: string): string {
  const lines = rulesText.split('\n');
  const at = lines.findIndex((l) => l.trim() === `- alert: ${name}`);
  const e = lines.findIndex((l, i) => i > at && /^\s*expr:/.test(l));
  assert.ok(at >= 0 && e > at, `alert ${name} and its expr`);
  const indent = (lines[e] as string).search(/\S/);
  let end = e + 1;
  if (/expr:\s*\|/.test(lines[e] as string)) while (end < lines.length && ((lines[end] as string).trim() === '' || (lines[end] as string).search(/\S/) > indent)) end++;
  return [...lines.slice(0, e), `${' '.repeat(indent)}expr: vector(1) < 0`, ...lines.slice(end)].join('\n');
}

interface DashboardPanel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly { readonly expr: string }[];
}

describe('Prometheus alert rules (deploy/prometheus)', () => {
  it('covers what an operator must be paged for', () => {
    for (const name of [
      'KmsMissedSubmission', 'KmsRoundFailed', 'KmsNoReshareForTwoIntervals', 'KmsBalanceLow', 'KmsRpcErrors',
      'KmsReleaseRefusalSpike', 'KmsKeyReleaseSlow', 'KmsActiveShareMissing', 'KmsGovernanceChangeQueued',
    ]) assert.ok(alertNames.includes(name), `alert ${name} in alerts.yml`);
  });

  it('are valid (promtool check rules)', () => {
    const r = promtool(['check', 'rules', RULES], DIR);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`SUCCESS: ${alertNames.length} rules found`));
  });

  it('pass their unit tests (promtool test rules): each fires on its bad series and not on a healthy one', () => {
    const tests = readFileSync(TESTS, 'utf8');
    for (const name of alertNames) {
      const evals = [...tests.matchAll(new RegExp(`alertname: ${name}\\n\\s*exp_alerts:( \\[\\])?`, 'g'))];
      assert.ok(evals.some((m) => m[1] === undefined), `${name}: a test where it fires`);
      assert.ok(evals.some((m) => m[1] !== undefined), `${name}: a test where it stays silent`);
    }
    const r = promtool(['test', 'rules', TESTS], DIR);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS/);
  });

  it('unit tests that fail when an alert never fires (each alert mutated in turn)', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'kms-alerts-'));
    try {
      copyFileSync(TESTS, join(tmp, 'alerts.test.yml'));
      for (const name of alertNames) {
        writeFileSync(join(tmp, 'alerts.yml'), neverFires(name));
        const r = promtool(['test', 'rules', 'alerts.test.yml'], tmp);
        assert.notEqual(r.code, 0, `with ${name} never firing, its unit test still passed`);
        assert.match(r.out, new RegExp(`alertname: ${name}`), `the failure names ${name}`);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('each alert links a runbook section that docs/operations.md has', () => {
    const docs = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    const headings = new Set([...docs.matchAll(/^#{2,4} (.+)$/gm)].map((m) => (m[1] as string).trim().toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')));
    for (const name of alertNames) {
      assert.match(rulesText, new RegExp(`runbook: "docs/operations.md#${name.toLowerCase()}"`), `${name}: runbook annotation`);
      assert.ok(headings.has(name.toLowerCase()), `docs/operations.md has a "### ${name}" runbook`);
    }
    assert.ok(existsSync(join(ROOT, 'deploy/grafana/eigenx-kms.json')), 'the Grafana dashboard ships beside the rules');
  });

  it('the Grafana dashboard: one id per panel, every panel has queries, every query is valid PromQL', () => {
    const dash = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/eigenx-kms.json'), 'utf8')) as { uid: string; panels: DashboardPanel[] };
    assert.equal(dash.uid, 'eigenx-kms');
    const ids = dash.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const exprs: string[] = [];
    for (const p of dash.panels.filter((x) => x.type !== 'row')) {
      assert.ok(p.targets && p.targets.length > 0, `panel "${p.title}" has queries`);
      for (const t of p.targets) exprs.push(t.expr);
    }
    // Grafana variables become what Grafana substitutes for "All".
    const rules = ['groups:', '  - name: dashboard', '    rules:', ...exprs.map((e, i) => `      - record: dashboard_query_${i}\n        expr: ${JSON.stringify(e.replaceAll('$operator', '.*'))}`)].join('\n');
    const tmp = mkdtempSync(join(tmpdir(), 'kms-dashboard-'));
    try {
      writeFileSync(join(tmp, 'dashboard.yml'), `${rules}\n`);
      const r = promtool(['check', 'rules', 'dashboard.yml'], tmp);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`SUCCESS: ${exprs.length} rules found`));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
