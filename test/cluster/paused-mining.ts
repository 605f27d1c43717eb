/**
 * Stopping a cluster's anvil so that transactions wait in its pool (tests (d) and (e) of issue
 * 17): the blocks stop, the session opens in one block the test mines, and then every node's
 * submission waits, pending, for whatever the test does to it (a base-fee spike, a drop, a
 * killed node) before the blocks start again.
 */
import { getAbiItem, toFunctionSelector, type Hash, type Hex } from 'viem';
import { kmsRegistryAbi } from '../../src/chain/kms-registry-artifact.ts';
import type { Cluster } from './harness.ts';

/** A transaction as anvil's `txpool_content` shows it. */
export interface PoolTx {
  readonly hash: Hash;
  readonly nonce: Hex;
  readonly from: string;
  readonly input: Hex;
  readonly maxFeePerGas: Hex;
  readonly maxPriorityFeePerGas: Hex;
}

export const DEAL_SELECTOR = toFunctionSelector(getAbiItem({ abi: kmsRegistryAbi, name: 'submitDeal' }));
const OPEN_SELECTOR = toFunctionSelector(getAbiItem({ abi: kmsRegistryAbi, name: 'openSession' }));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function anvilRpc(c: Cluster, method: string, params: unknown[] = []): Promise<unknown> {
  return c.ledger.client.request({ method, params } as never) as Promise<unknown>;
}

/** Every pending transaction in anvil's pool. */
export async function pendingTxs(c: Cluster): Promise<PoolTx[]> {
  const content = (await anvilRpc(c, 'txpool_content')) as { pending: Record<string, Record<string, PoolTx>> };
  return Object.values(content.pending).flatMap((byNonce) => Object.values(byNonce));
}

/**
 * Stops the blocks, moves chain time to the next boundary, and mines blocks by hand until
 * session `id` is open; the blocks stay stopped (start them again with `resumeMining`, in a
 * `finally`). A node may send `openSession` as soon as the next block's time is the boundary
 * (its estimate runs against the pending block), so the session can open in the first block
 * mined; when it does not, the test waits for the openSession transactions to arrive — every
 * node that estimated at the same moment sends one — and mines them in one block (a straggler
 * left in the stopped pool would hold its node's tick waiting for a receipt instead of dealing).
 */
export async function openSessionWithMiningStopped(c: Cluster, id: number): Promise<void> {
  await anvilRpc(c, 'evm_setIntervalMining', [0]);
  if ((await c.ledger.latestSessionId()) >= id) throw new Error(`session ${id} is open already: the machine was too slow to stop the blocks before its boundary`);
  await anvilRpc(c, 'evm_setNextBlockTimestamp', [await c.nextBoundary()]);
  await anvilRpc(c, 'evm_mine');
  const deadline = Date.now() + 30_000;
  while ((await c.ledger.latestSessionId()) < id) {
    if (Date.now() > deadline) throw new Error(`session ${id} did not open within 30 s of its boundary`);
    if ((await pendingTxs(c)).some((t) => t.input.startsWith(OPEN_SELECTOR))) {
      await sleep(1_500);
      await anvilRpc(c, 'evm_mine');
    } else {
      await sleep(100);
    }
  }
}

export async function resumeMining(c: Cluster): Promise<void> {
  await anvilRpc(c, 'evm_setIntervalMining', [1]);
}
