/**
 * @module
 * Several RPC endpoints as one viem transport: failover, backoff, one view per tick, and a
 * quorum (`kms-server --rpc URL,URL… --rpc-quorum k`; docs/operations.md, "Several RPC URLs").
 *
 * **Views.** A node's tick reads the chain inside `view(f)` (the chain ledger's
 * `readsAtOneBlock`). In a view:
 *
 * 1. The head request (`eth_getBlockByNumber("latest")`, the ledger's pin) goes to every
 *    provider that is not backing off, at once. The view acts on the highest block that
 *    `quorum` providers report identically (`rpc-quorum.ts`, `chooseHead`); the providers that
 *    reported it form the view's **group**. A provider that lags is not in the group; one that
 *    reports another block at the same height disagrees and backs off. The pool waits for every
 *    answer, or for `graceMs` (100 ms) once a choice is possible: a slow provider does not
 *    slow the tick, it is left out of it. Without agreement at the top, the heights below are
 *    tried (`candidateHeights`), then the providers that are backing off, before giving up.
 * 2. Every state read (`eth_call`, `eth_getLogs`, blocks by number or hash, code, balance,
 *    estimates) goes to the group's first `quorum` providers (listed order) and their answers
 *    are compared (`answerKey`). With k = 1 that is one request to the first provider of the
 *    group. An answer backed by k providers is used; a provider that fails is replaced by the
 *    group's next one; when answers differ the group's other providers are asked too, an answer
 *    that reaches k wins and the dissenters back off — and stay suspect: only an answer that
 *    agrees with a quorum again ends their streak (a liar answers most requests honestly).
 *    When no answer reaches k the view is **poisoned**: that read and every later request of
 *    the view — a transaction included — fail with `ChainViewError('disagreement')`; and no
 *    transaction leaves a view in which anything failed. Every read is pinned to the head's
 *    hash by the ledger (EIP-1898), so providers that agree on the head answer for the same block.
 * 3. Mempool and account requests (nonces, receipts, fee history) go to the group's first
 *    provider, then the others, without comparing: they differ between honest nodes, and
 *    nothing the node decides rests on them alone (the next tick's quorum reads show whether
 *    a submission landed). A signed transaction is sent to every provider that is up.
 *
 * Outside views (the HTTP API's reads, the head poll, kms-admin) a request goes to the
 * provider that gave the last agreed head, then the others in listed order, failing over on a
 * fault. The ledger wraps its own reads in a view when the quorum is above 1, so they are
 * compared too.
 *
 * **Status.** A tick's view (`view`) that could not agree on a head, or whose reads could not
 * reach the quorum or disagreed, sets `status()` to `{ ok: false, reason }` until a tick's view
 * succeeds again (the HTTP API's `guarded` views throw the same errors but leave the status to
 * the ticks). Changes are reported once through `onEvent` (`view`; each reason once per
 * stretch), as are a provider's first fault of a streak (`provider-down`), its recovery
 * (`provider-up`) and a disagreement; `onRequest` sees every request (metrics). Providers are
 * named by `providerLabel` only.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { keccak256, type Hex, type Transport } from 'viem';
import { ChainRequestError, redactRpcUrl } from './errors.ts';
import { rpcFetch } from './http-fetch.ts';
import { answerKey, candidateHeights, chooseHead, combineAnswers, refusalKey, type BlockHead, type HeadChoice, type HeadReport } from './rpc-quorum.ts';
import { isAnswer, isTimeout, revertDataOfAnswer, RpcProvider, type ProviderSnapshot, type RequestOutcome, type RpcCall } from './rpc-provider.ts';

/** Why a view failed. */
export type ViewFailureReason = 'all-failing' | 'no-quorum' | 'too-few-answers' | 'disagreement';
export const VIEW_FAILURE_REASONS: readonly ViewFailureReason[] = Object.freeze(['all-failing', 'no-quorum', 'too-few-answers', 'disagreement']);

/** The node could not get a consistent view of the chain for a tick; nothing was acted on. */
export class ChainViewError extends ChainRequestError {
  override name = 'ChainViewError';
  readonly reason: ViewFailureReason;

