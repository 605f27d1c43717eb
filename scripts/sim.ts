/**
 * @module
 * Entry point of `npm run sim` (the command itself is `src/sim/cli.ts`; `--help` explains it).
 */
import { main } from '../src/sim/cli.ts';

// Anything thrown that nothing handled is a failed run, reported like a violated invariant.
process.on('unhandledRejection', (e) => {
  console.error(`sim: unhandled rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});

const code = await main(process.argv.slice(2), { out: (l) => console.log(l), err: (l) => console.error(l) });
process.exitCode = process.exitCode === 1 ? 1 : code;
