/**
 * @module
 * The two caches of the key-release handler.
 *
 * `LedgerCache`: app records and releases, memoized per block (`AppView.block`, a block hash;
 * see ./app-reads.ts). Every request reads at a block that was the head after it arrived, so a
 * record never outlives the block it was read at: a method the owner disabled is refused from
 * the next block on. Within one block, concurrent and later requests for the same app share one
 * read (so a flood of requests costs one chain read per app per block, unknown apps included);
 * the entries of the few most recent blocks are kept, older ones dropped. Views without a block
 * (a live in-memory ledger) are not cached.
 *
 * `ReplayCache`: answered requests, by route and request hash → the sealed answer given. An
 * identical retry (same route, same body: the request hash covers every field, the attestation
 * included) gets the same bytes again without being signed or sealed again. Any *other* request
 * is checked and answered on its own, even if it reuses a (nonce, responseKey) pair: its answer
 * is sealed to the response key its valid attestation binds, so answering it harms nobody,
 * while refusing it would let whoever sees a request (every operator does) make the genuine
 * one fail by sending a modified copy first (issue 12, finding 5). Only *answered* requests
 * are recorded. Records live `ttlMs`, which the handler sets to at least 2 × the attestation
 * window: an attestation dated T passes the time check only while now ∈ [T − W, T + W], so a
 * record made when it first passed outlives every moment its retry could pass again.
 *
 * Bounds: at most `maxEntries` records (oldest evicted first: only authorized callers add
 * records, so pressure comes from real traffic, and an evicted answer is simply computed again
 * for a retry — same partial, new seal) and at most `maxAnswerBytes` of cached answers (beyond
 * that the oldest answers are dropped but their records stay: a retry of such a request is
 * answered afresh).
 */
import type { AppRecord, Hex, Release } from '../../protocol/ledger.ts';
import type { SignResponse as SealedResponse } from '../http/schemas.ts';
import type { AppView } from './app-reads.ts';

export interface LedgerCacheOptions {
  /** Apps remembered per block. */
  readonly maxApps?: number;
  /** Blocks whose reads are kept (the newest; a request may still be reading at the previous head). */
  readonly maxBlocks?: number;
}

interface BlockEntries {
  readonly apps: Map<string, Promise<AppRecord | null>>;
  readonly releases: Map<string, Promise<Release | null>>;
}

export class LedgerCache {
  readonly #maxApps: number;
  readonly #maxBlocks: number;
  readonly #blocks = new Map<string, BlockEntries>();

  constructor(options: LedgerCacheOptions = {}) {
    this.#maxApps = options.maxApps ?? 10_000;
    this.#maxBlocks = options.maxBlocks ?? 3;
  }

  #entries(block: string): BlockEntries {
    let e = this.#blocks.get(block);
    if (e === undefined) {
      e = { apps: new Map(), releases: new Map() };
      this.#blocks.set(block, e);
      while (this.#blocks.size > this.#maxBlocks) this.#blocks.delete(this.#blocks.keys().next().value as string);
    }
    return e;
  }

  /** One read per key and block; a failed read is not kept (the next request tries again). */
  #memo<T>(map: Map<string, Promise<T>>, key: string, read: () => Promise<T>): Promise<T> {
    const hit = map.get(key);
    if (hit !== undefined) return hit;
    const value = read();
    map.set(key, value);
    value.catch(() => {
      if (map.get(key) === value) map.delete(key);
    });
    if (map.size > this.#maxApps) map.delete(map.keys().next().value as string);
    return value;
  }

  /** The app record (null: no such app) as of the view's block. */
  app(view: AppView, appId: Hex): Promise<AppRecord | null> {
    if (view.block === null) return view.getApp(appId);
    return this.#memo(this.#entries(view.block).apps, appId.toLowerCase(), () => view.getApp(appId));
  }

