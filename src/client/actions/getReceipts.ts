/**
 * @module
 * `getReceipts`: who received an app's key, and whether every operator's receipt log is the
 * one it committed on-chain (issue 16, item 4).
 */
import type { ChainError } from '../../chain/errors.ts';
import { makeDomain } from '../../crypto/domain.ts';
import { verifyLog, ZERO_HEAD, type LogEntry, type ReceiptMethod, type ReceiptRoute } from '../../crypto/receipt.ts';
import type { Address, Hex, LedgerError, LedgerReader } from '../../protocol/ledger.ts';
import type { KmsClient } from '../client.ts';
import { faultMeta, KmsClientError, untrusted, type OfflineClientError } from '../errors.ts';
import { requestOperator, showSocket } from '../http.ts';
import { aAppId } from '../utils.ts';

export interface GetReceiptsParameters {
  /** The app whose releases to list (bytes32 hex). */
  readonly appId: Hex;
  /** Entries asked per `GET /receipts` page (default 200; the node caps it at 500). */
  readonly pageSize?: number;
  /** Most entries read from one operator's log before giving up on it (default 1,000,000). */
  readonly maxEntries?: number;
  /**
   * How many of the latest sessions' confirmations to read the operators' earlier heads from
   * (default 100): each of them must still be in the log, so a history rewritten and then
   * committed under a new head is caught. 0: check the latest head only.
   */
  readonly sessions?: number;
}

/** One release of the app, from a log that verified. */
export interface ReceiptListing {
  readonly operator: Address;
  readonly position: number;
  readonly requestHash: Hex;
  readonly responseKeyHash: Hex;
  readonly method: ReceiptMethod;
  readonly route: ReceiptRoute;
  readonly version: number;
  readonly epoch: number;
  /** The block the operator read the app at (0: a node without a chain view). */
  readonly block: number;
  /** The operator's wall clock when it answered (unix seconds). */
  readonly time: number;
  /** Its signature and its place in the chain verified. */
  readonly verified: true;
  /** Covered by the head the operator committed on-chain; false: logged after its last confirmation. */
  readonly committed: boolean;
}

/** One operator's log, checked. */
export interface OperatorLogCheck {
  readonly address: Address;
  readonly socket: string;
  /** The log verified and contains the committed head. false: `reason` says why. */
  readonly consistent: boolean;
  readonly reason?: string;
  /** Entries in the log as served. */
  readonly entries: number;
  /** Entries the committed head covers. */
  readonly committed: number;
  /** The head last committed on-chain (zero: none yet). */
  readonly committedHead: Hex;
  /** Earlier committed heads (from the sessions read) that were checked to be in the log. */
  readonly earlierHeads: number;
}

export interface GetReceiptsReturnType {
  readonly appId: Hex;
  /** Every operator's log is consistent. */
  readonly ok: boolean;
  /** The app's releases, by operator (on-chain order) and log position. */
  readonly receipts: ReceiptListing[];
  readonly operators: OperatorLogCheck[];
}

export type GetReceiptsErrorType = OfflineClientError | ChainError | LedgerError | KmsClientError;

const DEFAULT_PAGE = 200;
const DEFAULT_SESSIONS = 100;
/** Sessions whose submissions are read at once. */
const SESSION_BATCH = 10;

/** Each operator's non-zero heads committed in the latest `sessions` sessions, oldest first. */
async function earlierHeads(ledger: LedgerReader, sessions: number): Promise<Map<Address, { head: Hex; session: number }[]>> {
  const out = new Map<Address, { head: Hex; session: number }[]>();
  if (sessions <= 0) return out;
  const latest = await ledger.latestSessionId();
  const ids: number[] = [];
  for (let id = Math.max(1, latest - sessions + 1); id <= latest; id++) ids.push(id);
  for (let i = 0; i < ids.length; i += SESSION_BATCH) {
    const batch = await Promise.all(ids.slice(i, i + SESSION_BATCH).map(async (id) => ({ id, subs: await ledger.getSubmissions(id) })));
    for (const { id, subs } of batch) {
      for (const s of subs) {
        if (s.type !== 'confirm' || s.receiptHead === undefined || s.receiptHead === ZERO_HEAD) continue;
        const who = s.from.toLowerCase() as Address;
        out.set(who, [...(out.get(who) ?? []), { head: s.receiptHead, session: id }]);
      }
    }
  }
  return out;
}
const DEFAULT_MAX_ENTRIES = 1_000_000;
const HEX_RE = /^0x(?:[0-9a-fA-F]{2})*$/;

function bytes(h: unknown): Uint8Array | null {
  return typeof h === 'string' && HEX_RE.test(h) ? new Uint8Array(Buffer.from(h.slice(2), 'hex')) : null;
}

