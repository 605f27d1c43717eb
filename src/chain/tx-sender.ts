/**
 * @module
 * Sending one account's transactions on a real chain: EIP-1559 fees under the operator's cap,
 * nonces that stay right across restarts, drops and reorgs, and a fee bump for a transaction
 * that is not mined. The chain ledger estimates gas (a refusal by the contract surfaces there
 * and nothing is sent) and hands the rest to `TxSender.send`, one call at a time per account.
 *
 * **Fees.** The next block's base fee comes from `eth_feeHistory`, the tip from
 * `eth_maxPriorityFeePerGas` (the median tip of the last blocks when a provider lacks it).
 * `maxFeePerGas = 2 × base fee + tip`, which stays includable through six full blocks of
 * +12.5 % base-fee rises, then capped at `maxFeePerGas` option (`--max-fee-gwei`). Only the
 * base fee and the tip are paid, never the whole max fee.
 *
 *   - base fee above the cap: nothing is sent; `FeeCapError` says so (the node adds how long
 *     the window stays open). The next attempt prices again.
 *   - base fee + tip above the cap: sent at the cap with a smaller tip.
 *
 * **Replacement.** A transaction not mined `replaceAfterBlocks` blocks after it was sent is sent
 * again with the same nonce and at least +12.5 % on both fees (the pools' replacement rule;
 * 10 % in geth, 12.5 % in others), and at least the current price — up to the cap. When the
 * cap leaves no room for a bump it keeps waiting, and when the base fee has risen above what
 * it offers, `FeeCapError` (pending) reports it. A call waits at most `waitBlocks` blocks (or
 * `maxWaitMs`), then throws `TxNotMinedError`; the transaction stays in flight and the next
 * call — the node resends what the chain does not show — waits for it again, or replaces it
 * when the node now sends something else (the window moved on).
 *
 * `replaceAfterBlocks(blockTime)`: 3 blocks, and at least 3 s — a transaction priced at twice
 * the base fee is includable in the next block, so three blocks without it mean the fee market
 * moved or the transaction was lost; a bump costs 12.5 %. Ethereum and its testnets 3 blocks
 * (36 s), Base and OP 3 blocks (6 s), Arbitrum 12 blocks (3 s), anvil 3 blocks (3 s).
 *
 * **Nonces.** A fresh transaction takes the chain's `pending` count of the account (after a
 * restart that is the right place: after whatever the previous run left in the pool). The
 * sender tracks the nonce it expects next and reports when the chain disagrees: lower — a
 * reorg or the pool dropped transactions it had sent (they are gone; the loop resends what the
 * chain does not show, at the lower nonce) — or higher (another process uses this key, or a
 * previous run's transactions are pending). While a transaction waits, every new block checks
 * that the provider still knows it: one that was dropped (pool eviction, a reorg) is sent
 * again with the same nonce — or the lowest free one, when a reorg took the account's earlier
 * transactions too; one that still waits above such a gap gets the missing nonces filled with
 * empty transfers to itself (nothing above a gap is ever mined); one whose nonce another
 * transaction took ends the call with an error, and the next send takes a fresh nonce.
 */
import {
  formatEther,
  formatGwei,
  keccak256,
  TransactionReceiptNotFoundError,
  type Address,
  type Hash,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type TransactionReceipt,
} from 'viem';
import { ChainRequestError, walkCauses } from './errors.ts';

export interface Fees {
  readonly maxFeePerGas: bigint;
  readonly maxPriorityFeePerGas: bigint;
}

/** What the chain asks for now: the next block's base fee and a tip, at block `block`. */
export interface FeeQuote {
  readonly baseFee: bigint;
  readonly tip: bigint;
  readonly block: bigint;
}

/** 2 × base fee + tip, capped; null when the base fee alone is above the cap. */
export function priceFor(q: FeeQuote, cap: bigint | null): Fees | null {
  if (cap !== null && q.baseFee > cap) return null;
  let maxFee = 2n * q.baseFee + q.tip;
  let tip = q.tip;
  if (cap !== null && maxFee > cap) {
    maxFee = cap;
    if (q.baseFee + tip > cap) tip = cap - q.baseFee;
  }
  return { maxFeePerGas: maxFee, maxPriorityFeePerGas: tip < maxFee ? tip : maxFee };
}

