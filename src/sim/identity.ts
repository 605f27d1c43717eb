/**
 * @module
 * A simulated operator's identity: the account that sends its transactions, its signing key
 * and the first session key it publishes at registration. Derived from the seed and a label,
 * so one seed always gives the same operators.
 */
import type { OperatorSigner } from '../crypto/operator-sig.ts';
import type { Address, Hex } from '../protocol/ledger.ts';

export interface NodeIdentity {
  readonly index: number;
  /** Human label for transcripts ("op3"). */
  readonly label: string;
  /** The Ethereum account that sends the node's transactions. */
  readonly address: Address;
  readonly signer: OperatorSigner;
  /** The first session key (published at registration). Secret half: tests and the simulator only. */
  readonly firstSessionKey: { readonly public: Hex; readonly secret: Hex };
}
