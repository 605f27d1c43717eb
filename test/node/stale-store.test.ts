// A key store older than the chain (restored from an old backup, or one that missed reshares)
// must serve nothing stale: before the fix, `activeVersion()` kept returning the version the
// network had retired, and the node signed partials with that share.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryKeyStore } from '../../src/node/memory-key-store.ts';
import { reconcileWithChain } from '../../src/node/stale-store.ts';
import type { LedgerReader, Session, VersionRecord } from '../../src/protocol/ledger.ts';
import { realVersion, SCOPE } from './backup-fixtures.ts';

/** The final view of a chain whose active version is `active`, reshared from `source`. */
function finalView(active: number | null, source: number): LedgerReader {
  const record = (id: number): VersionRecord => ({ id, publicPolyHash: `0x${'ee'.repeat(32)}`, publicPoly: '0x', threshold: 2, holders: [], completedAt: 9000 + id });
  const session = (id: number) => ({ snapshot: { id, kind: 'reshare', sourceVersion: source }, progress: { outcome: 'completed' } }) as unknown as Session;
  // Only the two reads reconcileWithChain makes; anything else is a test bug.
  return new Proxy({} as LedgerReader, {
    get: (_t, k) => {
      if (k === 'activeVersion') return async () => (active === null ? null : record(active));
      if (k === 'getSession') return async (id: number) => session(id);
      throw new Error(`unexpected read ${String(k)}`);
    },
  });
}

/** A logger that fails the test on any refused edge of the version table. */
const log = { error: (_o: object, msg: string): never => assert.fail(`refused edge: ${msg}`) };

const storeWith = (...ids: number[]) => {
  const s = new MemoryKeyStore(SCOPE);
  for (const id of ids) s.putVersion(realVersion(id));
  return s;
};

describe('a key store older than the chain serves nothing stale', () => {
  it('restored two versions old: the version it holds is retired by the chain and deleted (retention), nothing is active, and the verdict says why', async () => {
    const s = storeWith(1);
    const v = await reconcileWithChain(s, finalView(3, 2), log);
    assert.equal(s.activeVersion(), null, 'no version is served');
    assert.equal(s.getVersion(1), null, 'a version older than a completed reshare\'s source is deleted, as every peer does');
    assert.match(String(v.reason), /older than the chain: it holds version 1, which the chain has retired; the chain's active version is 3/);
    assert.equal(v.chainVersion, 3);
  });

  it('one version old: the version is retired (kept, as peers keep it until its successor sources a reshare), none is active', async () => {
    const s = storeWith(1);
    const v = await reconcileWithChain(s, finalView(2, 1), log);
    assert.equal(s.activeVersion(), null);
    assert.equal(s.getVersion(1)?.status, 'retired');
    assert.notEqual(v.reason, null);
  });

  it('a current store, one that holds the chain\'s version (even pending), and a store before genesis are left alone', async () => {
    for (const [s, chain] of [[storeWith(2), 2], [storeWith(1, 3), 3], [storeWith(1), null]] as const) {
      const before = s.listVersions();
      const v = await reconcileWithChain(s, finalView(chain, 1), log);
      assert.equal(v.reason, null);
      assert.deepEqual(s.listVersions(), before);
    }
    const pending = new MemoryKeyStore(SCOPE);
    pending.putVersion(realVersion(1));
    pending.putVersion(realVersion(2, 'pending'));
    assert.equal((await reconcileWithChain(pending, finalView(2, 1), log)).reason, null, 'the loop activates a pending version it holds; not stale');
    assert.equal(pending.getVersion(1)?.status, 'active');
  });
});