/** +12.5 %, rounded up, and at least +1 wei. */
export function bump(v: bigint): bigint {
  const up = (v * 1125n + 999n) / 1000n;
  return up > v ? up : v + 1n;
}

/**
 * Fees that replace `prev` (≥ +12.5 % on both, and at least `fresh` when given), or null when
 * that is above the cap.
 */
export function replacementFees(prev: Fees, fresh: Fees | null, cap: bigint | null): Fees | null {
  let maxFee = bump(prev.maxFeePerGas);
  let tip = bump(prev.maxPriorityFeePerGas);
  if (fresh) {
    if (fresh.maxFeePerGas > maxFee) maxFee = fresh.maxFeePerGas;
    if (fresh.maxPriorityFeePerGas > tip) tip = fresh.maxPriorityFeePerGas;
  }
  if (tip > maxFee) maxFee = tip;
  if (cap !== null && maxFee > cap) return null;
  return { maxFeePerGas: maxFee, maxPriorityFeePerGas: tip };
}

/** Blocks without inclusion before a replacement (see the module comment). */
export function replaceAfterBlocks(blockTimeSeconds: number | null | undefined): number {
  if (!blockTimeSeconds || !(blockTimeSeconds > 0)) return 3;
  return Math.max(3, Math.ceil(3 / blockTimeSeconds));
}

/** Gwei for messages: "80", "12.5", "0.00105". */
export function gweiText(wei: bigint): string {
  const g = Number(formatGwei(wei));
  if (g >= 100) return g.toFixed(0);
  if (g >= 1) return String(Math.round(g * 100) / 100);
  return String(Number(g.toPrecision(3)));
}

/** The base fee is above the fee cap: a transaction waits (nothing sent, or sent and stuck). */
export class FeeCapError extends ChainRequestError {
  override name = 'FeeCapError';
  readonly functionName: string;
  readonly baseFee: bigint;
  readonly cap: bigint;
  /** A transaction of this call is in the pool (stuck at its max fee); otherwise nothing was sent. */
  readonly pending: boolean;

  constructor(p: { functionName: string; baseFee: bigint; cap: bigint; pending: boolean; nonce?: bigint; metaMessages?: readonly string[] }) {
    super(`${p.functionName} waits: the base fee (${gweiText(p.baseFee)} gwei) is above the fee cap (${gweiText(p.cap)} gwei); ${p.pending ? `the transaction sent with nonce ${p.nonce} stays pending until the base fee falls` : 'nothing was sent'}.`, {
      metaMessages: p.metaMessages ?? [],
    });
    this.functionName = p.functionName;
    this.baseFee = p.baseFee;
    this.cap = p.cap;
    this.pending = p.pending;
  }
}

/** A transaction was sent but not mined in time; it stays in flight for the next call. */
export class TxNotMinedError extends ChainRequestError {
  override name = 'TxNotMinedError';
}

export type TxEvent =
  | { readonly kind: 'sent'; readonly functionName: string; readonly nonce: bigint; readonly hash: Hash; readonly fees: Fees; readonly reason: 'new' | 'not-mined' | 'dropped' | 'replaced-by-next' }
  | { readonly kind: 'mined'; readonly functionName: string; readonly nonce: bigint; readonly hash: Hash; readonly blockNumber: bigint; readonly success: boolean; readonly sends: number }
  | { readonly kind: 'dropped'; readonly functionName: string; readonly nonce: bigint; readonly hash: Hash }
  | { readonly kind: 'fee-cap'; readonly functionName: string; readonly baseFee: bigint; readonly cap: bigint; readonly pending: boolean }
  | { readonly kind: 'nonce'; readonly note: 'inherited' | 'went-back' | 'ahead'; readonly expected: bigint | null; readonly latest: bigint; readonly pending: bigint }
  /** Nonces [from, to) were lost (a reorg) below a transaction that waits: filled with empty transfers. */
  | { readonly kind: 'gap'; readonly functionName: string; readonly from: bigint; readonly to: bigint };

