/**
 * @module
 * The shape every round machine shares: a closed set of statuses, one transition table
 * listing every allowed edge, and a transition that returns the next state plus an outbox of
 * ledger submissions, or a named error. No machine reads a clock or draws randomness it was
 * not handed; the runtime persists the new state before it sends the outbox.
 */
import type { AckSubmission, ConfirmSubmission, DealSubmission } from './ledger.ts';

export type Outgoing =
  | { readonly kind: 'deal'; readonly body: Omit<DealSubmission, 'type' | 'from'> }
  | { readonly kind: 'ack'; readonly body: Omit<AckSubmission, 'type' | 'from'> }
  | { readonly kind: 'confirm'; readonly body: Omit<ConfirmSubmission, 'type' | 'from'> };

/**
 * A transition's result. `produced` is key material the transition created (a recipient's new
 * share and next session key): it is **never** part of the state — the runtime stores it in
 * its own encrypted tables, in the same transaction as the new state, so that no round state,
 * finished or not, ever holds a share or a session secret (SPEC 4, v3).
 */
export type TransitionResult<S, P = never> =
  | { readonly ok: true; readonly state: S; readonly outbox: readonly Outgoing[]; readonly produced?: P }
  | { readonly ok: false; readonly error: TransitionError };

export class TransitionError extends Error {
  override readonly name = 'TransitionError';
  constructor(
    readonly machine: string,
    readonly from: string,
    readonly input: string,
    message?: string,
  ) {
    super(message ?? `${machine}: no transition from '${from}' on '${input}'`);
  }
}

/** Checks an edge against a machine's table before any work is done. */
export function checkEdge<Status extends string, Input extends string>(
  machine: string,
  table: Readonly<Record<Status, readonly Input[]>>,
  from: Status,
  input: Input,
): TransitionError | null {
  return table[from].includes(input) ? null : new TransitionError(machine, from, input);
}
