/**
 * @module
 * One RPC endpoint of the pool (`rpc-pool.ts`): its viem HTTP transport, its health and its
 * backoff, and the line between a provider's **fault** and a chain's **answer**.
 *
 * - An *answer* is something the chain itself says and every honest provider would say too:
 *   a revert (with its data), a refused transaction (nonce too low, underpriced, insufficient
 *   funds, fee below the base fee), an unsupported method. It goes back to the caller as is,
 *   and the provider stays healthy.
 * - Anything else is a *fault* of this provider: no connection, a dropped socket, a timeout,
 *   an HTTP error status (5xx, 429…), a body that is not JSON-RPC, an internal error, an
 *   unknown block (a lagging provider asked for a block it has not seen). The pool then asks
 *   the next provider, and this one backs off: it is skipped for 1 s after its first fault,
 *   doubling per consecutive fault up to 60 s, and used again once its backoff is over and it
 *   answers (a provider that keeps failing costs one request per backoff period).
 *
 * Labels. A provider appears in logs, errors, `/status` and metric labels only as
 * `<index>:<host>` (`1:rpc.example.com`), the host stripped of user info and with any
 * key-looking label (16+ key characters) replaced by `***`: an RPC URL's credentials (basic
 * auth, `/v3/<key>` paths, `?apikey=`) never leave this module. Error texts from the transport
 * are redacted against the full URL before they are kept.
 */
import { http, HttpRequestError, RpcRequestError, TimeoutError } from 'viem';
import { redactIn, walkCauses } from './errors.ts';
import { rpcFetch } from './http-fetch.ts';

/** A JSON-RPC request as the pool routes it. */
export interface RpcCall {
  readonly method: string;
  readonly params?: unknown;
}

export type RequestFn = (call: RpcCall) => Promise<unknown>;

/** How one request ended, for metrics: an answer (ok or refusal), a fault, or a timeout. */
export type RequestOutcome = 'ok' | 'error' | 'timeout';

/** First backoff after a fault; doubles per consecutive fault. */
export const BACKOFF_BASE_MS = 1_000;
/** Longest backoff. */
export const BACKOFF_MAX_MS = 60_000;

const SECRETISH_LABEL = /^[A-Za-z0-9_-]{16,}$/;

/** `<index>:<host>` with user info dropped and key-looking host labels replaced (see the module comment). */
export function providerLabel(url: string, index: number): string {
  let host: string;
  try {
    host = new URL(url).host;
  } catch {
    host = '<invalid url>';
  }
  return `${index}:${host.split('.').map((l) => (SECRETISH_LABEL.test(l) ? '***' : l)).join('.')}`;
}

/** The JSON-RPC error in a transport error's cause chain, if the provider answered with one. */
function rpcErrorOf(err: unknown): { code: number; message: string; data: unknown; status: number | undefined } | null {
  const found = walkCauses(err, (e) => e instanceof RpcRequestError);
  if (!(found instanceof RpcRequestError)) return null;
  return { code: found.code, message: found.details || found.shortMessage, data: found.data, status: found.status };
}

const REFUSED_TX = /nonce too low|nonce too high|already known|known transaction|already imported|underpriced|insufficient funds|fee cap|base fee|max fee|intrinsic gas|gas limit|exceeds block gas|tip|invalid sender|replacement/i;

/** Whether an error is the chain's answer rather than this provider's fault (see the module comment). */
export function isAnswer(method: string, err: unknown): boolean {
  const rpc = rpcErrorOf(err);
  if (rpc === null) return false;
  // A JSON-RPC error inside an HTTP error status (5xx, 429, a gateway refusing a batch) is the
  // gateway's trouble, not the chain's answer.
  if (rpc.status !== undefined && rpc.status >= 300) return false;
  if (rpc.code === 3 || /revert/i.test(rpc.message)) return true;
  if (typeof rpc.data === 'string' && /^0x[0-9a-fA-F]{8,}$/.test(rpc.data)) return true;
  if (rpc.code === -32601 || rpc.code === -32602) return true; // method not served / our params: every provider says so
  if (method === 'eth_sendRawTransaction' && REFUSED_TX.test(rpc.message)) return true;
  if (method === 'eth_estimateGas' && /insufficient funds|gas required exceeds|out of gas/i.test(rpc.message)) return true;
  return false;
}

/** Revert data of an answer error, when it carries some. */
export function revertDataOfAnswer(err: unknown): string | undefined {
  const rpc = rpcErrorOf(err);
  if (rpc && typeof rpc.data === 'string' && /^0x[0-9a-fA-F]*$/.test(rpc.data)) return rpc.data;
  if (rpc && typeof rpc.data === 'object' && rpc.data !== null) {
    const inner = (rpc.data as { data?: unknown }).data;
    if (typeof inner === 'string' && /^0x[0-9a-fA-F]*$/.test(inner)) return inner;
  }
  return undefined;
}

export function isTimeout(err: unknown): boolean {
  return walkCauses(err, (e) => e instanceof TimeoutError || (e instanceof Error && e.name === 'TimeoutError')) !== null;
}