export interface TxRequest {
  readonly to: Address;
  readonly data: Hex;
  readonly gas: bigint;
  /** The contract function (for messages and events). */
  readonly functionName: string;
}

export interface TxSenderOptions {
  readonly client: PublicClient;
  readonly account: LocalAccount;
  readonly chainId: number;
  /** The fee cap in wei (null: none). */
  readonly maxFeePerGas: bigint | null;
  /** Blocks without inclusion before a replacement (default 3). */
  readonly replaceAfterBlocks?: number;
  /** Blocks one call waits before `TxNotMinedError` (default 3 × replaceAfterBlocks). */
  readonly waitBlocks?: number;
  /** Wall-clock limit of one call's wait, ms (default 60 000): a chain that makes no blocks. */
  readonly maxWaitMs?: number;
  /** Receipt polling interval, ms (default 100). */
  readonly pollingIntervalMs?: number;
  readonly onEvent?: (e: TxEvent) => void;
}

interface InFlight {
  readonly functionName: string;
  readonly to: Address;
  readonly data: Hex;
  readonly gas: bigint;
  readonly nonce: bigint;
  fees: Fees;
  /** Every hash sent at this nonce (replacements), newest last. */
  readonly hashes: Hash[];
  /** Block at the last send. */
  sentBlock: bigint;
  /** First block at which the chain's nonce was seen below this one's (a gap before it), if any. */
  gapSince?: bigint | null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function messageOf(err: unknown): string {
  const texts: string[] = [];
  walkCauses(err, (e) => {
    if (e instanceof Error) texts.push(e.message, (e as { details?: string }).details ?? '');
    return false;
  });
  return texts.join('\n');
}

/** One account's sender (see the module comment). Calls must not overlap: the ledger queues them. */
export class TxSender {
  readonly #o: TxSenderOptions;
  readonly #replaceAfter: number;
  readonly #waitBlocks: number;
  #inflight: InFlight | null = null;
  /** The nonce the next fresh transaction should get (null until the first one). */
  #expected: bigint | null = null;

  constructor(options: TxSenderOptions) {
    this.#o = options;
    this.#replaceAfter = Math.max(1, options.replaceAfterBlocks ?? 3);
    this.#waitBlocks = Math.max(this.#replaceAfter, options.waitBlocks ?? this.#replaceAfter * 3);
  }

  get address(): Address {
    return this.#o.account.address;
  }

  /** The fee cap in wei (null: none). */
  get cap(): bigint | null {
    return this.#o.maxFeePerGas;
  }

  /** What the chain asks for now (next block's base fee, a tip). */
  async quote(): Promise<FeeQuote> {
    const { client } = this.#o;
    const [hist, tip] = await Promise.all([
      client.request({ method: 'eth_feeHistory', params: ['0x5', 'latest', [50]] }),
      client.request({ method: 'eth_maxPriorityFeePerGas' }).then((v) => BigInt(v), () => null),
    ]);
    const bases = hist.baseFeePerGas;
    const next = bases[bases.length - 1];
    if (next === undefined) throw new ChainRequestError('The RPC provider answered eth_feeHistory without base fees.');
    const rewards = (hist.reward ?? []).map((r) => BigInt(r[0] ?? '0x0')).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const median = rewards[Math.floor(rewards.length / 2)] ?? 0n;
    const latest = BigInt(hist.oldestBlock) + BigInt(Math.max(0, bases.length - 2));
    return { baseFee: BigInt(next), tip: tip ?? median, block: latest };
  }

