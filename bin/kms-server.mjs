#!/usr/bin/env node
// kms-server launcher: runs the TypeScript sources through tsx (see bin/kms-admin.mjs for why
// the large dependencies are imported first).
import { register } from 'tsx/esm/api';

// typebox, prom-client, better-sqlite3 and mcl-wasm too: through the loader hooks typebox alone
// cost ~0.9 s of CPU per start (measured: 3.2 → 2.3 s user time to load everything).
await Promise.all([
  import('viem'), import('viem/accounts'), import('commander'), import('fastify'), import('pino'),
  import('@sinclair/typebox'), import('prom-client'), import('better-sqlite3'), import('mcl-wasm'),
]);
register({ tsconfig: new URL('../tsconfig.json', import.meta.url).pathname });
const { main } = await import('../src/cli/kms-server.ts');
process.exitCode = await main(process.argv.slice(2));
