/**
 * @module
 * Benchmark dispatcher: `npm run bench -- [suite...] [--json]`. With no suite named, every
 * registered suite runs. A benchmark is not a test: it prints numbers and fails only on misuse
 * (exit code 2 for an unknown suite or option).
 */
import { benchAppSign } from './app-sign.ts';
import { benchBls } from './crypto-bls.ts';
import { benchClient } from './client.ts';
import { benchCluster } from './cluster.ts';
import { benchPrimitives } from './crypto-primitives.ts';
import { benchContractGas } from './contract-gas.ts';
import { benchKeyStore } from './key-store.ts';
import { benchProtocol } from './protocol.ts';

export interface SuiteOptions {
  readonly json: boolean;
}

/** Every suite, by the name used on the command line. Add a suite with one line here. */
export const suites: Record<string, (opts: SuiteOptions) => Promise<unknown>> = {
  'app-sign': (opts) => benchAppSign(opts),
  bls: benchBls,
  client: (opts) => benchClient(opts),
  cluster: (opts) => benchCluster(opts),
  crypto: benchPrimitives,
  gas: (opts) => benchContractGas(opts),
  'key-store': (opts) => benchKeyStore(opts),
  protocol: (opts) => benchProtocol(opts),
};

async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  const unknownFlags = argv.filter((a) => a.startsWith('-') && a !== '--json');
  const names = argv.filter((a) => !a.startsWith('-'));
  const unknown = names.filter((n) => !(n in suites));
  if (unknownFlags.length > 0 || unknown.length > 0) {
    console.error(
      `bench: unknown ${unknown.length > 0 ? `suite(s) ${unknown.join(', ')}` : `option(s) ${unknownFlags.join(', ')}`}; ` +
        `usage: npm run bench -- [${Object.keys(suites).join('|')}...] [--json]`,
    );
    return 2;
  }
  for (const name of names.length > 0 ? names : Object.keys(suites)) {
    const run = suites[name];
    if (run !== undefined) await run({ json });
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