  /** The fees a fresh transaction would offer now (null: the base fee is above the cap). */
  async price(): Promise<{ quote: FeeQuote; fees: Fees | null }> {
    const quote = await this.quote();
    return { quote, fees: priceFor(quote, this.#o.maxFeePerGas) };
  }

  /** Sends `req` and waits for its receipt (see the module comment); the receipt may show a revert. */
  async send(req: TxRequest): Promise<TransactionReceipt> {
    let inflight = this.#inflight;
    if (inflight) {
      const r = await this.#receipt(inflight);
      if (r) {
        this.#minedBy(inflight, r);
        if (inflight.to === req.to && inflight.data === req.data) return r;
        inflight = null;
      }
    }
    const [{ quote, fees }, latest, pending] = await Promise.all([this.price(), this.#count('latest'), this.#count('pending')]);
    if (inflight && latest > inflight.nonce) {
      // Its nonce was taken, and not by one of its hashes (checked just above).
      this.#inflight = inflight = null;
    }
    if (inflight) {
      if (inflight.to !== req.to || inflight.data !== req.data) {
        // The node now sends something else (the window moved on): it replaces the one in flight.
        const next = replacementFees(inflight.fees, fees, this.#o.maxFeePerGas);
        if (next === null) throw this.#capped(req.functionName, quote.baseFee, true, inflight.nonce);
        const replaced: InFlight = { ...req, nonce: inflight.nonce, fees: next, hashes: [...inflight.hashes], sentBlock: quote.block };
        await this.#broadcast(replaced, 'replaced-by-next');
        this.#inflight = replaced;
        return this.#wait(replaced);
      }
      return this.#wait(inflight);
    }
    if (fees === null) throw this.#capped(req.functionName, quote.baseFee, false);
    const nonce = this.#nonce(latest, pending);
    const fresh: InFlight = { ...req, nonce, fees, hashes: [], sentBlock: quote.block };
    await this.#broadcast(fresh, 'new');
    this.#inflight = fresh;
    this.#expected = nonce + 1n;
    return this.#wait(fresh);
  }

  #capped(functionName: string, baseFee: bigint, pending: boolean, nonce?: bigint): FeeCapError {
    const cap = this.#o.maxFeePerGas ?? 0n;
    this.#o.onEvent?.({ kind: 'fee-cap', functionName, baseFee, cap, pending });
    return new FeeCapError({ functionName, baseFee, cap, pending, ...(nonce !== undefined ? { nonce } : {}), metaMessages: [`Account: ${this.address.toLowerCase()}`] });
  }

  #nonce(latest: bigint, pending: bigint): bigint {
    const expected = this.#expected;
    const report = (note: 'inherited' | 'went-back' | 'ahead') => this.#o.onEvent?.({ kind: 'nonce', note, expected, latest, pending });
    if (expected === null) {
      if (pending > latest) report('inherited');
    } else if (pending < expected) report('went-back');
    else if (pending > expected) report('ahead');
    return pending;
  }

  #count(blockTag: 'latest' | 'pending'): Promise<bigint> {
    return this.#o.client.getTransactionCount({ address: this.address, blockTag }).then(BigInt);
  }

  async #receipt(t: InFlight): Promise<TransactionReceipt | null> {
    const found = await Promise.all(t.hashes.map((hash) => this.#o.client.getTransactionReceipt({ hash }).catch((e: unknown) => {
      if (e instanceof TransactionReceiptNotFoundError) return null;
      throw e;
    })));
    return found.find((r) => r !== null) ?? null;
  }

