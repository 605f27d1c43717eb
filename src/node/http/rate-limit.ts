/**
 * @module
 * Per-client token buckets: each client may make `burst` requests at once and
 * `perClientPerSecond` on average. A bucket holds `tokens ∈ [0, burst]`, refilled continuously:
 *
 *   tokens(t) = min(burst, tokens(t0) + (t − t0) · rate)
 *
 * A request takes one token or is refused with the seconds until one is back (Retry-After).
 * Memory is bounded: beyond `maxClients` buckets, full ones (idle clients, which carry no
 * state worth keeping) are dropped, and if that is not enough the oldest tenth goes. Clients
 * are keyed by IPv4 address, or by IPv6 /64 (one host usually owns a whole /64, so keying by
 * full address would hand it 2^64 buckets).
 */

export interface RateLimitOptions {
  /** Sustained rate per client. */
  readonly perClientPerSecond: number;
  /** Bucket size: requests a client may make at once after being idle. */
  readonly burst: number;
  /** Buckets kept at most (default 10 000). */
  readonly maxClients?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  readonly #rate: number;
  readonly #burst: number;
  readonly #max: number;
  readonly #buckets = new Map<string, Bucket>();

  /** `now` in milliseconds (monotonic in production; a fake in tests). */
  constructor(options: RateLimitOptions, private readonly now: () => number) {
    if (!(options.perClientPerSecond > 0) || !Number.isFinite(options.perClientPerSecond)) {
      throw new RangeError(`rateLimit.perClientPerSecond: expected a positive number, got ${options.perClientPerSecond}`);
    }
    if (!Number.isInteger(options.burst) || options.burst < 1) throw new RangeError(`rateLimit.burst: expected an integer ≥ 1, got ${options.burst}`);
    this.#rate = options.perClientPerSecond / 1000;
    this.#burst = options.burst;
    this.#max = options.maxClients ?? 10_000;
  }

  /** Takes a token for `client`: 0 when granted, else whole seconds to wait (≥ 1). */
  take(client: string): number {
    const t = this.now();
    let b = this.#buckets.get(client);
    if (b === undefined) {
      if (this.#buckets.size >= this.#max) this.#evict(t);
      b = { tokens: this.#burst, at: t };
      this.#buckets.set(client, b);
    } else {
      b.tokens = Math.min(this.#burst, b.tokens + Math.max(0, t - b.at) * this.#rate);
      b.at = t;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.#rate / 1000));
  }

  get size(): number {
    return this.#buckets.size;
  }

  #evict(t: number): void {
    for (const [k, b] of this.#buckets) if (b.tokens + (t - b.at) * this.#rate >= this.#burst) this.#buckets.delete(k);
    let extra = this.#buckets.size - Math.floor(this.#max * 0.9);
    for (const k of this.#buckets.keys()) {
      if (extra-- <= 0) break;
      this.#buckets.delete(k);
    }
  }
}

/** The bucket key of a client address: IPv4 as is, IPv6 by its /64 prefix. */
export function clientKey(ip: string): string {
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4mapped?.[1] !== undefined) return v4mapped[1];
  if (!ip.includes(':')) return ip;
  const [addr = ''] = ip.split('%'); // drop a zone id (fe80::1%eth0)
  const [head = '', tail] = addr.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
