#!/usr/bin/env node
// Runs every test file with node:test through tsx. Node 20 expands no globs and a bare
// `--test` finds no .ts files, so the list is built here; an empty list or a run that
// executed no test is a failure, never a silent pass.
//
// Two phases: the in-process files run TEST_CONCURRENCY (default 2) at a time, then the
// real-cluster files (test/cluster/ and test/devnet/: anvil + several kms-server processes
// each) run one at a time. A cluster's rounds have chain-time windows; sharing 2 cores with another cluster or
// with CPU-bound crypto tests makes nodes miss them, which tests load, not the product.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const filter = process.argv.slice(2);
const SERIAL_DIRS = ['test/cluster/', 'test/devnet/'];
const isSerial = (f) => SERIAL_DIRS.some((d) => f.startsWith(d));

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

let files = walk(join(root, 'test')).sort();
if (filter.length > 0) files = files.filter((f) => filter.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('run-tests: no test files found' + (filter.length ? ` matching ${filter.join(' ')}` : ''));
  process.exit(1);
}

/** Runs one node:test process; resolves with the number of tests it executed, rejects on failure. */
function run(list, concurrency) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...list],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-4000);
    });
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`node --test exited with ${code}`));
      const m = /ℹ tests (\d+)/.exec(tail);
      resolve(m ? Number(m[1]) : 0);
    });
  });
}

const parallel = files.filter((f) => !isSerial(f));
const serial = files.filter(isSerial);
let executed = 0;
try {
  if (parallel.length > 0) executed += await run(parallel, process.env.TEST_CONCURRENCY ?? '2');
  if (serial.length > 0) executed += await run(serial, '1');
} catch (e) {
  console.error(`run-tests: ${e.message}`);
  process.exit(1);
}
if (executed === 0) {
  console.error('run-tests: the runner executed no test');
  process.exit(1);
}
