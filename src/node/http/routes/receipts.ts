/**
 * @module
 * The release-receipt log (issue 16, item 4): `GET /receipts?from=N&limit=M&appId=0x…` → one
 * page of this operator's hash-chained log, oldest first. Public: a receipt holds no secret
 * (`src/crypto/receipt.ts`). Bounded: at most `MAX_RECEIPTS_PAGE` entries per page (default
 * 100); `next` is the `from` of the following page, null at the end. With `appId` only that
 * app's entries are listed (a verifier that checks the chain reads the whole log, unfiltered:
 * every entry chains the one before it, whichever app it names).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Address } from '../../../protocol/ledger.ts';
import type { ReceiptLog } from '../../receipt-log.ts';
import { ERROR_RESPONSES, MAX_RECEIPTS_PAGE, ReceiptsPage, ReceiptsQuery, type TypeBoxProvider } from '../schemas.ts';
import { ApiError } from '../errors.ts';

export interface ReceiptsRoutesOptions {
  readonly operator: Address;
  readonly log: Pick<ReceiptLog, 'head' | 'list'>;
}

export const DEFAULT_RECEIPTS_PAGE = 100;

const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}` as const;

export const receiptsRoutes: FastifyPluginAsync<ReceiptsRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxProvider>();
  app.get(
    '/receipts',
    { schema: { querystring: ReceiptsQuery, response: { 200: ReceiptsPage, ...ERROR_RESPONSES } } },
    async (request) => {
      const from = request.query.from === undefined ? 0 : Number(request.query.from); // ≤ 15 digits by schema: exact
      const limit = request.query.limit === undefined ? DEFAULT_RECEIPTS_PAGE : Number(request.query.limit);
      if (limit > MAX_RECEIPTS_PAGE) throw new ApiError(400, 'bad-request', `querystring.limit: at most ${MAX_RECEIPTS_PAGE}`);
      const appId = request.query.appId?.toLowerCase() as `0x${string}` | undefined;
      // The head first: every listed entry is covered by it (the log only grows).
      const head = opts.log.head();
      const entries = opts.log.list({ from, limit, appId }).filter((e) => e.position < head.count);
      const last = entries.at(-1);
      // A full page may have more after it; a short page reached the end of the log as of `head`.
      const next = entries.length === limit && last !== undefined && last.position + 1 < head.count ? last.position + 1 : null;
      return {
        operator: opts.operator,
        count: head.count,
        head: head.hash,
        entries: entries.map((e) => ({ position: e.position, appId: e.appId, receipt: hex(e.receipt), signature: hex(e.signature), hash: e.hash })),
        next,
      };
    },
  );
};