/**
 * Reads every registered operator's receipt log from its `GET /receipts` (whole, every app:
 * each entry chains the one before) and its latest committed head from the registry, checks
 * each log with `verifyLog` (signatures under the operator's on-chain signing key, positions,
 * hash chain, the committed head present), and lists the receipts of `appId` from the logs
 * that verified. An operator that cannot be read, or whose log does not match its head, is
 * `consistent: false` with a reason, and `ok` is false.
 *
 * Reads: `getOperators`, `receiptHeadOf` per operator, the submissions of the latest
 * `sessions` sessions (the heads committed before); one `GET /receipts` per page per operator.
 *
 * @example
 * const r = await getReceipts(client, { appId });
 * if (!r.ok) for (const o of r.operators) if (!o.consistent) console.error(o.address, o.reason);
 * for (const x of r.receipts) console.log(x.operator, x.requestHash, x.method, x.version);
 */
export async function getReceipts(client: KmsClient, params: GetReceiptsParameters): Promise<GetReceiptsReturnType> {
  const appId = aAppId(params.appId);
  const pageSize = params.pageSize ?? DEFAULT_PAGE;
  const maxEntries = params.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const ledger = await client.ledger('getReceipts');
  if (ledger.getReceiptHead === undefined) throw new KmsClientError('This ledger does not record receipt-log heads.', { details: 'getReceiptHead is missing' });
  const readHead = ledger.getReceiptHead.bind(ledger);
  const domain = makeDomain({ chainId: ledger.chainId, registry: ledger.registry });
  const operators = await ledger.getOperators();
  const earlier = await earlierHeads(ledger, params.sessions ?? DEFAULT_SESSIONS);

  const checks = await Promise.all(operators.map(async (op) => {
    const address = op.address.toLowerCase() as Address;
    const socket = showSocket(op.socket);
    const committedHead = (await readHead(address)).toLowerCase() as Hex;
    const heads = earlier.get(address) ?? [];
    const base = { address, socket, committedHead, earlierHeads: heads.length };
    const fail = (reason: string, entries = 0): { check: OperatorLogCheck; listed: ReceiptListing[] } => ({
      check: { ...base, consistent: false, reason, entries, committed: 0 }, listed: [],
    });
    const entries: LogEntry[] = [];
    for (let from = 0; ;) {
      const res = await requestOperator({ operator: address, socket: op.socket, path: `/receipts?from=${from}&limit=${pageSize}`, method: 'GET', timeoutMs: client.timeoutMs, fetch: client.fetch });
      if (!res.ok) return fail(`its receipt log could not be read: ${res.fault.reason}`, entries.length);
      const page = res.body as { entries?: unknown; next?: unknown } | null;
      if (typeof page !== 'object' || page === null || !Array.isArray(page.entries) || (page.next !== null && typeof page.next !== 'number')) {
        return fail('served a receipt page that is not {entries, next}', entries.length);
      }
      for (const e of page.entries as unknown[]) {
        const x = e as { position?: unknown; receipt?: unknown; signature?: unknown } | null;
        const receipt = bytes(x?.receipt);
        const signature = bytes(x?.signature);
        if (receipt === null || signature === null || x?.position !== entries.length) {
          return fail(`served entry ${entries.length} malformed or out of order (position ${untrusted(String(x?.position)).slice(0, 20)})`, entries.length);
        }
        entries.push({ receipt, signature });
      }
      if (page.next === null) break;
      if (page.next !== entries.length || page.entries.length === 0) return fail(`served a page whose next position ${String(page.next)} is not ${entries.length}`, entries.length);
      if (entries.length >= maxEntries) return fail(`its log is longer than ${maxEntries} entries; not read to the end`, entries.length);
      from = entries.length;
    }
    const sigPublicKey = bytes(op.sigPublicKey);
    if (sigPublicKey === null) return fail('its registered signing key is malformed', entries.length);
    const verdict = verifyLog({ entries, operator: address, domain, sigKeyType: op.sigKeyType, sigPublicKey, committedHead: committedHead === ZERO_HEAD ? ZERO_HEAD : committedHead, earlierHeads: heads });
    if (!verdict.consistent) return fail(verdict.reason, entries.length);
    const listed: ReceiptListing[] = verdict.entries.filter((r) => r.appId === appId).map((r) => ({
      operator: address, position: r.position, requestHash: r.requestHash, responseKeyHash: r.responseKeyHash, method: r.method, route: r.route,
      version: r.version, epoch: r.epoch, block: r.block, time: r.time, verified: true as const, committed: r.committed,
    }));
    return { check: { ...base, consistent: true, entries: entries.length, committed: verdict.committedCount }, listed };
  }));
  return { appId, ok: checks.every((c) => c.check.consistent), receipts: checks.flatMap((c) => c.listed), operators: checks.map((c) => c.check) };
}

/** One meta line per inconsistent operator (for errors and the CLI). */
export function receiptLogMeta(checks: readonly OperatorLogCheck[]): string[] {
  return checks.filter((c) => !c.consistent).map((c) => faultMeta({ operator: c.address, socket: c.socket, kind: 'bad-response', reason: c.reason ?? 'inconsistent' }));
}
