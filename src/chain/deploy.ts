/**
 * @module
 * Deploying the registry (`contracts/KmsRegistry.sol`) with viem.
 *
 * Constructor: `(owner, interval, dealWindow, ackWindow, confirmWindow, finalityLag)`; the
 * contract refuses windows that do not fit (`WindowsDoNotFit`). Defaults per chain id
 * (SPEC 4; governance can change interval and windows later, the finality lag is fixed):
 *
 * | chain            | interval | deal / ack / confirm | finality lag | read tag |
 * |------------------|----------|----------------------|--------------|----------|
 * | 1 (mainnet)      | 600 s    | 72 / 72 / 72 s       | 384 s        | `safe`   |
 * | 11155111 (Sepolia)| 120 s   | 30 / 30 / 30 s       | 24 s         | `latest` + lag |
 * | 31337 (anvil)    | 60 s     | 15 / 15 / 15 s       | 0 s          | `latest` |
 *
 * Other chains get the anvil values unless parameters are given.
 */
import type { Account, Address, Chain, Hash, PublicClient, Transport, WalletClient } from 'viem';
import { kmsRegistryAbi, kmsRegistryBytecode } from './kms-registry-artifact.ts';
import { DeployError, redactIn } from './errors.ts';

export interface RegistryConfig {
  readonly interval: number;
  readonly dealWindow: number;
  readonly ackWindow: number;
  readonly confirmWindow: number;
  readonly finalityLag: number;
}

const DEFAULTS: Readonly<Record<string, RegistryConfig>> = {
  '1': { interval: 600, dealWindow: 72, ackWindow: 72, confirmWindow: 72, finalityLag: 384 },
  '11155111': { interval: 120, dealWindow: 30, ackWindow: 30, confirmWindow: 30, finalityLag: 24 },
  '31337': { interval: 60, dealWindow: 15, ackWindow: 15, confirmWindow: 15, finalityLag: 0 },
};

/** The default interval, windows and finality lag for a chain id (SPEC 4). */
export function defaultRegistryConfig(chainId: number | bigint): RegistryConfig {
  return DEFAULTS[String(chainId)] ?? (DEFAULTS['31337'] as RegistryConfig);
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
    finalityLag: params.finalityLag ?? d.finalityLag,
  };
  const owner = (params.owner ?? walletClient.account.address).toLowerCase() as Address;
  const meta = [
    'Contract: KmsRegistry',
    `Chain: ${chainId}`,
    `Owner: ${owner}`,
    `Config: interval ${config.interval} s, windows ${config.dealWindow}/${config.ackWindow}/${config.confirmWindow} s, finality lag ${config.finalityLag} s`,
  ];
  for (const [k, v] of Object.entries(config)) {
    if (!Number.isSafeInteger(v) || v < 0) throw new DeployError(`The registry ${k} must be a non-negative integer.`, { metaMessages: meta });
  }
  let hash: Hash;
  try {
    hash = await walletClient.deployContract({
      abi: kmsRegistryAbi,
      bytecode: kmsRegistryBytecode,
      args: [owner, BigInt(config.interval), BigInt(config.dealWindow), BigInt(config.ackWindow), BigInt(config.confirmWindow), BigInt(config.finalityLag)],
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
