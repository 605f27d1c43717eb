/**
 * @module
 * The pure half of the RPC pool (`rpc-pool.ts`): which head a tick acts on, and when two
 * providers' answers are "the same". No I/O, no clock: the pool feeds in what the providers
 * said and acts on the verdict.
 *
 * **The head** (`chooseHead`). Every provider reports its latest block. A block is agreed when
 * `quorum` providers report it with the same number, hash, parent hash and timestamp (every
 * field of a head the node uses). The tick acts on the *highest* agreed block; ties go to the
 * group holding the provider listed first. So with `--rpc-quorum k`:
 *
 *   - a stale provider (its head lags) is simply not part of the highest agreed group;
 *   - a lying provider (another hash, or another timestamp for the same block) forms a group of
 *     its own, which never reaches k while fewer than k providers lie together;
 *   - providers a block apart (propagation) can still agree: when no group reaches k, the pool
 *     asks the providers that are ahead for their block at a height at least k of them have
 *     reached (`candidateHeights`, highest first), and chooses again at that height.
 *
 * With k = 1 the highest head wins (the first listed provider among equals): a stale provider
 * is never used while a fresher one answers, but nothing protects against a lying one.
 *
 * **Answers** (`answerKey`). Two answers to one request are compared by a canonical key: JSON
 * with sorted keys and lowercased hex; for blocks only the fields the node reads (number, hash,
 * parentHash, timestamp, baseFeePerGas), for logs only the fields of a log (so providers that
 * add their own extra fields still agree), for `eth_estimateGas` only whether it succeeded
 * (estimates may differ between clients; the pool uses the largest).
 */

/** A block head as a provider reported it (JSON-RPC quantities already decoded). */
export interface BlockHead {
  readonly number: bigint;
  readonly hash: string;
  readonly parentHash: string;
  readonly timestamp: bigint;
}

/** One provider's head. `provider` is its index in the pool (also its priority: lower first). */
export interface HeadReport {
  readonly provider: number;
  readonly head: BlockHead;
}

export type HeadChoice =
  | { readonly ok: true; readonly head: BlockHead; readonly group: readonly number[] }
  | { readonly ok: false };

const headKey = (h: BlockHead): string => `${h.number}|${h.hash.toLowerCase()}|${h.parentHash.toLowerCase()}|${h.timestamp}`;

/**
 * The highest block at least `quorum` reports agree on, and the providers that reported it
 * (ascending index). `{ ok: false }` when no block reaches the quorum.
 */
export function chooseHead(reports: readonly HeadReport[], quorum: number): HeadChoice {
  if (!Number.isSafeInteger(quorum) || quorum < 1) throw new RangeError(`quorum: expected a whole number ≥ 1, got ${quorum}`);
  const groups = new Map<string, { head: BlockHead; providers: number[] }>();
  for (const r of reports) {
    const key = headKey(r.head);
    const g = groups.get(key);
    if (g) g.providers.push(r.provider);
    else groups.set(key, { head: r.head, providers: [r.provider] });
  }
  let best: { head: BlockHead; providers: number[] } | null = null;
  for (const g of groups.values()) {
    if (g.providers.length < quorum) continue;
    g.providers.sort((a, b) => a - b);
    if (best === null || g.head.number > best.head.number || (g.head.number === best.head.number && (g.providers[0] ?? 0) < (best.providers[0] ?? 0))) best = g;
  }
  return best ? { ok: true, head: best.head, group: best.providers } : { ok: false };
}

/**
 * When `chooseHead` finds no agreement: the heights at which one may still exist — every height
 * that at least `quorum` providers have reached, highest first, at most `max` of them. The pool
 * asks the providers above each one for their block at it, and chooses again among the blocks
 * at that height (a provider one block ahead agrees on the block below; a liar at the top is
 * passed by).
 */
export function candidateHeights(reports: readonly HeadReport[], quorum: number, max = 3): bigint[] {
  const heights = [...new Set(reports.map((r) => r.head.number))].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
  return heights.filter((h) => reports.filter((r) => r.head.number >= h).length >= quorum).slice(0, max);
}

const BLOCK_FIELDS = ['number', 'hash', 'parentHash', 'timestamp', 'baseFeePerGas'] as const;
const LOG_FIELDS = ['address', 'topics', 'data', 'blockNumber', 'blockHash', 'transactionHash', 'transactionIndex', 'logIndex', 'removed'] as const;

function pick(o: unknown, fields: readonly string[]): unknown {
  if (typeof o !== 'object' || o === null) return o;
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = (o as Record<string, unknown>)[f];
    // `removed: false` and an absent `removed` mean the same.
    out[f] = f === 'removed' ? v === true : v ?? null;
  }
  return out;
}

/** JSON with sorted object keys and lowercased hex strings: equal answers give equal text. */
export function canonicalJson(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(/^0x[0-9a-fA-F]*$/.test(v) ? v.toLowerCase() : v);
  if (typeof v === 'bigint') return `"${v.toString()}"`;
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
}

/** The comparison key of a successful answer to `method` (see the module comment). */
export function answerKey(method: string, result: unknown): string {
  switch (method) {
    case 'eth_getBlockByNumber':
    case 'eth_getBlockByHash':
      return canonicalJson(pick(result, BLOCK_FIELDS));
    case 'eth_getLogs':
      return canonicalJson(Array.isArray(result) ? result.map((l) => pick(l, LOG_FIELDS)) : result);
    case 'eth_estimateGas':
      return 'estimate:ok';
    default:
      return canonicalJson(result);
  }
}

/** The comparison key of a refusal (a revert): its revert data, or its message when it has none. */
export function refusalKey(data: string | undefined, message: string): string {
  return data ? `revert:${data.toLowerCase()}` : `revert-message:${message}`;
}

/** Several agreeing answers made one: the largest estimate for `eth_estimateGas`, else the first. */
export function combineAnswers(method: string, results: readonly unknown[]): unknown {
  if (method === 'eth_estimateGas') {
    let max: bigint | null = null;
    for (const r of results) {
      if (typeof r !== 'string') continue;
      try {
        const v = BigInt(r);
        if (max === null || v > max) max = v;
      } catch {
        // not a quantity: the first answer stands
      }
    }
    if (max !== null) return `0x${max.toString(16)}`;
  }
  return results[0];
}
