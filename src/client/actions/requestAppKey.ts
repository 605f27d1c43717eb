/**
 * @module
 * `requestAppKey`: obtain an app's key d = x·Q(appId) from t operators' partial signatures
 * (attested key release, SPEC 2 and 5). The exchange and every check it makes are described
 * in `../release.ts`.
 */
import type { ChainError } from '../../chain/errors.ts';
import type { LedgerError } from '../../protocol/ledger.ts';
import type { Hex } from '../../protocol/ledger.ts';
import type { KmsClient } from '../client.ts';
import type {
  AppKeyVerificationError,
  AttestationMethodError,
  InvalidParameterError,
  NoMasterKeyError,
  NotAppOwnerError,
  NotEnoughPartialsError,
  OfflineClientError,
  OperatorFault,
  PublicPolynomialError,
  UnknownAppError,
  UnknownVersionError,
} from '../errors.ts';
import { releaseKey, type KeyReleaseParameters, type ReceivedPartial } from '../release.ts';

export type RequestAppKeyParameters = KeyReleaseParameters;

export interface RequestAppKeyReturnType {
  /** The app id (lowercase bytes32 hex: the IBE identity). */
  readonly appId: Hex;
  /** d = x·Q(appId), 48-byte compressed G1 hex. Secret: whoever holds it decrypts everything sent to the app. */
  readonly appKey: Hex;
  /** The key version whose partials were combined. */
  readonly version: number;
  /** The app-key epoch: the key is x·Q(appIdentity(appId, epoch)) (issue 16; 0 until the first rotation). */
  readonly epoch: number;
  /** Partials needed (t) in that version. */
  readonly threshold: number;
  /** Every partial received for that version, each with its verification result. */
  readonly partials: ReceivedPartial[];
  /** Operators that did not contribute a valid partial, and why (the key was still combined). */
  readonly faults: OperatorFault[];
}

export type RequestAppKeyErrorType =
  | InvalidParameterError
  | OfflineClientError
  | UnknownAppError
  | AttestationMethodError
  | NotAppOwnerError
  | NoMasterKeyError
  | UnknownVersionError
  | PublicPolynomialError
  | NotEnoughPartialsError
  | AppKeyVerificationError
  | ChainError
  | LedgerError;

/**
 * Requests partial signatures from every holder of the key version concurrently, checks each
 * answer (sealed to a fresh response key, signed by the operator's on-chain signing key, of
 * one key version), batch-verifies the partials against the version's public polynomial,
 * combines t of them and verifies the result against the MPK.
 *
 * Bad operators are dropped and named in `faults` (also passed to the client's `onWarning`).
 * With fewer than t valid partials it throws {@link NotEnoughPartialsError}, whose message
 * reads like "2 of 3 needed partials: 0xabc…1234 timed out, 0xdef…5678 sent an invalid partial"
 * and whose `faults` list every operator at fault.
 *
 * Reads: `getApp`, `getMpk`, `getOperators`, `activeVersion`/`getVersion`; operators:
 * `POST /app/sign` (all holders), `GET /pubkey?version=N` (until one serves the right polynomial).
 *
 * @param client a client with a chain ({@link KmsClient}).
 * @param params {@link RequestAppKeyParameters}: `appId`, and `ownerKey` (the app owner's key,
 *   an `ecdsa` attestation) or `attestation` (any provider, e.g. `jwtAttestation`); optionally
 *   `version` or `time`, and `timeoutMs`.
 * @returns {@link RequestAppKeyReturnType}
 * @throws {@link RequestAppKeyErrorType}
 *
 * @example
 * try {
 *   const { appKey, version } = await requestAppKey(client, { appId, ownerKey: process.env.KMS_OWNER_KEY as Hex });
 * } catch (err) {
 *   if (err instanceof NotEnoughPartialsError) for (const f of err.faults) console.error(f.operator, f.kind, f.reason);
 *   throw err;
 * }
 */
export async function requestAppKey(client: KmsClient, params: RequestAppKeyParameters): Promise<RequestAppKeyReturnType> {
  const r = await releaseKey(client, params, 'sign', 'requestAppKey');
  return { appId: r.appId, appKey: r.appKey, version: r.version, epoch: r.epoch, threshold: r.threshold, partials: r.partials, faults: r.faults };
}
