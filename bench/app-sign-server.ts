/**
 * @module
 * The server child of the `app-sign` suite: `node --import tsx bench/app-sign-server.ts <seed>
 * <ecdsa|bn254>`. Builds the world of `./release-world.ts` for the seed, serves `buildApi` with
 * the real key-release handler on 127.0.0.1 (port 0) and `buildOpsApi` (for /metrics) on
 * another port, prints one JSON line `{"port": …, "opsPort": …, "appId": …}` on stdout, and
 * exits when stdin closes (the parent went away) or
 * on SIGTERM. Logging is on at `info` (the production level: one `key released` line per
 * answer) into a sink, so its cost is in the figures.
 *
 * The handler gets the routes' real context (abort signal, request logger, `released` line), as
 * in `kms-server`.
 */
import pino from 'pino';
import { OPERATOR_KEY_TYPES, type OperatorKeyType } from '../src/crypto/operator-sig.ts';
import { buildApi, buildOpsApi } from '../src/node/http/app.ts';
import { createAppRelease } from '../src/node/release/handler.ts';
import { releaseWorld } from './release-world.ts';

const [seed, keyType] = process.argv.slice(2);
if (seed === undefined || keyType === undefined || !(OPERATOR_KEY_TYPES as readonly string[]).includes(keyType)) {
  console.error('usage: app-sign-server.ts <seed> <ecdsa|bn254>');
  process.exit(2);
}

const world = await releaseWorld(seed, keyType as OperatorKeyType);
const appRelease = createAppRelease(world.parts);
const logger = pino({ level: 'info' }, { write: () => undefined });
const api = buildApi({
  logger,
  rateLimit: { perClientPerSecond: 1_000_000, burst: 1_000_000 },
  pubkey: () => null,
  health: () => ({ ok: true }),
  metrics: world.metrics,
  appRelease,
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
  void Promise.all([api.close(), ops.close()]).then(() => process.exit(0));
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
