// The key version's life in a store (SPEC 4 v3, issue 13 item 1), as a drand-style transition
// table: every (state, input) pair is either an allowed edge with its target or a named
// refusal, and the pure planners return exactly the store operations a fact calls for.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Hex } from '../../src/protocol/ledger.ts';
import { TransitionError } from '../../src/protocol/transition.ts';
import {
  VERSION_INPUTS,
  VERSION_STATES,
  versionsAfterStep,
  versionsOnAbandon,
  versionsOnFinalOutcome,
  versionsOnRetention,
  versionTransition,
  type HeldVersion,
  type VersionInput,
  type VersionState,
} from '../../src/protocol/version-lifecycle.ts';

const H1 = `0x${'11'.repeat(32)}` as Hex;
const H2 = `0x${'22'.repeat(32)}` as Hex;

/** The whole graph, written out: [from, input, to]. Anything not listed must be refused. */
const ALLOWED: readonly (readonly [VersionState, VersionInput, VersionState])[] = [
  ['absent', 'confirmed', 'pending'],
  ['pending', 'confirmed', 'pending'],
  ['pending', 'completed', 'active'],
  ['pending', 'lost-final', 'absent'],
  ['pending', 'abandoned', 'absent'],
  ['pending', 'expired', 'absent'],
  ['active', 'completion-reorged', 'pending'],
  ['active', 'superseded-final', 'retired'],
  ['active', 'abandoned', 'absent'],
  ['active', 'expired', 'absent'],
  ['retired', 'expired', 'absent'],
];

describe('version lifecycle: transition table', () => {
  for (const from of VERSION_STATES) {
    for (const input of VERSION_INPUTS) {
      const edge = ALLOWED.find(([f, i]) => f === from && i === input);
      if (edge) {
        it(`${from} --${input}--> ${edge[2]}`, () => {
          assert.deepEqual(versionTransition(from, input), { ok: true, to: edge[2] });
        });
      } else {
        it(`${from} --${input}--> refused`, () => {
          const t = versionTransition(from, input);
          assert.equal(t.ok, false);
          assert.ok(!t.ok && t.error instanceof TransitionError);
          assert.equal(!t.ok && t.error.from, from);
          assert.equal(!t.ok && t.error.input, input);
        });
      }
    }
  }

  it('a retired version never comes back (no edge leads from retired to pending or active)', () => {
    for (const input of VERSION_INPUTS) {
      const t = versionTransition('retired', input);
      assert.ok(!t.ok || t.to === 'absent', `retired --${input}--> ${t.ok ? t.to : 'refused'}`);
    }
  });
});

const v = (id: number, status: HeldVersion['status'], hash: Hex = H1): HeldVersion => ({ id, status, publicPolyHash: hash });

describe('version lifecycle: what each fact does to the store', () => {
  it('a confirmation stores the share as pending', () => {
    const p = versionsAfterStep(null, { id: 3, produced: true, polyHash: H1, recipientBefore: 'acked', recipientAfter: 'confirmed', completedAt: 0 });
    assert.deepEqual(p.ops, [{ op: 'put-pending', id: 3 }]);
    assert.deepEqual(p.refused, []);
  });

  it('a late recipient that confirms into a completed session goes through pending to active in one step', () => {
    const p = versionsAfterStep(null, { id: 3, produced: true, polyHash: H1, recipientBefore: 'acked', recipientAfter: 'active', completedAt: 77 });
    assert.deepEqual(p.ops, [{ op: 'put-pending', id: 3 }, { op: 'set-status', id: 3, status: 'active', activatedAt: 77 }]);
  });

  it('the completion at the latest block activates the pending version with the same hash only', () => {
    const same = versionsAfterStep(v(3, 'pending'), { id: 3, produced: false, polyHash: H1, recipientBefore: 'confirmed', recipientAfter: 'active', completedAt: 9 });
    assert.deepEqual(same.ops, [{ op: 'set-status', id: 3, status: 'active', activatedAt: 9 }]);
    const other = versionsAfterStep(v(3, 'pending', H2), { id: 3, produced: false, polyHash: H1, recipientBefore: 'confirmed', recipientAfter: 'active', completedAt: 9 });
    assert.deepEqual(other.ops, []);
  });

  it('a reorg that takes the completion back makes the version pending again (not deleted: not final)', () => {
    const p = versionsAfterStep(v(3, 'active'), { id: 3, produced: false, polyHash: H1, recipientBefore: 'active', recipientAfter: 'confirmed', completedAt: 0 });
    assert.deepEqual(p.ops, [{ op: 'set-status', id: 3, status: 'pending' }]);
  });

  it('a confirmation for a version already active or retired is refused, and the store keeps it', () => {
    for (const status of ['active', 'retired'] as const) {
      const p = versionsAfterStep(v(3, status), { id: 3, produced: true, polyHash: H2, recipientBefore: 'acked', recipientAfter: 'confirmed', completedAt: 0 });
      assert.deepEqual(p.ops, [], status);
      assert.equal(p.refused.length, 1);
      assert.match(p.refused[0]?.message ?? '', new RegExp(`version 3: no transition from '${status}' on 'confirmed'`));
    }
  });

  it('a reopened session deletes what its round produced, never a retired version', () => {
    assert.deepEqual(versionsOnAbandon(v(4, 'pending')).ops, [{ op: 'delete', id: 4 }]);
    assert.deepEqual(versionsOnAbandon(v(4, 'active')).ops, [{ op: 'delete', id: 4 }]);
    assert.deepEqual(versionsOnAbandon(v(4, 'retired')).ops, []);
    assert.deepEqual(versionsOnAbandon(null).ops, []);
  });

  it('a final completion with this node\'s hash retires every older active version, and only those', () => {
    const held = [v(1, 'retired'), v(2, 'active'), v(3, 'active'), v(4, 'pending'), v(5, 'active')];
    assert.deepEqual(versionsOnFinalOutcome(held, 5, true, H1).ops, [
      { op: 'set-status', id: 2, status: 'retired' },
      { op: 'set-status', id: 3, status: 'retired' },
    ]);
  });

  it('a final failure or another hash\'s completion deletes the pending share of that hash only', () => {
    assert.deepEqual(versionsOnFinalOutcome([v(2, 'active'), v(3, 'pending')], 3, false, H1).ops, [{ op: 'delete', id: 3 }]);
    assert.deepEqual(versionsOnFinalOutcome([v(3, 'pending', H2)], 3, false, H1).ops, [], 'another hash: not this round\'s share');
    assert.deepEqual(versionsOnFinalOutcome([v(3, 'retired')], 3, false, H1).ops, []);
  });

  it('a final loss of a version the store shows active is refused (the latest block disagrees): nothing is deleted', () => {
    const p = versionsOnFinalOutcome([v(3, 'active')], 3, false, H1);
    assert.deepEqual(p.ops, []);
    assert.equal(p.refused[0]?.input, 'lost-final');
  });

  it('retention deletes versions older than the newest completed source, whatever their status', () => {
    const held = [v(1, 'retired'), v(2, 'active'), v(3, 'pending'), v(4, 'active')];
    assert.deepEqual(versionsOnRetention(held, new Set([2, 3])).ops, [{ op: 'delete', id: 1 }, { op: 'delete', id: 2 }]);
    assert.deepEqual(versionsOnRetention(held, new Set()).ops, []);
  });
});
