/**
 * @module
 * Chain profiles: what a node needs to know about a chain, chosen by its **chain id** — never
 * by the text of an RPC URL (SPEC 4, v3). One table, mirrored in docs/operations.md.
 *
 * - `interval`: the default reshare interval a deployment on this chain starts with
 *   (governance can change it). The seed's values for 1 (600 s), 11155111 (120 s) and 31337
 *   (60 s); for the others: public testnets take Sepolia's 120 s (same block time, same
 *   purpose); L2 mainnets take 300 s — a round costs cents there, a membership change within
 *   five minutes is ample, and every window still spans many blocks (≥ 30 s of 0.25–2 s blocks);
 *   L2 testnets 120 s.
 * - `finality`: how the node reads the last block no reorg can undo. It gates only the
 *   node's irreversible local steps (retiring and deleting versions, deleting session
 *   secrets, forgetting rounds), which may trail the rounds by several intervals; rounds
 *   themselves act on the latest block. Every profile uses the chain's `finalized` tag: on
 *   Ethereum and its testnets that is the last finalized epoch (~13 min); on OP-stack chains
 *   (Base, OP) and Arbitrum it is the L2 block whose batch sits in a finalized L1 block
 *   (~15–30 min). On anvil (31337) it is the head minus twice `--slots-in-an-epoch`.
 * - `blockTime`: expected seconds per block (how long "a few blocks" is when a transaction
 *   waits to be mined; docs).
 * - `maxFeeGwei`: the default cap on a transaction's max fee per gas (the operator's
 *   `--max-fee-gwei` replaces it); null: no cap (a local chain).
 *
 * An unknown chain id has no profile: the node starts only with explicit `--finality`.
 */

/** How finality is read: a block tag, or the head minus a number of confirmations. */
export type Finality = 'finalized' | 'safe' | { readonly confirmations: number };

export interface ChainProfile {
  readonly chainId: number;
  readonly name: string;
  /** Default reshare interval of a deployment, seconds. */
  readonly interval: number;
  /** Expected seconds per block. */
  readonly blockTime: number;
  readonly finality: Finality;
  /** Typical seconds from inclusion to finality (docs, and how far retention trails). */
  readonly finalitySeconds: number;
  /** Default cap on max fee per gas, gwei (null: none). */
  readonly maxFeeGwei: number | null;
}

export const CHAIN_PROFILES: readonly ChainProfile[] = [
  { chainId: 1, name: 'Ethereum', interval: 600, blockTime: 12, finality: 'finalized', finalitySeconds: 768, maxFeeGwei: 100 },
  { chainId: 11155111, name: 'Sepolia', interval: 120, blockTime: 12, finality: 'finalized', finalitySeconds: 768, maxFeeGwei: 200 },
  { chainId: 17000, name: 'Holesky', interval: 120, blockTime: 12, finality: 'finalized', finalitySeconds: 768, maxFeeGwei: 200 },
  { chainId: 560048, name: 'Hoodi', interval: 120, blockTime: 12, finality: 'finalized', finalitySeconds: 768, maxFeeGwei: 200 },
  { chainId: 8453, name: 'Base', interval: 300, blockTime: 2, finality: 'finalized', finalitySeconds: 1200, maxFeeGwei: 5 },
  { chainId: 84532, name: 'Base Sepolia', interval: 120, blockTime: 2, finality: 'finalized', finalitySeconds: 1200, maxFeeGwei: 5 },
  { chainId: 42161, name: 'Arbitrum One', interval: 300, blockTime: 0.25, finality: 'finalized', finalitySeconds: 1200, maxFeeGwei: 5 },
  { chainId: 10, name: 'OP Mainnet', interval: 300, blockTime: 2, finality: 'finalized', finalitySeconds: 1200, maxFeeGwei: 5 },
  { chainId: 31337, name: 'local (anvil)', interval: 60, blockTime: 1, finality: 'finalized', finalitySeconds: 64, maxFeeGwei: null },
];

/** The profile of a chain id, or null for a chain this table does not know. */
export function chainProfile(chainId: bigint | number): ChainProfile | null {
  const id = Number(chainId);
  return CHAIN_PROFILES.find((p) => p.chainId === id) ?? null;
}

/** Most confirmations a `--finality N` may ask for (a week of 1 s blocks: beyond that, a typo). */
export const MAX_CONFIRMATIONS = 604_800;

/**
 * A read point as given (tag or confirmations), checked: a tag among latest/safe/finalized, or
 * a whole number of confirmations 0 ≤ N ≤ MAX_CONFIRMATIONS. Throws RangeError otherwise.
 */
export function checkReadPoint<T extends 'latest' | Finality>(p: T): T {
  if (p === 'latest' || p === 'safe' || p === 'finalized') return p;
  if (typeof p === 'object' && p !== null) {
    const n = (p as { confirmations?: unknown }).confirmations;
    if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n <= MAX_CONFIRMATIONS) return p;
  }
  throw new RangeError(`finality: expected "finalized", "safe" or a number of confirmations 0..${MAX_CONFIRMATIONS}`);
}

/** `--finality` text → Finality: `finalized`, `safe`, or a whole number of confirmations. */
export function parseFinality(text: string): Finality {
  const t = text.trim().toLowerCase();
  if (t === 'finalized' || t === 'safe') return t;
  if (/^\d+$/.test(t)) return checkReadPoint({ confirmations: Number(t) });
  throw new RangeError(`expected "finalized", "safe" or a number of confirmations, got "${text}"`);
}

/** `finalized`, `safe`, `12 confirmations`: for logs and /status. */
export function describeFinality(f: Finality): string {
  return typeof f === 'string' ? `the ${f} tag` : `${f.confirmations} confirmation${f.confirmations === 1 ? '' : 's'}`;
}
