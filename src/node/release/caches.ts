/**
 * @module
 * The two caches of the key-release handler.
 *
 * `LedgerCache`: app records for a few seconds (every request needs one, and a chain read per
 * request would let any client turn this node into an RPC amplifier), unknown apps included
 * (a flood of random ids costs one read per id per TTL); releases for good (a release is
 * immutable once published, so (appId, index) → release never goes stale).
 *
 * `ReplayCache`: (nonce, responseKey) → the request hash and kind that used it first, and the
 * answer given. An identical retry (same hash, same route) gets the same sealed answer; any
 * other request with that pair is refused. Only *answered* requests are recorded, so a
 * stranger who sees a nonce in flight cannot burn it with a bogus request. Records live
 * `ttlMs`, which the handler sets to at least 2 × the attestation window: an attestation
 * dated T passes the time check only while now ∈ [T − W, T + W], so a record made when it
 * first passed outlives every moment it could pass again.
 *
 * Bounds: at most `maxEntries` records (oldest evicted first: only authorized callers add
 * records, so pressure comes from real traffic, and the answer it forgets was sealed to a key
 * only its requester holds) and at most `maxAnswerBytes` of cached answers (beyond that the
 * oldest answers are dropped but their records stay: a retry of such a request is answered
 * afresh — same partial, new seal — and a different request is still refused).
 */
import type { AppRecord, Hex, LedgerReader, Release } from '../../protocol/ledger.ts';
import type { SignResponse as SealedResponse } from '../http/schemas.ts';

type AppReads = Pick<LedgerReader, 'getApp' | 'getRelease'>;

export interface LedgerCacheOptions {
  readonly appTtlMs?: number;
  readonly maxApps?: number;
  readonly maxReleases?: number;
  readonly clock?: () => number;
}

export class LedgerCache {
  readonly #ledger: AppReads;
  readonly #ttl: number;
  readonly #maxApps: number;
  readonly #maxReleases: number;
  readonly #clock: () => number;
  readonly #apps = new Map<string, { at: number; value: Promise<AppRecord | null> }>();
  readonly #releases = new Map<string, Release>();

  constructor(ledger: AppReads, options: LedgerCacheOptions = {}) {
    this.#ledger = ledger;
    this.#ttl = options.appTtlMs ?? 5_000;
    this.#maxApps = options.maxApps ?? 10_000;
    this.#maxReleases = options.maxReleases ?? 1_000;
    this.#clock = options.clock ?? Date.now;
  }

  /** The app record (null: no such app), at most `appTtlMs` old. Concurrent reads share one call. */
  app(appId: Hex): Promise<AppRecord | null> {
    const key = appId.toLowerCase();
    const now = this.#clock();
    const hit = this.#apps.get(key);
    if (hit !== undefined && now - hit.at <= this.#ttl) return hit.value;
    const value = this.#ledger.getApp(key as Hex);
    this.#apps.delete(key);
    this.#apps.set(key, { at: now, value });
    // A failed read is not cached: the next request tries again.
    value.catch(() => {
      if (this.#apps.get(key)?.value === value) this.#apps.delete(key);
    });
    while (this.#apps.size > this.#maxApps) {
      const oldest = this.#apps.keys().next().value;
      if (oldest === undefined) break;
      this.#apps.delete(oldest);
    }
    return value;
  }

  /** Release `index` of an app (immutable once published: cached without expiry, LRU-bounded). */
  async release(appId: Hex, index: number): Promise<Release | null> {
    const key = `${appId.toLowerCase()}:${index}`;
    const hit = this.#releases.get(key);
    if (hit !== undefined) {
      this.#releases.delete(key);
      this.#releases.set(key, hit);
      return hit;
    }
    const r = await this.#ledger.getRelease(appId.toLowerCase() as Hex, index);
    if (r === null) return null; // not cached: it may be published a moment later
    this.#releases.set(key, r);
    while (this.#releases.size > this.#maxReleases) {
      const oldest = this.#releases.keys().next().value;
      if (oldest === undefined) break;
      this.#releases.delete(oldest);
    }
    return r;
  }
}

export type ReplayKind = 'sign' | 'secrets';

export type ReplayLookup =
  /** Nothing recorded for this (nonce, responseKey): go on. */
  | { readonly status: 'miss' }
  /** The same request was answered: send this again. */
  | { readonly status: 'hit'; readonly answer: SealedResponse }
  /** The same request was answered but its answer was dropped (byte budget): answer afresh. */
  | { readonly status: 'recompute' }
  /** Another request used this (nonce, responseKey). */
  | { readonly status: 'conflict' };

export interface ReplayCacheOptions {
  readonly ttlMs: number;
  readonly maxEntries?: number;
  readonly maxAnswerBytes?: number;
  readonly clock?: () => number;
}

interface ReplayRecord {
  readonly hash: string;
  readonly kind: ReplayKind;
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

  static key(nonce: Hex, responseKey: Hex): string {
    return `${nonce.toLowerCase()}/${responseKey.toLowerCase()}`;
  }

  lookup(key: string, hash: string, kind: ReplayKind): ReplayLookup {
    this.#expire();
    const r = this.#records.get(key);
    if (r === undefined) return { status: 'miss' };
    if (r.hash !== hash || r.kind !== kind) return { status: 'conflict' };
    return r.answer === null ? { status: 'recompute' } : { status: 'hit', answer: r.answer };
  }

  /**
   * Records an answer. If a record appeared meanwhile (a concurrent identical request won the
   * race), returns that one's outcome instead, so both callers send the same thing.
   */
  record(key: string, hash: string, kind: ReplayKind, answer: SealedResponse): ReplayLookup {
    const seen = this.lookup(key, hash, kind);
    if (seen.status === 'hit' || seen.status === 'conflict') return seen;
    const bytes = answer.sealed.length + answer.operator.length + 16;
    if (seen.status === 'recompute') {
      const r = this.#records.get(key) as ReplayRecord;
      r.answer = answer;
      r.bytes = bytes;
    } else {
      this.#records.set(key, { hash, kind, expiresAt: this.#clock() + this.#ttl, answer, bytes });
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
    return { status: 'hit', answer };
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