  constructor(reason: ViewFailureReason, shortMessage: string, metaMessages: readonly string[] = []) {
    super(shortMessage, { metaMessages });
    this.reason = reason;
  }
}

/** The last view's verdict (`/status` chainView). */
export interface ChainViewStatus {
  readonly ok: boolean;
  readonly reason: ViewFailureReason | null;
  /** What went wrong, for operators (provider labels only). */
  readonly message: string | null;
  /** Since when (ms epoch) this verdict holds. */
  readonly since: number;
  readonly quorum: number;
  readonly providers: readonly ProviderSnapshot[];
}

export type PoolEvent =
  | { readonly kind: 'provider-down'; readonly provider: string; readonly error: string; readonly retryInMs: number }
  | { readonly kind: 'provider-up'; readonly provider: string; readonly failures: number }
  | { readonly kind: 'disagreement'; readonly provider: string; readonly method: string; readonly block: string | null; readonly others: number }
  | { readonly kind: 'view'; readonly ok: true; readonly failedForMs: number | null }
  | { readonly kind: 'view'; readonly ok: false; readonly reason: ViewFailureReason; readonly message: string };

export interface PoolHooks {
  onEvent?(event: PoolEvent): void;
  /** Every request to a provider: `refused` is a chain answer that is an error (a revert…). */
  onRequest?(provider: string, method: string, outcome: RequestOutcome | 'refused', seconds: number): void;
}

export interface RpcPoolOptions {
  /** Providers that must report the same head, and answer every read identically (default 1). */
  readonly quorum?: number;
  /** Per-request timeout, ms (default 10 000). */
  readonly timeoutMs?: number;
  /** How long a head request waits for slower providers once a choice is possible, ms (default 100). */
  readonly graceMs?: number;
  /** JSON-RPC batching per provider (default: every provider batches). */
  readonly batch?: boolean | readonly boolean[];
  /** Wall clock for backoff (tests). */
  readonly now?: () => number;
  readonly hooks?: PoolHooks;
}

/** Most URLs one node may list (each costs a head request per tick). */
export const MAX_PROVIDERS = 8;

type Outcome =
  | { readonly kind: 'ok'; readonly value: unknown }
  | { readonly kind: 'answer'; readonly error: unknown }
  | { readonly kind: 'fault'; readonly error: unknown; readonly description: string };

interface View {
  /** Providers that agreed on the pinned head, listed order. */
  group: RpcProvider[] | null;
  head: BlockHead | null;
  /** A disagreement no quorum resolved: every later request of the view fails with it. */
  poisoned: ChainViewError | null;
  /** The last failure seen in this view (its verdict). */
  failure: ChainViewError | null;
  /** Something was agreed in this view (a head or a read). */
  decided: boolean;
  /** A tick's view: its verdict is the pool's `status()` (other views only throw). */
  readonly tracked: boolean;
}

/** What one head request gathered from the providers. */
interface HeadGathering {
  readonly reports: HeadReport[];
  /** Raw blocks by provider (the block the view returns comes from the group's first). */
  readonly raws: Map<number, unknown>;
  readonly notes: Map<number, string>;
  readonly errors: Map<number, unknown>;
  /** The agreed height once chosen (late answers update their provider's lag against it). */
  agreed: bigint | null;
}

const HEAD_BLOCK = 'eth_getBlockByNumber';
/** State reads: compared between `quorum` providers inside a view. */
const COMPARED: ReadonlySet<string> = new Set([
  'eth_call', 'eth_getLogs', 'eth_getBlockByNumber', 'eth_getBlockByHash', 'eth_getCode', 'eth_getBalance', 'eth_getStorageAt', 'eth_chainId', 'eth_estimateGas',
]);
const BROADCAST = 'eth_sendRawTransaction';

const hexQuantity = (n: bigint): string => `0x${n.toString(16)}`;

function isHeadCall(call: RpcCall): boolean {
  return call.method === HEAD_BLOCK && Array.isArray(call.params) && call.params[0] === 'latest';
}

