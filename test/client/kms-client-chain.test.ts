// kms-client's networked commands against the registry contract on anvil and three fake
// operator nodes (test/client/world.ts: real HTTP API, real key-release format). The commands
// run in-process through `main()` with captured streams (the launcher is exercised by the
// offline tests in kms-client-cli.test.ts). What is checked is the CLI contract scripts rely
// on: the JSON shapes, exit codes 0/1/2, one error line with one meta line per operator at
// fault, warnings on stderr, and no owner key in any output.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appMnemonic as mnemonicOf } from '../../src/crypto/mnemonic.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { main, type ClientIo } from '../../src/cli/kms-client.ts';
import type { Address, Hex } from '../../src/protocol/ledger.ts';
import { deployLedger, latestTime, mineAt, sharedChain } from '../chain/anvil-harness.ts';
import { buildWorld, type Chainish, type World } from './world.ts';

interface Run {
  readonly args: readonly string[];
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly bytes: Buffer;
}

const outputs: string[] = [];

let workDir = '';

async function cli(args: readonly string[], env: Record<string, string | undefined> = {}, stdin?: string | Uint8Array): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const chunks: Buffer[] = [];
  const io: ClientIo = {
    stdout: (t) => { stdout += t; },
    stderr: (t) => { stderr += t; },
    stdoutBytes: (b) => { chunks.push(Buffer.from(b)); },
    readStdin: async () => (typeof stdin === 'string' ? new TextEncoder().encode(stdin) : (stdin ?? new Uint8Array(0))),
    env,
    cwd: workDir,
  };
  const code = await main(args, io);
  const bytes = Buffer.concat(chunks);
  stdout += bytes.toString('utf8');
  outputs.push(stdout, stderr);
  return { args, code, stdout, stderr, bytes };
}

