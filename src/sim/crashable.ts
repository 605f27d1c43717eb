/**
 * @module
 * What a crash means to a simulated node: its process stops mid-step. The key store (its
 * disk) and the chain live on; the loop object and everything it held in memory are gone.
 * A loop whose incarnation crashed may still have a tick in flight (waiting for a read or a
 * receipt); from the crash on, every call it makes to its store or its writer is refused
 * with `NodeDownError`, so a dead process writes nothing and sends nothing.
 */
import type { KeyStore } from '../node/key-store.ts';

/** What a crashed node's loop gets for any call it still makes (it is not running). */
export class NodeDownError extends Error {
  override readonly name = 'NodeDownError';
  constructor(label: string) {
    super(`${label} is down: a crashed process does nothing more`);
  }
}

/**
 * The store as one incarnation of a node's loop sees it: every call is refused once `alive()`
 * is false, while the store itself lives on for the next incarnation.
 */
export function guardStore(store: KeyStore, alive: () => boolean, label: string): KeyStore {
  return new Proxy(store, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]): unknown => {
        if (!alive()) throw new NodeDownError(label);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
