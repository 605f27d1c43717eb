/**
 * @module
 * Retention rules for the key store (SPEC 4, issue 5). Pure functions: the caller gathers
 * the facts from the chain and the store, these decide, the caller deletes.
 *
 * **Versions.** SPEC 4: "A version is deleted only after a later version has itself been
 * the source of a completed reshare." Precisely: version v is deleted iff some version id
 * w > v.id is in `completedSourceIds`, the ids of versions that were the source version of
 * a reshare session that completed on-chain.
 * - Why that and not "once a newer version is active": a version is only proven usable
 *   once enough of its holders have dealt from it in a reshare that completed. Until the
 *   newer version w has done so, v is kept as a fallback (for a manual recovery if w's
 *   holders turn out unable to reshare). After it, every later session sources from w or
 *   newer, and no client combines partials of v any more.
 * - w need not be held by this node (it may have missed w's session); the fact that matters
 *   is on-chain. Pending versions follow the same rule: a pending v older than a completed
 *   source is a round that never became, or no longer is, the current version.
 * - A version that is itself only the source of a completed reshare (w = v) is kept: its
 *   successor has not yet proved itself by sourcing one.
 *
 * **Session encryption keys.** SPEC 2: each operator publishes a fresh session key per
 * session and deletes the private half after it. Precisely: key k is deleted iff
 * (1) the key currently published on-chain for this operator is held in the store and was
 *     created strictly after k (a newer key has been published), and
 * (2) no session that is not yet over lists k among its recipient keys (`keysInUse`).
 * - Unpublished keys are never deleted: a node stores its next key (inside the same
 *   transaction as its confirmation) before the confirmation that publishes it is mined,
 *   so a key newer than the published one is the one about to become current.
 * - If the published key is not in the store (lost data directory, or a registration
 *   done elsewhere) nothing is deleted: with no anchor there is no safe order, and the
 *   node's start-up publishes a key it holds, after which the rule applies again.
 * Hex comparisons ignore case.
 */
import type { Hex } from '../protocol/ledger.ts';
import type { StoredSessionKey } from './key-store.ts';

/** Ids of the versions to delete, ascending: the rule lives in `src/protocol/version-lifecycle.ts`. */
export { versionsToDelete } from '../protocol/version-lifecycle.ts';

/**
 * Public keys of the session keys whose secrets may be deleted, ascending createdAt (see
 * the module comment). `publishedKey` is the key the registry lists for this operator now
 * (null if it lists none); `keysInUse` the recipient keys of every session not yet over.
 */
export function sessionKeysToDelete(
  keys: readonly StoredSessionKey[],
  publishedKey: Hex | null,
  keysInUse: ReadonlySet<Hex>,
): Hex[] {
  if (publishedKey === null) return [];
  const published = publishedKey.toLowerCase();
  const anchor = keys.find((k) => k.publicKey.toLowerCase() === published);
  if (anchor === undefined) return [];
  const inUse = new Set([...keysInUse].map((k) => k.toLowerCase()));
  return keys
    .filter((k) => k.createdAt < anchor.createdAt && !inUse.has(k.publicKey.toLowerCase()))
    .sort((a, b) => a.createdAt - b.createdAt)
    .map((k) => k.publicKey);
}
