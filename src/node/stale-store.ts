/**
 * @module
 * A key store older than the chain (issue 15, item 2): restored from an old backup, or kept by
 * a node that missed the reshares since. Its newest `active` version is one the network has
 * moved on from, and the operator loop never learns it: it retires a version only when it
 * sees the round that replaced it complete **with its own share**, and applies retention only
 * to sessions of versions it holds. Such a node kept serving partials of a retired version.
 *
 * `reconcileWithChain` settles it from final facts only (retiring is irreversible), through the
 * version lifecycle's table (`versionsOnStaleStore`):
 *
 *   chain   = the final view's active version C (the latest completed one)
 *   stale   ⇔ the store does not hold C, and its newest active version is older than C
 *
 * A stale store's active versions older than C are **retired** (as the loop would have, had it
 * taken part) so `activeVersion()` is null and key release refuses with the reason; versions
 * older than C's source are **deleted** (the retention rule, `retention.ts`: C's reshare
 * completed from its source). The node then rejoins as a recipient at the next reshare, with
 * the fresh session key it publishes at start-up; once it holds C' ≥ C the verdict clears.
 */
import type { LedgerReader } from '../protocol/ledger.ts';
import type { KeyStore } from './key-store.ts';
import type { LoopLogger } from './operator-loop.ts';
import { versionsOnStaleStore } from '../protocol/version-lifecycle.ts';
import { applyVersionPlan, type PlanLogger } from './version-plan.ts';

export interface StaleVerdict {
  /** Why this node serves nothing: its store is older than the chain; null when it is not. */
  readonly reason: string | null;
  /** The chain's final active version id (null before genesis). */
  readonly chainVersion: number | null;
}

/**
 * Compares the store with the chain's final active version and retires / deletes what the
 * chain has moved on from (module comment). Idempotent; writes only when the store is stale.
 */
export async function reconcileWithChain(store: KeyStore, final: LedgerReader, log: PlanLogger): Promise<StaleVerdict> {
  const chain = await final.activeVersion();
  if (chain === null) return { reason: null, chainVersion: null };
  const held = store.activeVersion();
  const mine = store.getVersion(chain.id);
  if (mine !== null || (held !== null && held.id >= chain.id)) return { reason: null, chainVersion: chain.id };
  const session = await final.getSession(chain.id);
  const sources = new Set<number>();
  if (session?.snapshot.kind === 'reshare' && session.progress.outcome === 'completed') sources.add(session.snapshot.sourceVersion);
  const plan = versionsOnStaleStore(store.listVersions(), chain.id, sources);
  store.transaction(() => applyVersionPlan(store, plan, log));
  const was = held === null ? 'holds no active version' : `holds version ${held.id}, which the chain has retired`;
  return {
    reason: `the key store is older than the chain: it ${was}; the chain's active version is ${chain.id} and this node holds no share of it. It serves no partials until it rejoins as a recipient at the next reshare`,
    chainVersion: chain.id,
  };
}

/** Runs `reconcileWithChain` and logs each change of verdict once (a warning while stale). */
export class StaleStoreWatch {
  #reason: string | null = null;
  #chainVersion = 0;
  readonly #store: KeyStore;
  readonly #final: () => LedgerReader;
  readonly #log: LoopLogger;

  constructor(store: KeyStore, final: () => LedgerReader, log: LoopLogger) {
    this.#store = store;
    this.#final = final;
    this.#log = log;
  }

  /**
   * Why this node serves nothing (its store is older than the chain), or null. Clears as soon
   * as the store holds an active version at least as new as the chain's (the node rejoined),
   * without waiting for the next check.
   */
  get reason(): string | null {
    if (this.#reason === null) return null;
    const held = this.#store.activeVersion();
    return held !== null && held.id >= this.#chainVersion ? null : this.#reason;
  }

  /** Reconciles once; errors are the caller's (a failed read changes nothing). */
  async check(): Promise<void> {
    const was = this.reason;
    const verdict = await reconcileWithChain(this.#store, this.#final(), this.#log);
    if (verdict.reason !== null && was === null) {
      this.#log.warn({ chainVersion: verdict.chainVersion }, verdict.reason);
      // The first reason names the version the store held; later checks would only say "none".
      this.#reason = verdict.reason;
    }
    if (verdict.reason === null && this.#reason !== null) {
      this.#log.info({ chainVersion: verdict.chainVersion, activeVersion: this.#store.activeVersion()?.id ?? null }, 'the key store holds the chain\'s active version again: this node serves partials');
      this.#reason = null;
    }
    this.#chainVersion = verdict.chainVersion ?? 0;
  }
}
