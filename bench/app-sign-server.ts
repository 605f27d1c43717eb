/**
 * @module
 * The server child of the `app-sign` suite: `node --import tsx bench/app-sign-server.ts <seed>
 * <ecdsa|bn254> [off|background|group|full|normal]`. The third argument is the release-receipt log: `off`
 * (the baseline: answers without receipts), or a SQLite receipt log in a temporary directory
 * in that durability mode (`src/node/receipt-log.ts`; `background` is the node's) (default `off`). Builds the world of `./release-world.ts` for the seed, serves `buildApi` with
 * the real key-release handler on 127.0.0.1 (port 0) and `buildOpsApi` (for /metrics) on
 * another port, prints one JSON line `{"port": …, "opsPort": …, "appId": …}` on stdout, and
 * exits when stdin closes (the parent went away) or
 * on SIGTERM. Logging is on at `info` (the production level: one `key released` line per
 * answer) into a sink, so its cost is in the figures.
 *
 * The handler gets the routes' real context (abort signal, request logger, `released` line), as
 * in `kms-server`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { OPERATOR_KEY_TYPES, type OperatorKeyType } from '../src/crypto/operator-sig.ts';
import { buildApi, buildOpsApi } from '../src/node/http/app.ts';
import { openSqliteReceiptLog, type ReceiptLogSync, type SqliteReceiptLog } from '../src/node/receipt-log.ts';
import { createAppRelease } from '../src/node/release/handler.ts';
import { CHAIN_ID, REGISTRY, releaseWorld } from './release-world.ts';

const [seed, keyType, receiptMode = 'off'] = process.argv.slice(2);
if (seed === undefined || keyType === undefined || !(OPERATOR_KEY_TYPES as readonly string[]).includes(keyType) || !['off', 'background', 'group', 'full', 'normal'].includes(receiptMode)) {
  console.error('usage: app-sign-server.ts <seed> <ecdsa|bn254> [off|group|full|normal]');
  process.exit(2);
}

const world = await releaseWorld(seed, keyType as OperatorKeyType);
// On the real disk (not tmpfs, when /tmp is on disk): the fsync per receipt is what is measured.
const logDir = receiptMode === 'off' ? null : mkdtempSync(join(process.env['KMS_BENCH_RECEIPT_DIR'] ?? tmpdir(), 'app-sign-receipts-'));
const receipts: SqliteReceiptLog | null = logDir === null ? null : openSqliteReceiptLog({
  path: join(logDir, 'receipts.sqlite'), scope: { chainId: CHAIN_ID, registry: REGISTRY, operator: world.parts.me }, synchronous: receiptMode as ReceiptLogSync,
});
const appRelease = createAppRelease({ ...world.parts, receipts });
const logger = pino({ level: 'info' }, { write: () => undefined });
const api = buildApi({
  logger,
  rateLimit: { perClientPerSecond: 1_000_000, burst: 1_000_000 },
  pubkey: () => null,
  health: () => ({ ok: true }),
  metrics: world.metrics,
  appRelease,
  ...(receipts ? { receipts: { operator: world.parts.me, log: receipts } } : {}),
});
const ops = buildOpsApi({
  logger,
  rateLimit: { perClientPerSecond: 1_000, burst: 1_000 },
  status: () => ({ operator: world.parts.me, activeVersion: world.activeVersion, session: null, lastProcessedBoundary: null, chainHead: null, lastError: null }),
  health: () => ({ ok: true }),
  metrics: world.metrics,
});
const portOf = async (app: typeof api): Promise<number> => {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('app-sign-server: no TCP address');
  return address.port;
};
process.stdout.write(`${JSON.stringify({ port: await portOf(api), opsPort: await portOf(ops), appId: world.appId })}\n`);

const stop = (): void => {
  void Promise.all([api.close(), ops.close()]).then(() => {
    receipts?.close();
    if (logDir !== null) rmSync(logDir, { recursive: true, force: true });
    process.exit(0);
  });
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