/** A short, redacted description of a fault ("HTTP 502", "timeout after 10 s", "socket closed"). */
export function describeFault(err: unknown, url: string): string {
  if (isTimeout(err)) return 'timeout';
  const httpErr = walkCauses(err, (e) => e instanceof HttpRequestError);
  if (httpErr instanceof HttpRequestError) {
    if (httpErr.status !== undefined) return `HTTP ${httpErr.status}`;
    const cause = httpErr.cause instanceof Error ? httpErr.cause.message : httpErr.details;
    return redactIn(cause || 'the request failed', url).slice(0, 160);
  }
  const rpc = rpcErrorOf(err);
  if (rpc) return redactIn(`JSON-RPC error ${rpc.code}: ${rpc.message}`, url).slice(0, 160);
  return redactIn(err instanceof Error ? err.message.split('\n')[0] ?? err.name : String(err), url).slice(0, 160);
}

/** What the pool shows about a provider (`/status`, logs). Never the URL. */
export interface ProviderSnapshot {
  readonly provider: string;
  /** Not backing off. */
  readonly up: boolean;
  /** Consecutive faults (0 when healthy). */
  readonly failures: number;
  /** When a backing-off provider is tried again (ms epoch). */
  readonly retryAt: number | null;
  /** The last fault, redacted. */
  readonly lastError: string | null;
  /** The last head this provider reported, and by how many blocks it trailed the agreed head then. */
  readonly head: number | null;
  readonly lagBlocks: number | null;
}

export interface ProviderOptions {
  /** Per-request timeout (ms). */
  readonly timeoutMs: number;
  /** Send the calls made at once as one JSON-RPC batch. */
  readonly batch: boolean;
  /** Transport-level retries (the pool's own failover replaces them when it has several providers). */
  readonly retryCount: number;
}

export class RpcProvider {
  readonly index: number;
  readonly label: string;
  readonly batch: boolean;
  readonly #url: string;
  readonly #request: RequestFn;
  #failures = 0;
  #retryAt = 0;
  #lastError: string | null = null;
  #head: bigint | null = null;
  #lag: number | null = null;
  /** It answered differently from a quorum: only an answer that agrees with one clears it. */
  #suspect = false;

  constructor(url: string, index: number, options: ProviderOptions) {
    this.index = index;
    this.#url = url;
    this.label = providerLabel(url, index);
    this.batch = options.batch;
    const transport = http(url, {
      retryCount: options.retryCount,
      timeout: options.timeoutMs,
      batch: options.batch ? { wait: 0 } : false,
      fetchFn: rpcFetch,
    })({});
    // viem types `request` per RPC schema; the pool routes untyped calls (method + params) and
    // hands the raw JSON-RPC result back to viem, which formats it.
    this.#request = transport.request as unknown as RequestFn;
  }

  /** Sends one call (no health bookkeeping: the pool records the outcome). */
  send(call: RpcCall): Promise<unknown> {
    return this.#request(call);
  }

  /** Not backing off at `now`. */
  eligible(now: number): boolean {
    return now >= this.#retryAt;
  }

  get retryAt(): number {
    return this.#retryAt;
  }

  get failures(): number {
    return this.#failures;
  }

  /**
   * Records an answer. Returns the length of the fault streak it ends (0: none). A provider
   * that disagreed with a quorum stays in its streak (and backoff) until an answer of it
   * `agreed` with a quorum again: a liar's honest answers to other requests do not clear it.
   */
  succeeded(agreed = false): number {
    if (this.#suspect && !agreed) return 0;
    this.#suspect = false;
    const streak = this.#failures;
    this.#failures = 0;
    this.#retryAt = 0;
    return streak;
  }

  /** Records a fault; returns the backoff (ms) it starts. */
  failed(now: number, description: string): number {
    this.#failures++;
    this.#lastError = description;
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(16, this.#failures - 1));
    this.#retryAt = now + backoff;
    return backoff;
  }

  /** Records an answer that differed from what a quorum of providers said; returns the backoff (ms). */
  disagreed(now: number, description: string): number {
    this.#suspect = true;
    return this.failed(now, description);
  }

  /** A fault description redacted against this provider's URL. */
  describe(err: unknown): string {
    return describeFault(err, this.#url);
  }

  /** Any text redacted against this provider's URL. */
  redact(text: string): string {
    return redactIn(text, this.#url);
  }

  observeHead(head: bigint, agreed: bigint | null): void {
    this.#head = head;
    this.#lag = agreed === null ? null : Number(agreed > head ? agreed - head : 0n);
  }

  snapshot(now: number): ProviderSnapshot {
    return {
      provider: this.label,
      up: this.eligible(now),
      failures: this.#failures,
      retryAt: this.#retryAt > now ? this.#retryAt : null,
      lastError: this.#lastError,
      head: this.#head === null ? null : Number(this.#head),
      lagBlocks: this.#lag,
    };
  }
}