function parseHead(raw: unknown): BlockHead | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const b = raw as Record<string, unknown>;
  const q = (v: unknown): bigint | null => {
    if (typeof v !== 'string') return null;
    try {
      return BigInt(v);
    } catch {
      return null;
    }
  };
  const number = q(b['number']);
  const timestamp = q(b['timestamp']);
  if (number === null || timestamp === null || typeof b['hash'] !== 'string' || typeof b['parentHash'] !== 'string') return null;
  return { number, timestamp, hash: b['hash'], parentHash: b['parentHash'] };
}

/** Several RPC providers behind one viem transport (see the module comment). */
export class RpcPool {
  readonly providers: readonly RpcProvider[];
  readonly quorum: number;
  /** The pool as a viem transport (for public and wallet clients). */
  readonly transport: Transport;
  readonly #urls: readonly string[];
  readonly #graceMs: number;
  readonly #now: () => number;
  readonly #views = new AsyncLocalStorage<View>();
  #hooks: PoolHooks;
  /** The provider that gave the last agreed head (out-of-view requests try it first). */
  #preferred: RpcProvider | null = null;
  #status: Omit<ChainViewStatus, 'providers' | 'quorum'>;
  /** Reasons already reported in the current stretch without a consistent view. */
  readonly #reported = new Set<ViewFailureReason>();

  constructor(urls: readonly string[], options: RpcPoolOptions = {}) {
    if (urls.length === 0) throw new RangeError('an RPC pool needs at least one URL');
    if (urls.length > MAX_PROVIDERS) throw new RangeError(`an RPC pool takes at most ${MAX_PROVIDERS} URLs, got ${urls.length}`);
    const quorum = options.quorum ?? 1;
    if (!Number.isSafeInteger(quorum) || quorum < 1 || quorum > urls.length) {
      throw new RangeError(`the RPC quorum must be a whole number from 1 to the number of URLs (${urls.length}), got ${quorum}`);
    }
    this.quorum = quorum;
    this.#urls = [...urls];
    this.#graceMs = options.graceMs ?? 100;
    this.#now = options.now ?? Date.now;
    this.#hooks = options.hooks ?? {};
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.providers = urls.map((url, i) => new RpcProvider(url, i, {
      timeoutMs,
      batch: Array.isArray(options.batch) ? options.batch[i] !== false : options.batch !== false,
      // One endpoint: the transport retries as it always did. Several: the pool fails over.
      retryCount: urls.length === 1 ? 2 : 0,
    }));
    this.#status = { ok: true, reason: null, message: null, since: this.#now() };
    const request = (call: RpcCall) => this.request(call);
    // A transport built by hand rather than with viem's `createTransport`: that wrapper would
    // retry on its own and re-wrap the pool's errors (ChainViewError) as "unknown RPC error".
    // viem types `request` per RPC schema; the pool takes any call and returns raw results.
    this.transport = (() => ({
      config: { key: 'kmsRpcPool', name: 'eigenx-kms RPC pool', type: 'kmsRpcPool', request, retryCount: 0, timeout: timeoutMs },
      request,
      value: {},
    })) as unknown as Transport;
  }

  /** Replaces the hooks (the node wires its metrics and logs after the ledger exists). */
  setHooks(hooks: PoolHooks): void {
    this.#hooks = hooks;
  }

  /** Every provider batches JSON-RPC calls. */
  get batching(): boolean {
    return this.providers.every((p) => p.batch);
  }

  /** The providers for messages: redacted URLs (`http://host/v3/***`), comma-separated. */
  describe(): string {
    return this.#urls.map(redactRpcUrl).join(', ');
  }

  /** `text` with every provider's URL (and its credentials) redacted. */
  redact(text: string): string {
    let out = text;
    for (const p of this.providers) out = p.redact(out);
    return out;
  }

