// Retention rules (SPEC 4 "A version is deleted only after a later version has itself been
// the source of a completed reshare"; SPEC 2 session keys deleted after their session once
// a newer key is published). Pure functions, so plain tables.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createECDH } from 'node:crypto';
import type { Hex } from '../../src/protocol/ledger.ts';
import type { StoredSessionKey, StoredVersion, VersionStatus } from '../../src/node/key-store.ts';
import { sessionKeysToDelete, versionsToDelete } from '../../src/node/retention.ts';

function v(id: number, status: VersionStatus = 'retired'): StoredVersion {
  return {
    id,
    status,
    share: 1n,
    publicPoly: `0x${'a1'.repeat(96)}`,
    publicPolyHash: `0x${'00'.repeat(32)}`,
    threshold: 1,
    holders: [],
    confirmedAt: id,
    activatedAt: status === 'pending' ? null : id,
  };
}

describe('retention: versions', () => {
  const rows: { name: string; versions: StoredVersion[]; sources: number[]; expected: number[] }[] = [
    { name: 'nothing completed: keep everything', versions: [v(1), v(2, 'active')], sources: [], expected: [] },
    {
      name: 'the newest version sourced a reshare: its predecessor is not yet deletable (2 has not itself sourced one)',
      versions: [v(1), v(2, 'active')],
      sources: [1],
      expected: [],
    },
    { name: 'v2 sourced a completed reshare: v1 goes, v2 stays', versions: [v(1), v(2), v(3, 'active')], sources: [1, 2], expected: [1] },
    { name: 'w need not be held here (this node missed session 4)', versions: [v(1), v(2), v(3, 'active')], sources: [4], expected: [1, 2, 3] },
    { name: 'a pending version older than a completed source goes too', versions: [v(2, 'pending'), v(3, 'active'), v(5, 'pending')], sources: [3, 4], expected: [2, 3] },
    { name: 'a pending version newer than every source stays', versions: [v(3), v(4, 'active'), v(5, 'pending')], sources: [3], expected: [] },
    { name: 'ids are returned ascending whatever the input order', versions: [v(9, 'active'), v(2), v(5), v(1)], sources: [9], expected: [1, 2, 5] },
    { name: 'gaps in ids (failed sessions) change nothing', versions: [v(10), v(14), v(20, 'active')], sources: [10, 14], expected: [10] },
  ];
  for (const r of rows) {
    it(r.name, () => {
      assert.deepEqual(versionsToDelete(r.versions, new Set(r.sources)), r.expected);
    });
  }

  it('never deletes the newest version (no source can be newer than the newest completed one here)', () => {
    for (let n = 1; n <= 6; n++) {
      const versions = Array.from({ length: n }, (_, i) => v(i + 1, i + 1 === n ? 'active' : 'retired'));
      const sources = new Set(Array.from({ length: n }, (_, i) => i + 1));
      const del = versionsToDelete(versions, sources);
      assert.ok(!del.includes(n));
      assert.deepEqual(del, Array.from({ length: Math.max(0, n - 1) }, (_, i) => i + 1));
    }
  });

  it('does not modify its inputs', () => {
    const versions = [v(3), v(1)];
    const sources = new Set([2, 3]);
    versionsToDelete(versions, sources);
    assert.deepEqual(versions.map((x) => x.id), [3, 1]);
    assert.deepEqual([...sources], [2, 3]);
  });
});

function key(createdAt: number): StoredSessionKey {
  const ecdh = createECDH('secp256k1');
  ecdh.generateKeys();
  return { publicKey: `0x${ecdh.getPublicKey('hex', 'compressed')}`, secretKey: new Uint8Array(32), createdAt };
}

describe('retention: session keys', () => {
  const k1 = key(100);
  const k2 = key(200);
  const k3 = key(300);
  const k4 = key(400);
  const all = [k3, k1, k4, k2];
  const rows: { name: string; published: Hex | null; inUse: Hex[]; expected: Hex[] }[] = [
    { name: 'nothing published: delete nothing', published: null, inUse: [], expected: [] },
    { name: 'the oldest key is published: nothing is older', published: k1.publicKey, inUse: [], expected: [] },
    { name: 'k3 published: older keys go, oldest first', published: k3.publicKey, inUse: [], expected: [k1.publicKey, k2.publicKey] },
    { name: 'an open session still lists k2: it stays', published: k3.publicKey, inUse: [k2.publicKey, k3.publicKey], expected: [k1.publicKey] },
    {
      name: 'k4 is stored but not yet published (confirmation not mined): it is never deleted',
      published: k3.publicKey,
      inUse: [],
      expected: [k1.publicKey, k2.publicKey],
    },
    { name: 'the published key is not held here: no anchor, delete nothing', published: key(500).publicKey, inUse: [], expected: [] },
    {
      name: 'hex case does not matter',
      published: k3.publicKey.toUpperCase().replace('0X', '0x') as Hex,
      inUse: [k2.publicKey.toUpperCase().replace('0X', '0x') as Hex],
      expected: [k1.publicKey],
    },
  ];
  for (const r of rows) {
    it(r.name, () => {
      assert.deepEqual(sessionKeysToDelete(all, r.published, new Set(r.inUse)), r.expected);
    });
  }

  it('a key created at the same chain time as the published one is kept (no order between them)', () => {
    const a = key(100);
    const b = key(100);
    assert.deepEqual(sessionKeysToDelete([a, b], b.publicKey, new Set()), []);
  });
});
