// `npm run sim` and its checker (issue 13 item 3): one seed gives one digest; a run that
// breaks an invariant on purpose is reported as broken (held: false, exit 1, the replay
// command); bad usage exits 2 with one line. The checker is tested by running the attack on
// it, not by describing it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { FAULT_KINDS, runFaults } from '../../src/sim/fault-run.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function sim(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/sim.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm run sim', () => {
  it('the same seed gives the same digest, twice in one process; another seed another one', async () => {
    const o = { seed: 11, nodes: 4, rounds: 2, interval: 20, faults: FAULT_KINDS } as const;
    const [a, b] = [await runFaults(o), await runFaults(o)];
    assert.match(a.digest, /^0x[0-9a-f]{64}$/);
    assert.equal(b.digest, a.digest);
    assert.deepEqual(b, a);
    const c = await runFaults({ ...o, seed: 12 });
    assert.notEqual(c.digest, a.digest);
  });

  it('seed 1 (4 nodes, 3 rounds, a leave and an eject): an operator that left deletes its old shares — the regression this run found', async () => {
    // Before the fix: "end: op3 still holds version(s) 1, 2, older than the newest source of a
    // final completed reshare" (the loop read retention facts only from the sessions of
    // versions it held; an operator that left holds no later one). Replay: npm run sim --
    // --seed 1 --nodes 4 --rounds 3 --faults all --interval 30 --json
    const r = await runFaults({ seed: 1, nodes: 4, rounds: 3, interval: 30, faults: FAULT_KINDS });
    assert.ok((r.faults['leave'] ?? 0) + (r.faults['eject'] ?? 0) > 0, `the schedule still makes an operator leave: ${JSON.stringify(r.faults)}`);
    assert.deepEqual(r.invariants.violations, []);
  });

  it('a corrupted share is reported: held false, the violation named, exit 1, the replay command, and the JSON object last', () => {
    const r = sim(['--seed', '3', '--nodes', '3', '--rounds', '2', '--interval', '20', '--inject-violation', 'corrupt-share', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const out = JSON.parse(lines.at(-1) as string) as { seed: number; nodes: number; rounds: { completed: number; failed: number }; invariants: { held: boolean; violations: string[] }; digest: string };
    assert.equal(out.seed, 3);
    assert.equal(out.nodes, 3);
    assert.equal(out.invariants.held, false);
    assert.ok(out.invariants.violations.some((v) => /share of version \d+ fails s·G2 == PK_j/.test(v)), out.invariants.violations.join('\n'));
    assert.match(out.digest, /^0x[0-9a-f]{64}$/);
    assert.match(r.stderr, /replay with: npm run sim -- --seed 3 --nodes 3 --rounds 2 --faults all --interval 20 --inject-violation corrupt-share --json/);
  });

  it('a clean run exits 0 with held true, and prints the same digest as the same run in-process', async () => {
    const r = sim(['--seed', '5', '--nodes', '3', '--rounds', '2', '--interval', '20', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as { invariants: { held: boolean }; digest: string };
    assert.equal(out.invariants.held, true);
    const same = await runFaults({ seed: 5, nodes: 3, rounds: 2, interval: 20, faults: FAULT_KINDS });
    assert.equal(out.digest, same.digest);
  });

  it('bad usage exits 2 with one line saying what is wrong, and changes nothing', () => {
    for (const args of [['--nodes', '4'], ['--seed', '-1'], ['--seed', '1', '--nodes', '99'], ['--seed', '1', '--faults', 'crash,meteor'], ['--seed', '1', '--inject-violation', 'everything']]) {
      const r = sim(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