  status(): ChainViewStatus {
    const now = this.#now();
    return { ...this.#status, quorum: this.quorum, providers: this.providers.map((p) => p.snapshot(now)) };
  }

  /** Whether the caller runs inside a view. */
  get inView(): boolean {
    return this.#views.getStore() !== undefined;
  }

  /**
   * Runs `f` as one view (see the module comment); its verdict becomes `status()`. Inside
   * another view, `f` simply joins it.
   */
  view<T>(f: () => Promise<T>): Promise<T> {
    return this.#run(f, true);
  }

  #run<T>(f: () => Promise<T>, tracked: boolean): Promise<T> {
    if (this.#views.getStore()) return f();
    const v: View = { group: null, head: null, poisoned: null, failure: null, decided: false, tracked };
    return this.#views.run(v, async () => {
      try {
        return await f();
      } finally {
        this.#settle(v);
      }
    });
  }

  /**
   * A view when reads must be compared (quorum above 1), else `f` as is. Its verdict does not
   * change `status()`: that follows the ticks, not the HTTP API's reads between them (they
   * would make the status, and its log lines, flap).
   */
  guarded<T>(f: () => Promise<T>): Promise<T> {
    return this.quorum > 1 ? this.#run(f, false) : f();
  }

  /** Routes one JSON-RPC call (the transport's `request`). */
  async request(call: RpcCall): Promise<unknown> {
    const view = this.#views.getStore();
    if (view?.poisoned) throw view.poisoned;
    if (call.method === BROADCAST) {
      if (view) {
        // Never a transaction from a view that missed anything; one from a view that agreed
        // on everything it read shows the view consistent first (logs in the right order).
        if (view.failure) throw view.failure;
        if (view.decided && view.tracked) this.#setStatus(true, null, null);
      }
      return this.#broadcast(call);
    }
    if (!view) return this.#first(call, this.#order());
    if (isHeadCall(call)) return this.#head(view, call);
    if (COMPARED.has(call.method)) return this.#compared(view, call);
    const group = view.group ?? [];
    return this.#first(call, [...group, ...this.#order().filter((p) => !group.includes(p))]);
  }

  // ---------------------------------------------------------------------------------------

  /** Providers not backing off in listed order (the preferred one first), then the others by when they may be tried. */
  #order(): RpcProvider[] {
    const now = this.#now();
    const up = this.providers.filter((p) => p.eligible(now));
    const pref = this.#preferred;
    if (pref && up.includes(pref)) {
      up.splice(up.indexOf(pref), 1);
      up.unshift(pref);
    }
    const down = this.providers.filter((p) => !p.eligible(now)).sort((a, b) => a.retryAt - b.retryAt);
    return [...up, ...down];
  }

  async #ask(p: RpcProvider, call: RpcCall): Promise<Outcome> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const value = await p.send(call);
      this.#hooks.onRequest?.(p.label, call.method, 'ok', seconds());
      this.#up(p);
      return { kind: 'ok', value };
    } catch (error) {
      if (isAnswer(call.method, error)) {
        this.#hooks.onRequest?.(p.label, call.method, 'refused', seconds());
        this.#up(p);
        return { kind: 'answer', error };
      }
      this.#hooks.onRequest?.(p.label, call.method, isTimeout(error) ? 'timeout' : 'error', seconds());
      const description = p.describe(error);
      this.#down(p, description);
      return { kind: 'fault', error, description };
    }
  }

  #up(p: RpcProvider, agreed = false): void {
    const streak = p.succeeded(agreed);
    if (streak > 0) this.#hooks.onEvent?.({ kind: 'provider-up', provider: p.label, failures: streak });
  }

  #down(p: RpcProvider, description: string): void {
    const first = p.failures === 0;
    const backoff = p.failed(this.#now(), description);
    if (first) this.#hooks.onEvent?.({ kind: 'provider-down', provider: p.label, error: description, retryInMs: backoff });
  }

  #disagreed(p: RpcProvider, method: string, others: number, view: View | null): void {
    const block = view?.head ? `${view.head.number} (${view.head.hash})` : null;
    const first = p.failures === 0;
    p.disagreed(this.#now(), `answered ${method} differently from ${others} other provider${others === 1 ? '' : 's'}${block ? ` at block ${block}` : ''}`);
    if (first) this.#hooks.onEvent?.({ kind: 'disagreement', provider: p.label, method, block, others });
  }

  /** The first answer in `order`, failing over on faults. */
  async #first(call: RpcCall, order: readonly RpcProvider[]): Promise<unknown> {
    const faults: { p: RpcProvider; o: Extract<Outcome, { kind: 'fault' }> }[] = [];
    for (const p of order) {
      const o = await this.#ask(p, call);
      if (o.kind === 'ok') return o.value;
      if (o.kind === 'answer') throw o.error;
      faults.push({ p, o });
    }
    // One provider: its own error, as a single-endpoint transport would throw it.
    if (faults.length === 1) throw faults[0]?.o.error;
    throw new ChainRequestError(`Every RPC provider failed ${call.method}.`, {
      metaMessages: faults.map(({ p, o }) => `Provider ${p.label}: ${o.description}`),
    });
  }

  /** Sends a signed transaction to every provider that is up; the first acceptance wins. */
  async #broadcast(call: RpcCall): Promise<unknown> {
    const now = this.#now();
    let targets = this.providers.filter((p) => p.eligible(now));
    if (targets.length === 0) targets = this.#order().slice(0, 1);
    const raw = Array.isArray(call.params) && typeof call.params[0] === 'string' ? (call.params[0] as Hex) : null;
    return new Promise((resolve, reject) => {
      let left = targets.length;
      let done = false;
      const answers: unknown[] = [];
      const faults: string[] = [];
      let lastFault: unknown = null;
      for (const p of targets) {
        void this.#ask(p, call).then((o) => {
          left--;
          if (done) return;
          if (o.kind === 'ok') {
            done = true;
            resolve(o.value);
            return;
          }
          if (o.kind === 'answer') {
            // Another provider (or an earlier broadcast) already holds it: accepted.
            if (raw && /already known|known transaction|already imported/i.test(String((o.error as Error).message))) {
              done = true;
              resolve(keccak256(raw));
              return;
            }
            answers.push(o.error);
          } else {
            faults.push(`Provider ${p.label}: ${o.description}`);
            lastFault = o.error;
          }
          if (left === 0) {
            done = true;
            // A refusal by the chain says more than a provider's fault (nonce too low, underpriced…).
            if (answers.length > 0) reject(answers[0]);
            else if (targets.length === 1) reject(lastFault);
            else reject(new ChainRequestError('Every RPC provider failed to take the transaction.', { metaMessages: faults }));
          }
        });
      }
    });
  }

  /** Providers asked for the head: those up, topped up to the quorum with the ones backing off. */
  #headCandidates(): RpcProvider[] {
    const order = this.#order();
    const now = this.#now();
    const up = order.filter((p) => p.eligible(now));
    if (up.length >= this.quorum) return up.sort((a, b) => a.index - b.index);
    return order.slice(0, Math.max(this.quorum, up.length)).sort((a, b) => a.index - b.index);
  }

  /**
   * Asks `candidates` for the head at once; resolves when all answered, or `graceMs` after a
   * choice became possible. Answers that come later still update their provider's lag.
   */
  async #gatherHeads(candidates: readonly RpcProvider[], call: RpcCall, into: HeadGathering): Promise<void> {
    await new Promise<void>((resolve) => {
      let settled = 0;
      let grace: NodeJS.Timeout | null = null;
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        if (grace) clearTimeout(grace);
        resolve();
      };
      if (candidates.length === 0) finish();
      for (const p of candidates) {
        void this.#ask(p, call).then((o) => {
          settled++;
          const head = o.kind === 'ok' ? parseHead(o.value) : null;
          if (finished) {
            if (head && into.agreed !== null) p.observeHead(head.number, into.agreed);
            return;
          }
          if (head && o.kind === 'ok') {
            into.reports.push({ provider: p.index, head });
            into.raws.set(p.index, o.value);
          } else {
            into.notes.set(p.index, o.kind === 'fault' ? o.description : o.kind === 'answer' ? 'refused the head request' : 'answered without a block');
            if (o.kind !== 'ok') into.errors.set(p.index, o.error);
          }
          if (settled === candidates.length) finish();
          else if (grace === null && chooseHead(into.reports, this.quorum).ok) grace = setTimeout(finish, this.#graceMs);
        });
      }
    });
  }

  /**
   * The agreed head among what was gathered. Providers a block or two apart (propagation), or a
   * liar at the top: for each height that `quorum` of them have reached (highest first, three
   * at most), the ones ahead of it are asked for their block there, and the choice is made
   * among the blocks at that height.
   */
  async #choose(g: HeadGathering, call: RpcCall): Promise<HeadChoice> {
    let choice = chooseHead(g.reports, this.quorum);
    for (const h of choice.ok ? [] : candidateHeights(g.reports, this.quorum)) {
      const at = new Map<number, BlockHead>(g.reports.filter((r) => r.head.number === h).map((r) => [r.provider, r.head]));
      const ahead = g.reports.filter((r) => r.head.number > h).map((r) => r.provider);
      const params = [hexQuantity(h), ...(Array.isArray(call.params) ? call.params.slice(1) : [false])];
      const again = await Promise.all(ahead.map(async (i) => ({ i, o: await this.#ask(this.providers[i] as RpcProvider, { method: HEAD_BLOCK, params }) })));
      for (const { i, o } of again) {
        const head = o.kind === 'ok' ? parseHead(o.value) : null;
        if (head && o.kind === 'ok' && head.number === h) {
          at.set(i, head);
          g.raws.set(i, o.value);
        }
      }
      choice = chooseHead([...at].map(([provider, head]) => ({ provider, head })), this.quorum);
      if (choice.ok) break;
    }
    return choice;
  }

  async #head(view: View, call: RpcCall): Promise<unknown> {
    const candidates = this.#headCandidates();
    const g: HeadGathering = { reports: [], raws: new Map(), notes: new Map(), errors: new Map(), agreed: null };
    await this.#gatherHeads(candidates, call, g);
    let choice = await this.#choose(g, call);
    const rest = this.providers.filter((p) => !candidates.includes(p));
    if (!choice.ok && rest.length > 0) {
      // Last resort before not acting: the providers that are backing off (one may be healthy
      // again, and its head may complete a quorum).
      candidates.push(...rest);
      await this.#gatherHeads(rest, call, g);
      choice = await this.#choose(g, call);
    }
    if (!choice.ok) {
      const lines = this.providers.map((p) => {
        const r = g.reports.find((x) => x.provider === p.index);
        return `Provider ${p.label}: ${r ? `block ${r.head.number} (${r.head.hash})` : g.notes.get(p.index) ?? (candidates.includes(p) ? 'no answer in time' : 'not asked (backing off)')}`;
      });
      const err = g.reports.length === 0
        ? new ChainViewError('all-failing', 'No RPC provider answered the head request.', lines)
        : new ChainViewError('no-quorum', `No block is reported by ${this.quorum} RPC providers alike (--rpc-quorum ${this.quorum}).`, lines);
      view.failure = err;
      // One endpoint: its own error, as a single-endpoint transport would throw it.
      const only = this.providers.length === 1 ? g.errors.get(0) : undefined;
      if (only !== undefined) throw only;
      throw err;
    }
    const agreed = choice.head;
    g.agreed = agreed.number;
    for (const r of g.reports) {
      const p = this.providers[r.provider] as RpcProvider;
      p.observeHead(r.head.number, agreed.number);
      // The same height, another block: this provider is on another chain or lies.
      if (r.head.number === agreed.number && !choice.group.includes(r.provider)) this.#disagreed(p, 'the head', choice.group.length, view);
    }
    const group = choice.group.map((i) => this.providers[i] as RpcProvider);
    view.group = group;
    view.head = agreed;
    view.decided = true;
    this.#preferred = group[0] ?? null;
    return g.raws.get(choice.group[0] as number);
  }

  async #compared(view: View, call: RpcCall): Promise<unknown> {
    // The group's providers that are still up (one that disagreed earlier in this view is not
    // asked again unless nothing else is left), then the others as a last resort.
    const now = this.#now();
    const members = view.group
      ? [...view.group.filter((p) => p.eligible(now)), ...view.group.filter((p) => !p.eligible(now))]
      : this.#order();
    const q = this.quorum;
    const where = view.head ? [`Block: ${view.head.number} (${view.head.hash})`] : [];
    if (members.length < q) {
      const err = new ChainViewError('no-quorum', `Only ${members.length} RPC provider${members.length === 1 ? '' : 's'} agree on the head; --rpc-quorum ${q} needs ${q}.`, where);
      view.failure = err;
      throw err;
    }
    if (q === 1) {
      // Nothing to compare: the first answer in the group's order (no keys computed — a
      // tick's logs are tens of kilobytes, and ten nodes share two cores in the bench).
      const faults: { p: RpcProvider; o: Extract<Outcome, { kind: 'fault' }> }[] = [];
      for (const p of members) {
        const o = await this.#ask(p, call);
        if (o.kind === 'ok') {
          view.decided = true;
          return o.value;
        }
        if (o.kind === 'answer') {
          view.decided = true;
          throw o.error;
        }
        faults.push({ p, o });
      }
      if (this.providers.length === 1 && faults[0]) {
        view.failure = new ChainViewError('all-failing', 'The RPC provider failed.', [...where, `Provider ${faults[0].p.label}: ${faults[0].o.description}`]);
        throw faults[0].o.error;
      }
      const err = new ChainViewError('too-few-answers', `No RPC provider of the tick answered ${call.method}.`, [...where, ...faults.map(({ p, o }) => `Provider ${p.label}: ${o.description}`)]);
      view.failure = err;
      throw err;
    }
    const results: { p: RpcProvider; o: Outcome }[] = [];
    let asked = 0;
    const askMore = async (n: number) => {
      const batch = members.slice(asked, asked + n);
      asked += batch.length;
      const outs = await Promise.all(batch.map((p) => this.#ask(p, call)));
      outs.forEach((o, k) => results.push({ p: batch[k] as RpcProvider, o }));
    };
    await askMore(q);
    let keys = 0;
    for (;;) {
      const tally = new Map<string, { p: RpcProvider; o: Outcome }[]>();
      for (const r of results) {
        if (r.o.kind === 'fault') continue;
        const key = r.o.kind === 'ok'
          ? answerKey(call.method, r.o.value)
          : refusalKey(revertDataOfAnswer(r.o.error), String((r.o.error as Error).message).split('\n')[0] ?? '');
        const list = tally.get(key);
        if (list) list.push(r);
        else tally.set(key, [r]);
      }
      keys = tally.size;
      let best: { key: string; list: { p: RpcProvider; o: Outcome }[] } | null = null;
      for (const [key, list] of tally) if (best === null || list.length > best.list.length) best = { key, list };
      if (best && best.list.length >= q) {
        const winners = best.list;
        for (const [key, list] of tally) if (key !== best.key) for (const r of list) this.#disagreed(r.p, call.method, winners.length, view);
        for (const r of winners) this.#up(r.p, true);
        view.decided = true;
        const first = winners[0]?.o;
        if (first?.kind === 'answer') throw first.error;
        return combineAnswers(call.method, winners.map((r) => (r.o.kind === 'ok' ? r.o.value : undefined)));
      }
      const need = q - (best?.list.length ?? 0);
      const left = members.length - asked;
      if (left <= 0) break;
      await askMore(Math.min(left, need));
    }
    const lines = [...where, ...results.map(({ p, o }) => `Provider ${p.label}: ${o.kind === 'fault' ? o.description : o.kind === 'answer' ? 'refused' : 'answered'}`)];
    if (keys > 1) {
      const err = new ChainViewError('disagreement', `RPC providers disagree on ${call.method} and no answer reached --rpc-quorum ${q}: nothing is acted on in this view.`, lines);
      view.poisoned = err;
      view.failure = err;
      throw err;
    }
    // One provider that answered and no other: its own error when there is just one provider.
    if (this.providers.length === 1 && results[0]?.o.kind === 'fault') {
      view.failure = new ChainViewError('all-failing', 'The RPC provider failed.', lines);
      throw results[0].o.error;
    }
    const answered = results.filter((r) => r.o.kind !== 'fault').length;
    const err = new ChainViewError('too-few-answers', `Only ${answered} of the ${q} RPC provider${q === 1 ? '' : 's'} needed (--rpc-quorum ${q}) answered ${call.method}.`, lines);
    view.failure = err;
    throw err;
  }

  #settle(v: View): void {
    if (!v.tracked) return;
    if (v.failure) this.#setStatus(false, v.failure.reason, v.failure.shortMessage);
    else if (v.decided) this.#setStatus(true, null, null);
  }

  /**
   * A verdict change is reported once; within one stretch without a consistent view each reason
   * is reported once too (a pool whose failures alternate between "no quorum" and
   * "disagreement" from tick to tick says each once, not at every flip). `since` is when the
   * stretch began.
   */
  #setStatus(ok: boolean, reason: ViewFailureReason | null, message: string | null): void {
    const prev = this.#status;
    if (prev.ok === ok && prev.reason === reason) {
      if (message !== prev.message) this.#status = { ...prev, message };
      return;
    }
    const now = this.#now();
    if (ok) {
      this.#status = { ok, reason, message, since: now };
      this.#reported.clear();
      this.#hooks.onEvent?.({ kind: 'view', ok: true, failedForMs: prev.ok ? null : now - prev.since });
      return;
    }
    this.#status = { ok, reason, message, since: prev.ok ? now : prev.since };
    const r = reason ?? 'all-failing';
    if (this.#reported.has(r)) return;
    this.#reported.add(r);
    this.#hooks.onEvent?.({ kind: 'view', ok: false, reason: r, message: message ?? '' });
  }
}

export interface CreateRpcPoolResult {
  readonly pool: RpcPool;
  /** The chain id every answering provider serves. */
  readonly chainId: number;
  /** Providers that did not answer at start (labels); they are used once they answer. */
  readonly unreachable: readonly string[];
}

/**
 * A pool over `urls` after checking them: every provider that answers must serve the same
 * chain id (and `expectChainId`, when given), at least `quorum` must answer, and each one is
 * probed for JSON-RPC batch support (some gateways refuse batches; those get one call per request).
 */
export async function createRpcPool(urls: readonly string[], options: RpcPoolOptions & { readonly expectChainId?: number | bigint } = {}): Promise<CreateRpcPoolResult> {
  const unique = new Set(urls);
  if (unique.size !== urls.length) throw new RangeError('the same RPC URL is listed twice');
  const probe = new RpcPool(urls, { ...options, batch: false });
  const [ids, batches] = await Promise.all([
    Promise.all(probe.providers.map(async (p) => {
      try {
        const v = await p.send({ method: 'eth_chainId' });
        return typeof v === 'string' ? Number(BigInt(v)) : null;
      } catch (e) {
        return { error: p.describe(e) };
      }
    })),
    Promise.all(urls.map((u) => (options.batch === false ? Promise.resolve(false) : acceptsBatch(u)))),
  ]);
  const answered = ids.map((id, i) => ({ id, p: probe.providers[i] as RpcProvider })).filter((x): x is { id: number; p: RpcProvider } => typeof x.id === 'number');
  const chains = new Set(answered.map((x) => x.id));
  const lines = ids.map((id, i) => `Provider ${(probe.providers[i] as RpcProvider).label}: ${typeof id === 'number' ? `chain ${id}` : id === null ? 'no chain id' : id.error}`);
  if (chains.size > 1) throw new ChainRequestError('The RPC providers serve different chains.', { metaMessages: lines });
  const chainId = answered[0]?.id;
  if (chainId === undefined || answered.length < (options.quorum ?? 1)) {
    throw new ChainRequestError(answered.length === 0 ? 'The chain could not be reached.' : `Only ${answered.length} RPC provider${answered.length === 1 ? '' : 's'} answered; --rpc-quorum ${options.quorum} needs ${options.quorum}.`, { metaMessages: lines });
  }
  if (options.expectChainId !== undefined && BigInt(options.expectChainId) !== BigInt(chainId)) {
    throw new ChainRequestError('The node serves another chain than expected.', { metaMessages: [...lines, `Expected chain: ${options.expectChainId}`] });
  }
  const pool = new RpcPool(urls, { ...options, batch: batches });
  const unreachable = ids.flatMap((id, i) => (typeof id === 'number' ? [] : [(pool.providers[i] as RpcProvider).label]));
  return { pool, chainId, unreachable };
}

/**
 * Whether the endpoint answers a JSON-RPC batch (a one-call batch, `eth_chainId`). Some
 * gateways refuse batches; the pool then sends every call to that provider on its own (slower,
 * same answers).
 */
export async function acceptsBatch(rpcUrl: string): Promise<boolean> {
  try {
    const res = await rpcFetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }]),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) return false;
    const body: unknown = await res.json();
    return Array.isArray(body) && body.length === 1 && typeof (body[0] as { result?: unknown } | null)?.result === 'string';
  } catch {
    return false;
  }
}
