/**
 * @module
 * `encrypt`: seal bytes to an app id (IBE envelope v1, docs/formats.md) so that only the app —
 * which obtains its app key from t operators — can open them.
 */
import type { ChainError } from '../../chain/errors.ts';
import { encryptToApp } from '../../crypto/ibe.ts';
import { appIdentity } from '../../crypto/key-release.ts';
import type { Hex, LedgerError } from '../../protocol/ledger.ts';
import type { KmsClient } from '../client.ts';
import { InvalidParameterError, NoMasterKeyError, UnknownAppError, type OfflineClientError } from '../errors.ts';
import { aAppId, decodeMpk } from '../utils.ts';

export interface EncryptParameters {
  /** The app's bytes32 id (any letter case; the identity is its lowercase hex). */
  readonly appId: Hex | string;
  /** What to encrypt; a string is taken as UTF-8. */
  readonly plaintext: Uint8Array | string;
  /**
   * The master public key (96-byte G2, hex or bytes). When given, nothing is read from the
   * chain and any app id is accepted (offline mode); take it from `getPublicKey` or
   * `kms-client pubkey`. When omitted, the pinned MPK is read from the chain and the app id
   * must exist there.
   */
  readonly mpk?: Hex | Uint8Array;
  /**
   * Offline only (with `mpk`): the app-key epoch to encrypt to (default 0). Online, the app's
   * current epoch is read from the chain and this must be absent or equal to it.
   */
  readonly epoch?: number;
}

/** The envelope: `195 + |identity| + plaintext.length` bytes (66 at epoch 0; binary; `armor()` gives base64). */
export type EncryptReturnType = Uint8Array;

export type EncryptErrorType = InvalidParameterError | OfflineClientError | UnknownAppError | NoMasterKeyError | ChainError | LedgerError;

const utf8 = new TextEncoder();

/**
 * Encrypts `plaintext` to an app id with the master public key.
 *
 * The envelope's identity is the app's identity at its current key epoch
 * (`appIdentity(appId, epoch)`: the id itself at epoch 0, `<id>#<epoch>` after rotations), so
 * only the key the operators release now opens it.
 *
 * Online (no `mpk`): refuses an app id that has no app on-chain — an envelope to an id nobody
 * owns could never be opened, and app ids are assigned by the contract, so a typo is caught
 * here rather than when the app fails to decrypt. Offline (`mpk` given): encrypts to any id.
 *
 * Reads (online): `getApp`, `getMpk`. No operator is contacted.
 *
 * @param client a {@link KmsClient} (offline clients need `mpk`).
 * @param params {@link EncryptParameters}
 * @returns the envelope bytes ({@link EncryptReturnType}).
 * @throws {@link EncryptErrorType}
 *
 * @example
 * const envelope = await encrypt(client, { appId: '0x6a3f…', plaintext: 'DB_PASSWORD=hunter2' });
 * // offline, with a known MPK:
 * const offline = await encrypt(createKmsClient(), { appId, plaintext, mpk });
 */
export async function encrypt(client: KmsClient, params: EncryptParameters): Promise<EncryptReturnType> {
  const appId = aAppId(params.appId);
  const plaintext = typeof params.plaintext === 'string' ? utf8.encode(params.plaintext) : params.plaintext;
  if (!(plaintext instanceof Uint8Array)) throw new TypeError(`plaintext: expected Uint8Array or string, got ${typeof params.plaintext}`);
  const epoch = params.epoch;
  if (epoch !== undefined && (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > 0xffff_ffff)) {
    throw new InvalidParameterError('epoch', 'an integer from 0 to 4294967295');
  }
  if (params.mpk !== undefined) return encryptToApp(decodeMpk(params.mpk).point, appIdentity(appId, epoch ?? 0), plaintext);

  const ledger = await client.ledger('encrypt (without an explicit mpk)');
  const [app, mpk] = await Promise.all([ledger.getApp(appId), ledger.getMpk()]);
  if (app === null) throw new UnknownAppError(appId, ledger.registry);
  if (mpk === null) throw new NoMasterKeyError(ledger.registry);
  if (epoch !== undefined && epoch !== app.epoch) {
    throw new InvalidParameterError('epoch', `the app's current key epoch, ${app.epoch} (an envelope to another epoch could not be opened with the key operators release now); omit it`);
  }
  return encryptToApp(decodeMpk(mpk, 'on-chain MPK').point, appIdentity(appId, app.epoch), plaintext);
}
