// The round machines' transition tables, drand-style (issue 13 item 1): the whole graph of
// each machine written out here as the spec, and every edge it does not list refused by the
// machine itself with a named `TransitionError` — before any work, so the refusal needs no
// valid input. (Allowed edges do real work and are run by the protocol scenarios.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEALER_TRANSITIONS, dealerTransition, type DealerContext, type DealerInputType, type DealerStatus } from '../../src/protocol/dealer.ts';
import type { Hex } from '../../src/protocol/ledger.ts';
import { RECIPIENT_TRANSITIONS, recipientTransition, type RecipientContext, type RecipientInput, type RecipientInputType, type RecipientStatus } from '../../src/protocol/recipient.ts';
import { TransitionError } from '../../src/protocol/transition.ts';

const DEALER_ALLOWED: Readonly<Record<DealerStatus, readonly DealerInputType[]>> = {
  waiting: ['deal-window-open', 'deal-window-closed'],
  dealt: [],
  missed: [],
  'cannot-deal': [],
};

const RECIPIENT_ALLOWED: Readonly<Record<RecipientStatus, readonly RecipientInputType[]>> = {
  'awaiting-deals': ['deals-final', 'acks-final', 'confirm-window-closed', 'session-failed', 'completed'],
  acked: ['acks-final', 'confirm-window-closed', 'session-failed', 'completed'],
  confirmed: ['completed', 'session-failed'],
  active: ['completed', 'session-failed', 'outcome-pending'],
  failed: [],
  discarded: ['completed', 'outcome-pending'],
  declined: [],
};

const DEALER_INPUTS: readonly DealerInputType[] = ['deal-window-open', 'deal-window-closed'];
const RECIPIENT_INPUTS: readonly RecipientInput[] = [
  { type: 'deals-final', submissions: [] },
  { type: 'acks-final', submissions: [], sourcePoly: null, mpk: null },
  { type: 'confirm-window-closed' },
  { type: 'completed', polyHash: `0x${'11'.repeat(32)}` as Hex },
  { type: 'session-failed' },
  { type: 'outcome-pending' },
];

// A refused edge is decided before the context is touched: an empty one proves it.
const NO_CONTEXT = {} as unknown as DealerContext & RecipientContext;

describe('dealer machine: transition table', () => {
  it('the table is exactly the spec above', () => assert.deepEqual(DEALER_TRANSITIONS, DEALER_ALLOWED));
  for (const status of Object.keys(DEALER_ALLOWED) as DealerStatus[]) {
    for (const input of DEALER_INPUTS) {
      if (DEALER_ALLOWED[status].includes(input)) continue;
      it(`${status} --${input}--> refused`, () => {
        const r = dealerTransition({ machine: 'dealer', session: 1, status }, { type: input }, NO_CONTEXT);
        assert.ok(!r.ok && r.error instanceof TransitionError);
        assert.equal(!r.ok && `${r.error.machine}|${r.error.from}|${r.error.input}`, `dealer|${status}|${input}`);
      });
    }
  }
  it('waiting --deal-window-closed--> missed (no deal, nothing sent)', () => {
    const r = dealerTransition({ machine: 'dealer', session: 1, status: 'waiting' }, { type: 'deal-window-closed' }, NO_CONTEXT);
    assert.ok(r.ok);
    assert.equal(r.state.status, 'missed');
    assert.deepEqual(r.outbox, []);
  });
});

describe('recipient machine: transition table', () => {
  it('the table is exactly the spec above', () => assert.deepEqual(RECIPIENT_TRANSITIONS, RECIPIENT_ALLOWED));
  for (const status of Object.keys(RECIPIENT_ALLOWED) as RecipientStatus[]) {
    for (const input of RECIPIENT_INPUTS) {
      if (RECIPIENT_ALLOWED[status].includes(input.type)) continue;
      it(`${status} --${input.type}--> refused`, () => {
        const r = recipientTransition({ machine: 'recipient', session: 1, status } as Parameters<typeof recipientTransition>[0], input, NO_CONTEXT);
        assert.ok(!r.ok && r.error instanceof TransitionError);
        assert.equal(!r.ok && `${r.error.machine}|${r.error.from}|${r.error.input}`, `recipient|${status}|${input.type}`);
      });
    }
  }
});
