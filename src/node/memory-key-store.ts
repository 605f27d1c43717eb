/**
 * @module
 * In-memory `KeyStore` for tests and the simulator. Same validation, ordering, errors and
 * transaction semantics as the SQLite store (one suite runs against both); nothing is
 * encrypted or MAC'd because nothing is at rest: there is no file to alter, and the
 * SQLite store's refusals of altered rows have no counterpart here.
 *
 * Stored values are frozen private copies and every read returns a fresh copy, so callers
 * can never reach stored state through a reference. Transactions are copy-on-write at the
 * map level: entering one snapshots the (shallow) maps, whose values are immutable, and a
 * throw restores the snapshot. Nesting gives savepoint semantics, like better-sqlite3.
 */
import type { Hex } from '../protocol/ledger.ts';
import {
  KeyStoreError,
  assertSync,
  checkMetaKey,
  checkMetaValue,
  checkMpk,
  checkScope,
  checkSessionKey,
  checkSessionPublicKey,
  checkStatusChange,
  checkUint,
  checkVersion,
  copySessionKey,
  copyVersion,
  isActiveVersion,
  roundStateJson,
  wasActiveAt,
  type KeyStore,
  type StoreScope,
  type StoredSessionKey,
  type StoredVersion,
  type VersionStatus,
} from './key-store.ts';

interface State {
  mpk: Hex | null;
  versions: Map<number, StoredVersion>;
  sessionKeys: Map<Hex, StoredSessionKey>;
  /** JSON text, so reads always build a fresh value. */
  roundStates: Map<number, string>;
  meta: Map<string, string>;
}

function cloneState(s: State): State {
  return {
    mpk: s.mpk,
    versions: new Map(s.versions),
    sessionKeys: new Map(s.sessionKeys),
    roundStates: new Map(s.roundStates),
    meta: new Map(s.meta),
  };
}

export class MemoryKeyStore implements KeyStore {
  readonly scope: StoreScope;
  #state: State = { mpk: null, versions: new Map(), sessionKeys: new Map(), roundStates: new Map(), meta: new Map() };
  #closed = false;

  constructor(scope: StoreScope) {
    this.scope = checkScope(scope);
  }

  #live(): State {
    if (this.#closed) throw new KeyStoreError('closed', 'the key store is closed');
    return this.#state;
  }

  mpk(): Hex | null {
    return this.#live().mpk;
  }

  bindMpk(mpk: Hex): void {
    const s = this.#live();
    const m = checkMpk(mpk);
    if (s.mpk !== null && s.mpk !== m) {
      throw new KeyStoreError('scope-mismatch', `this key store is bound to master public key ${s.mpk.slice(0, 18)}…, not ${m.slice(0, 18)}…`);
    }
    s.mpk = m;
  }

  putVersion(v: StoredVersion): void {
    const s = this.#live();
    const checked = checkVersion(v, s.mpk);
    s.versions.set(checked.id, checked);
  }

  getVersion(id: number): StoredVersion | null {
    const v = this.#live().versions.get(checkUint(id, 'version id'));
    return v === undefined ? null : copyVersion(v);
  }

  listVersions(): StoredVersion[] {
    return [...this.#live().versions.values()].sort((a, b) => a.id - b.id).map(copyVersion);
  }

  activeVersion(): StoredVersion | null {
    return this.#newest((v) => isActiveVersion(v.status));
  }

  versionAt(t: number): StoredVersion | null {
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new KeyStoreError('bad-argument', 'versionAt: t must be a finite number');
    return this.#newest((v) => wasActiveAt(v.status, v.activatedAt, t));
  }

  #newest(pred: (v: StoredVersion) => boolean): StoredVersion | null {
    let best: StoredVersion | null = null;
    for (const v of this.#live().versions.values()) if (pred(v) && (best === null || v.id > best.id)) best = v;
    return best === null ? null : copyVersion(best);
  }

  setVersionStatus(id: number, status: VersionStatus, activatedAt?: number): void {
    const s = this.#live();
    const current = s.versions.get(checkUint(id, 'version id'));
    if (current === undefined) throw new KeyStoreError('not-found', `version ${id} is not in the key store`);
    const at = checkStatusChange(current, status, activatedAt);
    s.versions.set(id, Object.freeze({ ...current, status, activatedAt: at }));
  }

  deleteVersion(id: number): void {
    this.#live().versions.delete(checkUint(id, 'version id'));
  }

  putSessionKey(k: StoredSessionKey): void {
    const s = this.#live();
    const checked = checkSessionKey(k);
    s.sessionKeys.set(checked.publicKey, checked);
  }

  getSessionKey(publicKey: Hex): StoredSessionKey | null {
    const k = this.#live().sessionKeys.get(checkSessionPublicKey(publicKey));
    return k === undefined ? null : copySessionKey(k);
  }

  listSessionKeys(): StoredSessionKey[] {
    return [...this.#live().sessionKeys.values()]
      .sort((a, b) => a.createdAt - b.createdAt || (a.publicKey < b.publicKey ? -1 : a.publicKey > b.publicKey ? 1 : 0))
      .map(copySessionKey);
  }

  deleteSessionKey(publicKey: Hex): void {
    this.#live().sessionKeys.delete(checkSessionPublicKey(publicKey));
  }

  putRoundState(session: number, state: unknown): void {
    const s = this.#live();
    const id = checkUint(session, 'session');
    s.roundStates.set(id, roundStateJson(id, state));
  }

  getRoundState(session: number): unknown {
    const json = this.#live().roundStates.get(checkUint(session, 'session'));
    return json === undefined ? null : (JSON.parse(json) as unknown);
  }

  listRoundStates(): number[] {
    return [...this.#live().roundStates.keys()].sort((a, b) => a - b);
  }

  deleteRoundState(session: number): void {
    this.#live().roundStates.delete(checkUint(session, 'session'));
  }

  getMeta(key: string): string | null {
    return this.#live().meta.get(checkMetaKey(key)) ?? null;
  }

  setMeta(key: string, value: string): void {
    const s = this.#live();
    const k = checkMetaKey(key);
    s.meta.set(k, checkMetaValue(k, value));
  }

  transaction<T>(fn: () => T): T {
    const saved = cloneState(this.#live());
    try {
      const result = fn();
      assertSync(result);
      return result;
    } catch (e) {
      this.#state = saved;
      throw e;
    }
  }

  close(): void {
    this.#closed = true;
  }

  /**
   * Every value this store holds, secrets included, as copies: for tests and forensic checks
   * (`test/node/store-forensics.ts`: "no retired share is left anywhere"). Works after close,
   * like reading a closed SQLite file.
   */
  dumpState(): MemoryStoreState {
    const s = this.#state;
    return {
      mpk: s.mpk,
      versions: [...s.versions.values()].map(copyVersion),
      sessionKeys: [...s.sessionKeys.values()].map(copySessionKey),
      roundStates: [...s.roundStates].map(([session, json]) => ({ session, json })),
      meta: [...s.meta].map(([key, value]) => ({ key, value })),
    };
  }
}

/** What `MemoryKeyStore.dumpState` returns. */
export interface MemoryStoreState {
  readonly mpk: Hex | null;
  readonly versions: StoredVersion[];
  readonly sessionKeys: StoredSessionKey[];
  /** Round states as the JSON text the store keeps. */
  readonly roundStates: { readonly session: number; readonly json: string }[];
  readonly meta: { readonly key: string; readonly value: string }[];
}
