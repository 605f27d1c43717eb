/**
 * @module
 * Deploying the registry (`contracts/KmsRegistry.sol`) with viem.
 *
 * Constructor: `(owner, interval, dealWindow, ackWindow, confirmWindow, inclusionMargin,
 * governanceDelay)`; the contract refuses windows that do not fit (`WindowsDoNotFit`) and a
 * delay above 30 days. Defaults per chain id (SPEC 4; governance can change interval and
 * windows later, after the delay; the inclusion margin and the delay are fixed forever):
 *
 * | chain              | interval | deal / ack / confirm | inclusion margin | governance delay |
 * |--------------------|----------|----------------------|------------------|------------------|
 * | 1 (mainnet)        | 600 s    | 72 / 72 / 72 s       | 36 s (3 blocks)  | 86 400 s (1 day) |
 * | 11155111 (Sepolia) | 120 s    | 30 / 30 / 30 s       | 24 s (2 blocks)  | 86 400 s         |
 * | 31337 (anvil)      | 60 s     | 15 / 15 / 15 s       | 3 s (3 blocks)   | 0 s              |
 * | any other chain    | 60 s     | 15 / 15 / 15 s       | 12 s             | 86 400 s         |
 *
 * The inclusion margin is the time left at the end of each interval so that the last
 * submissions of a round are mined before the next boundary: a few block times. Finality is
 * not reserved (it may exceed the interval; it gates only nodes' local irreversible steps).
 * The governance delay is how long a key-weakening change waits after it is announced
 * (docs/operations.md, "Governance delay"); 0 only on a local chain.
 */
import type { Account, Address, Chain, Hash, PublicClient, Transport, WalletClient } from 'viem';
import { kmsRegistryAbi, kmsRegistryBytecode } from './kms-registry-artifact.ts';
import { DeployError, redactIn } from './errors.ts';

export interface RegistryConfig {
  readonly interval: number;
  readonly dealWindow: number;
  readonly ackWindow: number;
  readonly confirmWindow: number;
  /** Seconds reserved at the end of each interval for inclusion (fixed at deployment). */
  readonly inclusionMargin: number;
  /** Seconds a key-weakening governance change waits before it applies (fixed at deployment). */
  readonly governanceDelay: number;
}

/** One day: long enough for operators to see a queued change and react (docs/operations.md). */
const ONE_DAY = 86_400;

const DEFAULTS: Readonly<Record<string, RegistryConfig>> = {
  '1': { interval: 600, dealWindow: 72, ackWindow: 72, confirmWindow: 72, inclusionMargin: 36, governanceDelay: ONE_DAY },
  '11155111': { interval: 120, dealWindow: 30, ackWindow: 30, confirmWindow: 30, inclusionMargin: 24, governanceDelay: ONE_DAY },
  '31337': { interval: 60, dealWindow: 15, ackWindow: 15, confirmWindow: 15, inclusionMargin: 3, governanceDelay: 0 },
};
/** A chain we have no profile for: local-chain timing, but a public chain's delay. */
const OTHER_CHAIN: RegistryConfig = { interval: 60, dealWindow: 15, ackWindow: 15, confirmWindow: 15, inclusionMargin: 12, governanceDelay: ONE_DAY };

/** The default interval, windows, inclusion margin and governance delay for a chain id (SPEC 4). */
export function defaultRegistryConfig(chainId: number | bigint): RegistryConfig {
  return DEFAULTS[String(chainId)] ?? OTHER_CHAIN;
}

export interface DeployRegistryParameters extends Partial<RegistryConfig> {
  /** Governance owner; default: the deploying account. */
  readonly owner?: Address;
}

export interface DeployRegistryReturnType {
  readonly address: Address;
  readonly transactionHash: Hash;
  readonly blockNumber: bigint;
  readonly gasUsed: bigint;
  readonly owner: Address;
  readonly config: RegistryConfig;
}

export type DeployRegistryErrorType = DeployError;

/**
 * Deploys the registry and waits for the receipt.
 *
 * @example
 * const { address } = await deployRegistry(walletClient, publicClient, { interval: 60 });
 */
export async function deployRegistry(
  walletClient: WalletClient<Transport, Chain | undefined, Account>,
  publicClient: PublicClient,
  params: DeployRegistryParameters = {},
): Promise<DeployRegistryReturnType> {
  const chainId = await publicClient.getChainId();
  const d = defaultRegistryConfig(chainId);
  const config: RegistryConfig = {
    interval: params.interval ?? d.interval,
    dealWindow: params.dealWindow ?? d.dealWindow,
    ackWindow: params.ackWindow ?? d.ackWindow,
    confirmWindow: params.confirmWindow ?? d.confirmWindow,
    inclusionMargin: params.inclusionMargin ?? d.inclusionMargin,
    governanceDelay: params.governanceDelay ?? d.governanceDelay,
  };
  const owner = (params.owner ?? walletClient.account.address).toLowerCase() as Address;
  const meta = [
    'Contract: KmsRegistry',
    `Chain: ${chainId}`,
    `Owner: ${owner}`,
    `Config: interval ${config.interval} s, windows ${config.dealWindow}/${config.ackWindow}/${config.confirmWindow} s, inclusion margin ${config.inclusionMargin} s, governance delay ${config.governanceDelay} s`,
  ];
  for (const [k, v] of Object.entries(config)) {
    if (!Number.isSafeInteger(v) || v < 0) throw new DeployError(`The registry ${k} must be a non-negative integer.`, { metaMessages: meta });
  }
  let hash: Hash;
  try {
    hash = await walletClient.deployContract({
      abi: kmsRegistryAbi,
      bytecode: kmsRegistryBytecode,
      args: [
        owner, BigInt(config.interval), BigInt(config.dealWindow), BigInt(config.ackWindow), BigInt(config.confirmWindow),
        BigInt(config.inclusionMargin), BigInt(config.governanceDelay),
      ],
      chain: walletClient.chain ?? null,
    });
  } catch (cause) {
    const text = cause instanceof Error ? ((cause as { shortMessage?: string }).shortMessage ?? cause.message) : String(cause);
    throw new DeployError('The registry could not be deployed.', { cause, metaMessages: meta, details: redactIn(text, rpcUrlOf(publicClient)) });
  }
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success' || !receipt.contractAddress) {
    throw new DeployError('The registry deployment reverted.', { metaMessages: [...meta, `Transaction: ${hash}`, `Block: ${receipt.blockNumber}`] });
  }
  return {
    address: receipt.contractAddress.toLowerCase() as Address,
    transactionHash: hash,
    blockNumber: receipt.blockNumber,
    gasUsed: receipt.gasUsed,
    owner,
    config,
  };
}

/** The HTTP URL behind a client's transport, when there is one (for redaction). */
export function rpcUrlOf(client: { transport: object }): string | undefined {
  const url = (client.transport as { url?: unknown }).url;
  return typeof url === 'string' ? url : undefined;
}
