/**
 * @module
 * What a node says when a session lists a recipient key that is not a valid secp256k1 point
 * (an older registry checked only the prefix). The protocol treats it as that recipient's
 * fault (`dealer.ts`, `recipient.ts`, `round-outcome.ts`); this module turns the two places
 * where it shows into warnings an operator can act on at 3 a.m.:
 *
 * - a dealer that sealed around such a recipient names the recipient, its key and the
 *   session: it is the other operator who has something to fix, not this node;
 * - a node whose own key is the bad one says that it sits the session out and how to publish
 *   a valid key (`kms-server` publishes a fresh one when it starts and finds its registered
 *   key unusable, see `ensureSessionKey`).
 *
 * Pure: it compares the round state before and after one step, so each warning is said once.
 */
import type { Address, Hex } from '../protocol/ledger.ts';
import { UNUSABLE_OWN_KEY_REASON } from '../protocol/recipient.ts';
import type { RoundState } from '../protocol/round-driver.ts';

export interface SessionKeyWarning {
  readonly fields: Readonly<Record<string, unknown>>;
  readonly msg: string;
}

/** Warnings due for the step `before` → `after` of `session` (recipient keys from its snapshot). */
export function sessionKeyWarnings(
  session: number,
  recipients: readonly Address[],
  recipientKeys: readonly Hex[],
  before: RoundState,
  after: RoundState,
): SessionKeyWarning[] {
  const out: SessionKeyWarning[] = [];
  const dealt = after.dealer?.status === 'dealt' && before.dealer?.status !== 'dealt';
  for (const recipient of dealt ? (after.dealer?.unusableKeys ?? []) : []) {
    const key = recipientKeys[recipients.indexOf(recipient)] ?? null;
    out.push({
      fields: { session, recipient, key },
      msg: `recipient ${recipient} has a session key that is not a valid secp256k1 point: this deal seals it nothing usable and the round goes on without it; its operator must publish a valid key (restarting its kms-server does)`,
    });
  }
  const r = after.recipient;
  if (r?.status === 'failed' && r.reason === UNUSABLE_OWN_KEY_REASON && before.recipient?.status !== 'failed') {
    out.push({
      fields: { session },
      msg: `the session key this operator has on the registry is not a valid secp256k1 point: no dealer could seal it a share, so it sits session ${session} out; restart kms-server to publish a fresh key, it takes part again from the next session`,
    });
  }
  return out;
}
