// kms-client as a user runs it, offline: `node bin/kms-client.mjs …` child processes (the real
// launcher, real pipes). encrypt --mpk / decrypt --app-key round trips through files, through
// stdin/stdout with `-` (binary and armored, detected automatically), a wrong key (exit 1), and
// bad usage (exit 2, exactly one line, nothing read from the network). Help texts run
// in-process through `main()` (the same code minus the launcher), which is much faster.
//
// Process start through tsx costs over a second of CPU, so only the round trips and one usage
// error and one failure (exit codes through the launcher) are child processes, started in
// parallel; the other variations run in-process through `main()`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bls } from '../../src/crypto/bls12381/index.ts';
import { toHex } from '../../src/crypto/domain.ts';
import { appMnemonic as mnemonicOf } from '../../src/crypto/mnemonic.ts';
import { appIdPoint } from '../../src/crypto/threshold.ts';
import { main, type ClientIo } from '../../src/cli/kms-client.ts';
import type { Hex } from '../../src/protocol/ledger.ts';

const BIN = fileURLToPath(new URL('../../bin/kms-client.mjs', import.meta.url));

interface Run {
  readonly args: readonly string[];
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

let workDir = '';

/** Runs the real launcher; KMS_* variables come only from `env`. */
function cli(args: readonly string[], opts: { env?: Record<string, string>; stdin?: string | Uint8Array } = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KMS_') && k !== 'NODE_TEST_CONTEXT'));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: workDir, env: { ...base, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ args, code, stdout: Buffer.concat(out), stderr }));
    child.stdin.end(opts.stdin ?? '');
  });
}

/** Runs main() in-process with captured streams (the same code minus the launcher). */
async function inProcess(args: readonly string[], opts: { env?: Record<string, string>; stdin?: string | Uint8Array; tty?: boolean } = {}): Promise<Run> {
  const out: Buffer[] = [];
  let stderr = '';
  const io: ClientIo = {
    stdout: (t) => void out.push(Buffer.from(t)),
    stderr: (t) => { stderr += t; },
    stdoutBytes: (b) => void out.push(Buffer.from(b)),
    readStdin: async () => (typeof opts.stdin === 'string' ? new TextEncoder().encode(opts.stdin) : (opts.stdin ?? new Uint8Array(0))),
    env: opts.env ?? {},
    cwd: workDir,
    stdoutIsTTY: opts.tty === true,
  };
  const code = await main(args, io);
  return { args, code, stdout: Buffer.concat(out), stderr };
}

const show = (r: Run): string => `kms-client ${r.args.join(' ')}\nexit ${r.code}\nstdout: ${r.stdout.toString()}\nstderr: ${r.stderr}`;
const ok = (r: Run): Run => (assert.equal(r.code, 0, show(r)), r);

// A master secret only this test knows, its MPK, and two apps' keys.
const X = 0x1234_5678_9abc_def0_1234_5678n;
const APP = `0x${'ab'.repeat(32)}` as Hex;
const OTHER = `0x${'cd'.repeat(32)}` as Hex;
const MPK = toHex(bls.g2.encode(bls.g2.mul(bls.g2.generator, X)));
const keyOf = (appId: string): Hex => toHex(bls.g1.encode(bls.g1.mul(appIdPoint(appId), X)));
const APP_KEY = keyOf(APP);

