/**
 * @module
 * A local chain for tests and `npm start`: spawns the `anvil` binary from the npm package
 * `@foundry-rs/anvil-<platform>` on a free loopback port, waits until it answers
 * `eth_chainId`, and stops it with its owner (explicit `stop()`, or the owning process
 * exiting).
 *
 * - `blockTime` set: one block every `blockTime` seconds (live runs, SPEC 2b: 1 s).
 * - `blockTime` unset: automine (one block per transaction), with explicit time control
 *   through `evm_setNextBlockTimestamp` / `evm_mine` (fast tests).
 *
 * Accounts are anvil's default mnemonic (`test test … junk`), derived at m/44'/60'/0'/0/i.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { bytesToHex, type Hex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { AnvilError } from './errors.ts';

/** Anvil's default mnemonic; its keys are public knowledge: never use them on a real chain. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';

export interface StartAnvilParameters {
  /** Seconds per block for live runs; omit for automine. */
  readonly blockTime?: number;
  /** Chain id (default 31337). */
  readonly chainId?: number;
  /** Number of funded accounts (default 20). */
  readonly accounts?: number;
  /** Genesis timestamp (seconds). */
  readonly timestamp?: number;
  /**
   * Finality lag in blocks: the `finalized` tag trails the head by this many blocks (anvil's
   * `--slots-in-an-epoch` is half of it: `safe` = head − slots, `finalized` = head − 2·slots;
   * an odd number is rounded up). Default: anvil's (32 slots, 64 blocks).
   */
  readonly finalityBlocks?: number;
  /** Block gas limit (default: anvil's). */
  readonly gasLimit?: bigint;
  /** Path of the anvil binary; default: the one shipped by `@foundry-rs/anvil-<platform>`. */
  readonly binary?: string;
  /** Milliseconds to wait for the first answer (default 15 000). */
  readonly startTimeoutMs?: number;
  /** Extra command-line arguments. */
  readonly extraArgs?: readonly string[];
}

export interface AnvilInstance {
  readonly rpcUrl: string;
  readonly chainId: number;
  /** Private keys of the funded accounts, in derivation order. */
  readonly accounts: readonly Hex[];
  /** The child process id. */
  readonly pid: number;
  /** Stops anvil and waits until it has exited. Idempotent. */
  stop(): Promise<void>;
}

/** Location of the platform's anvil binary from the npm packages. Throws `AnvilError` when missing. */
export function anvilBinaryPath(): string {
  const pkg = `@foundry-rs/anvil-${process.platform}-${process.arch === 'x64' ? 'amd64' : process.arch}`;
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = dirname(require.resolve(`${pkg}/package.json`));
  } catch (cause) {
    throw new AnvilError('The anvil binary is not installed.', {
      cause,
      metaMessages: [`Package: ${pkg}`, `Platform: ${process.platform}-${process.arch}`],
      details: 'Run `npm ci` (the package is an optional dependency of @foundry-rs/anvil), or pass `binary`.',
    });
  }
  const bin = join(dir, 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil');
  if (!existsSync(bin)) {
    throw new AnvilError('The anvil binary is missing from its package.', { metaMessages: [`Expected: ${bin}`] });
  }
  return bin;
}

/** Private keys of anvil's default mnemonic, indices 0..count-1. */
export function anvilPrivateKeys(count: number): Hex[] {
  const keys: Hex[] = [];
  for (let i = 0; i < count; i++) {
    const pk = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i }).getHdKey().privateKey;
    if (!pk) throw new AnvilError('Could not derive an anvil account key.', { metaMessages: [`Index: ${i}`] });
    keys.push(bytesToHex(pk));
  }
  return keys;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
}
/**
 * Anvil dies with its owner: on a normal exit, and on SIGINT/SIGTERM/SIGHUP (which skip
 * 'exit' handlers). When nobody else handles the signal, it is re-raised after the cleanup
 * so the owner still terminates as it would have; otherwise the other handlers decide.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: a SIGKILL is the only thing that surely lands.
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAll();
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

/** The chain id an RPC endpoint answers with, or null when it does not answer within 1 s. */
export async function rpcChainId(url: string): Promise<number | null> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(1000),
    });
    const body = (await res.json()) as { result?: string };
    return typeof body.result === 'string' ? Number(BigInt(body.result)) : null;
  } catch {
    return null;
  }
}

/**
 * Starts anvil and resolves once it answers `eth_chainId`.
 *
 * @example
 * const anvil = await startAnvil();            // automine
 * const live = await startAnvil({ blockTime: 1 });
 * try { … anvil.rpcUrl … } finally { await anvil.stop(); }
 */
export async function startAnvil(params: StartAnvilParameters = {}): Promise<AnvilInstance> {
  const binary = params.binary ?? anvilBinaryPath();
  if (params.binary !== undefined && !existsSync(binary)) {
    throw new AnvilError('The anvil binary does not exist.', { metaMessages: [`Path: ${binary}`] });
  }
  const chainId = params.chainId ?? 31337;
  const accountCount = params.accounts ?? 20;
  const args = ['--host', '127.0.0.1', '--port', '0', '--chain-id', String(chainId), '--accounts', String(accountCount)];
  if (params.blockTime !== undefined) {
    if (!(params.blockTime > 0)) throw new AnvilError('blockTime must be positive.', { metaMessages: [`blockTime: ${params.blockTime}`] });
    args.push('--block-time', String(params.blockTime));
  }
  if (params.timestamp !== undefined) args.push('--timestamp', String(params.timestamp));
  if (params.finalityBlocks !== undefined) {
    if (!Number.isSafeInteger(params.finalityBlocks) || params.finalityBlocks < 1) {
      throw new AnvilError('finalityBlocks must be a positive whole number of blocks.', { metaMessages: [`finalityBlocks: ${params.finalityBlocks}`] });
    }
    args.push('--slots-in-an-epoch', String(Math.ceil(params.finalityBlocks / 2)));
  }
  if (params.gasLimit !== undefined) args.push('--gas-limit', params.gasLimit.toString());
  args.push(...(params.extraArgs ?? []));

  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  installExitHook();
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  exited.then(() => live.delete(child), () => undefined);

  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => fail(new AnvilError('anvil did not start in time.', { metaMessages: [`Binary: ${binary}`], details: output.slice(-500) })), params.startTimeoutMs ?? 15_000);
    function fail(err: Error): void {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    }
    const onData = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-20_000);
      const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume(); // keep draining so anvil never blocks on a full pipe
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
    });
    child.once('error', (cause) => fail(new AnvilError('anvil could not be spawned.', { cause, metaMessages: [`Binary: ${binary}`] })));
    child.once('exit', (code, signal) => fail(new AnvilError('anvil exited during start-up.', { metaMessages: [`Exit: ${code ?? signal}`], details: output.slice(-500) })));
  });

  const rpcUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (params.startTimeoutMs ?? 15_000);
  for (;;) {
    const id = await rpcChainId(rpcUrl);
    if (id === chainId) break;
    if (id !== null) {
      child.kill('SIGKILL');
      throw new AnvilError('anvil answered with an unexpected chain id.', { metaMessages: [`Expected: ${chainId}`, `Got: ${id}`] });
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new AnvilError('anvil did not answer eth_chainId.', { metaMessages: [`RPC: ${rpcUrl}`] });
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  let stopping: Promise<void> | undefined;
  return {
    rpcUrl,
    chainId,
    accounts: anvilPrivateKeys(accountCount),
    pid: child.pid ?? -1,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
          await exited;
          clearTimeout(timer);
        }
        live.delete(child);
      })();
      return stopping;
    },
  };
}