const show = (r: Run): string => `kms-client ${r.args.join(' ')}\nexit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const ok = (r: Run): Run => (assert.equal(r.code, 0, show(r)), r);
const json = <T = Record<string, unknown>>(text: string): T => JSON.parse(text) as T;

async function anvilChain(): Promise<Chainish> {
  const chain = await sharedChain(12);
  // Long windows: the world's confirmations must land inside the confirm window even on a
  // loaded machine (anvil's clock keeps running between transactions).
  const ledger = await deployLedger(chain, { interval: 600, dealWindow: 120, ackWindow: 120, confirmWindow: 120, inclusionMargin: 5 });
  const keyed = chain.addresses.map((a) => ({ address: a, key: chain.keys[a] as Hex }));
  return {
    ledger,
    owner: keyed[0]?.address as Address,
    accounts: keyed.slice(1),
    interval: 600,
    windows: { deal: 120, ack: 120, confirm: 120 },
    advanceTo: (t) => mineAt(chain.client, t),
    now: () => latestTime(chain.client),
  };
}

describe('kms-client against anvil and three operators (t = 2)', () => {
  let w: World;
  let chain: Record<string, string>;
  let ownerEnv: Record<string, string>;

  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'kms-client-test-'));
    const c = await anvilChain();
    w = await buildWorld({ n: 3, chain: c, seed: 'kms-client-chain' });
    chain = { KMS_RPC_URL: (await sharedChain()).anvil.rpcUrl, KMS_REGISTRY: w.ledger.registry };
    ownerEnv = { ...chain, KMS_OWNER_KEY: w.appOwner.key };
  });
  after(async () => {
    await w?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    const all = outputs.join('\n').toLowerCase();
    if (w) assert.ok(!all.includes(w.appOwner.key.slice(2)), 'the owner key never appears in any output');
  });
  beforeEach(() => {
    for (const op of w.ops) op.behavior = 'honest';
  });

  test('operators: human and --json', async () => {
    const human = ok(await cli(['operators'], chain));
    assert.match(human.stdout, /^3 operators registered, 3 holding the active key version\n/);
    for (const op of w.ops) assert.ok(human.stdout.includes(op.address));
    const j = json<{ ok: boolean; operators: { address: string; socket: string; holder: boolean; status: string }[] }>(ok(await cli(['operators', '--json'], chain)).stdout);
    assert.deepEqual(j.operators.map((o) => [o.address, o.socket, o.holder, o.status]), w.ops.map((o) => [o.address, o.url, true, 'active']));
  });

  test('pubkey --json: {mpk, version, threshold, operators}; a wrong polynomial is a named warning', async () => {
    const r = ok(await cli(['pubkey', '--json', '--rpc', chain.KMS_RPC_URL as string, '--registry', w.ledger.registry]));
    const j = json<{ mpk: Hex; version: number; threshold: number; operators: { address: string; socket: string }[] }>(r.stdout);
    assert.equal(j.mpk, w.mpk);
    assert.match(j.mpk, /^0x[0-9a-f]{192}$/);
    assert.equal(j.version, 1);
    assert.equal(j.threshold, 2);
    assert.deepEqual(j.operators, w.ops.map((o) => ({ address: o.address, socket: o.url })));
    assert.equal(r.stderr, '');

    (w.ops[0] as World['ops'][0]).behavior = 'wrong-poly';
    const warned = ok(await cli(['pubkey'], chain));
    assert.match(warned.stdout, new RegExp(`^MPK ${w.mpk}\\nKey version 1: threshold 2 of 3 holders`));
    assert.match(warned.stderr, new RegExp(`^warning: operator ${w.ops[0]?.address} served a public polynomial that hashes to 0x[0-9a-f]{64}, not the on-chain publicPolyHash`));
  });

  test('encrypt (online, armored, stdin) → decrypt --owner-key-file: the operators release the key', async () => {
    const enc = ok(await cli(['encrypt', '--app-id', w.appId, '--armor'], chain, 'DB_PASSWORD=hunter2\n'));
    assert.match(enc.stdout, /^[A-Za-z0-9+/]+=*\n$/);
    const keyFile = join(workDir, 'owner.key');
    writeFileSync(keyFile, `${w.appOwner.key}\n`, { mode: 0o600 });
    const dec = ok(await cli(['decrypt', '--app-id', w.appId, '--owner-key-file', keyFile], chain, enc.stdout));
    assert.equal(dec.stdout, 'DB_PASSWORD=hunter2\n');
  });

  test('app-key --json: the contract shape, the real app key, every partial with its x', async () => {
    const r = ok(await cli(['app-key', '--app-id', w.appId, '--json'], ownerEnv));
    const j = json<{ appId: Hex; appKey: Hex; version: number; threshold: number; partials: { operator: Address; x: Hex; partial: Hex; valid: boolean }[] }>(r.stdout);
    assert.equal(j.appId, w.appId);
    assert.equal(j.appKey, w.appKey());
    assert.match(j.appKey, /^0x[0-9a-f]{96}$/);
    assert.equal(j.version, 1);
    assert.equal(j.threshold, 2);
    assert.deepEqual(j.partials.map((p) => [p.operator, BigInt(p.x), p.valid]), w.ops.map((o) => [o.address, operatorX(o.address), true]));
    for (const p of j.partials) {
      assert.match(p.x, /^0x[0-9a-f]{64}$/);
      assert.match(p.partial, /^0x[0-9a-f]{96}$/);
    }
  });

  test('app-key with one invalid partial: still exit 0, listed as valid: false, and a warning', async () => {
    const bad = w.ops[2] as World['ops'][0];
    bad.behavior = 'corrupt-partial';
    const r = ok(await cli(['app-key', '--app-id', w.appId, '--json'], ownerEnv));
    const j = json<{ appKey: Hex; partials: { operator: Address; valid: boolean }[] }>(r.stdout);
    assert.equal(j.appKey, w.appKey());
    assert.deepEqual(j.partials.find((p) => p.operator === bad.address)?.valid, false);
    assert.deepEqual(r.stderr.trim().split('\n').map((l) => json<{ warning: string }>(l).warning), [`operator ${bad.address} sent an invalid partial (${bad.url})`]);
  });

  test('too few partials: exit 1, one error line naming each fault, one meta line per operator', async () => {
    const [o0, o1] = w.ops as [World['ops'][0], World['ops'][0]];
    o0.behavior = 'corrupt-partial';
    o1.behavior = 'refuse';
    const r = await cli(['app-key', '--app-id', w.appId], ownerEnv);
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    const short = (a: string) => `${a.slice(0, 6)}…${a.slice(-4)}`;
    assert.equal(lines[0], `error: 1 of 2 needed partials: ${short(o0.address)} sent an invalid partial, ${short(o1.address)} answered HTTP 403 attestation-refused: ecdsa: this node refuses everything today.`);
    assert.ok(lines.includes(`  Operator ${o0.address}: sent an invalid partial (${o0.url})`), r.stderr);
    assert.ok(lines.some((l) => l.startsWith(`  Operator ${o1.address}: answered HTTP 403`)), r.stderr);
    assert.match(lines.at(-1) ?? '', /^ {2}Details: Operators refused the attestation/);

    const j = await cli(['app-key', '--app-id', w.appId, '--json'], ownerEnv);
    assert.equal(j.code, 1);
    const e = json<{ ok: boolean; error: { code: string; message: string; meta: string[] } }>(j.stderr);
    assert.equal(e.ok, false);
    assert.equal(e.error.code, 'NotEnoughPartialsError');
    assert.match(e.error.message, /^1 of 2 needed partials: /);
    assert.ok(e.error.meta.some((m) => m.startsWith(`Operator ${o0.address}`)));
  });

  test('secrets: the latest release env, human (as published) and --json', async () => {
    await w.publishRelease(w.appId, 'API_TOKEN=s3cr3t\nREGION=eu\n', 'LOG_LEVEL=info');
    const human = ok(await cli(['secrets', '--app-id', w.appId], ownerEnv));
    assert.equal(human.stdout, 'API_TOKEN=s3cr3t\nREGION=eu\n');
    const j = json<{ appId: Hex; version: number; env: string; release: { index: number; publicEnv: string; imageDigest: Hex } }>(
      ok(await cli(['secrets', '--app-id', w.appId, '--json'], ownerEnv)).stdout,
    );
    assert.equal(j.env, 'API_TOKEN=s3cr3t\nREGION=eu\n');
    assert.equal(j.release.index, 0);
    assert.equal(j.release.publicEnv, 'LOG_LEVEL=info');
    assert.equal(j.version, 1);
  });

  test('mnemonic: the 24 words of the app key, online and offline alike', async () => {
    const expected = mnemonicOf(Buffer.from(w.appKey().slice(2), 'hex'));
    assert.equal(ok(await cli(['mnemonic', '--app-id', w.appId], ownerEnv)).stdout, `${expected}\n`);
    assert.equal(ok(await cli(['mnemonic', '--app-id', w.appId, '--app-key', w.appKey()])).stdout, `${expected}\n`);
    assert.equal(json<{ mnemonic: string }>(ok(await cli(['mnemonic', '--app-id', w.appId, '--json'], ownerEnv)).stdout).mnemonic, expected);
  });

  test('encrypt to an app id with no app: exit 1 with the fix; an envelope for another app: exit 1 before any request', async () => {
    const unknown = `0x${'5a'.repeat(32)}`;
    const r = await cli(['encrypt', '--app-id', unknown], chain, 'x');
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, new RegExp(`^error: No app ${unknown} exists on this registry\\.\\n {2}Registry: ${w.ledger.registry}\\n {2}Details: .*--mpk`));

    const other = ok(await cli(['encrypt', '--app-id', unknown, '--mpk', w.mpk, '--armor'], {}, 'for another app'));
    const before = w.ops.reduce((n, o) => n + o.releaseRequests, 0);
    const d = await cli(['decrypt', '--app-id', w.appId], ownerEnv, other.stdout);
    assert.equal(d.code, 1, show(d));
    assert.match(d.stderr, /^error: The envelope is addressed to app "0x5a5a/);
    assert.equal(w.ops.reduce((n, o) => n + o.releaseRequests, 0), before, 'no operator was asked');
  });

  test('--devnet reads .devnet/devnet.json; no chain at all is bad usage', async () => {
    mkdirSync(join(workDir, '.devnet'), { recursive: true });
    writeFileSync(join(workDir, '.devnet', 'devnet.json'), JSON.stringify({ rpc: chain.KMS_RPC_URL, registry: w.ledger.registry, chainId: 31337 }));
    const j = json<{ operators: unknown[] }>(ok(await cli(['operators', '--devnet', '--json'])).stdout);
    assert.equal(j.operators.length, 3);
    const none = await cli(['pubkey']);
    assert.equal(none.code, 2);
    assert.equal(none.stderr, 'error: missing the chain: give --rpc URL (or set KMS_RPC_URL, or use --devnet)\n');
  });
});
