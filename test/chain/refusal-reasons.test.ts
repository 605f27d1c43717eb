// The registry's errors carry enum reasons (issue 12 §11): the TypeScript names of those enums
// follow the Solidity declarations member by member, and a refusal reads as a sentence.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Hex } from 'viem';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, numberToBytesBE } from '@noble/curves/utils.js';
import { ContractRefusalError } from '../../src/chain/errors.ts';
import { CHANGE_KINDS, COMPLAINT_PROBLEMS, KEY_PROBLEMS, LENGTH_FIELDS, PARAMETER_PROBLEMS } from '../../src/chain/refusal-reasons.ts';
import { makeDomain, toHex } from '../../src/crypto/domain.ts';
import { createOperatorSigner, generateOperatorSecretKey } from '../../src/crypto/operator-sig.ts';
import { seededRng } from '../../src/crypto/rng.ts';
import type { Address } from '../../src/protocol/ledger.ts';
import { deployLedger, sharedChain, type Chain } from './anvil-harness.ts';

const SOURCE = readFileSync(new URL('../../contracts/KmsRegistry.sol', import.meta.url), 'utf8');

/** Member names of `enum <name> { … }` in the contract source, comments removed. */
function solidityEnum(name: string): string[] {
  const m = new RegExp(`enum ${name} \\{([^}]*)\\}`).exec(SOURCE);
  assert.ok(m, `enum ${name} is declared in KmsRegistry.sol`);
  return (m[1] as string).replace(/\/\/[^\n]*/g, '').split(',').map((x) => x.trim()).filter((x) => x.length > 0);
}

describe('refusal reasons', () => {
  it('name every member of the contract\'s reason enums, in declaration order', () => {
    const tables = { KeyProblem: KEY_PROBLEMS, ParameterProblem: PARAMETER_PROBLEMS, ComplaintProblem: COMPLAINT_PROBLEMS, LengthField: LENGTH_FIELDS, ChangeKind: CHANGE_KINDS };
    for (const [name, table] of Object.entries(tables)) assert.deepEqual(table.map(([member]) => member), solidityEnum(name), name);
  });

  describe('on anvil', () => {
    let chain: Chain;
    before(async () => {
      chain = await sharedChain();
    });

    it('read as sentences: a session key off the curve, x ≥ p, a churn cap above the limit, nothing to cancel, a wrong length', async () => {
      const ledger = await deployLedger(chain, { interval: 1000, dealWindow: 100, ackWindow: 100, confirmWindow: 100, inclusionMargin: 0 });
      const [owner, a0] = chain.addresses as [Address, Address];
      const rng = seededRng('refusal-reasons');
      const signer = createOperatorSigner('ecdsa', generateOperatorSecretKey('ecdsa', rng), makeDomain({ chainId: ledger.chainId, registry: ledger.registry }));
      await ledger.writer(owner).allowOperator(a0, true);
      const register = (sessionKey: Hex) => ledger.writer(a0).register({
        socket: 'https://op.example', sigKeyType: 'ecdsa', sigPublicKey: toHex(signer.publicKey), proofOfPossession: toHex(signer.proofOfPossession(a0)), sessionKey,
      });
      const refused = async (p: Promise<unknown>, code: string, shortMessage: string) => assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof ContractRefusalError, String(e));
        assert.equal(e.code, code);
        assert.equal(e.shortMessage, shortMessage);
        return true;
      });
      const x = (v: bigint): Hex => `0x02${bytesToHex(numberToBytesBE(v, 32))}`;
      await refused(register(x(5n)), 'BadKey', 'register refused: the session key is not a point on secp256k1: no point has this x (x³ + 7 is not a square mod p)');
      await refused(register(x(secp256k1.Point.Fp.ORDER + 1n)), 'BadKey', 'register refused: the session key is not a point on secp256k1: its x is not below the field modulus p');
      await refused(register(`0x04${'11'.repeat(32)}`), 'BadKey', 'register refused: a session key starts with 02 or 03 (a compressed secp256k1 point)');
      await refused(ledger.writer(owner).setChurnCap(257), 'BadParameter', 'setChurnCap refused: a churn cap is at most 256 (the registry\'s operator limit)');
      await refused(ledger.writer(owner).cancelGovernanceChange('schedule'), 'NothingQueued', 'cancelGovernanceChange refused: no schedule change is waiting to take effect (it may already be in effect)');
      await refused(ledger.writer(a0).acceptOwnership(), 'NotPendingOwner', `acceptOwnership refused: ${a0} is not the proposed owner (or no transfer is proposed)`);

      // Lengths: bytes for every field but the share count.
      await register(`0x02${bytesToHex(numberToBytesBE(1n, 32))}`);
      const a1 = chain.addresses[2] as Address;
      const s1 = createOperatorSigner('ecdsa', generateOperatorSecretKey('ecdsa', rng), makeDomain({ chainId: ledger.chainId, registry: ledger.registry }));
      await ledger.writer(owner).allowOperator(a1, true);
      await ledger.writer(a1).register({
        socket: 'https://op1.example', sigKeyType: 'ecdsa', sigPublicKey: toHex(s1.publicKey), proofOfPossession: toHex(s1.proofOfPossession(a1)), sessionKey: x(2n),
      });
      await ledger.writer(owner).armGenesis(2);
      const id = await ledger.writer(a0).openSession();
      const deal = { session: id, commitments: toHex(rng(2 * 96)), ephemeralKey: x(3n), sealedShares: [] };
      // A deal is one packed string (2·96 + 33 + 2·48 = 321 bytes here); the contract checks its total.
      const sentence = (got: number) => `submitDeal refused: a deal (tNew G2 commitments ‖ 33-byte ephemeral key ‖ one 48-byte sealed share per recipient) must be 321 bytes, got ${got}`;
      await refused(ledger.writer(a0).submitDeal({ ...deal, commitments: '0x' }), 'BadLength', sentence(33));
      await refused(ledger.writer(a0).submitDeal(deal), 'BadLength', sentence(225));
    });
  });
});