  #minedBy(t: InFlight, r: TransactionReceipt): void {
    if (this.#inflight === t) this.#inflight = null;
    if (this.#expected === null || this.#expected <= t.nonce) this.#expected = t.nonce + 1n;
    this.#o.onEvent?.({ kind: 'mined', functionName: t.functionName, nonce: t.nonce, hash: r.transactionHash, blockNumber: r.blockNumber, success: r.status === 'success', sends: t.hashes.length });
  }

  /** Signs `t` at its fees and sends it; on "underpriced" (an unknown transaction holds the nonce) bumps up to the cap. */
  async #broadcast(t: InFlight, reason: 'new' | 'not-mined' | 'dropped' | 'replaced-by-next'): Promise<void> {
    const { account, client, chainId } = this.#o;
    for (let attempt = 0; ; attempt++) {
      const raw = await account.signTransaction({
        type: 'eip1559', chainId, nonce: Number(t.nonce), to: t.to, data: t.data, gas: t.gas, value: 0n,
        maxFeePerGas: t.fees.maxFeePerGas, maxPriorityFeePerGas: t.fees.maxPriorityFeePerGas,
      });
      const hash = keccak256(raw);
      try {
        await client.request({ method: 'eth_sendRawTransaction', params: [raw] });
      } catch (err) {
        const text = messageOf(err);
        if (/underpriced|replacement/i.test(text) && attempt < 8) {
          const next = replacementFees(t.fees, null, this.#o.maxFeePerGas);
          if (next !== null) {
            t.fees = next;
            continue;
          }
        }
        if (/insufficient funds/i.test(text)) {
          const balance = await client.getBalance({ address: this.address }).catch(() => null);
          throw new ChainRequestError(`${t.functionName} could not be sent: the account cannot pay gas × max fee (${t.gas} gas at ${gweiText(t.fees.maxFeePerGas)} gwei).`, {
            cause: err,
            metaMessages: [...(balance !== null ? [`Balance: ${formatEther(balance)} ETH`] : []), `Needed to send: ${formatEther(t.gas * t.fees.maxFeePerGas)} ETH`],
            details: 'Top up the operator account.',
          });
        }
        throw err;
      }
      t.hashes.push(hash);
      this.#o.onEvent?.({ kind: 'sent', functionName: t.functionName, nonce: t.nonce, hash, fees: t.fees, reason });
      return;
    }
  }

  async #wait(sent: InFlight): Promise<TransactionReceipt> {
    let t = sent;
    const { client } = this.#o;
    const started = Date.now();
    const maxWaitMs = this.#o.maxWaitMs ?? 60_000;
    let lastBlock: bigint | null = null;
    let waited = 0n;
    for (;;) {
      const [receipt, head] = await Promise.all([this.#receipt(t), client.getBlockNumber({ cacheTime: 0 })]);
      if (receipt) {
        this.#minedBy(t, receipt);
        return receipt;
      }
      if (lastBlock !== null && head > lastBlock) {
        waited += head - lastBlock;
        t = await this.#onNewBlock(t, head);
      }
      lastBlock = head;
      if (waited >= BigInt(this.#waitBlocks) || Date.now() - started > maxWaitMs) {
        throw new TxNotMinedError(`${t.functionName} was sent but not mined within ${waited} block${waited === 1n ? '' : 's'}; it stays pending (nonce ${t.nonce}) and the next attempt waits for it or replaces it.`, {
          metaMessages: [`Account: ${this.address.toLowerCase()}`, `Transactions: ${t.hashes.join(', ')}`, `Max fee: ${gweiText(t.fees.maxFeePerGas)} gwei`],
        });
      }
      await sleep(this.#o.pollingIntervalMs ?? 100);
    }
  }

  /**
   * A new block while `t` waits: dropped? nonce taken? a gap before it? time to bump? Returns
   * what waits now (`t`, or `t` moved to a lower nonce).
   */
  async #onNewBlock(t: InFlight, head: bigint): Promise<InFlight> {
    const { client } = this.#o;
    const current = t.hashes[t.hashes.length - 1] as Hash;
    const [known, latest, pending] = await Promise.all([
      client.request({ method: 'eth_getTransactionByHash', params: [current] }).then((v) => v !== null),
      this.#count('latest'),
      this.#count('pending'),
    ]);
    if (latest > t.nonce) {
      // Mined (the receipt may trail the count by a moment), or taken by another transaction.
      await sleep(this.#o.pollingIntervalMs ?? 100);
      if (await this.#receipt(t)) return t;
      if (this.#inflight === t) this.#inflight = null;
      this.#expected = null;
      throw new ChainRequestError(`${t.functionName} was not mined: another transaction of this account took nonce ${t.nonce}.`, {
        metaMessages: [`Account: ${this.address.toLowerCase()}`, `Transactions: ${t.hashes.join(', ')}`],
        details: 'Is another process sending with the same operator key?',
      });
    }
    if (!known) {
      // Gone from the pool (evicted, or a reorg): sent again at today's price, at its nonce —
      // or lower, when the reorg took this account's earlier transactions too (a transaction
      // above a gap is never mined; the loop resends what those held).
      this.#o.onEvent?.({ kind: 'dropped', functionName: t.functionName, nonce: t.nonce, hash: current });
      const { quote, fees } = await this.price();
      if (fees === null) throw this.#capped(t.functionName, quote.baseFee, false);
      let again: InFlight = t;
      if (latest < t.nonce) {
        again = { functionName: t.functionName, to: t.to, data: t.data, gas: t.gas, nonce: latest, fees, hashes: [], sentBlock: head };
        this.#inflight = again;
        this.#expected = latest + 1n;
        this.#o.onEvent?.({ kind: 'nonce', note: 'went-back', expected: t.nonce, latest, pending });
      } else {
        t.fees = {
          maxFeePerGas: fees.maxFeePerGas > t.fees.maxFeePerGas ? fees.maxFeePerGas : t.fees.maxFeePerGas,
          maxPriorityFeePerGas: fees.maxPriorityFeePerGas > t.fees.maxPriorityFeePerGas ? fees.maxPriorityFeePerGas : t.fees.maxPriorityFeePerGas,
        };
        if (this.#o.maxFeePerGas !== null && t.fees.maxFeePerGas > this.#o.maxFeePerGas) t.fees = fees;
        t.sentBlock = head;
      }
      await this.#broadcast(again, 'dropped');
      return again;
    }
    // Still in the pool, but the chain's nonce stays below its own: a gap before it. Usually
    // the account's earlier transactions are on their way (a previous run's), but when a reorg
    // took them — they vanish, and pools keep the later ones waiting (anvil even counts them as
    // pending) — nothing above the gap is ever mined. After `replaceAfterBlocks` blocks without
    // the gap closing, empty transfers to itself fill it (21 000 gas each); the loop resends
    // whatever the lost transactions held, at later nonces.
    if (latest < t.nonce) {
      t.gapSince ??= head;
      if (head - t.gapSince >= BigInt(this.#replaceAfter)) {
        t.gapSince = head;
        await this.#fillGap(latest, t.nonce, t.functionName);
        return t;
      }
    } else {
      t.gapSince = null;
    }
    if (head - t.sentBlock >= BigInt(this.#replaceAfter)) {
      const { quote, fees } = await this.price();
      const next = replacementFees(t.fees, fees, this.#o.maxFeePerGas);
      if (next !== null) {
        t.fees = next;
        t.sentBlock = head;
        await this.#broadcast(t, 'not-mined');
        return t;
      }
      // No room under the cap for a bump: it waits as it is, unless the base fee is now above its max fee.
      if (quote.baseFee > t.fees.maxFeePerGas) throw this.#capped(t.functionName, quote.baseFee, true, t.nonce);
    }
    return t;
  }

  /** Sends an empty transfer to itself at every nonce in [from, to) (see `#onNewBlock`). */
  async #fillGap(from: bigint, to: bigint, waiting: string): Promise<void> {
    const { quote, fees } = await this.price();
    if (fees === null) throw this.#capped(waiting, quote.baseFee, true, to);
    this.#o.onEvent?.({ kind: 'gap', functionName: waiting, from, to });
    for (let nonce = from; nonce < to; nonce++) {
      const filler: InFlight = { functionName: 'nonce filler', to: this.address, data: '0x', gas: 21_000n, nonce, fees, hashes: [], sentBlock: quote.block };
      try {
        await this.#broadcast(filler, 'new');
      } catch (err) {
        // Filled meanwhile (a transaction came back, or another filler): nothing to do.
        if (!/nonce too low|already known|known transaction|already imported/i.test(messageOf(err))) throw err;
      }
    }
  }
}
