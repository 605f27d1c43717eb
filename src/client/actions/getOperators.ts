/**
 * @module
 * `getOperators`: the registry's operators, as an app sees them.
 */
import type { ChainError } from '../../chain/errors.ts';
import { operatorX } from '../../crypto/operator-x.ts';
import type { Address, Hex, LedgerError, OperatorStatus, SigKeyType } from '../../protocol/ledger.ts';
import type { KmsClient } from '../client.ts';
import type { OfflineClientError } from '../errors.ts';
import { scalarHex } from '../utils.ts';

/** One registered operator. */
export interface OperatorInfo {
  /** Ethereum address (lowercase). */
  readonly address: Address;
  /** Base URL of its HTTP API, as registered. */
  readonly socket: string;
  /** `active`, or `leaving` (deregistered or ejected; still deals in the next reshare). */
  readonly status: OperatorStatus;
  /** Type of the key that signs its answers: `bn254` or `ecdsa`. */
  readonly sigKeyType: SigKeyType;
  /** Its signing public key (BN254: 128-byte G2; ECDSA: 20-byte signer address). */
  readonly sigPublicKey: Hex;
  /** Its Shamir x-coordinate, keccak256(address) mod r, as 32-byte hex. */
  readonly x: Hex;
  /** Whether it holds a share of the active key version (only holders can release app keys). */
  readonly holder: boolean;
}

export type GetOperatorsReturnType = OperatorInfo[];
export type GetOperatorsErrorType = OfflineClientError | ChainError | LedgerError;

/**
 * Lists the operators registered on the registry, in registration order, with whether each
 * holds a share of the active key version.
 *
 * Reads: `getOperators`, `activeVersion` (one chain read each; no operator is contacted).
 *
 * @param client a client with a chain ({@link KmsClient}).
 * @returns {@link GetOperatorsReturnType}
 * @throws {@link GetOperatorsErrorType}
 *
 * @example
 * const operators = await getOperators(client);
 * for (const op of operators) console.log(op.address, op.socket, op.holder ? 'holder' : '');
 */
export async function getOperators(client: KmsClient): Promise<GetOperatorsReturnType> {
  const ledger = await client.ledger('getOperators');
  const [records, active] = await Promise.all([ledger.getOperators(), ledger.activeVersion()]);
  const holders = new Set((active?.holders ?? []).map((a) => a.toLowerCase()));
  return records.map((r) => ({
    address: r.address.toLowerCase() as Address,
    socket: r.socket,
    status: r.status,
    sigKeyType: r.sigKeyType,
    sigPublicKey: r.sigPublicKey,
    x: scalarHex(operatorX(r.address)),
    holder: holders.has(r.address.toLowerCase()),
  }));
}
