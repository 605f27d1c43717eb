/**
 * @module
 * Readable text for the enum reasons the registry's custom errors carry (`BadKey(KeyProblem)`,
 * `BadParameter(ParameterProblem)`, `BadComplaint(index, ComplaintProblem)`,
 * `BadLength(LengthField, expected, actual)`, `NothingQueued(ChangeKind)`).
 *
 * Each list is the Solidity enum in declaration order (viem decodes an enum as its index);
 * `test/chain/refusal-reasons.test.ts` checks them against `contracts/KmsRegistry.sol`, so a
 * reordered or added member cannot silently shift every message.
 */

/** `KmsRegistry.KeyProblem`. */
export const KEY_PROBLEMS = [
  ['UnknownSigKeyType', 'the signing key type is unknown (0 = bn254, 1 = ecdsa)'],
  ['Bn254KeyLength', 'a bn254 signing key is 128 bytes'],
  ['EcdsaKeyLength', 'an ecdsa signing key is a 20-byte address'],
  ['SessionKeyLength', 'a session key is 33 bytes (a compressed secp256k1 point)'],
  ['SessionKeyPrefix', 'a session key starts with 02 or 03 (a compressed secp256k1 point)'],
  ['SessionKeyXOutOfRange', 'the session key is not a point on secp256k1: its x is not below the field modulus p'],
  ['SessionKeyNotOnCurve', 'the session key is not a point on secp256k1: no point has this x (x³ + 7 is not a square mod p)'],
] as const;

/** `KmsRegistry.ParameterProblem`. */
export const PARAMETER_PROBLEMS = [
  ['ZeroAddress', 'the owner must not be the zero address'],
  ['GovernanceDelayTooLong', 'the governance delay is at most 30 days'],
  ['ChurnCapTooLarge', 'a churn cap is at most 256 (the registry\'s operator limit)'],
  ['GenesisMinOperatorsOutOfRange', 'armGenesis needs 2 to 256 operators'],
  ['UnknownAttestationMethod', 'an attestation method is unknown (expected ecdsa or jwt)'],
  ['AllowQueueFull', '256 allow-list entries are already waiting for the governance delay'],
  ['ValueTooLarge', 'a number does not fit the field that stores it'],
  ['ProtocolVersionZero', 'protocol versions start at 1'],
] as const;

/** `KmsRegistry.ComplaintProblem`. */
export const COMPLAINT_PROBLEMS = [
  ['DealerHasNotDealt', 'the named dealer has not dealt in this session'],
  ['DealerNamedTwice', 'the dealer is named twice'],
  ['SharedKeyLength', 'the shared key is not 33 bytes'],
  ['ProofLength', 'the proof is not 64 bytes'],
  ['TooManyComplaints', 'more complaints than deals'],
] as const;

/** `KmsRegistry.LengthField`. */
export const LENGTH_FIELDS = [
  ['Commitments', 'commitments'],
  ['EphemeralKey', 'ephemeralKey'],
  ['SealedShares', 'sealedShares'],
  ['SealedShare', 'sealedShare'],
  ['PublicPoly', 'publicPoly'],
  ['ImageDigest', 'imageDigest'],
  ['Deal', 'deal'],
] as const;

/** `KmsRegistry.ChangeKind`, as `GovernanceChangeKind` (src/protocol/ledger.ts) names it. */
export const CHANGE_KINDS = [
  ['ThresholdOverride', 'thresholdOverride'],
  ['ChurnCap', 'churnCap'],
  ['Schedule', 'schedule'],
  ['Ownership', 'ownership'],
] as const;

/** The text of enum member `value` of `table`, or `#value` for a member this build does not know. */
export function reasonText(table: readonly (readonly [string, string])[], value: unknown): string {
  const i = typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : -1;
  return table[i]?.[1] ?? `#${String(value)}`;
}
