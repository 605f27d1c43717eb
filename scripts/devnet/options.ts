/**
 * @module
 * The devnet's command line (`npm start -- --help`) and the registry settings it implies.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import type { RegistryConfig } from '../../src/chain/deploy.ts';

/** The checkout the script runs from. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** `.devnet/` in the checkout: what `--devnet` of the CLIs reads (src/cli/common.ts DEVNET_FILE). */
export const DEFAULT_DIR = join(ROOT, '.devnet');
export const DEFAULT_INTERVAL = 60;
export const MIN_INTERVAL = 20;
export const DEFAULT_OPERATORS = 4;
export const MAX_OPERATORS = 16;
export const DEFAULT_BASE_PORT = 18081;
/** Each operator's operations listener (/status, /metrics) takes a port this far above the public ones. */
export const OPS_PORT_OFFSET = 100;

export interface DevnetOptions {
  readonly operators: number;
  readonly interval: number;
  readonly dir: string;
  readonly basePort: number;
}

// ---------------------------------------------------------------------------------------
// Options

function intOption(min: number, max: number, what: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`${what} must be an integer from ${min} to ${max}.`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${what} must be an integer from ${min} to ${max}.`);
    return n;
  };
}

/** Parses the command line; `null` when help was printed. Throws CommanderError on bad usage. */
export function parseOptions(argv: readonly string[], write: (s: string) => void = (s) => void process.stdout.write(s)): DevnetOptions | null {
  const program = new Command('npm start --')
    .description('Run the whole eigenx-kms system on this machine: anvil, the registry, N kms-server operators, genesis, a demo app, then a reshare every interval. Ctrl-C stops everything.')
    .option('--operators <n>', `number of operators (2..${MAX_OPERATORS})`, intOption(2, MAX_OPERATORS, '--operators'), DEFAULT_OPERATORS)
    .option('--interval <seconds>', `reshare interval in seconds (>= ${MIN_INTERVAL}); windows are min(15, interval/4) s each`, intOption(MIN_INTERVAL, 86_400, '--interval'), DEFAULT_INTERVAL)
    .option('--dir <path>', 'state directory (keys, key stores, logs, devnet.json, lock)', DEFAULT_DIR)
    .option('--base-port <port>', `first HTTP port of the operators (the next free ones are used); their operations listeners (/status, /metrics) start ${OPS_PORT_OFFSET} above`, intOption(1024, 65_000, '--base-port'), DEFAULT_BASE_PORT)
    .addHelpText('after', `
Files (in --dir, default .devnet/ in the checkout, git-ignored): devnet.json (what the CLIs'
--devnet flag reads), keys/ (0600 key files), op1…opN/ (key stores), logs/ (anvil and
kms-server logs), devnet.lock. Every start is a fresh chain: the previous run's files are
replaced. See docs/devnet.md.

Examples:
  npm start
  npm start -- --operators 7 --interval 30
`)
    .exitOverride()
    .configureOutput({ writeOut: write, writeErr: (s) => void process.stderr.write(s) })
    .allowExcessArguments(false);
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError && e.exitCode === 0) return null;
    throw e;
  }
  const o = program.opts<{ operators: number; interval: number; dir: string; basePort: number }>();
  return { operators: o.operators, interval: o.interval, dir: resolve(o.dir), basePort: o.basePort };
}

/** Windows that fit the interval with room to spare: min(15, floor(interval / 4)) s each. */
export function windowsFor(interval: number): Pick<RegistryConfig, 'dealWindow' | 'ackWindow' | 'confirmWindow'> {
  const w = Math.max(1, Math.min(15, Math.floor(interval / 4)));
  return { dealWindow: w, ackWindow: w, confirmWindow: w };
}

