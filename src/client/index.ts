/**
 * @module
 * The eigenx-kms client SDK: everything an app needs to use the KMS, with no server
 * dependency (no fastify, pino or SQLite is loaded; a test keeps it so).
 *
 * ```ts
 * import { createKmsClient } from './src/client/index.ts';
 *
 * const kms = createKmsClient({ rpcUrl, registry });
 * const { mpk, threshold, operators } = await kms.getPublicKey();
 * const envelope = await kms.encrypt({ appId, plaintext: 'DB_PASSWORD=hunter2' });
 * const { appKey } = await kms.requestAppKey({ appId, ownerKey });
 * const plaintext = await kms.decrypt({ appId, envelope, appKey });
 * const { env } = await kms.getSecrets({ appId, ownerKey });
 * const { mnemonic } = await kms.appMnemonic({ appId, appKey });
 * ```
 *
 * Every action is also a plain function taking the client first (`requestAppKey(kms, …)`).
 * Walk-through: docs/client.md.
 */
export { createKmsClient, DEFAULT_TIMEOUT_MS, type KmsClient, type KmsClientConfig, type KmsClientOptions } from './client.ts';
export { getOperators, type GetOperatorsErrorType, type GetOperatorsReturnType, type OperatorInfo } from './actions/getOperators.ts';
export { getPublicKey, type GetPublicKeyErrorType, type GetPublicKeyParameters, type GetPublicKeyReturnType } from './actions/getPublicKey.ts';
export { encrypt, type EncryptErrorType, type EncryptParameters, type EncryptReturnType } from './actions/encrypt.ts';
export { decrypt, envelopeBytes, type DecryptErrorType, type DecryptParameters, type DecryptReturnType } from './actions/decrypt.ts';
export { requestAppKey, type RequestAppKeyErrorType, type RequestAppKeyParameters, type RequestAppKeyReturnType } from './actions/requestAppKey.ts';
export { getSecrets, type GetSecretsErrorType, type GetSecretsParameters, type GetSecretsReturnType } from './actions/getSecrets.ts';
export { getReceipts, receiptLogMeta, type GetReceiptsErrorType, type GetReceiptsParameters, type GetReceiptsReturnType, type OperatorLogCheck, type ReceiptListing } from './actions/getReceipts.ts';
export { appMnemonic, type AppMnemonicErrorType, type AppMnemonicParameters, type AppMnemonicReturnType } from './actions/appMnemonic.ts';
export {
  jwtAttestation,
  contractOwnerAttestation,
  ownerKeyAttestation,
  type Attestation,
  type AttestationProvider,
  type AttestationRequest,
  type OwnerKeyAttestationOptions,
} from './attestation.ts';
export type { KeyReleaseAuth, ReceivedPartial } from './release.ts';
export {
  AppFrozenError,
  AppKeyVerificationError,
  AttestationMethodError,
  DecryptionError,
  InvalidParameterError,
  KmsClientError,
  NoMasterKeyError,
  NoReleaseError,
  NotAppOwnerError,
  NotEnoughPartialsError,
  OfflineClientError,
  PublicPolynomialError,
  UnknownAppError,
  UnknownVersionError,
  describeFault,
  type KmsClientErrorParameters,
  type OperatorFault,
  type OperatorFaultKind,
} from './errors.ts';
export type { FetchFn } from './http.ts';
export { armor, dearmor, ENVELOPE_V1 } from '../crypto/ibe.ts';
export type { Address, Hex } from '../protocol/ledger.ts';
