#!/usr/bin/env node
// kms-server launcher: runs the TypeScript sources through tsx (see bin/kms-admin.mjs for why
// the large dependencies are imported first).
import { register } from 'tsx/esm/api';

await Promise.all([import('viem'), import('viem/accounts'), import('commander'), import('fastify'), import('pino')]);
register({ tsconfig: new URL('../tsconfig.json', import.meta.url).pathname });
const { main } = await import('../src/cli/kms-server.ts');
process.exitCode = await main(process.argv.slice(2));
