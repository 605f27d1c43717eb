// The CI slice of the soak (issue 13 item 5): `npm run soak` for 75 s of faults on real
// processes — anvil (1 s blocks, `finalized` 6 blocks back) and four kms-server operators
// with SQLite stores — with a fault every ~5 s: SIGKILL + restart, SIGSTOP/SIGCONT, reorgs of
// 1–4 blocks, operators joining and leaving and threshold changes, while an app requests its
// key the whole time. The script itself checks the invariants (scripts/soak/run.ts: the MPK
// never changes; every key returned, and every completed version asked for by pinned
// version, is the app key computed at the start; no node deletes a version early or keeps one
// retention retired; rounds complete again once faults stop and the active version's shares
// read from the stores combine to the app key). This test runs the real command and reads its
// contract: exit 0 exactly when the invariants held, and the last stdout line, a JSON summary.
//
// It asserts that the invariants held, and that the run exercised what it claims to: at least
// one fault of each kind, rounds completed, keys released and versions checked.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SoakReport } from '../../scripts/soak/run.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/soak.ts', import.meta.url));
const ARGS = ['--minutes', '1.25', '--fault-every', '5', '--interval', '20', '--seed', '13', '--json'];

function runSoak(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('soak on real processes (CI slice)', { timeout: 300_000 }, () => {
  it('under SIGKILLs, pauses, reorgs and membership changes the MPK, the app key and retention hold, and rounds complete again', async (t) => {
    const r = await runSoak(ARGS);
    const lines = r.stdout.trimEnd().split('\n');
    const last = lines[lines.length - 1] ?? '';
    let report: SoakReport;
    try {
      report = JSON.parse(last) as SoakReport;
    } catch {
      assert.fail(`the last stdout line is not JSON: ${last}\nstderr:\n${r.stderr.slice(-4000)}`);
    }
    t.diagnostic(last);
    const why = `${report.invariants.violations.join('\n')}\nprogress:\n${r.stderr.slice(-6000)}`;
    assert.deepEqual(report.invariants, { held: true, violations: [] }, why);
    assert.equal(r.code, 0, `exit 0 exactly when the invariants held\n${why}`);
    assert.ok(report.faults.kills >= 1, `at least one SIGKILL + restart: ${JSON.stringify(report.faults)}`);
    assert.ok(report.faults.pauses >= 1, `at least one SIGSTOP/SIGCONT: ${JSON.stringify(report.faults)}`);
    assert.ok(report.faults.reorgs >= 1, `at least one reorg: ${JSON.stringify(report.faults)}`);
    assert.ok(report.faults.membership >= 1, `at least one join, leave or threshold change: ${JSON.stringify(report.faults)}`);
    assert.ok(report.rounds.completed >= 2, `genesis and at least one reshare completed: ${JSON.stringify(report.rounds)}`);
    assert.ok(report.releases.ok >= 1, `the app got its key: ${JSON.stringify(report.releases)}`);
    assert.ok(report.versions.checked >= 2, `at least two versions checked by a pinned-version request: ${JSON.stringify(report.versions)}`);
    assert.equal(report.seed, 13);
    assert.equal(report.dir, null, 'a run whose invariants held removes its directory');
  });
});
