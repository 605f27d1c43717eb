// kms-server's key-release flags (--jwt-*): every malformed value stops the server before it
// touches the chain, with exit code 2 and one line naming the flag; well-formed values get past
// the flags to the chain connection (which fails here, exit 1: no chain listens on port 1).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/kms-server.ts';
import type { CliIo } from '../../src/cli/common.ts';

const KEY = `0x${'11'.repeat(32)}`;
const BASE = ['--rpc', 'http://127.0.0.1:1', '--registry', `0x${'22'.repeat(20)}`, '--data-dir', '/nonexistent/kms-test'];
const JWKS_URL = ['--jwt-jwks', 'http://127.0.0.1:1/jwks', '--jwt-issuer', 'https://confidentialcomputing.googleapis.com'];

async function run(args: readonly string[], cwd = process.cwd()): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const io: CliIo = {
    stdout: () => undefined,
    stderr: (t) => void (stderr += t),
    env: { KMS_OPERATOR_KEY: KEY, KMS_OPERATOR_SIG_KEY: KEY, KMS_STORE_KEY: `0x${'33'.repeat(32)}` },
    cwd,
  };
  const code = await main([...BASE, ...args], io, { onStarted: () => assert.fail('the node must not start') });
  return { code, stderr };
}

/** Exit 2, one line, naming `flag` and matching `why`. */
async function usage(args: readonly string[], flag: string, why: RegExp, cwd?: string): Promise<void> {
  const r = await run(args, cwd);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line:\n${r.stderr}`);
  assert.ok(r.stderr.startsWith(`error: ${flag}`), r.stderr);
  assert.match(r.stderr, why);
}

/** Past the flags: the chain connection is what fails (exit 1). */
async function pastFlags(args: readonly string[], cwd?: string): Promise<void> {
  const r = await run(args, cwd);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /refusing to start: cannot reach the registry/);
}

describe('kms-server --jwt-jwks-max-age', () => {
  it('accepts 90s, 15m, 24h, 7d and plain seconds', async () => {
    for (const v of ['90s', '15m', '24h', '7d', '3600']) await pastFlags([...JWKS_URL, '--jwt-jwks-max-age', v]);
  });

  it('refuses a malformed or too short duration with exit 2 and one line', async () => {
    await usage([...JWKS_URL, '--jwt-jwks-max-age', 'soon'], '--jwt-jwks-max-age', /expected a duration such as 90s, 15m, 24h or 7d, got "soon"/);
    await usage([...JWKS_URL, '--jwt-jwks-max-age', '-5m'], '--jwt-jwks-max-age', /expected a duration/);
    await usage([...JWKS_URL, '--jwt-jwks-max-age', '30s'], '--jwt-jwks-max-age', /expected at least 60 s, got "30s"/);
  });
});

describe('kms-server --jwt-claim-policy and --jwt-require-claim', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kms-policy-'));
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const good = file('good.json', JSON.stringify({ rules: [{ claim: 'tdx.debuggable', equals: false, code: 'debug-enclave' }] }));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts a valid policy file and NAME=VALUE requirements (repeatable)', async () => {
    await pastFlags([...JWKS_URL, '--jwt-claim-policy', good]);
    await pastFlags([...JWKS_URL, '--jwt-require-claim', 'submods.confidential_space.support_attributes=STABLE', '--jwt-require-claim', 'secboot=true']);
    await pastFlags([...JWKS_URL, '--jwt-claim-policy', good, '--jwt-require-claim', 'google_service_accounts=["a@b"]']);
  });

  it('refuses a bad policy file at start-up with exit 2 and one line', async () => {
    await usage([...JWKS_URL, '--jwt-claim-policy', join(dir, 'missing.json')], '--jwt-claim-policy', /missing\.json": no such file/);
    await usage([...JWKS_URL, '--jwt-claim-policy', file('notjson.json', '{rules:')], '--jwt-claim-policy', /is not JSON$/m);
    await usage([...JWKS_URL, '--jwt-claim-policy', file('shape.json', '{"rules": {}}')], '--jwt-claim-policy', /expected \{"rules": \[ … \]\}/);
    await usage([...JWKS_URL, '--jwt-claim-policy', file('rule.json', '{"rules": [{"claim": "dbgstat"}]}')], '--jwt-claim-policy', /rules\[0\]: give exactly one of equals, oneOf/);
    await usage([...JWKS_URL, '--jwt-claim-policy', file('code.json', '{"rules": [{"claim": "a", "equals": 1, "code": "teapot"}]}')], '--jwt-claim-policy', /code must be one of/);
  });

  it('refuses a malformed --jwt-require-claim with exit 2 and one line', async () => {
    await usage([...JWKS_URL, '--jwt-require-claim', 'secboot'], '--jwt-require-claim', /expected NAME=VALUE/);
    await usage([...JWKS_URL, '--jwt-require-claim', 'a..b=1'], '--jwt-require-claim', /empty path segment/);
  });

  it('needs --jwt-jwks', async () => {
    await usage(['--jwt-require-claim', 'secboot=true'], '--jwt-issuer, --jwt-audience, --jwt-require-claim and --jwt-claim-policy need --jwt-jwks', /need --jwt-jwks FILE\|URL/);
  });
});
