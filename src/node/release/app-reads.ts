/**
 * @module
 * How the key-release handler reads an app's record (owner, enabled methods, release count)
 * and its releases: at the newest block, whatever tag the node's ledger reads at. An owner who
 * disables a method, or publishes a new release, must see it take effect at the next block —
 * not after a cache lifetime plus the finality lag of a `safe`/`finalized` read tag (issue 12,
 * finding 6). Releasing a key is not an irreversible *local* step of the node (those wait for
 * finality, SPEC 4); refusing on a record a reorg may undo is harmless, and releasing on one
 * is what the owner's chain state said at the time.
 *
 * `chainAppReader(ledger)` (a node on a real chain): each request gets a view pinned to a
 * block that was the head *after the request arrived* — one `eth_getBlockByNumber("latest")`
 * shared by the requests that arrived while none was in flight (a request arriving while a
 * head read is in flight waits for the next one, since the one in flight may predate the
 * block that disabled the method). Reads are then at that block's number, and `LedgerCache`
 * (./caches.ts) memoizes them per block hash, so a record never outlives its block and a
 * reorg at the same height reads afresh. Release contents are kept by their on-chain hash
 * (`getReleaseRef(app, index).releaseHash`, re-read per block), so a release that a reorg
 * replaced at the same index is never served stale.
 *
 * `liveAppReader(ledger)` (the in-memory ledger of tests and benchmarks): every read is live;
 * nothing is cached (`block` null).
 *
 * Contract-wallet owners (EIP-1271, issue 16): `AppView.contractSignature` asks the owner
 * address at the view's block. No code there: `no-code` (an ordinary key: the handler's ECDSA
 * recovery already decided). Code: one `eth_call` of `isValidSignature(digest, signature)`,
 * bounded — at most `EIP1271_GAS` gas and `EIP1271_TIMEOUT_MS` — whose answer is `valid` only
 * for the magic value 0x1626ba7e; a revert or any other return is `invalid`, a call that could
 * not complete (gas, timeout, RPC failure) `failed`. Never an exception: the wallet is
 * someone else's code, and whatever it does is a refusal at worst. Code presence is memoized
 * per block and owner.
 */
import { decodeFunctionResult, encodeFunctionData, type Address as ViemAddress } from 'viem';
import { ChainLedger } from '../../chain/chain-ledger.ts';
import { kmsRegistryAbi } from '../../chain/kms-registry-artifact.ts';
import { readApp, readRelease, type ReadContext } from '../../chain/registry-reads.ts';
import type { AppRecord, Hex, LedgerReader, Release } from '../../protocol/ledger.ts';

/** The registry's apps as of one block. */
export interface AppView {
  /** Identifies the block (its hash), or null for a live view whose reads must not be cached. */
  readonly block: string | null;
  /** The block's number (what a release receipt names), 0 for a live view (no block). */
  readonly blockNumber: number;
  getApp(appId: Hex): Promise<AppRecord | null>;
  /** Release `index` of an app as of this block (null: none). */
  getRelease(appId: Hex, index: number): Promise<Release | null>;
  /** EIP-1271 at this block: whether the contract at `owner` accepts `signature` over `digest` (see the module header). */
  contractSignature(owner: Hex, digest: Uint8Array, signature: Uint8Array): Promise<ContractSignatureAnswer>;
}

/** What asking an owner address about a signature gave (EIP-1271). */
export type ContractSignatureAnswer = 'no-code' | 'valid' | 'invalid' | 'failed';

/** Gas an owner wallet's `isValidSignature` may use (a 2-of-3 multisig needs ~15k; Safe ~50k per signer). */
export const EIP1271_GAS = 500_000n;
/** How long a node waits for it. */
export const EIP1271_TIMEOUT_MS = 3_000;
const EIP1271_MAGIC = '0x1626ba7e';
const EIP1271_ABI = [{
  type: 'function', name: 'isValidSignature', stateMutability: 'view',
  inputs: [{ name: 'hash', type: 'bytes32' }, { name: 'signature', type: 'bytes' }],
  outputs: [{ name: '', type: 'bytes4' }],
}] as const;

export interface AppReader {
  /** A view at a block that was the chain's head at some moment after this call began. */
  latest(): Promise<AppView>;
}

/**
 * What a key-release handler may be given to read apps from. `contractSignature` (optional):
 * EIP-1271 answers of a source without a chain (tests); absent, every owner is `no-code`.
 */
export type AppSource = Pick<LedgerReader, 'getApp' | 'getRelease'> & {
  readonly contractSignature?: AppView['contractSignature'];
};

/** The reader for a ledger: block-pinned reads at the head for a `ChainLedger`, live reads otherwise. */
export function appReaderFor(ledger: AppSource): AppReader {
  return ledger instanceof ChainLedger ? chainAppReader(ledger) : liveAppReader(ledger);
}

/** Live reads (the in-memory ledger: always its latest state). */
export function liveAppReader(ledger: AppSource): AppReader {
  const view: AppView = {
    block: null,
    blockNumber: 0,
    getApp: (id) => ledger.getApp(id),
    getRelease: (id, i) => ledger.getRelease(id, i),
    contractSignature: async (owner, digest, signature) => ledger.contractSignature?.(owner, digest, signature) ?? 'no-code',
  };
  return { latest: async () => view };
}

