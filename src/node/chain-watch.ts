/**
 * @module
 * What the node says about its chain access: the RPC pool's events (a provider failing or
 * coming back, a provider disagreeing with the quorum, the view becoming inconsistent or
 * consistent again) and the transaction sender's (a bump, a drop, a nonce the chain took
 * back), as log lines an operator can act on at 3 a.m. and as metrics (`chain-metrics.ts`).
 *
 * Each cause is said once: a provider's fault when its streak starts and when it ends, the
 * view when its verdict changes (not at every tick that fails for the same reason). The view
 * also feeds `/status` (`chainView`) and `/healthz`: inconsistent for longer than
 * `degradedAfterMs` (15 s, as a stalled loop) makes the node unhealthy, with the reason.
 */
import { formatEther } from 'viem';
import type { PoolEvent, PoolHooks, RpcPool, ViewFailureReason } from '../chain/rpc-pool.ts';
import { gweiText, type TxEvent } from '../chain/tx-sender.ts';
import type { ChainMetrics } from './chain-metrics.ts';
import type { LoopLogger } from './operator-loop.ts';

/** `/status` chainView: the pool's verdict and its providers. */
export interface ChainViewReport {
  readonly ok: boolean;
  readonly reason: ViewFailureReason | null;
  readonly message: string | null;
  /** Unix seconds since when the verdict holds. */
  readonly since: number;
  readonly quorum: number;
  readonly providers: {
    readonly provider: string;
    readonly up: boolean;
    readonly failures: number;
    readonly lastError: string | null;
    readonly head: number | null;
    readonly lagBlocks: number | null;
  }[];
}

export interface ChainWatch {
  /** For `pool.setHooks`. */
  readonly hooks: PoolHooks;
  /** For the ledger's `onTxEvent`. */
  onTxEvent(e: TxEvent): void;
  status(): ChainViewReport;
  /** After each tick: per-provider gauges (head lag). */
  afterTick(): void;
  /** Why the node is unhealthy because of its chain view, or null. */
  unhealthy(nowMs: number): string | null;
}

