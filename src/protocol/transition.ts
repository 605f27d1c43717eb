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

export type TransitionResult<S> =
  | { readonly ok: true; readonly state: S; readonly outbox: readonly Outgoing[] }
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
