// The client SDK must be importable without the server's dependencies (issue 6): an app that
// embeds it must not pull in fastify, pino, prom-client or a native SQLite build. Two checks:
//
// 1. Statically: every module reachable from src/client/index.ts through relative imports
//    (static, dynamic, `export … from`) stays out of src/node, src/cli and src/sim, and
//    imports no server package.
// 2. At run time: a child process imports src/client/index.ts and lists the CommonJS modules
//    it loaded (fastify, pino, prom-client and better-sqlite3 are CommonJS, so an import of any
//    of them lands in require.cache). A second child imports the node's HTTP layer as a
//    positive control, so the check cannot pass by looking in the wrong place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = resolve(ROOT, 'src/client/index.ts');
const SERVER_PACKAGES = ['fastify', 'pino', 'prom-client', 'better-sqlite3', '@sinclair/typebox'];
const FORBIDDEN_DIRS = ['src/node/', 'src/cli/', 'src/sim/'];

const SPECIFIER = /(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every runtime import of a file (type-only imports are erased and load nothing). */
function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  for (const m of src.matchAll(SPECIFIER)) {
    if (/^(?:import|export)\s+type\s/.test(m[0])) continue;
    out.push((m[1] ?? m[2]) as string);
  }
  return out;
}

test('statically, src/client reaches no server module and no server package', () => {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const stack = [ENTRY];
  while (stack.length > 0) {
    const file = stack.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) stack.push(resolve(dirname(file), spec));
      else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string));
    }
  }
  const files = [...seen].map((f) => relative(ROOT, f));
  assert.ok(files.length > 10, `the walk found only ${files.join(', ')}`);
  assert.ok(files.includes('src/chain/chain-ledger.ts'), 'the walk follows imports into src/chain');
  for (const f of files) assert.ok(!FORBIDDEN_DIRS.some((d) => f.startsWith(d)), `src/client reaches ${f}`);
  for (const p of SERVER_PACKAGES) assert.ok(!packages.has(p), `src/client imports ${p} (through ${files.join(', ')})`);
});

const run = promisify(execFile);

/** The CommonJS modules under node_modules a child loaded after importing `module`. */
async function loadedPackages(module: string): Promise<string[]> {
  const probe = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(module)});
    const cache = Object.keys(createRequire(import.meta.url).cache);
    const names = new Set(cache.map((p) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(p)?.[1]).filter(Boolean));
    console.log(JSON.stringify([...names]));`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], { cwd: ROOT, maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as string[];
}

test('at run time, importing src/client loads none of the server packages', async () => {
  const [client, server] = await Promise.all([loadedPackages(ENTRY), loadedPackages(resolve(ROOT, 'src/node/http/logger.ts'))]);
  // Positive control: a server module's package import is visible this way.
  assert.ok(server.includes('pino'), `control: the server import loaded ${server.join(', ')}`);
  for (const p of SERVER_PACKAGES) assert.ok(!client.includes(p), `importing src/client loaded ${p}`);
});
