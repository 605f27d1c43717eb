/**
 * `npm run soak -- --minutes <m> [--json] [--seed <int>] …` (issue 13 item 5): real processes
 * under random faults, then the invariants. See `npm run soak -- --help` and
 * docs/reliability.md. Progress goes to stderr; the last stdout line is the JSON summary;
 * exit 0 exactly when the invariants held (1 otherwise, 2 on bad usage).
 */
import { CommanderError } from 'commander';
import { parseSoakOptions } from './soak/options.ts';
import { runSoak } from './soak/run.ts';

async function main(argv: readonly string[]): Promise<number> {
  let opts;
  try {
    opts = parseSoakOptions(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.stderr.write('(see `npm run soak -- --help`)\n');
      return 2;
    }
    throw e;
  }
  if (opts === null) return 0;
  process.stderr.write(`soak: seed ${opts.seed}\n`);
  // Ctrl-C (or a TERM) ends the run at once: the exit hooks kill every node and anvil, and
  // the run's directory (named in the "cluster up in …" line) stays for its logs.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`soak: ${sig}: stopped before the end checks; every process is killed, the run's directory is kept\n`);
      process.exit(130);
    });
  }
  const report = await runSoak(opts, (line) => void process.stderr.write(`${line}\n`));
  if (!opts.json) {
    const r = report;
    process.stdout.write([
      `soak of ${r.minutes} min (seed ${r.seed}, ${r.wallSeconds} s in all): invariants ${r.invariants.held ? 'held' : 'VIOLATED'}`,
      `  rounds      ${r.rounds.completed} completed, ${r.rounds.failed} failed (of ${r.rounds.sessions} sessions)`,
      `  faults      ${r.faults.kills} kills, ${r.faults.pauses} pauses, ${r.faults.reorgs} reorgs, ${r.faults.membership} membership (${r.faults.joins} joins, ${r.faults.leaves} leaves, ${r.faults.thresholdChanges} threshold changes)`,
      `  releases    ${r.releases.ok} ok, ${r.releases.failed} failed; availability with ≥ t holders up ${r.releases.availability.ok}/${r.releases.availability.all}`,
      `  versions    ${r.versions.checked} of ${r.versions.completed} completed versions checked by a pinned-version request${r.versions.unchecked.length > 0 ? ` (not reached: ${r.versions.unchecked.join(', ')})` : ''}`,
      ...r.invariants.violations.map((v) => `  VIOLATION   ${v}`),
      ...(r.dir !== null ? [`  logs        ${r.dir}`] : []),
      ...(r.invariants.held ? [] : [`  replay      ${r.replay}`]),
      '',
    ].join('\n'));
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
  return report.invariants.held ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
