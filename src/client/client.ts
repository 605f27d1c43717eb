/**
 * @module
 * `createKmsClient(config, options)`: the client is only configuration — where the chain is
 * (an RPC URL and the registry, or any `LedgerReader`), how long to wait for operators, which
 * `fetch` to use — plus every action bound to it as a method (viem's decorator habit). The
 * actions are plain functions in `./actions/`, each usable on its own as `action(client, params)`.
 *
 * Trust model: the chain is the only authority. Operators are discovered from the registry;
 * the MPK is the one pinned on-chain; a public polynomial fetched from an operator is accepted
 * only if it hashes to the version's on-chain `publicPolyHash`; every answer an operator sends
 * is checked against its on-chain signing key. Nothing an operator says is taken on its word.
 *
 * A client created without a chain (`createKmsClient()`) is offline: it encrypts with an
 * explicit MPK and decrypts with an app key it is given; every other action throws
 * {@link OfflineClientError}.
 */
import { createChainLedger, type ReadTag } from '../chain/chain-ledger.ts';
import type { G2 } from '../crypto/bls12381/types.ts';
import { systemRng, type Rng } from '../crypto/rng.ts';
import type { Address, Hex, LedgerReader } from '../protocol/ledger.ts';
import { appMnemonic, type AppMnemonicParameters, type AppMnemonicReturnType } from './actions/appMnemonic.ts';
import { getReceipts, type GetReceiptsParameters, type GetReceiptsReturnType } from './actions/getReceipts.ts';
import { decrypt, type DecryptParameters, type DecryptReturnType } from './actions/decrypt.ts';
import { encrypt, type EncryptParameters, type EncryptReturnType } from './actions/encrypt.ts';
import { getOperators, type GetOperatorsReturnType } from './actions/getOperators.ts';
import { getPublicKey, type GetPublicKeyParameters, type GetPublicKeyReturnType } from './actions/getPublicKey.ts';
import { getSecrets, type GetSecretsParameters, type GetSecretsReturnType } from './actions/getSecrets.ts';
import { requestAppKey, type RequestAppKeyParameters, type RequestAppKeyReturnType } from './actions/requestAppKey.ts';
import { OfflineClientError, type OperatorFault } from './errors.ts';
import type { FetchFn } from './http.ts';

/** Where the chain is: an RPC endpoint and the registry, or a ledger reader you already have. */
export type KmsClientConfig =
  | {
      /** JSON-RPC URL (may carry credentials; they never appear in errors). */
      readonly rpcUrl: string;
      /** Address of the KmsRegistry contract. */
      readonly registry: Address;
      /** Expected chain id (checked against the node); read from the node when omitted. */
      readonly chainId?: number | bigint;
      /** Block tag reads resolve to (default `latest`; use `safe`/`finalized` on public chains). */
      readonly blockTag?: ReadTag;
    }
  | {
      /** Any `LedgerReader`: a `ChainLedger`, or the in-memory ledger in tests. */
      readonly ledger: LedgerReader;
    };

export interface KmsClientOptions {
  /** How long to wait for each operator request, in ms (default 10 000). */
  readonly timeoutMs?: number;
  /** The `fetch` to reach operators with (default: the global `fetch`). */
  readonly fetch?: FetchFn;
  /** Randomness for batch-verification weights (default: the OS CSPRNG). */
  readonly rng?: Rng;
  /**
   * Called with the operators at fault when an action still succeeded without them (a wrong
   * public polynomial, an invalid partial…). Results carry the same list as `faults`.
   */
  readonly onWarning?: (faults: readonly OperatorFault[], action: string) => void;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

/** A public polynomial that matched the chain, kept per (version, hash). */
export interface VerifiedPoly {
  readonly hex: readonly Hex[];
  readonly points: readonly G2[];
  /** Who served it: an operator, or the ledger's own copy. */
  readonly source: Address | 'chain';
  readonly faults: readonly OperatorFault[];
}

/** The client: configuration, its ledger, and the actions bound to it. */
export interface KmsClient {
  /** True when created without a chain: only offline encrypt/decrypt/mnemonic work. */
  readonly offline: boolean;
  readonly timeoutMs: number;
  readonly fetch: FetchFn;
  readonly rng: Rng;
  /** The ledger reader (connected on first use); throws {@link OfflineClientError} offline. */
  ledger(action: string): Promise<LedgerReader>;
  /** Reports faults that did not stop an action (see `onWarning`). */
  warn(faults: readonly OperatorFault[], action: string): void;
  /** Public polynomials already checked against the chain, by `version:hash`. */
  readonly polyCache: Map<string, Promise<VerifiedPoly>>;

