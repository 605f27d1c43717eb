/**
 * @module
 * Is the operator account funded for the rounds ahead? The account pays every submission of
 * the node; when it runs dry the node silently stops dealing, acking and confirming, and a
 * reshare needs `t_old` of its holders. So the node compares, after each round it took part in
 * and every minute:
 *
 *   rounds left = balance ÷ (gas of this node's last round × (next base fee + tip))
 *
 * with the round's gas measured from this node's own transactions (the largest of its last
 * three rounds: a DKG costs more than a reshare, a round it only acked in less; 500 000 gas
 * before it has any — docs/contracts.md puts a whole round at ≤ 363 000 gas per operator up
 * to n = 30), against **a day of rounds, and at least 10** (`ceil(86 400 s ÷ interval)`, the
 * interval governance set). Why a day: a top-up is a transfer someone makes by hand, from a
 * wallet that should not sit on the node; a day is long enough to notice an alert at night and
 * act in working hours, whatever the interval, and at least 10 rounds keeps a long interval
 * from leaving no margin at all. The cost counts what is paid (base fee + tip), not the max
 * fee, which only has to be *held* per transaction (the sender refuses to send when it is not).
 *
 * Below that: `kms_operator_balance_rounds_left` < `kms_operator_balance_rounds_wanted`,
 * `/healthz` unhealthy with the reason, and one log line naming the amount to top up (said
 * again only after the account was funded in between).
 */
import type { ChainLedger, TransactionInfo } from '../chain/chain-ledger.ts';
import type { Address } from '../protocol/ledger.ts';
import type { ChainMetrics } from './chain-metrics.ts';
import { etherText } from './chain-watch.ts';
import type { LoopLogger } from './operator-loop.ts';

/** Gas of one round before the node measured one of its own. */
export const DEFAULT_ROUND_GAS = 500_000n;
/** The fewest rounds the balance should pay for. */
export const MIN_ROUNDS = 10;
const DAY_SECONDS = 86_400;

export interface BalanceReport {
  /** Balance in wei (decimal string: JSON has no bigint). */
  readonly wei: string;
  readonly roundsLeft: number;
  readonly roundsWanted: number;
  /** Gas of one round of this node (measured, or the default). */
  readonly gasPerRound: number;
  /** What to add to reach `roundsWanted`, in wei (null: enough). */
  readonly topUpWei: string | null;
  /** Unix seconds of the check. */
  readonly checkedAt: number;
}

export interface BalanceWatchOptions {
  readonly ledger: ChainLedger;
  readonly me: Address;
  readonly log: LoopLogger;
  readonly metrics: ChainMetrics;
  /** Minimum ms between checks (default 60 000). */
  readonly everyMs?: number;
}

/** Rounds the balance should cover: a day of rounds at `interval` seconds, at least `MIN_ROUNDS`. */
export function roundsWanted(intervalSeconds: number): number {
  return Math.max(MIN_ROUNDS, Math.ceil(DAY_SECONDS / Math.max(1, intervalSeconds)));
}

export class BalanceWatch {
  readonly #o: BalanceWatchOptions;
  /** Gas of this node's transactions per session (the last few). */
  readonly #gas = new Map<number, bigint>();
  #report: BalanceReport | null = null;
  #low = false;
  #lastCheck = 0;
  #running: Promise<void> | null = null;

  constructor(options: BalanceWatchOptions) {
    this.#o = options;
  }

  /** Every mined transaction of this node (the ledger's `onTransaction`). */
  recordTx(info: TransactionInfo): void {
    if (info.account !== this.#o.me || info.session === undefined) return;
    this.#gas.set(info.session, (this.#gas.get(info.session) ?? 0n) + info.gasUsed);
    while (this.#gas.size > 3) this.#gas.delete(this.#gas.keys().next().value as number);
  }

  /** Gas of one round: the largest of the last three this node took part in, or the default. */
  gasPerRound(): bigint {
    let max = 0n;
    for (const g of this.#gas.values()) if (g > max) max = g;
    return max > 0n ? max : DEFAULT_ROUND_GAS;
  }

  /** Checks now if `force` or a check is due; never two at once. Errors are logged, not thrown. */
  check(force = false): Promise<void> {
    if (this.#running) return this.#running;
    if (!force && Date.now() - this.#lastCheck < (this.#o.everyMs ?? 60_000)) return Promise.resolve();
    this.#lastCheck = Date.now();
    this.#running = this.#check().catch((e: unknown) => {
      this.#o.log.debug({ err: (e as Error).message }, 'the balance check failed; it runs again later');
    }).finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #check(): Promise<void> {
    const { ledger, me, log, metrics } = this.#o;
    const [balance, quote, gov] = await Promise.all([
      ledger.client.getBalance({ address: me }),
      ledger.sender(me).quote(),
      ledger.getGovernance(),
    ]);
    const gas = this.gasPerRound();
    const feePerGas = quote.baseFee + quote.tip;
    const perRound = gas * (feePerGas > 0n ? feePerGas : 1n);
    const left = Number(balance / perRound > 1_000_000_000n ? 1_000_000_000n : balance / perRound);
    const wanted = roundsWanted(gov.interval);
    const need = BigInt(wanted) * perRound;
    const low = left < wanted;
    this.#report = {
      wei: balance.toString(), roundsLeft: left, roundsWanted: wanted, gasPerRound: Number(gas),
      topUpWei: low ? (need - balance).toString() : null, checkedAt: Math.floor(Date.now() / 1000),
    };
    metrics.balance(balance, left, wanted);
    const facts = { balanceWei: balance.toString(), roundsLeft: left, roundsWanted: wanted, gasPerRound: Number(gas), feePerGasWei: feePerGas.toString() };
    if (low && !this.#low) {
      log.warn({ ...facts, topUpWei: (need - balance).toString() },
        `the operator account ${me} holds ${etherText(balance)}: about ${left} round${left === 1 ? '' : 's'} at the current fee (${gas} gas a round); keep at least ${wanted} (a day of rounds): top up ${etherText(need - balance)}`);
    } else if (!low && this.#low) {
      log.info(facts, `the operator account ${me} is funded again: ${etherText(balance)}, about ${left} rounds`);
    }
    this.#low = low;
  }

  status(): BalanceReport | null {
    return this.#report;
  }

  /** Why the node is unhealthy because of its balance, or null. */
  unhealthy(): string | null {
    const r = this.#report;
    if (!r || r.topUpWei === null) return null;
    return `the operator account pays for ${r.roundsLeft} more round${r.roundsLeft === 1 ? '' : 's'}, fewer than ${r.roundsWanted} (a day of rounds): top up ${etherText(BigInt(r.topUpWei))}`;
  }
}
