/**
 * @module
 * Prometheus metrics of the node's chain access: its RPC providers, whether it has a
 * consistent view of the chain, its transactions and its account balance. They live on the
 * node's registry (`NodeMetrics.registry`, so one `/metrics` shows them) but in their own
 * module: the node's other metrics (`metrics.ts`) are about rounds and requests.
 *
 *   kms_rpc_requests_total{provider,outcome}   ok | refused (the chain's answer: a revert…) |
 *                                              error | timeout
 *   kms_rpc_request_seconds{provider}          histogram of request times
 *   kms_rpc_provider_up{provider}              1 unless the provider is backing off after faults
 *   kms_rpc_provider_lag_blocks{provider}      blocks its head trailed the agreed head at the last tick
 *   kms_rpc_disagreements_total{provider}      answers (or heads) that differed from a quorum's
 *   kms_chain_view_ok                          1 while the node has a consistent view; 0: it does not act
 *   kms_chain_view_failures_total{reason}      times the view became inconsistent, by reason:
 *                                              all-failing | no-quorum | too-few-answers | disagreement
 *   kms_tx_events_total{event}                 sent | replaced | resent_dropped | mined | reverted |
 *                                              fee_capped | nonce_went_back | nonce_inherited | nonce_ahead |
 *                                              gap_filled
 *   kms_fee_cap_missed_windows_total           submissions the fee cap kept out until their window closed
 *   kms_operator_balance_wei                   the operator account's balance
 *   kms_operator_balance_rounds_left           rounds it pays for at the current fee
 *   kms_operator_balance_rounds_wanted         rounds it should pay for (a day of rounds, at least 10)
 *
 * `provider` is `<index>:<host>` (rpc-provider.ts `providerLabel`): a fixed set per node that
 * never carries a URL's credentials.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { VIEW_FAILURE_REASONS, type ViewFailureReason } from '../chain/rpc-pool.ts';

export const TX_EVENT_LABELS = Object.freeze([
  'sent', 'replaced', 'resent_dropped', 'mined', 'reverted', 'fee_capped', 'nonce_went_back', 'nonce_inherited', 'nonce_ahead', 'gap_filled',
] as const);
export type TxEventLabel = (typeof TX_EVENT_LABELS)[number];

export interface ChainMetrics {
  rpcRequest(provider: string, outcome: 'ok' | 'refused' | 'error' | 'timeout', seconds: number): void;
  providerUp(provider: string, up: boolean): void;
  providerLag(provider: string, blocks: number): void;
  disagreement(provider: string): void;
  chainView(ok: boolean, reason?: ViewFailureReason): void;
  tx(event: TxEventLabel): void;
  feeCapMissedWindow(): void;
  balance(wei: bigint, roundsLeft: number, roundsWanted: number): void;
}

export function createChainMetrics(registry: Registry): ChainMetrics {
  const registers = [registry];
  const requests = new Counter({ name: 'kms_rpc_requests_total', help: 'JSON-RPC requests to each provider, by outcome.', labelNames: ['provider', 'outcome'] as const, registers });
  const seconds = new Histogram({ name: 'kms_rpc_request_seconds', help: 'JSON-RPC request time per provider.', labelNames: ['provider'] as const, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers });
  const up = new Gauge({ name: 'kms_rpc_provider_up', help: '1 unless the provider is backing off after faults.', labelNames: ['provider'] as const, registers });
  const lag = new Gauge({ name: 'kms_rpc_provider_lag_blocks', help: 'Blocks the provider\'s head trailed the agreed head at the last tick.', labelNames: ['provider'] as const, registers });
  const disagreements = new Counter({ name: 'kms_rpc_disagreements_total', help: 'Answers or heads of a provider that differed from what a quorum of providers said.', labelNames: ['provider'] as const, registers });
  const viewOk = new Gauge({ name: 'kms_chain_view_ok', help: '1 while the node has a consistent view of the chain; 0: it does not act.', registers });
  const viewFailures = new Counter({ name: 'kms_chain_view_failures_total', help: 'Times the node\'s view of the chain became inconsistent, by reason.', labelNames: ['reason'] as const, registers });
  const tx = new Counter({ name: 'kms_tx_events_total', help: 'Steps of sending the node\'s transactions.', labelNames: ['event'] as const, registers });
  const missed = new Counter({ name: 'kms_fee_cap_missed_windows_total', help: 'Submissions the fee cap kept out until their window closed.', registers });
  const balanceWei = new Gauge({ name: 'kms_operator_balance_wei', help: 'Balance of the operator account (pays the node\'s transactions).', registers });
  const roundsLeft = new Gauge({ name: 'kms_operator_balance_rounds_left', help: 'Rounds the balance pays for at the current fee.', registers });
  const roundsWanted = new Gauge({ name: 'kms_operator_balance_rounds_wanted', help: 'Rounds the balance should pay for (a day of rounds, at least 10).', registers });
  viewOk.set(1);
  for (const r of VIEW_FAILURE_REASONS) viewFailures.inc({ reason: r }, 0);
  for (const e of TX_EVENT_LABELS) tx.inc({ event: e }, 0);
  return {
    rpcRequest(provider, outcome, s) {
      requests.inc({ provider, outcome });
      if (Number.isFinite(s) && s >= 0) seconds.observe({ provider }, s);
    },
    providerUp(provider, isUp) {
      up.set({ provider }, isUp ? 1 : 0);
    },
    providerLag(provider, blocks) {
      lag.set({ provider }, blocks);
    },
    disagreement(provider) {
      disagreements.inc({ provider });
    },
    chainView(ok, reason) {
      viewOk.set(ok ? 1 : 0);
      if (!ok && reason) viewFailures.inc({ reason });
    },
    tx(event) {
      tx.inc({ event });
    },
    feeCapMissedWindow() {
      missed.inc();
    },
    balance(wei, left, wanted) {
      // A gauge is a double: exact to 2^53 wei (0.009 ETH), which is precision enough for an alert.
      balanceWei.set(Number(wei));
      roundsLeft.set(left);
      roundsWanted.set(wanted);
    },
  };
}
