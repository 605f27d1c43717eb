// kms-server's chain flags, in-process through main(): several --rpc URLs, --rpc-quorum and
// --max-fee-gwei are checked at the edge (exit 2, one line saying what is wrong, nothing
// started), credentials in the URLs never reach the output, and --help explains them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { CliIo } from '../../src/cli/common.ts';
import { main } from '../../src/cli/kms-server.ts';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const hex32 = () => `0x${randomBytes(32).toString('hex')}`;
const KEYS = ['--operator-key', hex32(), '--sig-key', hex32(), '--store-key', hex32()];
const REGISTRY = ['--registry', `0x${'11'.repeat(20)}`];

async function run(args: readonly string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env: {}, cwd: process.cwd() };
  const code = await main(args, io, { onStarted: () => undefined });
  return { code, stdout, stderr };
}

/** The last line of stderr (the error; key-on-the-command-line warnings come before it). */
const errorLine = (r: Run): string => r.stderr.trim().split('\n').filter((l) => l.startsWith('error:')).join('\n');

describe('kms-server: chain flags', () => {
  it('--rpc-quorum above the number of URLs is bad usage (exit 2, one line)', async () => {
    const r = await run([...KEYS, ...REGISTRY, '--rpc', 'http://127.0.0.1:9,http://127.0.0.1:10', '--rpc-quorum', '3']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(errorLine(r), 'error: --rpc-quorum 3 needs at least 3 --rpc URLs, got 2');
  });

  it('--rpc-quorum 0 and non-numbers are bad usage', async () => {
    for (const q of ['0', 'two', '-1']) {
      const r = await run([...KEYS, ...REGISTRY, '--rpc', 'http://127.0.0.1:9', '--rpc-quorum', q]);
      assert.equal(r.code, 2, `${q}: ${r.stderr}`);
      assert.match(errorLine(r), /^error: --rpc-quorum: expected a positive integer/);
    }
  });

  it('a URL listed twice (across repeated flags) is bad usage', async () => {
    const r = await run([...KEYS, ...REGISTRY, '--rpc', 'http://127.0.0.1:9,http://127.0.0.1:10', '--rpc', 'http://127.0.0.1:9']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(errorLine(r), 'error: --rpc: URL 3 is listed twice');
  });

  it('a bad URL among several is named by position, and its credentials are not echoed', async () => {
    const r = await run([...KEYS, ...REGISTRY, '--rpc', 'http://127.0.0.1:9,ftp://alice:hunter2@rpc.example/v3/0123456789abcdef0123456789']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(errorLine(r), /^error: --rpc \(URL 2\): expected an http\(s\) URL/);
    for (const secret of ['alice', 'hunter2', '0123456789abcdef0123456789']) assert.ok(!`${r.stdout}${r.stderr}`.includes(secret), `leaked ${secret}`);
  });

  it('--max-fee-gwei takes a positive number of gwei or "none"', async () => {
    for (const [v, msg] of [['abc', /expected a number of gwei/], ['0', /must be above 0/], ['1e9', /expected a number of gwei/], ['-5', /expected a number of gwei/]] as const) {
      const r = await run([...KEYS, ...REGISTRY, '--rpc', 'http://127.0.0.1:9', '--max-fee-gwei', v]);
      assert.equal(r.code, 2, `${v}: ${r.stderr}`);
      assert.match(errorLine(r), new RegExp(`^error: --max-fee-gwei: ${msg.source}`));
    }
  });

  it('an unreachable set of providers refuses to start (exit 1) without echoing credentials', async () => {
    const r = await run([...KEYS, ...REGISTRY, '--rpc', 'http://bob:pw1234@127.0.0.1:9/v2/AbC_dEf-1234567890xyz,http://127.0.0.1:10', '--rpc-quorum', '2', '--max-fee-gwei', '0.05']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /refusing to start: cannot reach the registry: The chain could not be reached\./);
    assert.match(r.stderr, /Provider 0:127\.0\.0\.1:9: /);
    assert.match(r.stderr, /Provider 1:127\.0\.0\.1:10: /);
    for (const secret of ['bob', 'pw1234', 'AbC_dEf-1234567890xyz']) assert.ok(!`${r.stdout}${r.stderr}`.includes(secret), `leaked ${secret}`);
  });

  it('--help explains several URLs, the quorum and the fee cap', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0);
    for (const flag of ['--rpc <url[,url…]>', '--rpc-quorum <k>', '--max-fee-gwei <gwei|none>', 'KMS_RPC_QUORUM', 'KMS_MAX_FEE_GWEI', 'one lying or stale provider cannot move the node']) {
      assert.ok(r.stdout.includes(flag), `--help mentions ${flag}`);
    }
  });
});
