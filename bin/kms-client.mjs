#!/usr/bin/env node
// kms-client launcher: runs the TypeScript sources through tsx, so `npx kms-client …` works
// right after `npm ci`, without a build step.
//
// The large JavaScript dependencies are imported before the tsx loader is registered: Node's
// own loader reads viem's several hundred files about three times faster than through the
// loader hooks, and the .ts sources then find them in the module cache.
import { register } from 'tsx/esm/api';

await Promise.all([import('viem'), import('viem/accounts'), import('commander')]);
register({ tsconfig: new URL('../tsconfig.json', import.meta.url).pathname });
const { main } = await import('../src/cli/kms-client.ts');
process.exitCode = await main(process.argv.slice(2));
