// The registry's explicit bound on operators (issue 12 §11): MAX_OPERATORS = 256 registered
// operators, so every loop over operators, dealers and recipients stays bounded. Registering
// 256 operators on anvil would take minutes, so the test moves the stored list length to 255
// (checking first that it reads the slot it thinks it reads) and registers the 256th and 257th.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { numberToHex } from 'viem';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ContractRefusalError } from '../../src/chain/errors.ts';
import { makeDomain, toHex } from '../../src/crypto/domain.ts';
import { createOperatorSigner, generateOperatorSecretKey } from '../../src/crypto/operator-sig.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import type { Address } from '../../src/protocol/ledger.ts';
import { MAX_OPERATORS } from '../../src/protocol/session-rules.ts';
import { kmsRegistryAbi } from '../../src/chain/kms-registry-artifact.ts';
import { deployLedger, sharedChain } from './anvil-harness.ts';

/**
 * Storage slot of `_operatorList` (a dynamic array: the slot holds its length). Layout:
 * `_gov` 0–1, `_queued` 2–4, `_allowedFrom` 5, `_allowQueue` 6, `_operators` 7, `_operatorList` 8.
 */
const OPERATOR_LIST_SLOT = 8n;

describe('registry limits', () => {
  it('the registry refuses the 257th operator (TooManyOperators)', async () => {
    const chain = await sharedChain();
    const ledger = await deployLedger(chain, { interval: 1000, dealWindow: 100, ackWindow: 100, confirmWindow: 100, inclusionMargin: 0 });
    const [owner, ...ops] = chain.addresses as [Address, ...Address[]];
    const rng = seededRng('registry-limits');
    const domain = makeDomain({ chainId: ledger.chainId, registry: ledger.registry });
    const register = async (a: Address) => {
      const signer = createOperatorSigner('ecdsa', generateOperatorSecretKey('ecdsa', rng), domain);
      await ledger.writer(owner).allowOperator(a, true);
      await ledger.writer(a).register({
        socket: 'https://op.example', sigKeyType: 'ecdsa', sigPublicKey: toHex(signer.publicKey), proofOfPossession: toHex(signer.proofOfPossession(a)),
        sessionKey: toHex(secp256k1.getPublicKey(generateOperatorSecretKey('ecdsa', rng), true)),
      });
    };
    const count = () => ledger.client.readContract({ address: ledger.registry, abi: kmsRegistryAbi, functionName: 'operatorCount' });
    const slot = async () => BigInt(await ledger.client.getStorageAt({ address: ledger.registry, slot: numberToHex(OPERATOR_LIST_SLOT, { size: 32 }) }) ?? '0x0');
    await register(ops[0] as Address);
    await register(ops[1] as Address);
    assert.deepEqual([await count(), await slot()], [2n, 2n], 'the slot is the operator list\'s length');

    await ledger.client.request({
      method: 'anvil_setStorageAt',
      params: [ledger.registry, numberToHex(OPERATOR_LIST_SLOT, { size: 32 }), numberToHex(BigInt(MAX_OPERATORS - 1), { size: 32 })],
    } as never);
    assert.equal(await count(), BigInt(MAX_OPERATORS - 1));
    await register(ops[2] as Address); // the 256th
    assert.equal(await count(), BigInt(MAX_OPERATORS));
    await assert.rejects(register(ops[3] as Address), (e: unknown) => {
      assert.ok(e instanceof ContractRefusalError);
      assert.equal(e.code, 'TooManyOperators');
      assert.equal(e.shortMessage, 'register refused: the registry already holds 256 operators, its maximum');
      return true;
    });
    assert.equal((await ledger.getOperator(ops[3] as Address)), null);
  });
});
