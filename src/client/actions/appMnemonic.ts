/**
 * @module
 * `appMnemonic`: the app's wallet seed, a 24-word BIP39 mnemonic derived from its app key
 * (SPEC 2: `BIP39(HKDF-SHA256(d, info = "eigenx-kms/mnemonic/v1"))`). The same app key gives
 * the same words on every run and every client, and across reshares (the app key never changes).
 */
import { appMnemonic as mnemonicOf } from '../../crypto/mnemonic.ts';
import type { Hex } from '../../protocol/ledger.ts';
import type { KmsClient } from '../client.ts';
import type { InvalidParameterError } from '../errors.ts';
import { aAppId, decodeAppKey } from '../utils.ts';
import { requestAppKey, type RequestAppKeyErrorType, type RequestAppKeyParameters } from './requestAppKey.ts';

export type AppMnemonicParameters =
  | {
      readonly appId: Hex | string;
      /** The app key (48-byte G1) you already hold: offline, nothing is sent. */
      readonly appKey: Hex | Uint8Array;
    }
  /** Or everything `requestAppKey` takes: the app key is requested from the operators first. */
  | RequestAppKeyParameters;

export interface AppMnemonicReturnType {
  readonly appId: Hex;
  /** 24 English BIP39 words separated by single spaces. Secret: it controls the app's wallet. */
  readonly mnemonic: string;
  /** The key version whose partials gave the app key (online only; the words do not depend on it). */
  readonly version?: number;
}

export type AppMnemonicErrorType = InvalidParameterError | RequestAppKeyErrorType;

/**
 * Derives the app's 24-word wallet mnemonic from its app key, requesting the key first when
 * it is not given.
 *
 * @param client a {@link KmsClient} (offline clients need `appKey`).
 * @param params {@link AppMnemonicParameters}
 * @returns {@link AppMnemonicReturnType}
 * @throws {@link AppMnemonicErrorType}
 *
 * @example
 * const { mnemonic } = await appMnemonic(client, { appId, ownerKey });
 * const account = mnemonicToAccount(mnemonic); // viem/accounts
 */
export async function appMnemonic(client: KmsClient, params: AppMnemonicParameters): Promise<AppMnemonicReturnType> {
  if ('appKey' in params && params.appKey !== undefined) {
    const appId = aAppId(params.appId);
    const { bytes } = decodeAppKey(params.appKey);
    try {
      return { appId, mnemonic: mnemonicOf(bytes) };
    } finally {
      bytes.fill(0);
    }
  }
  const r = await requestAppKey(client, params as RequestAppKeyParameters);
  const bytes = new Uint8Array(Buffer.from(r.appKey.slice(2), 'hex'));
  try {
    return { appId: r.appId, mnemonic: mnemonicOf(bytes), version: r.version };
  } finally {
    bytes.fill(0);
  }
}
