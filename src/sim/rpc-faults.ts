/**
 * @module
 * RPC faults of the simulated chain (`fork-chain.ts`), per node: a rule decides, call by call,
 * whether a read or a send fails, and how. Deterministic: a rule is a plain function of the
 * call, or draws from a seeded rng handed in (`randomFaults`).
 *
 * What each fault does, and what it stands for on a real chain:
 *
 *   fault         on a read                         on a send
 *   timeout       throws `RpcFaultError`: the       throws `RpcFaultError` before anything reaches
 *                 request timed out                 the chain: the request never arrived
 *   lost-receipt  (as timeout)                      the transaction reaches the mempool and is
 *                                                   mined as usual, but the caller gets
 *                                                   `RpcFaultError` at once: the receipt wait
 *                                                   failed (it must find out from reads)
 *
 * Stale and lagging views are not per-call faults but a property of a node's view (`lag`).
 */
import type { Rng } from '../crypto/rng.ts';
import type { Address } from '../protocol/ledger.ts';

export type RpcFault = 'timeout' | 'lost-receipt';

export interface RpcCall {
  readonly kind: 'read' | 'send';
  /** The ledger method (`getSession`, `submitDeal`, …). */
  readonly method: string;
  /** The account the view belongs to (`ForkChain.ledgerFor`). */
  readonly node: Address;
  /** 1, 2, … per view: reads and sends through this view so far, this one included. */
  readonly seq: number;
  /** The chain's head number when the call was made. */
  readonly head: number;
  /** A read through the view's final view. */
  readonly final: boolean;
}

/** Decides the fault of one call (null: it goes through). */
export type FaultRule = (call: RpcCall) => RpcFault | null;

/**
 * An RPC request that failed (a simulated timeout): not a refusal by the registry. The
 * operator loop treats it like the chain layer's `ChainRequestError` — the tick fails and a
 * later one tries again.
 */
export class RpcFaultError extends Error {
  override readonly name = 'RpcFaultError';
  readonly fault: RpcFault;
  readonly method: string;
  constructor(fault: RpcFault, call: RpcCall) {
    super(
      fault === 'lost-receipt'
        ? `simulated RPC fault: ${call.method} was sent but no receipt arrived (node ${call.node})`
        : `simulated RPC fault: ${call.kind === 'read' ? 'reading' : 'sending'} ${call.method} timed out (node ${call.node})`,
    );
    this.fault = fault;
    this.method = call.method;
  }
}

/**
 * A transaction that left the mempool without being mined (`ForkChain.drop`). Its sender's
 * receipt wait gives up after the chain's `receiptTimeoutBlocks` further blocks (default: at
 * once), as the chain ledger's wait fails with a `ChainRequestError` once its node no longer
 * knows the transaction, or at its timeout.
 */
export class TransactionDroppedError extends Error {
  override readonly name = 'TransactionDroppedError';
  readonly txId: number;
  readonly method: string;
  constructor(txId: number, method: string, from: Address) {
    super(`transaction ${txId} (${method} from ${from}) was dropped from the mempool and never mined; no receipt will arrive`);
    this.txId = txId;
    this.method = method;
  }
}

export interface RandomFaultRates {
  /** Probability that a read times out (0..1). */
  readonly read?: number;
  /** Probability that a send times out before reaching the chain. */
  readonly send?: number;
  /** Probability that a send reaches the chain but its receipt is lost. */
  readonly lostReceipt?: number;
}

function aRate(p: number | undefined, what: string): number {
  const v = p ?? 0;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new RangeError(`randomFaults: ${what} must be a probability in [0, 1], got ${String(p)}`);
  return v;
}

/** A fault rule drawing from `rng` (one draw per call: the same calls give the same faults). */
export function randomFaults(rng: Rng, rates: RandomFaultRates): FaultRule {
  const read = aRate(rates.read, 'read');
  const send = aRate(rates.send, 'send');
  const lost = aRate(rates.lostReceipt, 'lostReceipt');
  if (send + lost > 1) throw new RangeError(`randomFaults: send + lostReceipt must not exceed 1, got ${send + lost}`);
  return (call) => {
    const bytes = rng(4);
    const u = (((bytes[0] ?? 0) << 24) | ((bytes[1] ?? 0) << 16) | ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0)) >>> 0;
    const x = u / 2 ** 32;
    if (call.kind === 'read') return x < read ? 'timeout' : null;
    if (x < send) return 'timeout';
    return x < send + lost ? 'lost-receipt' : null;
  };
}
