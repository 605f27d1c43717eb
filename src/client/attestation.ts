/**
 * @module
 * Attestation providers: how a key-release request proves it may have the app key (SPEC 5).
 * A provider is asked once per request, after the fresh response key and nonce are drawn, and
 * returns the `attestation` field of the request body. The same attestation goes to every
 * operator (the replay cache is per operator, keyed on (nonce, response key)).
 *
 * Either way the attestation binds the whole request (route, app, response key, nonce, key
 * version or time), so nobody who sees it can turn it into a different request.
 *
 * - {@link ownerKeyAttestation}: `ecdsa` — the app owner signs the EIP-712 typed data
 *   `KeyRequest{route, appId, responseKey, nonce, time, keyVersion, keyTime}` with domain
 *   {name "eigenx-kms", version "2", chainId, verifyingContract = registry}
 *   (`keyRequestTypedData` in src/crypto/key-release.ts). Operators accept it within ±5 min
 *   of `time`, and only in its canonical form (low s, v = 27 or 28), as viem signs.
 * - {@link jwtAttestation}: `jwt` — a TEE token (Confidential Space) whose `eat_nonce` must be
 *   `request.eatNonce` (`eatNonce` in src/crypto/key-release.ts, docs/formats.md); the provider
 *   receives that value and obtains the token from the TEE's attestation service.
 */
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { keyRequestTypedData, type KeyReleaseRoute } from '../crypto/key-release.ts';
import type { Address, AttestationMethod, Hex } from '../protocol/ledger.ts';
import { InvalidParameterError } from './errors.ts';

/** What a provider may bind its attestation to. */
export interface AttestationRequest {
  /** The route the request goes to: `/app/sign` (the app key) or `/secrets` (key and env). */
  readonly route: KeyReleaseRoute;
  /** The app id (lowercase bytes32 hex). */
  readonly appId: Hex;
  /** The fresh X25519 response key of this request. */
  readonly responseKey: Hex;
  /** The fresh nonce of this request. */
  readonly nonce: Hex;
  /** The key version the request names, if any. */
  readonly version?: number;
  /** The chain time the request names for key selection, if any. */
  readonly keyTime?: number;
  readonly chainId: bigint;
  readonly registry: Address;
  /**
   * The `eat_nonce` a TEE token must carry (0x-hex): SHA-256 over the deployment, route, app
   * id, response key, nonce and key version or time (`eatNonce`, docs/formats.md).
   */
  readonly eatNonce: Hex;
}

/** The request body's `attestation` field (src/node/http/schemas.ts). */
export type Attestation =
  | { readonly method: 'ecdsa'; readonly signature: Hex; readonly time: number }
  | { readonly method: 'jwt'; readonly token: string };

export interface AttestationProvider {
  readonly method: AttestationMethod;
  /** `ecdsa`: the signer's address, checked against the app owner before anything is sent. */
  readonly signer?: Address;
  attest(request: AttestationRequest): Promise<Attestation>;
}

export interface OwnerKeyAttestationOptions {
  /** Signing time in unix seconds (default: this machine's clock). Operators accept ±5 min. */
  readonly now?: () => number;
}

/**
 * An `ecdsa` attestation signed by the app owner's secp256k1 key. The key stays inside the
 * returned provider (viem's local account); it is never sent and never appears in an error.
 *
 * @example
 * const attestation = ownerKeyAttestation(process.env.KMS_OWNER_KEY as Hex);
 * const { appKey } = await client.requestAppKey({ appId, attestation });
 */
export function ownerKeyAttestation(ownerKey: Hex, options: OwnerKeyAttestationOptions = {}): AttestationProvider {
  let account: PrivateKeyAccount;
  try {
    if (typeof ownerKey !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(ownerKey)) throw new Error('shape');
    account = privateKeyToAccount(ownerKey.toLowerCase() as Hex);
  } catch {
    // Never the key or the library's message (which could quote it): only what is expected.
    throw new InvalidParameterError('ownerKey', 'a secp256k1 private key: 32 bytes of 0x-hex, a non-zero number below the curve order');
  }
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  return {
    method: 'ecdsa',
    signer: account.address.toLowerCase() as Address,
    attest: async (r) => {
      const time = now();
      const typed = keyRequestTypedData({
        chainId: r.chainId, registry: r.registry, route: r.route, appId: r.appId, responseKey: r.responseKey, nonce: r.nonce, time,
        version: r.version, keyTime: r.keyTime,
      });
      const signature = await account.signTypedData(typed);
      return { method: 'ecdsa', signature: signature.toLowerCase() as Hex, time };
    },
  };
}

/**
 * An `ecdsa` attestation for an app owned by a contract wallet (EIP-1271): every key in
 * `signerKeys` signs the same EIP-712 typed data, and the signatures are concatenated in the
 * order given (65 bytes each) — what a multisig's `isValidSignature` usually expects; operators
 * pass the bytes to the wallet unchanged and accept iff it returns 0x1626ba7e. At most 15 keys
 * (1024 bytes). The keys stay inside the provider.
 *
 * @example
 * // A 2-of-3 wallet: two of its owners sign.
 * const attestation = contractOwnerAttestation([ownerKeyA, ownerKeyB]);
 * const { appKey } = await client.requestAppKey({ appId, attestation });
 */
export function contractOwnerAttestation(signerKeys: readonly Hex[], options: OwnerKeyAttestationOptions = {}): AttestationProvider {
  if (!Array.isArray(signerKeys) || signerKeys.length === 0 || signerKeys.length > 15) {
    throw new InvalidParameterError('signerKeys', 'a list of 1 to 15 secp256k1 private keys of the wallet\'s owners');
  }
  for (const k of signerKeys) ownerKeyAttestation(k); // each key checked now, not at the first request
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  return {
    method: 'ecdsa',
    attest: async (r) => {
      // Every signer signs the same typed data, so at the same time.
      const time = now();
      const parts: string[] = [];
      for (const k of signerKeys) {
        const a = await ownerKeyAttestation(k, { now: () => time }).attest(r);
        if (a.method !== 'ecdsa') throw new Error('unreachable: an owner key signs ecdsa');
        parts.push(a.signature.slice(2));
      }
      return { method: 'ecdsa', signature: `0x${parts.join('')}` as Hex, time };
    },
  };
}

/**
 * A `jwt` attestation: `getToken` receives the request (its `eatNonce` above all) and returns a
 * TEE token whose `eat_nonce` claim is `request.eatNonce`.
 *
 * @example
 * const attestation = jwtAttestation(async ({ eatNonce }) => fetchConfidentialSpaceToken({ audience, nonces: [eatNonce] }));
 * const { appKey } = await client.requestAppKey({ appId, attestation });
 */
export function jwtAttestation(getToken: (request: AttestationRequest) => string | Promise<string>): AttestationProvider {
  if (typeof getToken !== 'function') throw new TypeError(`getToken: expected a function, got ${typeof getToken}`);
  return {
    method: 'jwt',
    attest: async (r) => {
      const token = await getToken(r);
      if (typeof token !== 'string' || token.length === 0) throw new InvalidParameterError('jwt token', 'a non-empty compact JWT string from getToken');
      return { method: 'jwt', token };
    },
  };
}
