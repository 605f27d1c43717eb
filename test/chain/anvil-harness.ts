/**
 * One anvil per test file (automine, explicit time control) and a fresh registry deployment
 * per harness: what the ledger conformance suite and the other chain tests run on.
 */
import { after } from 'node:test';
import { createPublicClient, createWalletClient, http, type Hex, type PublicClient } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { startAnvil, type AnvilInstance } from '../../src/chain/anvil.ts';
import { ChainLedger, type ChainLedgerOptions } from '../../src/chain/chain-ledger.ts';
import { deployRegistry, type DeployRegistryParameters, type RegistryConfig } from '../../src/chain/deploy.ts';
import type { Address } from '../../src/protocol/ledger.ts';
import type { LedgerHarness, LedgerHarnessOverrides } from '../ledger/conformance.ts';

export interface Chain {
  readonly anvil: AnvilInstance;
  readonly client: PublicClient;
  /** Lowercase address → private key, for every anvil account. */
  readonly keys: Readonly<Record<string, Hex>>;
  readonly addresses: readonly Address[];
}

let shared: Promise<Chain> | undefined;
// Registered at import (file top level): stops the file's anvil after its last test.
after(async () => {
  if (shared) await (await shared).anvil.stop();
});

/** The file's anvil (started on first use, stopped after the file's tests). */
export function sharedChain(accounts = 20): Promise<Chain> {
  shared ??= (async () => {
    const anvil = await startAnvil({ accounts });
    const client = createPublicClient({ chain: foundry, transport: http(anvil.rpcUrl), pollingInterval: 50 });
    const addresses = anvil.accounts.map((k) => privateKeyToAccount(k).address.toLowerCase() as Address);
    const keys = Object.fromEntries(addresses.map((a, i) => [a, anvil.accounts[i] as Hex]));
    return { anvil, client, keys, addresses };
  })();
  return shared;
}

/** Deploys a fresh registry owned by account 0 and wraps it in a ChainLedger. */
export async function deployLedger(
  chain: Chain,
  config: DeployRegistryParameters,
  options: Partial<ChainLedgerOptions> = {},
): Promise<ChainLedger> {
  const owner = privateKeyToAccount(chain.anvil.accounts[0] as Hex);
  const wallet = createWalletClient({ account: owner, chain: foundry, transport: http(chain.anvil.rpcUrl) });
  const { address } = await deployRegistry(wallet, chain.client, config);
  return new ChainLedger({ rpcUrl: chain.anvil.rpcUrl, registry: address, chainId: chain.anvil.chainId, keys: chain.keys, pollingIntervalMs: 20, ...options });
}

/** evm_setNextBlockTimestamp: the next block (the next transaction, in automine) is mined at t. */
export async function setNextTimestamp(client: PublicClient, t: number): Promise<void> {
  await client.request({ method: 'evm_setNextBlockTimestamp', params: [`0x${t.toString(16)}`] } as never);
}

/** An empty block at t. */
export async function mineAt(client: PublicClient, t: number): Promise<void> {
  await setNextTimestamp(client, t);
  await client.request({ method: 'evm_mine', params: [] } as never);
}

export async function latestTime(client: PublicClient): Promise<number> {
  return Number((await client.getBlock({ blockTag: 'latest' })).timestamp);
}

export const HARNESS_CONFIG: RegistryConfig = { interval: 60, dealWindow: 15, ackWindow: 15, confirmWindow: 15, inclusionMargin: 5, governanceDelay: 0 };

/** The conformance harness: a fresh deployment on the file's anvil. */
export async function anvilHarness(overrides: LedgerHarnessOverrides = {}): Promise<LedgerHarness> {
  const chain = await sharedChain();
  const config = { ...HARNESS_CONFIG, ...overrides };
  const ledger = await deployLedger(chain, config);
  return {
    ledger,
    owner: chain.addresses[0] as Address,
    accounts: chain.addresses.slice(1),
    txAt: (t) => setNextTimestamp(chain.client, t),
    mineAt: (t) => mineAt(chain.client, t),
    now: () => latestTime(chain.client),
    config,
    close: async () => {},
  };
}