describe('kms-client offline (the real launcher)', () => {
  before(() => {
    workDir = mkdtempSync(join(tmpdir(), 'kms-client-cli-'));
  });
  after(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  test('round trips: files, stdin/stdout binary, armored; wrong key and wrong app fail with exit 1', async () => {
    const secret = Buffer.from('DB_PASSWORD=hunter2\n\u0000binary\u00ff bytes survive\n', 'latin1');
    writeFileSync(join(workDir, 'plain.env'), secret);
    const WRONG_KEY = keyOf(OTHER); // a valid point, but the key of another app

    const [fileEnc, pipedBinary, armored] = await Promise.all([
      cli(['encrypt', '--app-id', APP, '--mpk', MPK, '--in', 'plain.env', '--out', 'env.ekms']),
      cli(['encrypt', '--app-id', APP.toUpperCase().replace('0X', '0x'), '--mpk', MPK, '--in', '-', '--out', '-'], { stdin: secret }),
      cli(['encrypt', '--app-id', APP, '--mpk', MPK, '--armor'], { stdin: secret }),
    ]);
    ok(fileEnc);
    assert.equal(fileEnc.stdout.length, 0);
    const envelope = readFileSync(join(workDir, 'env.ekms'));
    assert.equal(envelope.subarray(0, 5).toString('latin1'), 'EKMS\u0001');
    assert.equal(envelope.length, 195 + 66 + secret.length);
    ok(pipedBinary);
    assert.equal(pipedBinary.stdout.subarray(0, 4).toString(), 'EKMS');
    ok(armored);
    assert.match(armored.stdout.toString(), /^RUtNUw[A-Za-z0-9+/]+=*\n$/);

    const [fromFile, fromBinaryStdin, fromArmor, wrongKey, usage] = await Promise.all([
      cli(['decrypt', '--app-id', APP, '--app-key', APP_KEY, '--in', 'env.ekms', '--out', 'out.env']),
      cli(['decrypt', '--app-id', APP, '--app-key', APP_KEY, '--in', '-'], { stdin: pipedBinary.stdout }),
      cli(['decrypt', '--app-id', APP], { env: { KMS_APP_KEY: APP_KEY }, stdin: armored.stdout }),
      cli(['decrypt', '--app-id', APP, '--app-key', WRONG_KEY], { stdin: armored.stdout }),
      cli(['encrypt', '--app-id', '0x1234', '--mpk', MPK]),
    ]);
    ok(fromFile);
    assert.deepEqual(readFileSync(join(workDir, 'out.env')), secret);
    assert.equal(statSync(join(workDir, 'out.env')).mode & 0o777, 0o600, 'decrypted output is created with mode 600');
    assert.deepEqual(ok(fromBinaryStdin).stdout, secret);
    assert.deepEqual(ok(fromArmor).stdout, secret);

    assert.equal(wrongKey.code, 1, show(wrongKey));
    assert.equal(wrongKey.stdout.length, 0, 'nothing decrypted is written');
    assert.equal(wrongKey.stderr, 'error: The envelope does not decrypt with this app key (a wrong key, or the envelope was altered).\n'
      + '  Details: key encapsulation check failed (wrong app key, or U, V or W was altered)\n');
    assert.equal(usage.code, 2, show(usage));
    assert.equal(usage.stderr, 'error: --app-id: expected a bytes32 app id (0x followed by 64 hex digits), got "0x1234"\n');

    // The same code in-process: `--app-key` without 0x, `--out -`, an envelope for another app.
    assert.deepEqual(ok(await inProcess(['decrypt', '--app-id', APP, '--app-key', APP_KEY.slice(2), '--out', '-'], { stdin: armored.stdout })).stdout, secret);
    const wrongApp = await inProcess(['decrypt', '--app-id', OTHER, '--app-key', WRONG_KEY], { stdin: armored.stdout });
    assert.equal(wrongApp.code, 1, show(wrongApp));
    assert.match(wrongApp.stderr, /^error: The envelope is addressed to app "0xabab.*", not 0xcdcd/);
    const empty = await inProcess(['decrypt', '--app-id', APP, '--app-key', APP_KEY]);
    assert.equal(empty.code, 1);
    assert.equal(empty.stderr, 'error: The input is empty: give the envelope with --in FILE or on stdin.\n');
    for (const r of [fromFile, fromBinaryStdin, fromArmor, wrongKey, wrongApp]) {
      assert.ok(!r.stderr.toLowerCase().includes(APP_KEY.slice(2)) && !r.stderr.toLowerCase().includes(WRONG_KEY.slice(2)), 'no app key in stderr');
    }
  });

  test('mnemonic --app-key works offline', async () => {
    const r = ok(await inProcess(['mnemonic', '--app-id', APP, '--app-key', APP_KEY]));
    assert.equal(r.stdout.toString(), `${mnemonicOf(Buffer.from(APP_KEY.slice(2), 'hex'))}\n`);
  });

  test('bad usage: exit 2 and exactly one line, for every kind of mistake (in-process)', async () => {
    writeFileSync(join(workDir, 'open.key'), APP_KEY);
    chmodSync(join(workDir, 'open.key'), 0o644);
    const cases: { args: string[]; env?: Record<string, string>; tty?: boolean; line: RegExp }[] = [
      { args: ['encrypt', '--app-id', APP, '--mpk', MPK], tty: true, line: /^error: refusing to write a binary envelope to a terminal: give --out FILE, --armor, or redirect stdout$/ },
      { args: ['encrypt', '--mpk', MPK], line: /^error: required option '--app-id <id>' not specified \(see `kms-client encrypt --help`\)$/ },
      { args: ['encrypt', '--app-id', APP, '--mpk', '0xabcd'], line: /^error: --mpk: expected 96 bytes of 0x-hex \(192 digits\), got 2 bytes$/ },
      { args: ['encrypt', '--app-id', APP, '--mpk', MPK, '--in', 'missing.txt'], line: /^error: --in: "missing.txt": no such file$/ },
      { args: ['encrypt', '--app-id', APP], line: /^error: missing the chain: give --rpc URL \(or set KMS_RPC_URL, or use --devnet\)$/ },
      { args: ['decrypt', '--app-id', APP], line: /^error: missing the key: give --app-key HEX \(offline\) or --owner-key HEX \(asks the operators\), or set KMS_APP_KEY or KMS_OWNER_KEY$/ },
      { args: ['decrypt', '--app-id', APP, '--app-key', APP_KEY, '--owner-key', `0x${'11'.repeat(32)}`], line: /^error: give --app-key or --owner-key, not both/ },
      { args: ['decrypt', '--app-id', APP, '--app-key', '0x1234'], line: /^error: --app-key: expected the app key as 48 bytes of hex \(96 digits, 0x optional\)$/ },
      { args: ['decrypt', '--app-id', APP, '--app-key', `0x${'00'.repeat(48)}`], line: /^error: appKey: expected a 48-byte compressed G1 point \(the app key is not a valid point\)$/ },
      { args: ['decrypt', '--app-id', APP, '--app-key-file', 'open.key'], line: /^error: --app-key-file: "open.key" is readable by every user of this machine; run `chmod 600 open.key`/ },
      { args: ['app-key', '--app-id', APP], line: /^error: missing the app owner's key .*: give --owner-key, --owner-key-file or set KMS_OWNER_KEY$/ },
      { args: ['app-key', '--app-id', APP, '--owner-key', '0xnothex'], line: /^error: --owner-key: expected the app owner's key .* as 32 bytes of hex/ },
      { args: ['pubkey', '--rpc', 'ftp://example.com', '--registry', `0x${'12'.repeat(20)}`], line: /^error: --rpc: expected an http\(s\) URL/ },
      { args: ['pubkey', '--frobnicate'], line: /^error: unknown option '--frobnicate' \(see `kms-client pubkey --help`\)$/ },
      { args: ['rotate'], line: /^error: unknown command 'rotate'/ },
      { args: ['rotate-app-key', '--app-id', APP], line: /^error: missing the app owner's key .*: give --owner-key, --owner-key-file or set KMS_OWNER_KEY$/ },
      { args: ['rotate-app-key', '--app-id', APP, '--owner-key', `0x${'11'.repeat(32)}`, '--epoch', '0'], line: /^error: --epoch: / },
      { args: ['rotate-app-key', '--app-id', APP, '--owner-key', `0x${'11'.repeat(32)}`, '--epoch', 'next'], line: /^error: --epoch: / },
      { args: ['rotate-app-key', '--app-id', APP, '--owner-key', `0x${'11'.repeat(32)}`, '--env-file', 'missing.env'], line: /^error: --env-file: "missing.env": no such file$/ },
      { args: ['rotate-app-key', '--app-id', APP, '--owner-key', `0x${'11'.repeat(32)}`], line: /^error: missing the chain: give --rpc URL/ },
      { args: ['rotate-app-key', '--owner-key', `0x${'11'.repeat(32)}`], line: /^error: required option '--app-id <id>' not specified/ },
      { args: ['receipts'], line: /^error: required option '--app-id <id>' not specified \(see `kms-client receipts --help`\)$/ },
      { args: ['receipts', '--app-id', '0x12'], line: /^error: --app-id: expected a bytes32 app id \(0x followed by 64 hex digits\), got "0x12"$/ },
      { args: ['receipts', '--app-id', APP], line: /^error: missing the chain: give --rpc URL/ },
    ];
    const runs = await Promise.all(cases.map((c) => inProcess(c.args, { ...(c.env ? { env: c.env } : {}), tty: c.tty === true })));
    runs.forEach((r, i) => {
      const c = cases[i] as (typeof cases)[number];
      assert.equal(r.code, 2, show(r));
      assert.equal(r.stdout.length, 0, show(r));
      const lines = r.stderr.split('\n').filter((l) => l.length > 0);
      assert.equal(lines.length, 1, show(r));
      assert.match(lines[0] as string, c.line, show(r));
      assert.ok(!r.stderr.includes('11'.repeat(32)), 'a key given on the command line is not echoed');
    });
  });
});

describe('kms-client --help (in-process)', () => {
  async function help(args: string[]): Promise<{ code: number; out: string }> {
    let out = '';
    const io: ClientIo = { stdout: (t) => { out += t; }, stderr: (t) => { out += t; }, env: {}, cwd: process.cwd() };
    return { code: await main(args, io), out };
  }

  test('every command explains itself, with an example and the exit codes', async () => {
    const top = await help(['--help']);
    assert.equal(top.code, 0);
    for (const name of ['operators', 'pubkey', 'encrypt', 'decrypt', 'app-key', 'secrets', 'mnemonic', 'rotate-app-key']) {
      assert.ok(top.out.includes(`  ${name} `), `${name} is listed`);
      const h = await help([name, '--help']);
      assert.equal(h.code, 0, name);
      assert.match(h.out, new RegExp(`^Usage: kms-client ${name} \\[options\\]`), name);
      assert.match(h.out, /\$ kms-client /, `${name} has an example`);
      assert.match(h.out, /Exit codes: 0 success, 1 the operation failed/, name);
    }
    const receipts = await help(['receipts', '--help']);
    assert.ok(top.out.includes('  receipts '), 'receipts is listed');
    assert.match(receipts.out, /^Usage: kms-client receipts \[options\]/);
    assert.match(receipts.out, /\$ kms-client receipts --devnet --app-id/);
    assert.match(receipts.out, /reported\s+inconsistent\s+and\s+the\s+command\s+exits\s+1/);
    for (const flag of ['--rpc <url>', '--registry <address>', '--devnet', '--json']) assert.ok(receipts.out.includes(flag), `receipts takes ${flag}`);
    const networked = ['operators', 'pubkey', 'encrypt', 'decrypt', 'app-key', 'secrets', 'mnemonic', 'rotate-app-key'];
    for (const name of networked) {
      const h = await help([name, '--help']);
      for (const flag of ['--rpc <url>', '--registry <address>', '--devnet']) assert.ok(h.out.includes(flag), `${name} takes ${flag}`);
    }
    for (const name of ['app-key', 'secrets', 'mnemonic', 'decrypt']) {
      const h = await help([name, '--help']);
      assert.ok(h.out.includes('--owner-key <hex>') && h.out.includes('--owner-key-file <path>'), `${name} takes the owner key`);
    }
    for (const name of ['operators', 'pubkey', 'app-key', 'secrets', 'mnemonic']) assert.ok((await help([name, '--help'])).out.includes('--json'), `${name} --json`);
  });
});
