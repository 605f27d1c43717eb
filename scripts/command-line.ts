/**
 * @module
 * What the scripts' command lines (`npm start`, `npm run soak`) share: a commander program
 * that writes help to `write` and errors to stderr, refuses stray arguments, and throws
 * instead of exiting, so the caller decides the exit code (2 for bad usage).
 */
import { CommanderError, type Command } from 'commander';

/** Parses `argv` (user arguments only); false when help was printed. Throws `CommanderError` on bad usage. */
export function parseCommandLine(program: Command, argv: readonly string[], write: (s: string) => void): boolean {
  program
    .exitOverride()
    .configureOutput({ writeOut: write, writeErr: (s) => void process.stderr.write(s) })
    .allowExcessArguments(false);
  try {
    program.parse([...argv], { from: 'user' });
    return true;
  } catch (e) {
    if (e instanceof CommanderError && e.exitCode === 0) return false;
    throw e;
  }
}