  getOperators(): Promise<GetOperatorsReturnType>;
  getPublicKey(params?: GetPublicKeyParameters): Promise<GetPublicKeyReturnType>;
  encrypt(params: EncryptParameters): Promise<EncryptReturnType>;
  decrypt(params: DecryptParameters): Promise<DecryptReturnType>;
  requestAppKey(params: RequestAppKeyParameters): Promise<RequestAppKeyReturnType>;
  getSecrets(params: GetSecretsParameters): Promise<GetSecretsReturnType>;
  appMnemonic(params: AppMnemonicParameters): Promise<AppMnemonicReturnType>;
  getReceipts(params: GetReceiptsParameters): Promise<GetReceiptsReturnType>;
}

function aTimeout(ms: unknown): number {
  if (ms === undefined) return DEFAULT_TIMEOUT_MS;
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 1) throw new RangeError(`timeoutMs: expected a positive integer, got ${String(ms)}`);
  return ms;
}

/**
 * Creates a client for one registry.
 *
 * @param config `{ rpcUrl, registry }` (connects lazily, on the first action that needs the
 *   chain), `{ ledger }`, or nothing for an offline client.
 * @param options timeouts, `fetch`, randomness, a warning hook.
 * @returns a {@link KmsClient} with every action bound as a method.
 *
 * @example
 * import { createKmsClient } from './src/client/index.ts';
 *
 * const kms = createKmsClient({ rpcUrl: 'http://127.0.0.1:8545', registry: '0x5fbdb2315678afecb367f032d93f642f64180aa3' });
 * const envelope = await kms.encrypt({ appId, plaintext: 'DB_PASSWORD=hunter2' });
 * const { appKey } = await kms.requestAppKey({ appId, ownerKey });
 * const plaintext = await kms.decrypt({ appId, envelope, appKey });
 */
export function createKmsClient(config?: KmsClientConfig, options: KmsClientOptions = {}): KmsClient {
  const timeoutMs = aTimeout(options.timeoutMs);
  const fetchFn: FetchFn = options.fetch ?? ((input, init) => fetch(input, init));
  const rng = options.rng ?? systemRng;
  let connect: (() => Promise<LedgerReader>) | null = null;
  if (config !== undefined) {
    if ('ledger' in config) {
      const ledger = config.ledger;
      connect = async () => ledger;
    } else {
      let pending: Promise<LedgerReader> | null = null;
      connect = () => {
        pending ??= createChainLedger({
          rpcUrl: config.rpcUrl,
          registry: config.registry,
          ...(config.chainId !== undefined ? { chainId: config.chainId } : {}),
          ...(config.blockTag !== undefined ? { blockTag: config.blockTag } : {}),
        }).catch((err: unknown) => {
          pending = null; // a failed connection is retried by the next action
          throw err;
        });
        return pending;
      };
    }
  }

  const client: KmsClient = {
    offline: connect === null,
    timeoutMs,
    fetch: fetchFn,
    rng,
    ledger: async (action) => {
      if (connect === null) throw new OfflineClientError(action);
      return connect();
    },
    warn: (faults, action) => {
      if (faults.length > 0) options.onWarning?.(faults, action);
    },
    polyCache: new Map(),
    getOperators: () => getOperators(client),
    getPublicKey: (params) => getPublicKey(client, params),
    encrypt: (params) => encrypt(client, params),
    decrypt: (params) => decrypt(client, params),
    requestAppKey: (params) => requestAppKey(client, params),
    getSecrets: (params) => getSecrets(client, params),
    appMnemonic: (params) => appMnemonic(client, params),
    getReceipts: (params) => getReceipts(client, params),
  };
  return client;
}