export function createChainWatch(pool: RpcPool, metrics: ChainMetrics, log: LoopLogger, opts: { readonly degradedAfterMs?: number } = {}): ChainWatch {
  const degradedAfterMs = opts.degradedAfterMs ?? 15_000;
  for (const p of pool.providers) metrics.providerUp(p.label, true);

  const onEvent = (e: PoolEvent): void => {
    switch (e.kind) {
      case 'provider-down':
        metrics.providerUp(e.provider, false);
        log.warn({ provider: e.provider, err: e.error, retryInMs: e.retryInMs },
          `RPC provider ${e.provider} failed (${e.error}): ${pool.providers.length > 1 ? 'the others serve the node while it' : 'it'} is skipped for ${Math.round(e.retryInMs / 1000)} s, longer while it keeps failing`);
        break;
      case 'provider-up':
        metrics.providerUp(e.provider, true);
        log.info({ provider: e.provider, failures: e.failures }, `RPC provider ${e.provider} answers again (after ${e.failures} failed request${e.failures === 1 ? '' : 's'})`);
        break;
      case 'disagreement':
        metrics.disagreement(e.provider);
        metrics.providerUp(e.provider, false);
        log.warn({ provider: e.provider, method: e.method, block: e.block },
          `RPC provider ${e.provider} answered ${e.method} differently from ${e.others} other provider${e.others === 1 ? '' : 's'}${e.block ? ` at block ${e.block}` : ''}: its answers are not used while it backs off (a lying, forked or broken endpoint?)`);
        break;
      case 'view':
        metrics.chainView(e.ok, e.ok ? undefined : e.reason);
        if (e.ok) {
          if (e.failedForMs !== null) log.info({ after: Math.round(e.failedForMs / 1000) }, `consistent view of the chain again after ${Math.round(e.failedForMs / 1000)} s: the node acts again`);
        } else {
          log.error({ reason: e.reason, detail: e.message }, `no consistent view of the chain (${e.reason}): ${e.message} The node does not act (no submission, no key-store change) until it has one`);
        }
        break;
    }
  };

  const hooks: PoolHooks = {
    onEvent,
    onRequest: (provider, _method, outcome, seconds) => metrics.rpcRequest(provider, outcome, seconds),
  };

  const onTxEvent = (e: TxEvent): void => {
    switch (e.kind) {
      case 'sent': {
        const fees = { nonce: String(e.nonce), hash: e.hash, maxFeeGwei: gweiText(e.fees.maxFeePerGas), tipGwei: gweiText(e.fees.maxPriorityFeePerGas) };
        if (e.reason === 'new') {
          metrics.tx('sent');
          log.debug({ function: e.functionName, ...fees }, 'transaction sent');
        } else if (e.reason === 'not-mined') {
          metrics.tx('replaced');
          log.warn({ function: e.functionName, ...fees }, `${e.functionName} was not mined for a few blocks: replaced at nonce ${e.nonce} with a fee bump (max fee ${fees.maxFeeGwei} gwei, tip ${fees.tipGwei} gwei)`);
        } else if (e.reason === 'dropped') {
          metrics.tx('resent_dropped');
          log.warn({ function: e.functionName, ...fees }, `${e.functionName} was dropped from the pool (evicted, or a reorg): sent again at nonce ${e.nonce} (max fee ${fees.maxFeeGwei} gwei)`);
        } else {
          metrics.tx('replaced');
          log.info({ function: e.functionName, ...fees }, `${e.functionName} replaces the node's pending transaction at nonce ${e.nonce} (the earlier submission is no longer wanted)`);
        }
        break;
      }
      case 'mined':
        metrics.tx(e.success ? 'mined' : 'reverted');
        log.info({ function: e.functionName, nonce: String(e.nonce), hash: e.hash, block: String(e.blockNumber), sends: e.sends, success: e.success }, e.success ? 'transaction mined' : 'transaction mined but reverted');
        break;
      case 'dropped':
        break; // said with its resend
      case 'gap':
        metrics.tx('gap_filled');
        log.warn({ function: e.functionName, from: String(e.from), to: String(e.to - 1n) },
          `a reorg took this account's transactions at nonce${e.to - e.from === 1n ? ` ${e.from}` : `s ${e.from}–${e.to - 1n}`} while ${e.functionName} waited at nonce ${e.to}: filled with empty transfers so that it can be mined; the node resends what they held`);
        break;
      case 'fee-cap':
        metrics.tx('fee_capped');
        break; // said, with the window it is about, by the writer (fee-cap-notice.ts)
      case 'nonce':
        if (e.note === 'went-back') {
          metrics.tx('nonce_went_back');
          log.warn({ expected: String(e.expected), chain: String(e.pending) }, `the chain no longer has this account's transactions from nonce ${e.pending} on (a reorg or the pool dropped them): the next one takes nonce ${e.pending}, and the node resends what the chain does not show`);
        } else if (e.note === 'inherited') {
          metrics.tx('nonce_inherited');
          log.info({ latest: String(e.latest), pending: String(e.pending) }, `transactions of this account from before this start are pending at nonce${e.pending - e.latest === 1n ? ` ${e.latest}` : `s ${e.latest}–${e.pending - 1n}`}: new ones queue after them`);
        } else {
          metrics.tx('nonce_ahead');
          log.warn({ expected: String(e.expected), chain: String(e.pending) }, `the chain's next nonce for this account (${e.pending}) is ahead of this node's (${e.expected}): is another process sending with this operator key?`);
        }
        break;
    }
  };

  return {
    hooks,
    onTxEvent,
    afterTick() {
      for (const p of pool.status().providers) if (p.lagBlocks !== null) metrics.providerLag(p.provider, p.lagBlocks);
    },
    status() {
      const s = pool.status();
      return {
        ok: s.ok, reason: s.reason, message: s.message, since: Math.floor(s.since / 1000), quorum: s.quorum,
        providers: s.providers.map((p) => ({ provider: p.provider, up: p.up, failures: p.failures, lastError: p.lastError, head: p.head, lagBlocks: p.lagBlocks })),
      };
    },
    unhealthy(nowMs) {
      const s = pool.status();
      if (s.ok || nowMs - s.since < degradedAfterMs) return null;
      return `no consistent view of the chain for ${Math.round((nowMs - s.since) / 1000)} s (${s.reason}): ${s.message ?? ''}`.trim();
    },
  };
}

/** "0.42 ETH" for messages. */
export function etherText(wei: bigint): string {
  const e = Number(formatEther(wei));
  return `${e >= 1 ? String(Math.round(e * 1000) / 1000) : String(Number(e.toPrecision(3)))} ETH`;
}
