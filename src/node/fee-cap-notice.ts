/**
 * @module
 * Saying plainly when the fee cap keeps a submission out (issue 17, item 5). The transaction
 * sender refuses to send while the base fee is above `--max-fee-gwei` (or finds its
 * transaction stuck below it) and throws `FeeCapError`; this wrapper around the node's
 * `LedgerWriter` turns that into the sentence an operator needs, with the window it is about:
 *
 *   submitting deal for session 7 waits: base fee 80 gwei is above --max-fee-gwei 50; the deal window closes in 40 s
 *
 * logged once per (session, submission) and carried by the error the operator loop logs at
 * each retry (its countdown moves). When the window closes while the cap still kept the
 * submission out, `afterTick` says so once, as an error, and counts it
 * (`kms_fee_cap_missed_windows_total`). The loop resends as usual; nothing here decides
 * anything — it only explains.
 */
import { FeeCapError, gweiText } from '../chain/tx-sender.ts';
import { walkCauses } from '../chain/errors.ts';
import type { Address, Ledger, LedgerWriter } from '../protocol/ledger.ts';
import { phaseEnds } from '../protocol/session-rules.ts';
import type { LoopLogger } from './operator-loop.ts';

type Kind = 'deal' | 'ack' | 'confirmation';

export interface FeeCapNotice {
  readonly writer: LedgerWriter;
  /** After each tick, with its chain time: reports windows the cap made this node miss. */
  afterTick(chainTime: number): Promise<void>;
}

export interface FeeCapNoticeOptions {
  readonly ledger: Ledger;
  /** This node's operator address (whose submissions the chain may show after all). */
  readonly me: Address;
  readonly log: LoopLogger;
  /** How the cap was set, for the message: "--max-fee-gwei 50", "--max-fee-gwei 100 (the Ethereum default)". */
  readonly capText: string;
  readonly onMissedWindow?: () => void;
}

export function withFeeCapNotice(writer: LedgerWriter, o: FeeCapNoticeOptions): FeeCapNotice {
  /** `session|kind` → window end (chain time) of a submission the cap keeps out. */
  const waiting = new Map<string, { session: number; kind: Kind; end: number | null }>();

  const explain = async (kind: Kind, session: unknown, err: unknown): Promise<unknown> => {
    const cap = walkCauses(err, (e) => e instanceof FeeCapError);
    if (!(cap instanceof FeeCapError) || typeof session !== 'number') return err;
    let end: number | null = null;
    let now: number | null = null;
    try {
      const s = await o.ledger.getSession(session);
      now = await o.ledger.now();
      if (s) {
        const e = phaseEnds(s);
        end = kind === 'deal' ? e.dealEnd : kind === 'ack' ? e.ackEnd : e.confirmEnd;
      }
    } catch {
      // The sentence loses its countdown, nothing else.
    }
    const left = end !== null && now !== null ? `; the ${kind === 'confirmation' ? 'confirm' : kind} window closes in ${Math.max(0, end - now)} s` : '';
    const stuck = cap.pending ? ' (its transaction waits in the pool below the base fee)' : '';
    const text = `submitting ${kind} for session ${session} waits: base fee ${gweiText(cap.baseFee)} gwei is above ${o.capText}${left}${stuck}`;
    const key = `${session}|${kind}`;
    if (!waiting.has(key)) o.log.warn({ session, kind, baseFeeGwei: gweiText(cap.baseFee), capGwei: gweiText(cap.cap), windowEnd: end }, text);
    waiting.set(key, { session, kind, end });
    return new Error(text, { cause: err });
  };

  const wrap = <A extends { session: unknown }>(kind: Kind, f: (a: A) => Promise<void>) => async (a: A): Promise<void> => {
    try {
      await f(a);
      waiting.delete(`${String(a.session)}|${kind}`);
    } catch (e) {
      throw await explain(kind, a.session, e);
    }
  };

  return {
    writer: {
      ...writer,
      submitDeal: wrap('deal', (d) => writer.submitDeal(d)),
      submitAck: wrap('ack', (a) => writer.submitAck(a)),
      submitConfirmation: wrap('confirmation', (c) => writer.submitConfirmation(c)),
    },
    async afterTick(chainTime) {
      for (const [key, w] of [...waiting]) {
        if (w.end === null || chainTime < w.end) continue;
        waiting.delete(key);
        // A transaction that waited in the pool may have landed after all.
        const type = w.kind === 'confirmation' ? 'confirm' : w.kind;
        const landed = await o.ledger.getSubmissions(w.session).then((subs) => subs.some((s) => s.from === o.me && s.type === type), () => false);
        if (landed) continue;
        o.onMissedWindow?.();
        o.log.error({ session: w.session, kind: w.kind }, `the fee cap (${o.capText}) kept this node's ${w.kind} for session ${w.session} out of its window, which has closed: raise the cap, or expect the round to go on without this node's ${w.kind}`);
      }
    },
  };
}
