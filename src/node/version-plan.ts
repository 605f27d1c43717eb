/**
 * @module
 * Applies a version plan (`src/protocol/version-lifecycle.ts`: the pure planners decide, this
 * writes) to a key store. One place for it, so every path that changes a version's status —
 * the operator loop's rounds, settling and retention, and the stale-store check — goes through
 * the same transition table. The caller wraps it in the store transaction it belongs to.
 */
import type { VersionPlan } from '../protocol/version-lifecycle.ts';
import type { KeyStore, StoredVersion } from './key-store.ts';

export interface PlanLogger {
  error(obj: object, msg: string): void;
}

/**
 * Writes `plan.ops`; a refused edge is logged and not applied (the store keeps what it holds —
 * never lose a share). `put` supplies the version a `put-pending` stores (a round's new share).
 */
export function applyVersionPlan(store: KeyStore, plan: VersionPlan, log: PlanLogger, put?: () => StoredVersion): void {
  for (const e of plan.refused) log.error({ from: e.from, input: e.input }, `${e.message}: not applied, the key store keeps what it holds`);
  for (const o of plan.ops) {
    if (o.op === 'put-pending') {
      if (!put) throw new Error(`version ${o.id}: nothing to store`);
      store.putVersion(put());
    } else if (o.op === 'set-status') store.setVersionStatus(o.id, o.status, o.activatedAt);
    else store.deleteVersion(o.id);
  }
}
