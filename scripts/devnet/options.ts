/**
 * @module
 * The devnet's command line (`npm start -- --help`) and the registry settings it implies.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { parseCommandLine } from '../command-line.ts';
import type { RegistryConfig } from '../../src/chain/deploy.ts';
import { CHAIN_PROFILES, chainProfile } from '../../src/chain/profiles.ts';

/** The checkout the script runs from. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** `.devnet/` in the checkout: what `--devnet` of the CLIs reads (src/cli/common.ts DEVNET_FILE). */
export const DEFAULT_DIR = join(ROOT, '.devnet');
export const DEFAULT_CHAIN_ID = 31337;
/** The interval on the default chain (31337's profile). */
export const DEFAULT_INTERVAL = 60;
/** Blocks from the head to the `finalized` tag on the devnet's anvil (a few seconds of 1 s blocks). */
export const DEFAULT_FINALITY_BLOCKS = 4;
export const MIN_INTERVAL = 20;
export const DEFAULT_OPERATORS = 4;
export const MAX_OPERATORS = 16;
export const DEFAULT_BASE_PORT = 18081;
/** Each operator's operations listener (/status, /metrics) takes a port this far above the public ones. */
export const OPS_PORT_OFFSET = 100;

export interface DevnetOptions {
  readonly operators: number;
  readonly interval: number;
  /** anvil's chain id: the nodes take that chain's profile (finality, fees) on their default flags. */
  readonly chainId: number;
  /** Blocks from the head to anvil's `finalized` tag (`--slots-in-an-epoch` is half of it). */
  readonly finalityBlocks: number;
  /** Seconds per block. */
  readonly blockTime: number;
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
    .option('--interval <seconds>', `reshare interval in seconds (>= ${MIN_INTERVAL}; default: the chain profile's for --chain-id, 60 on 31337); windows are min(15, interval/4) s each`, intOption(MIN_INTERVAL, 86_400, '--interval'))
    .option('--chain-id <id>', `chain id anvil runs with; the kms-servers take that chain's profile on their default flags (e.g. 11155111: Sepolia's finality and fees)`, intOption(1, 4_294_967_295, '--chain-id'), DEFAULT_CHAIN_ID)
    .option('--finality <blocks>', `how many blocks anvil's finalized tag trails the head (public chains: Ethereum ~64)`, intOption(2, 1024, '--finality'), DEFAULT_FINALITY_BLOCKS)
    .option('--block-time <seconds>', 'seconds per block (Ethereum and Sepolia: 12)', intOption(1, 60, '--block-time'), 1)
    .option('--dir <path>', 'state directory (keys, key stores, logs, devnet.json, lock)', DEFAULT_DIR)
    .option('--base-port <port>', `first HTTP port of the operators (the next free ones are used); their operations listeners (/status, /metrics) start ${OPS_PORT_OFFSET} above`, intOption(1024, 65_000, '--base-port'), DEFAULT_BASE_PORT)
    .addHelpText('after', `
Files (in --dir, default .devnet/ in the checkout, git-ignored): devnet.json (what the CLIs'
--devnet flag reads), keys/ (0600 key files), op1…opN/ (key stores), logs/ (anvil and
kms-server logs), devnet.lock. Every start is a fresh chain: the previous run's files are
replaced. See docs/devnet.md.

Public-chain behaviour on one machine: --chain-id picks the chain profile the servers run on
(they are started on their defaults: no read-tag or finality flags), --finality the lag of the
finalized tag and --block-time the block time. The servers act on the latest block and delete
old versions and session secrets only once the finalized tag has passed them.

Examples:
  npm start
  npm start -- --operators 7 --interval 30
  npm start -- --chain-id 11155111 --finality 16 --interval 40     # an emulated Sepolia
`);
  if (!parseCommandLine(program, argv, write)) return null;
  const o = program.opts<{ operators: number; interval?: number; dir: string; basePort: number; chainId: number; finality: number; blockTime: number }>();
  const profile = chainProfile(o.chainId);
  if (profile === null) {
    // The servers run on their defaults, and a chain id without a profile has none to run on.
    program.error(`error: --chain-id ${o.chainId} has no chain profile; use one of ${CHAIN_PROFILES.map((p) => p.chainId).join(', ')}`, { exitCode: 2, code: 'devnet.chainId' });
  }
  const interval = o.interval ?? Math.max(MIN_INTERVAL, profile?.interval ?? DEFAULT_INTERVAL);
  if (o.blockTime * 4 > Math.min(15, Math.floor(interval / 4))) {
    program.error(`error: --block-time ${o.blockTime} leaves fewer than 4 blocks per window of a ${interval} s interval; give a longer --interval`, { exitCode: 2, code: 'devnet.blockTime' });
  }
  return { operators: o.operators, interval, dir: resolve(o.dir), basePort: o.basePort, chainId: o.chainId, finalityBlocks: o.finality, blockTime: o.blockTime };
}

/** Windows that fit the interval with room to spare: min(15, floor(interval / 4)) s each. */
export function windowsFor(interval: number): Pick<RegistryConfig, 'dealWindow' | 'ackWindow' | 'confirmWindow'> {
  const w = Math.max(1, Math.min(15, Math.floor(interval / 4)));
  return { dealWindow: w, ackWindow: w, confirmWindow: w };
}

