/**
 * @module
 * anvil for the devnet: the binary of `@foundry-rs/anvil-<platform>` (as `src/chain/anvil.ts`
 * finds it), run as a supervised child with `--block-time 1`, on 127.0.0.1:8545 when that
 * port is free (wallets and tools expect it) and on a free port otherwise. Its output goes to
 * `logs/anvil.log`. Unlike `startAnvil`, the child is owned by the {@link Supervisor}: it runs
 * in its own process group and is stopped last, after the servers.
 */
import { createServer } from 'node:net';
import type { Hex } from 'viem';
import { anvilBinaryPath, anvilPrivateKeys, rpcChainId } from '../../src/chain/anvil.ts';
import { describeExit, logTail, type ManagedChild, type Supervisor } from './processes.ts';

export const PREFERRED_RPC_PORT = 8545;

export interface DevnetAnvil {
  readonly rpcUrl: string;
  readonly chainId: number;
  /** Private keys of anvil's funded dev accounts (public knowledge: devnet only). */
  readonly accounts: readonly Hex[];
  readonly child: ManagedChild;
}

/** True when nothing listens on 127.0.0.1:port (checked by binding it for a moment). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A line that only names a JSON-RPC method anvil served (`eth_call`, `anvil_setBalance`…). */
const RPC_METHOD_LINE = /^(?:eth|net|web3|anvil|evm|debug|trace|txpool|ots)_\w+\s*$/;

export class AnvilStartError extends Error {
  override readonly name = 'AnvilStartError';
}

export interface DevnetAnvilParameters {
  readonly logFile: string;
  readonly accounts: number;
  readonly blockTime: number;
  readonly chainId: number;
  /** Blocks from the head to the `finalized` tag (anvil's `--slots-in-an-epoch` is half of it). */
  readonly finalityBlocks: number;
}

async function startOnce(sup: Supervisor, port: number, p: DevnetAnvilParameters): Promise<DevnetAnvil> {
  let output = '';
  let onPort: ((port: number) => void) | undefined;
  const listening = new Promise<number>((resolve) => {
    onPort = resolve;
  });
  const child = sup.spawn('anvil', {
    command: anvilBinaryPath(),
    args: [
      '--host', '127.0.0.1', '--port', String(port), '--chain-id', String(p.chainId), '--accounts', String(p.accounts), '--block-time', String(p.blockTime),
      '--slots-in-an-epoch', String(Math.ceil(p.finalityBlocks / 2)),
    ],
    logFile: p.logFile,
    stopTimeoutMs: 3000,
    // One line per RPC call served (thousands a minute here) would drown what matters.
    keepStdoutLine: (line) => !RPC_METHOD_LINE.test(line),
    onStdout: (chunk) => {
      if (onPort === undefined) return;
      output = (output + chunk).slice(-4000);
      const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (m) {
        onPort(Number(m[1]));
        onPort = undefined;
      }
    },
  });
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000).unref());
  const first = await Promise.race([listening, child.exited, timeout]);
  if (typeof first !== 'number') {
    await sup.stop(['anvil']);
    const why = first === 'timeout' ? 'did not start within 20 s' : `exited during start-up (${describeExit(first)})`;
    throw new AnvilStartError(`anvil ${why}; last lines of ${p.logFile}:\n${logTail(p.logFile, 8).map((l) => `    ${l}`).join('\n')}`);
  }
  const rpcUrl = `http://127.0.0.1:${first}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const id = await rpcChainId(rpcUrl);
    if (id === p.chainId) break;
    if (id !== null || Date.now() > deadline || child.hasExited()) {
      await sup.stop(['anvil']);
      throw new AnvilStartError(id !== null ? `anvil answered chain id ${id}, expected ${p.chainId}` : `anvil did not answer eth_chainId at ${rpcUrl}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { rpcUrl, chainId: p.chainId, accounts: anvilPrivateKeys(p.accounts), child };
}

/**
 * Starts anvil with one block per `blockTime` seconds and `accounts` funded dev accounts.
 * Throws {@link AnvilStartError} (with the tail of the log) when it cannot.
 */
export async function startDevnetAnvil(sup: Supervisor, p: DevnetAnvilParameters): Promise<DevnetAnvil> {
  if (await portIsFree(PREFERRED_RPC_PORT)) {
    try {
      return await startOnce(sup, PREFERRED_RPC_PORT, p);
    } catch {
      // taken meanwhile, most likely: fall back to any free port
    }
  }
  return startOnce(sup, 0, p);
}