/**
 * Runs `read` so that every caller gets a result of a call that *started after* it called:
 * concurrent callers share one call; a caller arriving while a call is in flight waits for the
 * next one (at most one queued), so the load stays at one call per round trip.
 */
export function freshRead<T>(read: () => Promise<T>): () => Promise<T> {
  let inflight: Promise<T> | null = null;
  let queued: Promise<T> | null = null;
  const start = (): Promise<T> => {
    const p = read().finally(() => {
      if (inflight === p) inflight = null;
    });
    inflight = p;
    return p;
  };
  return () => {
    if (inflight === null) return start();
    queued ??= inflight.then(
      () => undefined,
      () => undefined,
    ).then(() => {
      queued = null;
      return start();
    });
    return queued;
  };
}

/** Release contents kept, by on-chain release hash (immutable: the hash commits to every field). */
const MAX_RELEASES = 1_000;

/** Reads at the head of a real chain, pinned per request to one block (see the module header). */
export function chainAppReader(ledger: ChainLedger): AppReader {
  const client = ledger.client;
  const registry = ledger.registry;
  const head = freshRead(() => client.getBlock({ blockTag: 'latest' }));
  const releases = new Map<string, Release>();
  // Whether an owner address has code, per block hash and owner (bounded like releases).
  const codes = new Map<string, Promise<boolean>>();

  const hasCode = (ctx: ReadContext, owner: Hex): Promise<boolean> => {
    const key = `${ctx.blockHash}:${owner}`;
    let hit = codes.get(key);
    if (hit === undefined) {
      hit = client.getCode({ address: owner as ViemAddress, blockNumber: ctx.blockNumber }).then((code) => code !== undefined && code !== '0x');
      codes.set(key, hit);
      hit.catch(() => codes.delete(key));
      if (codes.size > MAX_RELEASES) codes.delete(codes.keys().next().value as string);
    }
    return hit;
  };

  const askWallet = async (ctx: ReadContext, owner: Hex, digest: Uint8Array, signature: Uint8Array): Promise<'valid' | 'invalid' | 'failed'> => {
    const data = encodeFunctionData({ abi: EIP1271_ABI, functionName: 'isValidSignature', args: [bytesHex(digest), bytesHex(signature)] });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'failed'>((resolve) => {
      timer = setTimeout(() => resolve('failed'), EIP1271_TIMEOUT_MS);
    });
    const call = client.call({ to: owner as ViemAddress, data, gas: EIP1271_GAS, blockNumber: ctx.blockNumber }).then(
      (r): 'valid' | 'invalid' => {
        if (r.data === undefined) return 'invalid';
        try {
          return decodeFunctionResult({ abi: EIP1271_ABI, functionName: 'isValidSignature', data: r.data }).toLowerCase() === EIP1271_MAGIC ? 'valid' : 'invalid';
        } catch {
          return 'invalid'; // returned something that is not a bytes4
        }
      },
      // A revert is the wallet saying no; anything else (gas, transport) is a call that failed.
      (e: unknown): 'invalid' | 'failed' => (/revert/i.test(e instanceof Error ? e.message : '') ? 'invalid' : 'failed'),
    );
    try {
      return await Promise.race([call, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  const viewAt = (ctx: ReadContext, hash: string): AppView => ({
    block: hash,
    blockNumber: Number(ctx.blockNumber),
    getApp: (appId) => readApp(ctx, appId.toLowerCase() as Hex),
    async getRelease(appId, index) {
      if (!Number.isSafeInteger(index) || index < 0) return null;
      const id = appId.toLowerCase() as Hex;
      const ref = await client.readContract({
        address: registry, abi: kmsRegistryAbi, functionName: 'getReleaseRef', args: [id, BigInt(index)], blockHash: ctx.blockHash, requireCanonical: true,
      });
      if (ref.blockNumber === 0n) return null;
      const key = `${id}:${index}:${ref.releaseHash}`;
      const hit = releases.get(key);
      if (hit !== undefined) return hit;
      // readRelease reads the same ref at the same block and checks the event's fields against its hash.
      const r = await readRelease(ctx, id, index);
      if (r === null) return null;
      releases.set(key, r);
      if (releases.size > MAX_RELEASES) releases.delete(releases.keys().next().value as string);
      return r;
    },
    async contractSignature(owner, digest, signature) {
      const o = owner.toLowerCase() as Hex;
      if (!(await hasCode(ctx, o))) return 'no-code';
      return askWallet(ctx, o, digest, signature);
    },
  });

  return {
    async latest() {
      const block = await head();
      if (block.number === null || block.hash === null) throw new Error('the RPC node returned a pending block for "latest"');
      return viewAt({ client, registry, blockNumber: block.number, blockHash: block.hash.toLowerCase() as Hex, timestamp: Number(block.timestamp) }, block.hash);
    },
  };
}

function bytesHex(b: Uint8Array): Hex {
  return `0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}` as Hex;
}
