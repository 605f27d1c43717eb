/**
 * @module
 * `npm run sim`: one seeded randomized fault run (`fault-run.ts`), for people and for CI.
 *
 *   npm run sim -- --seed 7 --nodes 4 --rounds 5 --faults all --json
 *
 * The last line on stdout is always one JSON object:
 * `{"seed":S,"nodes":N,"rounds":{"completed":C,"failed":F},"invariants":{"held":true,"violations":[]},"digest":"0x…",…}`.
 * Exit code 0 exactly when every invariant held, 1 when one broke (the line before the JSON,
 * on stderr, is the one command that replays the run), 2 for bad usage (one line saying
 * what is wrong). The same arguments give the same digest, always.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { FAULT_KINDS, INJECTIONS, runFaults, type FaultKind, type FaultRunResult, type Injection } from './fault-run.ts';

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

function intIn(name: string, lo: number, hi: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be an integer in ${lo}..${hi}, got ${JSON.stringify(v)}`);
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < lo || n > hi) throw new InvalidArgumentError(`${name} must be an integer in ${lo}..${hi}, got ${v}`);
    return n;
  };
}

function faultList(v: string): FaultKind[] {
  if (v === 'all') return [...FAULT_KINDS];
  if (v === 'none') return [];
  const kinds = v.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
  const bad = kinds.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k));
  if (bad.length > 0 || kinds.length === 0) throw new InvalidArgumentError(`unknown fault kind(s) ${bad.join(', ') || '(empty)'}; use all, none or a comma list of ${FAULT_KINDS.join(', ')}`);
  return kinds as FaultKind[];
}

/** The command that replays a run exactly. */
export function replayCommand(o: { seed: number; nodes: number; rounds: number; faults: string; interval: number; inject: Injection | null }): string {
  return `npm run sim -- --seed ${o.seed} --nodes ${o.nodes} --rounds ${o.rounds} --faults ${o.faults} --interval ${o.interval}${o.inject ? ` --inject-violation ${o.inject}` : ''} --json`;
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const program = new Command('sim')
    .description('Runs one seeded simulation: production operator loops on a simulated chain with random faults, invariants checked after every block.')
    .requiredOption('--seed <int>', 'seed of the run (0..2^53−1): the same seed gives the same run and digest', intIn('--seed', 0, Number.MAX_SAFE_INTEGER))
    .option('--nodes <n>', 'operators at genesis (2..16)', intIn('--nodes', 2, 16), 4)
    .option('--rounds <r>', 'sessions (genesis included) run under faults; then the faults stop and a reshare must complete within two intervals', intIn('--rounds', 1, 1000), 5)
    .option('--faults <list>', `all, none, or a comma list of: ${FAULT_KINDS.join(', ')}`, 'all')
    .option('--interval <s>', 'reshare interval in blocks (one block per simulated second; windows scale with it)', intIn('--interval', 20, 600), 30)
    .addOption(new Option('--inject-violation <kind>', 'test the checker: break an invariant on purpose (the run must report it and exit 1)').choices([...INJECTIONS]))
    .option('--json', 'print only the result object (no progress lines)', false)
    .option('--trace', 'print every block and fault to stderr as it happens (what the digest hashes)', false)
    .addHelpText('after', `
Output: the last stdout line is one JSON object with seed, nodes, rounds {completed, failed},
invariants {held, violations}, digest, faults (counts by kind), blocks and replay.
Exit codes: 0 the invariants held, 1 one broke (stderr names it and the command that replays
the run), 2 bad usage.

Invariants, after every block: the MPK never changes; every stored share is valid for its
version and every completed version's shares interpolate to the genesis secret; honest nodes
agree on every session's outcome; no round state holds a share or a session secret; nothing
is retired or deleted before the final facts that justify it; no tick throws unhandled. At the
end: retention (no stale share or session secret) and liveness (a reshare completed within
two intervals once the faults stopped). docs/testing.md describes the fault kinds.`)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    throw e;
  }
  const opts = program.opts<{ seed: number; nodes: number; rounds: number; faults: string; interval: number; injectViolation?: Injection; json: boolean; trace: boolean }>();
  let faults: FaultKind[];
  try {
    faults = faultList(opts.faults);
  } catch (e) {
    io.err(`sim: --faults: ${(e as Error).message}`);
    return 2;
  }
  const inject = opts.injectViolation ?? null;
  const replay = replayCommand({ seed: opts.seed, nodes: opts.nodes, rounds: opts.rounds, faults: opts.faults, interval: opts.interval, inject });
  if (!opts.json) io.out(`sim: seed ${opts.seed}, ${opts.nodes} nodes, ${opts.rounds} rounds, faults ${opts.faults}${inject ? `, injecting ${inject}` : ''}`);
  let lastPhase = '';
  const result: FaultRunResult = await runFaults({
    seed: opts.seed, nodes: opts.nodes, rounds: opts.rounds, faults, interval: opts.interval, inject,
    ...(opts.trace ? { trace: (line: string) => io.err(`sim: ${line}`) } : {}),
    onBlock: (block, phase) => {
      if (opts.json) return;
      if (phase !== lastPhase || block % 50 === 0) io.out(`sim: block ${block} (${phase})`);
      lastPhase = phase;
    },
  });
  if (!result.invariants.held) {
    for (const v of result.invariants.violations) io.err(`sim: invariant violated: ${v}`);
    io.err(`sim: replay with: ${replay}`);
  }
  io.out(JSON.stringify({ ...result, replay }));
  return result.invariants.held ? 0 : 1;
}
