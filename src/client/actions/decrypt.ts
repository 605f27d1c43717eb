/**
 * @module
 * `decrypt`: open an IBE envelope v1 with the app key. Offline: no chain, no operator.
 */
import { dearmor, decryptFromApp, IbeError, parseEnvelope } from '../../crypto/ibe.ts';
import { appIdentity, parseAppIdentity } from '../../crypto/key-release.ts';
import type { Hex } from '../../protocol/ledger.ts';
import type { KmsClient } from '../client.ts';
import { DecryptionError, InvalidParameterError } from '../errors.ts';
import { aAppId, decodeAppKey } from '../utils.ts';

export interface DecryptParameters {
  /** The app id the envelope must be addressed to (an envelope for another id is refused). */
  readonly appId: Hex | string;
  /** The envelope: binary bytes, or armored base64 (as bytes or a string). */
  readonly envelope: Uint8Array | string;
  /** The app key d = x·Q(identity), 48-byte G1 (hex or bytes), from `requestAppKey`. */
  readonly appKey: Hex | Uint8Array;
  /**
   * The app-key epoch the key is for (`requestAppKey` returns it). Default: the epoch the
   * envelope names, if it is addressed to this app at all.
   */
  readonly epoch?: number;
}

/** The plaintext bytes. */
export type DecryptReturnType = Uint8Array;

export type DecryptErrorType = InvalidParameterError | DecryptionError;

const MAGIC = [0x45, 0x4b, 0x4d, 0x53]; // "EKMS"

/**
 * The binary envelope from binary or armored input: bytes starting with the magic "EKMS" are
 * binary; anything else must be armored base64 (surrounding whitespace allowed). The two
 * cannot be confused: base64 never starts with "EKMS" followed by the version byte 0x01.
 */
export function envelopeBytes(input: Uint8Array | string): Uint8Array {
  if (typeof input === 'string') return dearmorOrThrow(input);
  if (!(input instanceof Uint8Array)) throw new TypeError(`envelope: expected Uint8Array or string, got ${typeof input}`);
  if (input.length >= 5 && MAGIC.every((b, i) => input[i] === b) && input[4] === 1) return input;
  if (input.length >= 4 && MAGIC.every((b, i) => input[i] === b)) return input; // binary with another version: let the parser say so
  return dearmorOrThrow(Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8'));
}

function dearmorOrThrow(text: string): Uint8Array {
  try {
    return dearmor(text);
  } catch (e) {
    throw new DecryptionError('bad-armor', 'The input is neither a binary envelope (it does not start with "EKMS") nor armored base64.', { cause: e });
  }
}

/** Maps the IBE layer's refusal to a DecryptionError with a sentence a user can act on. */
export function toDecryptionError(e: unknown): unknown {
  if (!(e instanceof IbeError)) return e;
  const text = e.message.replace(/^ibe: /, '');
  switch (e.code) {
    case 'decrypt-failed':
      return new DecryptionError(e.code, 'The envelope does not decrypt with this app key (a wrong key, or the envelope was altered).', { cause: e, details: text });
    case 'wrong-app':
      return new DecryptionError(e.code, `The envelope is addressed to another app: ${text}.`, { cause: e });
    case 'bad-key':
      return new DecryptionError(e.code, 'The app key is not a valid G1 point.', { cause: e });
    default:
      return new DecryptionError(e.code, `The envelope is malformed: ${text}.`, { cause: e });
  }
}

/**
 * Decrypts an envelope addressed to `appId` with the app key.
 *
 * Never returns unauthenticated bytes: a wrong key or any altered byte fails the KEM check or
 * the AES-GCM tag. Errors never contain the key or any decrypted byte.
 *
 * @param _client any {@link KmsClient} (offline ones too).
 * @param params {@link DecryptParameters}
 * @returns the plaintext ({@link DecryptReturnType}).
 * @throws {@link DecryptErrorType}
 *
 * @example
 * const { appKey } = await requestAppKey(client, { appId, ownerKey });
 * const plaintext = await decrypt(client, { appId, envelope, appKey });
 * console.log(new TextDecoder().decode(plaintext));
 */
export async function decrypt(_client: KmsClient, params: DecryptParameters): Promise<DecryptReturnType> {
  const appId = aAppId(params.appId);
  const { point } = decodeAppKey(params.appKey);
  const envelope = envelopeBytes(params.envelope);
  let identity: string = appId;
  try {
    if (params.epoch !== undefined) identity = appIdentity(appId, params.epoch);
    else {
      // The envelope's identity says which epoch it was sealed to; one of another app is left
      // as is, so that decryptFromApp refuses it as addressed to another app.
      const named = parseAppIdentity(parseEnvelope(envelope).appId);
      if (named !== null && named.appId === appId) identity = appIdentity(appId, named.epoch);
    }
  } catch (e) {
    if (e instanceof RangeError) throw new InvalidParameterError('epoch', 'an integer from 0 to 4294967295');
    throw toDecryptionError(e);
  }
  try {
    return decryptFromApp(point, identity, envelope);
  } catch (e) {
    throw toDecryptionError(e);
  }
}
