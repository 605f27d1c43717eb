// EIP-1271 app owners on a real chain (issue 16): what a node's app reader
// (src/node/release/app-reads.ts) answers when it asks an owner address about a signature —
// the test-only 2-of-3 wallet (contracts/test/MultiSigWallet1271.sol) as deployed by
// scripts/build-contracts.mjs, an ordinary key, and hostile "wallets" (one that reverts, one
// that loops until its gas runs out, one that answers garbage). Every answer is a value the
// handler turns into a release or a refusal; none is an exception.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createWalletClient, http, keccak256, toBytes, type Abi, type Hex } from 'viem';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import type { ChainLedger } from '../../src/chain/chain-ledger.ts';
import { chainAppReader } from '../../src/node/release/app-reads.ts';
import type { Address } from '../../src/protocol/ledger.ts';
import { HARNESS_CONFIG, deployLedger, sharedChain, type Chain } from './anvil-harness.ts';

const WALLET = JSON.parse(readFileSync(fileURLToPath(new URL('../../contracts/artifacts/MultiSigWallet1271.json', import.meta.url)), 'utf8')) as { abi: Abi; bytecode: Hex };

/** Creation code that deploys `runtime` as is (CODECOPY + RETURN; runtime < 256 bytes). */
function deployCode(runtime: string): Hex {
  const n = (runtime.length / 2).toString(16).padStart(2, '0');
  return `0x60${n}600c60003960${n}6000f3${runtime}`;
}

/** Runtime code of hostile wallets. */
const HOSTILE = {
  // PUSH1 0 PUSH1 0 REVERT
  reverts: '60006000fd',
  // JUMPDEST PUSH1 0 JUMP: loops until the gas allowance is gone
  loops: '5b600056',
  // returns 32 bytes of 0x11: not the magic value, not even a well-formed bytes4 word
  garbage: '7f1111111111111111111111111111111111111111111111111111111111111111600052602060' + '00f3',
} as const;

describe('EIP-1271 owners: the node\'s bounded isValidSignature call', () => {
  let chain: Chain;
  let ledger: ChainLedger;
  let deployer: ReturnType<typeof createWalletClient>;
  let owners: PrivateKeyAccount[];
  let wallet: Address;
  const hostile: Partial<Record<keyof typeof HOSTILE, Address>> = {};
  const digest = keccak256(toBytes('a KeyRequest digest'));

  const deploy = async (bytecode: Hex, args?: readonly unknown[]): Promise<Address> => {
    const hash = args === undefined
      ? await deployer.sendTransaction({ account: deployer.account!, chain: foundry, data: bytecode })
      : await deployer.deployContract({ account: deployer.account!, chain: foundry, abi: WALLET.abi, bytecode, args });
    const r = await chain.client.waitForTransactionReceipt({ hash });
    assert.equal(r.status, 'success');
    return r.contractAddress!.toLowerCase() as Address;
  };

  const ask = async (owner: Address, signature: Hex) => {
    const view = await chainAppReader(ledger).latest();
    return view.contractSignature(owner as `0x${string}`, toBytes(digest), toBytes(signature));
  };
  const sigs = async (...signers: PrivateKeyAccount[]): Promise<Hex> =>
    `0x${(await Promise.all(signers.map((s) => s.sign({ hash: digest })))).map((s) => s.slice(2)).join('')}` as Hex;

  before(async () => {
    chain = await sharedChain();
    ledger = await deployLedger(chain, HARNESS_CONFIG);
    deployer = createWalletClient({ account: privateKeyToAccount(chain.anvil.accounts[1] as Hex), chain: foundry, transport: http(chain.anvil.rpcUrl) });
    owners = [2, 3, 4].map((i) => privateKeyToAccount(chain.anvil.accounts[i] as Hex));
    wallet = await deploy(WALLET.bytecode, [owners.map((o) => o.address)]);
    for (const [name, code] of Object.entries(HOSTILE)) hostile[name as keyof typeof HOSTILE] = await deploy(deployCode(code));
  });

  it('the 2-of-3 wallet: two distinct owners (any order) are valid; one, one twice, or a stranger with one are invalid', async () => {
    const [a, b, c] = owners as [PrivateKeyAccount, PrivateKeyAccount, PrivateKeyAccount];
    const stranger = privateKeyToAccount(chain.anvil.accounts[5] as Hex);
    assert.equal(await ask(wallet, await sigs(a, b)), 'valid');
    assert.equal(await ask(wallet, await sigs(c, a)), 'valid');
    assert.equal(await ask(wallet, await sigs(b)), 'invalid');
    assert.equal(await ask(wallet, await sigs(b, b)), 'invalid');
    assert.equal(await ask(wallet, await sigs(b, stranger)), 'invalid');
    assert.equal(await ask(wallet, await sigs(a, b, c)), 'invalid', 'the wallet decides: it wants exactly two');
  });

  it('an address without code is never called: no-code (the handler keeps the ECDSA verdict)', async () => {
    const eoa = privateKeyToAccount(chain.anvil.accounts[6] as Hex).address.toLowerCase() as Address;
    assert.equal(await ask(eoa, await sigs(owners[0] as PrivateKeyAccount)), 'no-code');
  });

  it('hostile wallets are refusals, never errors: a revert and garbage are invalid, a loop runs out of its gas allowance and fails', async () => {
    const some = await sigs(owners[0] as PrivateKeyAccount, owners[1] as PrivateKeyAccount);
    assert.equal(await ask(hostile.reverts as Address, some), 'invalid');
    assert.equal(await ask(hostile.garbage as Address, some), 'invalid');
    assert.equal(await ask(hostile.loops as Address, some), 'failed');
  });
});
