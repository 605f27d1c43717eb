/**
 * @module
 * Reads the network from the chain every few seconds (the node calls `maybeRefresh()` after
 * each tick; `GET /status/network` asks for a fresh view when the last one is older than
 * `everyMs`), builds the `NetworkView` (`network-view.ts`) and sets the alert gauges from it.
 *
 * Cost: one refresh reads governance, the operators, the MPK, the active version and the
 * newest `sessions` sessions, every read at one block when the ledger can (`readsAtOneBlock`).
 * A session's submissions (deals carry every sealed share) are read again only when its
 * submission counter or snapshot hash changed, so a closed session costs one `getSession`
 * per refresh; a completed session's version is read once. Refreshes never overlap, and run
 * beside the operator loop: a slow RPC delays the page, never a round.
 *
 * Secrets: none pass through here. The store is asked one yes/no question (does it hold an
 * active share of version v), never for a share.
 */
import type { Address, LedgerReader, RecordedSubmission, Session, VersionRecord } from '../../protocol/ledger.ts';
import type { NodeMetrics } from '../metrics.ts';
import { buildNetworkView, networkFacts, type NetworkView } from './network-view.ts';

/** Sessions shown on the page and in `/status/network` (newest first). */
export const SESSIONS_SHOWN = 8;
const DEFAULT_EVERY_MS = 5_000;

export interface NetworkWatchLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface NetworkWatchOptions {
  readonly ledger: LedgerReader;
  readonly me: Address;
  /** Whether this node's store holds an active share of version `id` (never the share itself). */
  readonly holdsShare: (id: number) => boolean;
  readonly metrics: Pick<NodeMetrics, 'network'>;
  readonly log: NetworkWatchLogger;
  /** Minimum ms between refreshes (default 5 000). */
  readonly everyMs?: number;
  /** Sessions kept in the view (default `SESSIONS_SHOWN`). */
  readonly sessions?: number;
}

/** The last view, when it was read (unix ms, this machine's clock) and the last refresh's error. */
export interface NetworkSnapshot {
  readonly view: NetworkView | null;
  readonly readAtMs: number | null;
  readonly error: string | null;
}

interface CachedSession {
  readonly snapshotHash: string;
  readonly counter: number;
  readonly submissions: readonly RecordedSubmission[];
}

export class NetworkWatch {
  readonly #o: NetworkWatchOptions;
  readonly #everyMs: number;
  readonly #subs = new Map<number, CachedSession>();
  readonly #versions = new Map<number, VersionRecord>();
  #view: NetworkView | null = null;
  #readAtMs: number | null = null;
  #error: string | null = null;
  #lastStart = 0;
  #running: Promise<void> | null = null;
  #failing = false;

  constructor(options: NetworkWatchOptions) {
    this.#o = options;
    this.#everyMs = options.everyMs ?? DEFAULT_EVERY_MS;
  }

  snapshot(): NetworkSnapshot {
    return { view: this.#view, readAtMs: this.#readAtMs, error: this.#error };
  }

  /** Starts a refresh if the last one is older than `everyMs`; never throws, never overlaps. */
  maybeRefresh(): Promise<void> {
    if (this.#running) return this.#running;
    if (Date.now() - this.#lastStart < this.#everyMs) return Promise.resolve();
    return this.refresh();
  }

  /** Refreshes now (or joins the refresh in flight). Errors are kept in `snapshot().error`. */
  refresh(): Promise<void> {
    if (this.#running) return this.#running;
    this.#lastStart = Date.now();
    this.#running = this.#refresh().then(() => {
      if (this.#failing) this.#o.log.warn({}, 'reading the network for the status page works again');
      this.#failing = false;
      this.#error = null;
    }, (e: unknown) => {
      this.#error = (e as Error).message.split('\n', 1)[0] ?? 'unknown error';
      // Said once per stretch of failures: the tick's own errors already tell the story.
      if (!this.#failing) this.#o.log.warn({ err: this.#error }, 'reading the network for the status page failed; /status/network serves the last view until it works again');
      this.#failing = true;
    }).finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #refresh(): Promise<void> {
    const { ledger, me } = this.#o;
    const read = () => this.#read();
    const reads = ledger.readsAtOneBlock ? await ledger.readsAtOneBlock(read) : await read();
    const view = buildNetworkView({ me, chainId: ledger.chainId, registry: ledger.registry, holdsShare: this.#o.holdsShare, ...reads });
    this.#view = view;
    this.#readAtMs = Date.now();
    this.#o.metrics.network(networkFacts(view));
  }

  async #read() {
    const { ledger } = this.#o;
    const [chainTime, governance, operators, mpk, activeVersion, latest] = await Promise.all([
      ledger.now(), ledger.getGovernance(), ledger.getOperators(), ledger.getMpk(), ledger.activeVersion(), ledger.latestSessionId(),
    ]);
    const ids: number[] = [];
    for (let id = latest; id >= 1 && ids.length < (this.#o.sessions ?? SESSIONS_SHOWN); id--) ids.push(id);
    const sessions = (await Promise.all(ids.map((id) => this.#session(id)))).filter((s) => s !== null);
    // Forget what is no longer shown.
    for (const id of this.#subs.keys()) if (!ids.includes(id)) this.#subs.delete(id);
    for (const id of this.#versions.keys()) if (!ids.includes(id)) this.#versions.delete(id);
    return { chainTime, governance, operators, mpk, activeVersion, sessions };
  }

  async #session(id: number): Promise<{ session: Session; submissions: readonly RecordedSubmission[] | null; version: VersionRecord | null } | null> {
    const { ledger } = this.#o;
    const session = await ledger.getSession(id);
    if (session === null) return null;
    const cached = this.#subs.get(id);
    let submissions: readonly RecordedSubmission[];
    if (cached && cached.snapshotHash === session.snapshotHash && cached.counter === session.progress.counter) {
      submissions = cached.submissions;
    } else {
      try {
        submissions = session.progress.counter === 0 ? [] : await ledger.getSubmissions(id);
        this.#subs.set(id, { snapshotHash: session.snapshotHash, counter: session.progress.counter, submissions });
      } catch (e) {
        // One session's log unreadable (pruned by the provider, a gap): the rest still shows.
        this.#o.log.debug({ session: id, err: (e as Error).message }, 'reading a session\'s submissions for the status page failed');
        return { session, submissions: null, version: null };
      }
    }
    let version: VersionRecord | null = null;
    if (session.progress.outcome === 'completed') {
      const known = this.#versions.get(id);
      // A reorg can complete the same id with another polynomial: the hash keys the cache.
      if (known && known.publicPolyHash === session.progress.completedPolyHash) version = known;
      else {
        version = await ledger.getVersion(id);
        if (version) this.#versions.set(id, version);
      }
    }
    return { session, submissions, version };
  }
}