  /** Release `index` of an app as of the view's block. */
  release(view: AppView, appId: Hex, index: number): Promise<Release | null> {
    if (view.block === null) return view.getRelease(appId, index);
    return this.#memo(this.#entries(view.block).releases, `${appId.toLowerCase()}:${index}`, () => view.getRelease(appId, index));
  }
}

export type ReplayKind = 'sign' | 'secrets';

export type ReplayLookup =
  /** This request was not answered (recently): check and answer it. */
  | { readonly status: 'miss' }
  /** The same request was answered: send this again. */
  | { readonly status: 'hit'; readonly answer: SealedResponse }
  /** The same request was answered but its answer was dropped (byte budget): answer afresh. */
  | { readonly status: 'recompute' };

export interface ReplayCacheOptions {
  readonly ttlMs: number;
  readonly maxEntries?: number;
  readonly maxAnswerBytes?: number;
  readonly clock?: () => number;
}

interface ReplayRecord {
  readonly expiresAt: number;
  answer: SealedResponse | null;
  bytes: number;
}

export class ReplayCache {
  readonly #ttl: number;
  readonly #maxEntries: number;
  readonly #maxAnswerBytes: number;
  readonly #clock: () => number;
  /** Insertion order = expiry order (one TTL for all), so expiry and eviction pop the head. */
  readonly #records = new Map<string, ReplayRecord>();
  #answerBytes = 0;

  constructor(options: ReplayCacheOptions) {
    if (!Number.isFinite(options.ttlMs) || options.ttlMs <= 0) throw new RangeError(`ttlMs: expected a positive number, got ${options.ttlMs}`);
    this.#ttl = options.ttlMs;
    this.#maxEntries = options.maxEntries ?? 200_000;
    this.#maxAnswerBytes = options.maxAnswerBytes ?? 64 * 1024 * 1024;
    this.#clock = options.clock ?? Date.now;
  }

  get size(): number {
    this.#expire();
    return this.#records.size;
  }

  /** The record key of a request: its route and its request hash (lowercase 0x-hex). */
  static key(kind: ReplayKind, requestHash: Hex): string {
    return `${kind}:${requestHash.toLowerCase()}`;
  }

  lookup(key: string): ReplayLookup {
    this.#expire();
    const r = this.#records.get(key);
    if (r === undefined) return { status: 'miss' };
    return r.answer === null ? { status: 'recompute' } : { status: 'hit', answer: r.answer };
  }

  /**
   * Records an answer. If the same request was answered meanwhile (a concurrent identical
   * request won the race), returns that answer instead, so both callers send the same bytes.
   */
  record(key: string, answer: SealedResponse): SealedResponse {
    const seen = this.lookup(key);
    if (seen.status === 'hit') return seen.answer;
    const bytes = answer.sealed.length + answer.operator.length + 16;
    if (seen.status === 'recompute') {
      const r = this.#records.get(key) as ReplayRecord;
      r.answer = answer;
      r.bytes = bytes;
    } else {
      this.#records.set(key, { expiresAt: this.#clock() + this.#ttl, answer, bytes });
    }
    this.#answerBytes += bytes;
    while (this.#records.size > this.#maxEntries) {
      const oldest = this.#records.entries().next().value;
      if (oldest === undefined) break;
      this.#drop(oldest[0], oldest[1]);
    }
    if (this.#answerBytes > this.#maxAnswerBytes) {
      for (const r of this.#records.values()) {
        if (this.#answerBytes <= this.#maxAnswerBytes) break;
        if (r.answer !== null && r.answer !== answer) {
          this.#answerBytes -= r.bytes;
          r.answer = null;
          r.bytes = 0;
        }
      }
    }
    return answer;
  }

  #drop(key: string, r: ReplayRecord): void {
    this.#answerBytes -= r.bytes;
    this.#records.delete(key);
  }

  #expire(): void {
    const now = this.#clock();
    for (const [key, r] of this.#records) {
      if (r.expiresAt > now) break;
      this.#drop(key, r);
    }
  }
}
