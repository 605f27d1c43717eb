/**
 * @module
 * `getSecrets`: the app's latest release and its decrypted env, through `POST /secrets`
 * (attested key release plus the release env, SPEC 5).
 *
 * The chain is the authority on what the latest release is: the action reads it from the
 * registry, obtains the app key from t operators exactly as `requestAppKey` does, and opens
 * the release's `encryptedEnv` (an IBE envelope to the app id) with it. The env each operator
 * sealed into its answer is compared with the chain's; an operator sending another one is
 * named in `faults` (`wrong-release`) — it does not change the result.
 */
import type { ChainError } from '../../chain/errors.ts';
import { decryptFromApp } from '../../crypto/ibe.ts';
import { appIdentity } from '../../crypto/key-release.ts';
import type { Hex, LedgerError } from '../../protocol/ledger.ts';
import type { KmsClient } from '../client.ts';
import { NoReleaseError, UnknownAppError, type DecryptionError, type OperatorFault } from '../errors.ts';
import { releaseKey, type KeyReleaseParameters } from '../release.ts';
import { aAppId, bytesToHex, lc } from '../utils.ts';
import { toDecryptionError } from './decrypt.ts';
import type { RequestAppKeyErrorType } from './requestAppKey.ts';

export type GetSecretsParameters = KeyReleaseParameters;

export interface GetSecretsReturnType {
  readonly appId: Hex;
  /** The key version whose partials gave the app key. */
  readonly version: number;
  /** The app-key epoch (the env was encrypted to its identity). */
  readonly epoch: number;
  /** The release the env comes from (the app's latest on-chain release). */
  readonly release: {
    readonly index: number;
    readonly imageDigest: Hex;
    readonly launchPolicy: Hex;
    /** Stored in clear on-chain. */
    readonly publicEnv: string;
  };
  /** The decrypted env (empty when the release was published without one). Secret. */
  readonly env: Uint8Array;
  /** Operators that did not contribute, or sent another release's env. */
  readonly faults: OperatorFault[];
}

export type GetSecretsErrorType = RequestAppKeyErrorType | NoReleaseError | DecryptionError | ChainError | LedgerError;

/**
 * Fetches the app's latest release env and decrypts it with the app key released by t
 * operators through `POST /secrets`.
 *
 * Reads: `getApp`, `getRelease` and those of `requestAppKey`; operators: `POST /secrets`.
 *
 * @param client a client with a chain ({@link KmsClient}).
 * @param params {@link GetSecretsParameters} (as `requestAppKey`).
 * @returns {@link GetSecretsReturnType}
 * @throws {@link GetSecretsErrorType}
 *
 * @example
 * const { env, release } = await getSecrets(client, { appId, ownerKey });
 * const vars = Object.fromEntries(new TextDecoder().decode(env).split('\n').filter(Boolean).map((l) => l.split('=', 2)));
 */
export async function getSecrets(client: KmsClient, params: GetSecretsParameters): Promise<GetSecretsReturnType> {
  const appId = aAppId(params?.appId);
  const ledger = await client.ledger('getSecrets');
  // No release, no env: say so before any operator is asked.
  const app = await ledger.getApp(appId);
  if (app === null) throw new UnknownAppError(appId, ledger.registry);
  if (app.releaseCount === 0) throw new NoReleaseError(appId);

  const r = await releaseKey(client, params, 'secrets', 'getSecrets');
  const index = r.app.releaseCount - 1;
  const release = await ledger.getRelease(appId, index);
  if (release === null) throw new NoReleaseError(appId);

  const faults = [...r.faults];
  const extra: OperatorFault[] = [];
  for (const [operator, env] of r.envs) {
    const same = env.releaseIndex === index && bytesToHex(env.encryptedEnv) === lc(release.encryptedEnv) && env.publicEnv === release.publicEnv;
    if (!same) {
      extra.push({ operator, kind: 'wrong-release', reason: `sent the env of release #${env.releaseIndex}, not the latest on-chain release #${index}` });
    }
  }
  client.warn(extra, 'getSecrets');
  faults.push(...extra);

  let env: Uint8Array = new Uint8Array(0);
  if (release.encryptedEnv.length > 2) {
    try {
      // The key as the point the release already decoded and checked (no second decoding).
      // The release was encrypted to the identity of the epoch the key is for (a rotation
      // publishes the re-encrypted env in the same transaction that raises the epoch).
      env = decryptFromApp(r.appKeyPoint, appIdentity(appId, r.epoch), new Uint8Array(Buffer.from(release.encryptedEnv.slice(2), 'hex')));
    } catch (e) {
      throw toDecryptionError(e);
    }
  }
  return {
    appId,
    version: r.version,
    epoch: r.epoch,
    release: { index, imageDigest: lc(release.imageDigest), launchPolicy: lc(release.launchPolicy), publicEnv: release.publicEnv },
    env,
    faults,
  };
}
