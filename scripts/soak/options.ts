/**
 * @module
 * The soak's command line (`npm run soak -- --help`). Every flag is validated here: a bad one
 * ends the run with exit code 2 and one line saying what is wrong, before anything starts.
 */
import { randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError } from 'commander';
import { parseCommandLine } from '../command-line.ts';

export interface SoakOptions {
  /** Minutes of faults (setup before and the recovery check after come on top). */
  readonly minutes: number;
  /** Operators at genesis. */
  readonly nodes: number;
  /** Operator processes at most (joins stop there). */
  readonly maxNodes: number;
  /** Seed of every random choice the soak makes (faults, victims, durations). */
  readonly seed: number;
  /** Reshare interval, seconds; the three windows take a quarter each. */
  readonly interval: number;
  /** Blocks from the head to anvil's `finalized` tag; reorgs stay below it. */
  readonly finality: number;
  /** Mean seconds between two faults. */
  readonly faultEvery: number;
  /** Print only the JSON summary on stdout (progress still goes to stderr). */
  readonly json: boolean;
  /** Keep the directory (logs, key stores) even when the invariants held. */
  readonly keep: boolean;
}

export const DEFAULTS = { nodes: 4, maxNodes: 6, interval: 24, finality: 6, faultEvery: 10 } as const;
export const MIN_INTERVAL = 16;

function intIn(min: number, max: number, flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}.`);
    return n;
  };
}

function positiveNumber(max: number, flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value.trim()) || !(n > 0) || n > max) throw new InvalidArgumentError(`${flag} must be a number above 0 and at most ${max}.`);
    return n;
  };
}

/**
 * Parses the command line; `null` when help was printed. Throws `CommanderError` (already
 * reported on stderr) on bad usage.
 */
export function parseSoakOptions(argv: readonly string[], write: (s: string) => void = (s) => void process.stdout.write(s)): SoakOptions | null {
  const program = new Command('npm run soak --')
    .description('Soak eigenx-kms on real processes: anvil and N kms-server operators with SQLite stores, under random SIGKILL + restart, SIGSTOP/SIGCONT pauses, reorgs below the finality depth, operators joining and leaving, threshold changes, and an app requesting its key the whole time. Ends by checking the invariants; exit 0 exactly when they held.')
    .requiredOption('--minutes <m>', 'minutes of faults (e.g. 2, 0.5, 30); genesis before and the recovery check after come on top', positiveNumber(24 * 60, '--minutes'))
    .option('--nodes <n>', 'operators at genesis (4..8)', intIn(4, 8, '--nodes'), DEFAULTS.nodes)
    .option('--max-nodes <n>', 'operator processes running at most: joins wait for room (an operator that left and deleted every share is stopped, which makes room) (nodes..16)', intIn(4, 16, '--max-nodes'), DEFAULTS.maxNodes)
    .option('--seed <int>', 'seed of every random choice (default: a fresh one, printed); the same seed replays the same fault schedule as far as real processes allow', intIn(0, 2 ** 32 - 1, '--seed'))
    .option('--interval <seconds>', `reshare interval; each window is a quarter of it (${MIN_INTERVAL}..600)`, intIn(MIN_INTERVAL, 600, '--interval'), DEFAULTS.interval)
    .option('--finality <blocks>', 'blocks from the head to anvil\'s finalized tag (1 s blocks); reorgs are 1 to finality − 2 blocks deep (4..32)', intIn(4, 32, '--finality'), DEFAULTS.finality)
    .option('--fault-every <seconds>', 'mean seconds between two faults (2..600)', intIn(2, 600, '--fault-every'), DEFAULTS.faultEvery)
    .option('--json', 'stdout carries only the summary: one JSON object, the last line', false)
    .option('--keep', 'keep the run\'s directory (node logs, key stores, events.log) even when the invariants held; a failed run always keeps it', false)
    .addHelpText('after', `
What it checks (violations are listed in the summary):
  - the MPK never changes (read from the chain every second and from every returned key);
  - every app key returned equals the one computed at the start (x·Q(appId), verified
    against the MPK with a pairing), and every completed version serves partials that
    combine to it (asked for with the version pinned);
  - no node deletes a version before a later one sourced a final, completed reshare, and
    at the end no node's store (read after stopping it) keeps a version that rule retired;
  - once faults stop, a round completes again and every holder activates it; the active
    version's shares, read from the stores, verify and combine to the app key.

Output: progress on stderr; the last stdout line is one JSON object
  {"minutes":M,"seed":S,"rounds":{"completed":C,"failed":F},"faults":{"kills":K,"pauses":P,
   "reorgs":R,"membership":G},"releases":{"ok":O,"failed":X,"availability":{…}},
   "invariants":{"held":true,"violations":[]},…}
Exit codes: 0 the invariants held, 1 they did not (or the run could not get going; the
directory with every node's log is kept and named), 2 bad usage.
Ctrl-C stops everything at once (no end checks); the run's directory, named in the
progress line "cluster up in …", is kept.

Examples:
  npm run soak -- --minutes 2 --json
  npm run soak -- --minutes 30 --json --seed 7
  npm run soak -- --minutes 5 --nodes 5 --max-nodes 7 --fault-every 6
`);
  if (!parseCommandLine(program, argv, write)) return null;
  const o = program.opts<{ minutes: number; nodes: number; maxNodes: number; seed?: number; interval: number; finality: number; faultEvery: number; json: boolean; keep: boolean }>();
  if (o.maxNodes < o.nodes) program.error(`error: --max-nodes ${o.maxNodes} is below --nodes ${o.nodes}`, { exitCode: 2, code: 'soak.maxNodes' });
  return {
    minutes: o.minutes, nodes: o.nodes, maxNodes: o.maxNodes,
    seed: o.seed ?? randomBytes(4).readUInt32BE(0),
    interval: o.interval, finality: o.finality, faultEvery: o.faultEvery, json: o.json, keep: o.keep,
  };
}

/** Window lengths for an interval: a quarter each (they fit with a quarter to spare). */
export function windowsFor(interval: number): { readonly deal: number; readonly ack: number; readonly confirm: number } {
  const w = Math.floor(interval / 4);
  return { deal: w, ack: w, confirm: w };
}
