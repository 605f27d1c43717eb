/**
 * The chain ledger's two read points on a real anvil (SPEC 4, v3): its own reads act on the
 * latest block; `finalView()` reads the last final block (the `finalized` tag, or the head
 * minus N confirmations) and trails it. One view's reads are pinned to one block **hash**: a
 * reorg in the middle of a view makes the view fail, it never answers half from each fork.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicClient, createWalletClient, http, type Hex, type PublicClient } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { startAnvil, type AnvilInstance } from '../../src/chain/anvil.ts';
import { ChainLedger } from '../../src/chain/chain-ledger.ts';
import { deployRegistry } from '../../src/chain/deploy.ts';
import type { Address } from '../../src/protocol/ledger.ts';
import { HARNESS_CONFIG } from './anvil-harness.ts';

const FINALITY_BLOCKS = 4;

let anvil: AnvilInstance;
let client: PublicClient;
let registry: Address;
let owner: Address;

async function mine(blocks: number): Promise<void> {
  await client.request({ method: 'anvil_mine', params: [`0x${blocks.toString(16)}`] } as never);
}

async function reorg(depth: number): Promise<void> {
  await client.request({ method: 'anvil_reorg', params: [depth, []] } as never);
}

function ledger(options: Partial<ConstructorParameters<typeof ChainLedger>[0]> = {}): ChainLedger {
  return new ChainLedger({ rpcUrl: anvil.rpcUrl, registry, chainId: anvil.chainId, keys: { [owner]: anvil.accounts[0] as Hex }, pollingIntervalMs: 20, ...options });
}

before(async () => {
  anvil = await startAnvil({ accounts: 2, finalityBlocks: FINALITY_BLOCKS });
  client = createPublicClient({ chain: foundry, transport: http(anvil.rpcUrl), pollingInterval: 20 });
  const account = privateKeyToAccount(anvil.accounts[0] as Hex);
  owner = account.address.toLowerCase() as Address;
  const wallet = createWalletClient({ account, chain: foundry, transport: http(anvil.rpcUrl) });
  ({ address: registry } = await deployRegistry(wallet, client, HARNESS_CONFIG));
  await mine(FINALITY_BLOCKS + 2);
});
after(() => anvil.stop());

describe('chain reads: act on latest, commit on finality', () => {
  it('reads see the latest block; the final view sees a write only once it is final', async () => {
    const l = ledger();
    const final = l.finalView();
    assert.equal(final, l.finalView(), 'one final view per ledger');
    await l.writer(owner).armGenesis(3);
    assert.equal((await l.getGovernance()).genesisMinOperators, 3, 'the latest block shows the write at once');
    assert.equal((await final.getGovernance()).genesisMinOperators, 0, 'not final yet: the final view does not show it');
    await mine(FINALITY_BLOCKS - 1);
    assert.equal((await final.getGovernance()).genesisMinOperators, 0, `one block short of ${FINALITY_BLOCKS} confirmations`);
    await mine(1);
    assert.equal((await final.getGovernance()).genesisMinOperators, 3, 'final now');
  });

  it('a confirmations profile reads the head minus N blocks', async () => {
    const l = ledger({ finality: { confirmations: 2 } });
    await l.writer(owner).armGenesis(4);
    assert.equal((await l.finalView().getGovernance()).genesisMinOperators, 3);
    await mine(1);
    assert.equal((await l.finalView().getGovernance()).genesisMinOperators, 3, 'one confirmation is not two');
    await mine(1);
    assert.equal((await l.finalView().getGovernance()).genesisMinOperators, 4);
  });

  it('a reorg in the middle of a pinned view makes the view fail instead of mixing two forks', async () => {
    const l = ledger();
    await l.writer(owner).armGenesis(5);
    const seen: number[] = [];
    await assert.rejects(
      l.readsAtOneBlock(async () => {
        seen.push((await l.getGovernance()).genesisMinOperators);
        // The block the view is pinned to (it holds the write) is replaced by an empty one.
        await reorg(1);
        seen.push((await l.getGovernance()).genesisMinOperators);
      }),
      (e: Error) => /Reading the registry failed/.test(e.message),
    );
    assert.deepEqual(seen, [5], 'the second read did not answer from the new fork');
    // A fresh view reads the new head, where the write is gone.
    assert.equal((await l.getGovernance()).genesisMinOperators, 4);
  });
});
