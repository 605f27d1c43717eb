// kms-admin as a user runs it: `node bin/kms-admin.mjs …` child processes against a real
// anvil (automine). One registry is taken through its life: deploy → allow → register
// (bn254 and ecdsa) → a refused threshold → arm genesis → a session → status (alongside bad
// usage: exit 2, one line, no block mined) → apps and releases (a foreign publish is
// refused) → eject and help → the remaining setters. Every line any run printed is checked
// for every key it was given.
//
// Process start through tsx costs about a second of CPU, so the walk-through and the listed
// refusals run as child processes (independent ones in parallel, each asserting several
// things) and the variations run in-process through `main()`: the same code minus the
// launcher, with captured streams.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { privateKeyToAccount } from 'viem/accounts';
import { startAnvil, type AnvilInstance } from '../../src/chain/anvil.ts';
import { createChainLedger, type ChainLedger } from '../../src/chain/chain-ledger.ts';
import { toHex } from '../../src/crypto/domain.ts';
import { generateOperatorSecretKey } from '../../src/crypto/operator-sig.ts';
import { buildProgram, main } from '../../src/cli/kms-admin.ts';
import { createCliContext, type CliIo } from '../../src/cli/common.ts';
import type { Address, Hex } from '../../src/protocol/ledger.ts';

const BIN = fileURLToPath(new URL('../../bin/kms-admin.mjs', import.meta.url));

interface Run {
  readonly args: readonly string[];
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Everything any run printed, for the "no key in any output" check. */
const outputs: string[] = [];
/** Every key handed to a run (without 0x, lowercase). */
const secrets = new Set<string>();
const secret = (k: Hex): Hex => {
  secrets.add(k.slice(2).toLowerCase());
  return k;
};

let workDir = '';

/** Runs the real launcher; KMS_* variables come only from `env`. */
function cli(args: readonly string[], env: Record<string, string> = {}, cwd = workDir): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KMS_') && k !== 'NODE_TEST_CONTEXT'));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.once('error', reject);
    child.once('close', (code) => {
      outputs.push(stdout, stderr);
      resolve({ args, code, stdout, stderr });
    });
  });
}

/** Runs main() in-process with captured streams. */
async function inProcess(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env, cwd: workDir };
  const code = await main(args, io);
  outputs.push(stdout, stderr);
  return { args, code, stdout, stderr };
}

const show = (r: Run): string => `kms-admin ${r.args.join(' ')}\nexit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const json = <T = Record<string, unknown>>(text: string): T => JSON.parse(text) as T;
const lines = (text: string): string[] => text.split('\n').filter((l) => l.length > 0);

function ok(r: Run): Run {
  assert.equal(r.code, 0, show(r));
  return r;
}

describe('kms-admin against anvil', () => {
  let anvil: AnvilInstance;
  let ledger: ChainLedger;
  let rpc: string;
  let registry: Address;
  let gov: Hex;
  let opKey1: Hex;
  let opKey2: Hex;
  let stranger: Hex;
  let appOwnerKey: Hex;
  let op1: Address;
  let op2: Address;
  let govFile: string;
  let sigFile: string;
  let bn254Public: Hex;
  let appId: Hex;
  const chainEnv = (): Record<string, string> => ({ KMS_RPC_URL: rpc, KMS_REGISTRY: registry });
  const byAddress = <T extends { address: unknown }>(xs: readonly T[]): T[] => [...xs].sort((a, b) => String(a.address).localeCompare(String(b.address)));

  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'kms-admin-test-'));
    anvil = await startAnvil({ accounts: 6 });
    rpc = anvil.rpcUrl;
    const keys = anvil.accounts.map((k) => secret(k));
    [gov, opKey1, opKey2, stranger, appOwnerKey] = keys as [Hex, Hex, Hex, Hex, Hex];
    op1 = privateKeyToAccount(opKey1).address.toLowerCase() as Address;
    op2 = privateKeyToAccount(opKey2).address.toLowerCase() as Address;
    govFile = join(workDir, 'gov.key');
    writeFileSync(govFile, `${gov}\n`, { mode: 0o600 });
    sigFile = join(workDir, 'sig.key');
  });

  after(async () => {
    await anvil?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  test('deploy prints the address (chain defaults; a custom interval; windows that do not fit are refused); gen-sig-key writes a key', async () => {
    const [deployed, human, misfit, gen] = await Promise.all([
      cli(['deploy', '--rpc', rpc, '--key-file', govFile, '--json']),
      inProcess(['deploy', '--interval', '90'], { KMS_RPC_URL: rpc, KMS_ADMIN_KEY: appOwnerKey }),
      inProcess(['deploy', '--interval', '30', '--key', anvil.accounts[5] as Hex], { KMS_RPC_URL: rpc }),
      inProcess(['gen-sig-key', '--type', 'bn254', '--out', sigFile, '--json']),
    ]);
    const d = json<{ ok: boolean; address: Address; chainId: number; owner: Address; config: Record<string, number> }>(ok(deployed).stdout);
    assert.equal(d.ok, true);
    assert.match(d.address, /^0x[0-9a-f]{40}$/);
    assert.equal(d.chainId, 31337);
    assert.equal(d.owner, privateKeyToAccount(gov).address.toLowerCase());
    assert.deepEqual(d.config, { interval: 60, dealWindow: 15, ackWindow: 15, confirmWindow: 15, inclusionMargin: 3, governanceDelay: 0 });
    registry = d.address;
    ledger = await createChainLedger({ rpcUrl: rpc, registry, keys: { [op1]: opKey1 } });
    assert.equal((await ledger.getGovernance()).interval, 60);

    const m = /^KmsRegistry deployed at (0x[0-9a-f]{40})\n/.exec(ok(human).stdout);
    assert.ok(m, show(human));
    assert.match(human.stdout, /\nNext: export KMS_REGISTRY=0x/);
    const other = await createChainLedger({ rpcUrl: rpc, registry: m[1] as Address });
    assert.equal((await other.getGovernance()).interval, 90);

    assert.equal(misfit.code, 1, show(misfit));
    assert.match(lines(misfit.stderr)[0] ?? '', /^error: The windows do not fit: .*\(WindowsDoNotFit\)\. Each window must be at least 1 s/);
    assert.equal(misfit.stdout, '');

    const g = json<{ type: string; publicKey: Hex; file: string }>(ok(gen).stdout);
    assert.equal(g.type, 'bn254');
    assert.match(g.publicKey, /^0x[0-9a-f]{256}$/);
    bn254Public = g.publicKey;
    secret(readFileSync(sigFile, 'utf8').trim() as Hex);
    assert.equal(statSync(sigFile).mode & 0o777, 0o600);
    const again = await inProcess(['gen-sig-key', '--type', 'bn254', '--out', sigFile]);
    assert.equal(again.code, 2, 'refuses to overwrite a key file');
    assert.match(again.stderr, /already exists/);
  });

  test('allow, then register-operator with a bn254 and an ecdsa signing key (their proofs of possession verify on-chain)', async () => {
    ok(await cli(['allow', op1, op2, '--key', gov], chainEnv()));
    assert.equal(await ledger.isAllowed(op1), true);
    assert.equal(await ledger.isAllowed(op2), true);

    const ecdsaSig = secret(toHex(generateOperatorSecretKey('ecdsa')));
    const opFile2 = join(workDir, 'op2.key');
    writeFileSync(opFile2, opKey2, { mode: 0o600 });
    const [r1, r2] = await Promise.all([
      cli(['register-operator', '--socket', 'https://op1.example:8443', '--sig-type', 'bn254', '--sig-key-file', sigFile],
        { ...chainEnv(), KMS_OPERATOR_KEY: opKey1 }),
      cli(['register-operator', '--socket', 'https://op2.example:8443', '--sig-type', 'ecdsa', '--operator-key-file', opFile2, '--json'],
        { ...chainEnv(), KMS_OPERATOR_SIG_KEY: ecdsaSig }),
    ]);
    assert.match(ok(r1).stdout, new RegExp(`^Registered operator ${op1} \\(bn254`));
    assert.match(r1.stdout, /kms-server publishes its own session key/);
    const j2 = json<{ operator: Address; sigKeyType: string; note: string }>(ok(r2).stdout);
    assert.equal(j2.operator, op2);
    assert.match(j2.note, /kms-server publishes its own session key/);

    const ops = byAddress(await ledger.getOperators());
    assert.deepEqual(ops.map((o) => [o.address, o.sigKeyType, o.status, o.socket]), byAddress([
      { address: op1, v: [op1, 'bn254', 'active', 'https://op1.example:8443'] },
      { address: op2, v: [op2, 'ecdsa', 'active', 'https://op2.example:8443'] },
    ]).map((x) => x.v));
    const rec = Object.fromEntries(ops.map((o) => [o.address, o]));
    assert.equal(rec[op1]?.sigPublicKey, bn254Public);
    assert.equal(rec[op2]?.sigPublicKey, privateKeyToAccount(ecdsaSig).address.toLowerCase());
    assert.match(rec[op1]?.sessionKey ?? '', /^0x0[23][0-9a-f]{64}$/);
  });

  test('set-threshold out of bounds exits 1 naming ThresholdOutOfBounds; arm-genesis and create-app succeed', async () => {
    const [bad, armed, created] = await Promise.all([
      cli(['set-threshold', '5'], { ...chainEnv(), KMS_ADMIN_KEY: gov }),
      cli(['arm-genesis', '--min-operators', '2', '--json'], { ...chainEnv(), KMS_ADMIN_KEY: gov }),
      cli(['create-app', '--salt', `0x${'5a'.repeat(32)}`, '--methods', 'jwt,ecdsa', '--json'], { ...chainEnv(), KMS_ADMIN_KEY: appOwnerKey }),
    ]);
    assert.equal(bad.code, 1, show(bad));
    assert.equal(bad.stdout, '');
    const [first, ...meta] = lines(bad.stderr);
    assert.match(first ?? '', /^error: setThresholdOverride refused: threshold 5 is outside 2\.\.2 \(ThresholdOutOfBounds\)\. The threshold must be 0/);
    assert.ok(meta.length >= 4 && meta.every((l) => /^ {2}[A-Z][A-Za-z ]+: /.test(l)), bad.stderr);
    assert.ok(meta.includes('  Function: setThresholdOverride'), bad.stderr);
    assert.equal((await ledger.getGovernance()).thresholdOverride, 0);

    const a = json<{ genesisMinOperators: number; transactions: { function: string; hash: Hex }[] }>(ok(armed).stdout);
    assert.equal(a.genesisMinOperators, 2);
    assert.equal(a.transactions[0]?.function, 'armGenesis');
    assert.equal((await ledger.getGovernance()).genesisMinOperators, 2);

    const c = json<{ appId: Hex; owner: Address; methods: string[] }>(ok(created).stdout);
    assert.match(c.appId, /^0x[0-9a-f]{64}$/);
    assert.deepEqual(c.methods, ['ecdsa', 'jwt']);
    appId = c.appId;
    assert.equal((await ledger.getApp(appId))?.owner, privateKeyToAccount(appOwnerKey).address.toLowerCase());
  });

  test('status (--json shape; human through --devnet) while bad usage exits 2 with one line, echoes no key and mines nothing', async () => {
    // Open the genesis session from operator 1 at the next boundary.
    const boundary = (Math.floor((await ledger.now()) / 60) + 1) * 60;
    await ledger.client.request({ method: 'evm_setNextBlockTimestamp', params: [`0x${boundary.toString(16)}`] } as never);
    assert.equal(await ledger.writer(op1).openSession(), 1);
    mkdirSync(join(workDir, '.devnet'), { recursive: true });
    writeFileSync(join(workDir, '.devnet', 'devnet.json'), JSON.stringify({ rpc, registry, chainId: 31337 }));
    const worldReadable = join(workDir, 'open.key');
    writeFileSync(worldReadable, gov, { mode: 0o644 });
    chmodSync(worldReadable, 0o644);
    const env = { ...chainEnv(), KMS_ADMIN_KEY: gov };

    const blockBefore = await ledger.client.getBlockNumber();
    const [st, human, ...usage] = await Promise.all([
      cli(['status', '--json'], chainEnv()),
      inProcess(['status', '--devnet']),
      cli(['register-operator', '--sig-type', 'bn254', '--sig-key', gov, '--operator-key', opKey1], chainEnv()), // missing --socket
      cli(['allow', '0x1234'], env), // malformed address
      cli(['set-threshold', 'three'], env), // not an integer
      inProcess(['allow', op2, `--kye=${gov}`], env), // unknown option carrying a key
      inProcess(['allow', op2, '--key', gov.slice(0, -1)], chainEnv()), // a key one digit short
      inProcess(['allow', op2, '--key-file', worldReadable], chainEnv()), // a key file every user can read
      inProcess(['set-windows'], env), // nothing to set
      inProcess(['set-protocol-version', '0'], env), // versions start at 1
      inProcess(['status', '--rpc', 'http://user:secretpass@127.0.0.1:1/v3/0123456789abcdef0123', '--registry', registry]), // unreachable
    ]);
    const unreachable = usage.pop() as Run;
    const expected = [
      /^error: required option '--socket <url>' not specified \(see `kms-admin register-operator --help`\)$/,
      /^error: <operator>: expected an address \(0x followed by 40 hex digits\), got "0x1234"$/,
      /^error: <threshold>: expected a non-negative integer, got "three"$/,
      /^error: unknown option '--kye=<redacted>' \(see `kms-admin allow --help`\)$/,
      /^error: --key: expected the governance owner's transaction key as 32 bytes of hex/,
      /^error: --key-file: ".*open\.key" is readable by every user of this machine; run `chmod 600/,
      /^error: give at least one of --deal, --ack, --confirm/,
      /^error: <version>: expected a positive integer <= 65535, got "0"$/,
    ];
    usage.forEach((r, i) => {
      assert.equal(r.code, 2, show(r));
      assert.equal(r.stdout, '', show(r));
      assert.equal(r.stderr.split('\n').length, 2, `exactly one line:\n${show(r)}`);
      assert.match(r.stderr.trimEnd(), expected[i] as RegExp, show(r));
    });
    const j = await inProcess(['set-interval', '-5', '--json'], env);
    assert.equal(j.code, 2);
    assert.equal(lines(j.stderr).length, 1);
    assert.equal(json<{ error: { code: string } }>(j.stderr).error.code, 'USAGE');
    assert.equal(await ledger.client.getBlockNumber(), blockBefore, 'no transaction was sent');

    assert.equal(unreachable.code, 1, show(unreachable));
    assert.match(unreachable.stderr, /^error: The chain could not be reached\.\n {2}RPC: http:\/\/127\.0\.0\.1:1\/v3\/\*\*\*\n/);
    assert.ok(!unreachable.stderr.includes('secretpass') && !unreachable.stderr.includes('0123456789abcdef0123'), 'RPC credentials are redacted');

    const s = json<Record<string, unknown>>(ok(st).stdout);
    assert.deepEqual(Object.keys(s).sort(), ['activeVersion', 'chain', 'governance', 'latestSession', 'mpk', 'ok', 'operatorCounts', 'operators']);
    const chain = s.chain as Record<string, unknown>;
    assert.deepEqual(Object.keys(chain).sort(), ['block', 'chainId', 'registry', 'rpc', 'time', 'timeIso']);
    assert.deepEqual([chain.registry, chain.chainId, chain.time], [registry, 31337, boundary]);
    assert.deepEqual({ ...(s.governance as object), owner: undefined }, {
      owner: undefined, pendingOwner: null, thresholdOverride: 0, interval: 60, dealWindow: 15, ackWindow: 15, confirmWindow: 15,
      inclusionMargin: 3, governanceDelay: 0, churnCap: 0, genesisMinOperators: 2, protocolVersion: 1, queued: [], genesisArmed: true,
      nextSessionRecipients: 2, effectiveThreshold: 2, nextBoundary: boundary + 60,
    });
    const ops = byAddress(s.operators as { address: Address; [k: string]: unknown }[]);
    assert.deepEqual(ops.map((o) => Object.keys(o).sort()), [0, 1].map(() => ['address', 'registeredSeq', 'sessionKey', 'sigKeyType', 'sigPublicKey', 'socket', 'status']));
    assert.deepEqual(ops.map((o) => [o.address, o.status, o.sigKeyType]), byAddress([
      { address: op1, v: [op1, 'active', 'bn254'] },
      { address: op2, v: [op2, 'active', 'ecdsa'] },
    ]).map((x) => x.v));
    assert.deepEqual(s.operatorCounts, { active: 2, leaving: 0 });
    const session = s.latestSession as Record<string, unknown>;
    const { id, kind, phase, outcome, tNew, quorum, ends, progress } = session;
    assert.deepEqual({ id, kind, phase, outcome, tNew, quorum, ends, progress }, {
      id: 1, kind: 'dkg', phase: 'deal', outcome: 'pending', tNew: 2, quorum: 2,
      ends: { deal: boundary + 15, ack: boundary + 30, confirm: boundary + 45 },
      progress: { deals: 0, acks: 0, confirmations: 0, counter: 0, digest: `0x${'0'.repeat(64)}` },
    });
    assert.deepEqual([...(session.dealers as string[])].sort(), [op1, op2].sort());
    assert.equal(s.activeVersion, null);
    assert.equal(s.mpk, null);

    const h = ok(human).stdout;
    assert.match(h, new RegExp(`^Registry +${registry} on chain 31337`));
    assert.match(h, /genesis +armed, at least 2 operators/);
    assert.match(h, /delay +0 s \(governance changes apply at once\)/);
    assert.match(h, /Queued governance changes: none/);
    assert.match(h, /Operators \(2 active, 0 leaving\)/);
    assert.match(h, new RegExp(`\\d +${op1} +active +bn254 +https://op1\\.example:8443`));
    assert.match(h, /Latest session #1 \(dkg,/);
    assert.match(h, /phase deal until \S+ \(in 15 s\), outcome pending/);
    assert.match(h, /MPK not pinned yet/);
  });

  test('publish-release: a non-owner is refused (NotAppOwner), an env before genesis is refused, the owner publishes', async () => {
    const envFile = join(workDir, 'app.env');
    writeFileSync(envFile, 'DB_PASSWORD=hunter2\n');
    const release = ['publish-release', appId, '--image-digest', `sha256:${'ab'.repeat(32)}`, '--launch-policy', '0x01'];
    const [foreign, early, good] = await Promise.all([
      cli([...release, '--json'], { ...chainEnv(), KMS_ADMIN_KEY: stranger }),
      inProcess([...release, '--env-file', envFile], { ...chainEnv(), KMS_ADMIN_KEY: appOwnerKey }),
      inProcess([...release, '--public-env', 'LOG_LEVEL=debug', '--json'], { ...chainEnv(), KMS_ADMIN_KEY: appOwnerKey }),
    ]);
    assert.equal(foreign.code, 1, show(foreign));
    assert.equal(foreign.stdout, '');
    assert.equal(lines(foreign.stderr).length, 1, 'one JSON document');
    const e = json<{ ok: boolean; error: { code: string; message: string; meta: string[] } }>(foreign.stderr);
    assert.equal(e.ok, false);
    assert.equal(e.error.code, 'NotAppOwner');
    assert.match(e.error.message, /NotAppOwner.*Only the app's owner/);
    assert.ok(e.error.meta.includes('Function: publishRelease'));

    assert.equal(early.code, 1, show(early));
    assert.match(lines(early.stderr)[0] ?? '', /^error: No master public key is pinned yet/);

    assert.equal(json<{ release: number }>(ok(good).stdout).release, 0);
    assert.deepEqual(await ledger.getRelease(appId, 0), {
      imageDigest: `0x${'ab'.repeat(32)}`, launchPolicy: '0x01', encryptedEnv: '0x', publicEnv: 'LOG_LEVEL=debug',
    });
    assert.equal((await ledger.getApp(appId))?.releaseCount, 1, 'the refused runs published nothing');
  });

  test('eject makes the operator leaving (again: refused); --help of the program and of every command exits 0 and names each flag', async () => {
    const [ejected, top, sub] = await Promise.all([
      cli(['eject', op1], { ...chainEnv(), KMS_ADMIN_KEY: gov }),
      cli(['--help']),
      cli(['publish-release', '--help']),
    ]);
    assert.match(ok(ejected).stdout, new RegExp(`^Ejected ${op1}: it is now leaving`));
    assert.equal((await ledger.getOperator(op1))?.status, 'leaving');
    const again = await inProcess(['eject', op1], { ...chainEnv(), KMS_ADMIN_KEY: gov });
    assert.equal(again.code, 1);
    assert.match(lines(again.stderr)[0] ?? '', /NotActiveOperator.*already leaving/);

    ok(top);
    ok(sub);
    const program = buildProgram(createCliContext('kms-admin'));
    for (const c of program.commands) assert.ok(top.stdout.includes(`  ${c.name()} `), `program help lists ${c.name()}`);
    assert.match(sub.stdout, /--env-file <path>/);
    for (const cmd of program.commands) {
      const r = ok(await inProcess([cmd.name(), '--help']));
      const flat = r.stdout.replace(/\s+/g, ' ');
      assert.ok(flat.includes(cmd.summary()), `${cmd.name()}: summary`);
      assert.match(r.stdout, /Example:\n {2}\$ (\S+=\S+ )?kms-admin /, `${cmd.name()}: example`);
      for (const o of cmd.options) assert.ok(o.long && r.stdout.includes(o.long), `${cmd.name()} --help mentions ${o.long}`);
    }
    const none = await inProcess([]);
    assert.equal(none.code, 2, 'no command: help on stderr, exit 2');
    assert.match(none.stderr, /Usage: kms-admin/);
  });

  test('the other setters (in-process): interval, windows, churn cap, methods, socket, deregister, ownership', async () => {
    const govEnv = { ...chainEnv(), KMS_ADMIN_KEY: gov };
    ok(await inProcess(['set-interval', '120'], govEnv));
    ok(await inProcess(['set-windows', '--deal', '20'], govEnv));
    const misfit = await inProcess(['set-interval', '40'], govEnv);
    assert.equal(misfit.code, 1, show(misfit));
    assert.match(lines(misfit.stderr)[0] ?? '', /\(WindowsDoNotFit\)\. Each window must be at least 1 s/);
    ok(await inProcess(['set-churn-cap', '2'], govEnv));
    assert.deepEqual(
      (({ interval, dealWindow, ackWindow, confirmWindow, churnCap }) => ({ interval, dealWindow, ackWindow, confirmWindow, churnCap }))(await ledger.getGovernance()),
      { interval: 120, dealWindow: 20, ackWindow: 15, confirmWindow: 15, churnCap: 2 },
    );

    ok(await inProcess(['set-methods', appId, '--methods', 'none'], { ...chainEnv(), KMS_ADMIN_KEY: appOwnerKey }));
    assert.deepEqual((await ledger.getApp(appId))?.methods, []);

    const opEnv = { ...chainEnv(), KMS_OPERATOR_KEY: opKey2 };
    ok(await inProcess(['update-socket', '--socket', 'https://op2.example:9443'], opEnv));
    ok(await inProcess(['deregister', '--json'], opEnv));
    const rec2 = await ledger.getOperator(op2);
    assert.deepEqual([rec2?.socket, rec2?.status], ['https://op2.example:9443', 'leaving']);

    // Two-step ownership: a proposal changes nothing until the proposed key accepts it.
    const oldOwner = privateKeyToAccount(gov).address.toLowerCase();
    const newOwner = privateKeyToAccount(stranger).address.toLowerCase();
    const proposed = await inProcess(['transfer-ownership', newOwner, '--json'], govEnv);
    assert.equal(json<{ pendingOwner: string }>(ok(proposed).stdout).pendingOwner, newOwner);
    assert.match(proposed.stdout, /"owner":"0x/);
    let g = await ledger.getGovernance();
    assert.deepEqual([g.owner, g.pendingOwner], [oldOwner, newOwner]);
    const wrongKey = await inProcess(['accept-ownership', '--json'], { ...chainEnv(), KMS_ADMIN_KEY: appOwnerKey });
    assert.equal(wrongKey.code, 1, show(wrongKey));
    assert.equal(json<{ error: { code: string } }>(wrongKey.stderr).error.code, 'NotPendingOwner');
    ok(await inProcess(['set-churn-cap', '1'], govEnv)); // the proposer still governs
    ok(await inProcess(['cancel-change', 'ownership'], govEnv));
    assert.equal((await ledger.getGovernance()).pendingOwner, null);
    const nothing = await inProcess(['cancel-change', 'ownership'], govEnv);
    assert.equal(nothing.code, 1, show(nothing));
    assert.match(lines(nothing.stderr)[0] ?? '', /NothingQueued/);
    const badKind = await inProcess(['cancel-change', 'windows'], govEnv);
    assert.equal(badKind.code, 2, show(badKind));
    assert.match(badKind.stderr, /^error: <change>: expected one of threshold, churn-cap, schedule, ownership, got "windows"\n$/);
    ok(await inProcess(['transfer-ownership', newOwner], govEnv));
    const accepted = await inProcess(['accept-ownership'], { ...chainEnv(), KMS_ADMIN_KEY: stranger });
    assert.match(ok(accepted).stdout, new RegExp(`^Governance accepted: ${newOwner} is the owner`));
    const refused = await inProcess(['set-churn-cap', '0', '--json'], govEnv);
    assert.equal(refused.code, 1);
    assert.equal(json<{ error: { code: string } }>(refused.stderr).error.code, 'NotOwner');
    g = await ledger.getGovernance();
    assert.deepEqual([g.owner, g.pendingOwner], [newOwner, null]);
  });

  test('with a governance delay, setters queue their change; status shows each queued change and when it takes effect; cancel-change withdraws one', async () => {
    const govEnv = { KMS_RPC_URL: rpc, KMS_ADMIN_KEY: gov };
    const deployed = json<{ address: Address; config: { governanceDelay: number } }>(ok(await inProcess(['deploy', '--governance-delay', '3600', '--json'], govEnv)).stdout);
    assert.equal(deployed.config.governanceDelay, 3600);
    const env = { ...govEnv, KMS_REGISTRY: deployed.address };
    const delayed = await createChainLedger({ rpcUrl: rpc, registry: deployed.address });
    const tooLong = await inProcess(['deploy', '--governance-delay', String(31 * 86_400)], govEnv);
    assert.equal(tooLong.code, 2, show(tooLong));

    const allowed = json<{ effectiveAt: Record<string, number> }>(ok(await inProcess(['allow', op1, '--json'], env)).stdout);
    const cap = await inProcess(['set-churn-cap', '2'], env);
    assert.match(ok(cap).stdout, /\nQueued: takes effect at \S+ \(in 3600 s, the governance delay\)\. Withdraw it before then/);
    ok(await inProcess(['set-interval', '120'], env));
    const windows = json<{ dealWindow: number; ackWindow: number; queued: boolean }>(
      ok(await inProcess(['set-windows', '--deal', '30', '--json'], env)).stdout);
    assert.deepEqual([windows.dealWindow, windows.ackWindow, windows.queued], [30, 15, true]);
    const protocol = json<{ protocolVersion: number; previous: number; queued: boolean }>(ok(await inProcess(['set-protocol-version', '2', '--json'], env)).stdout);
    assert.deepEqual([protocol.protocolVersion, protocol.previous, protocol.queued], [2, 1, true]);
    const g = await delayed.getGovernance();
    assert.deepEqual([g.interval, g.dealWindow, g.churnCap, await delayed.isAllowed(op1)], [60, 15, 0, false], 'nothing applies before its time');
    assert.deepEqual(g.queued.map((c) => c.kind), ['churnCap', 'schedule', 'allowOperator']);
    assert.equal(allowed.effectiveAt[op1], g.queued[2]?.effectiveAt);

    const [human, machine] = await Promise.all([inProcess(['status'], env), inProcess(['status', '--json'], env)]);
    const h = ok(human).stdout;
    assert.match(h, /delay +3600 s \(1 h\): key-weakening changes are queued that long/);
    assert.match(h, /Queued governance changes \(3\)\n {2}churn cap -> 2 +at \S+ +\(in \d+ s\)\n {2}interval 120 s, windows 30\/15\/15 s, protocol version 2 +at /);
    assert.match(h, new RegExp(`\\n {2}allow ${op1} +at \\S+ +\\(in \\d+ s\\)`));
    const queued = json<{ governance: { queued: { kind: string; effectiveAt: number; effectiveAtIso: string; inSeconds: number }[] } }>(ok(machine).stdout).governance.queued;
    assert.deepEqual(queued.map((c) => c.kind), ['churnCap', 'schedule', 'allowOperator']);
    assert.ok(queued.every((c) => c.inSeconds > 0 && c.inSeconds <= 3600 && c.effectiveAtIso === new Date(c.effectiveAt * 1000).toISOString().replace('.000Z', 'Z')));

    ok(await inProcess(['cancel-change', 'schedule'], env));
    ok(await inProcess(['allow', op1, '--revoke'], env));
    assert.deepEqual((await delayed.getGovernance()).queued.map((c) => c.kind), ['churnCap']);
    // At its time the cap applies by itself.
    const eta = (await delayed.getGovernance()).queued[0]?.effectiveAt as number;
    await delayed.client.request({ method: 'evm_setNextBlockTimestamp', params: [`0x${eta.toString(16)}`] } as never);
    await delayed.client.request({ method: 'evm_mine', params: [] } as never);
    const after = await delayed.getGovernance();
    assert.deepEqual([after.churnCap, after.queued, after.interval], [2, [], 60]);
  });

  test('app owners (in-process): transfer-app, accept-app, freeze-app, unfreeze-app; bad usage exits 2 with one line and sends nothing', async () => {
    const ownerEnv = { ...chainEnv(), KMS_ADMIN_KEY: appOwnerKey };
    const nextKey = secret(anvil.accounts[5] as Hex);
    const next = privateKeyToAccount(nextKey).address.toLowerCase() as Address;
    const owner = privateKeyToAccount(appOwnerKey).address.toLowerCase() as Address;
    const blockBefore = await ledger.client.getBlockNumber();
    const usage = await Promise.all([
      inProcess(['transfer-app', appId], ownerEnv), // no --to
      inProcess(['transfer-app', appId, '--to', '0x1234'], ownerEnv),
      inProcess(['transfer-app', '0xabc', '--to', next], ownerEnv),
      inProcess(['transfer-app', appId, '--to', owner], ownerEnv), // to itself
      inProcess(['freeze-app', appId], chainEnv()), // no key
      inProcess(['accept-app', appId, '--key', nextKey.slice(0, -2)], chainEnv()),
      inProcess(['unfreeze-app', appId, '--json', '--frozen'], ownerEnv),
    ]);
    const expected = [
      /^error: required option '--to <address>' not specified \(see `kms-admin transfer-app --help`\)$/,
      /^error: --to: expected an address \(0x followed by 40 hex digits\), got "0x1234"$/,
      /^error: <appId>: expected 32 bytes of 0x-hex/,
      /^error: --to: 0x[0-9a-f]{40} already owns the app \(it is the signer\)$/,
      /^error: missing the app owner's transaction key: give --key, --key-file or set KMS_ADMIN_KEY$/,
      /^error: --key: expected the proposed app owner's transaction key as 32 bytes of hex/,
      /"code":"USAGE"/,
    ];
    usage.forEach((r, i) => {
      assert.equal(r.code, 2, show(r));
      assert.equal(r.stdout, '', show(r));
      assert.equal(lines(r.stderr).length, 1, `exactly one line:\n${show(r)}`);
      assert.match(r.stderr.trimEnd(), expected[i] as RegExp, show(r));
    });
    assert.equal(await ledger.client.getBlockNumber(), blockBefore, 'bad usage sends nothing');

    // Two steps: the proposal changes nothing until the proposed key accepts it.
    const proposed = json<{ pendingOwner: string }>(ok(await inProcess(['transfer-app', appId, '--to', next, '--json'], ownerEnv)).stdout);
    assert.equal(proposed.pendingOwner, next);
    assert.deepEqual([(await ledger.getApp(appId))?.owner, (await ledger.getApp(appId))?.pendingOwner], [owner, next]);
    const wrong = await inProcess(['accept-app', appId, '--json'], { ...chainEnv(), KMS_ADMIN_KEY: gov });
    assert.equal(wrong.code, 1, show(wrong));
    assert.equal(json<{ error: { code: string } }>(wrong.stderr).error.code, 'NotPendingOwner');
    const accepted = ok(await inProcess(['accept-app', appId], { ...chainEnv(), KMS_ADMIN_KEY: nextKey }));
    assert.match(accepted.stdout, new RegExp(`^${next} now owns app ${appId}\n`));
    assert.match(accepted.stdout, new RegExp(`previous owner ${owner} can no longer`));
    // The previous owner has lost every right: freeze is refused (exit 1, the contract's error named).
    const lost = await inProcess(['freeze-app', appId], ownerEnv);
    assert.equal(lost.code, 1, show(lost));
    assert.match(lines(lost.stderr)[0] ?? '', /NotAppOwner/);

    const nextEnv = { ...chainEnv(), KMS_ADMIN_KEY: nextKey };
    const frozen = ok(await inProcess(['freeze-app', appId], nextEnv));
    assert.match(frozen.stdout, /^Froze app 0x[0-9a-f]{64}: from the next block on, every operator refuses/);
    assert.equal((await ledger.getApp(appId))?.frozen, true);
    assert.equal(json<{ frozen: boolean }>(ok(await inProcess(['unfreeze-app', appId, '--json'], nextEnv)).stdout).frozen, false);
    assert.equal((await ledger.getApp(appId))?.frozen, false);
    const shown = ok(await inProcess(['app', appId], chainEnv()));
    assert.match(shown.stdout, new RegExp(`owner +${next}\n`));
    assert.match(shown.stdout, /key release +open\n {2}key epoch +0 \(IBE identity 0x[0-9a-f]{64}\)\n/);
    ok(await inProcess(['freeze-app', appId], nextEnv));
    const shownJson = json<{ frozen: boolean; epoch: number; pendingOwner: string | null; identity: string }>(ok(await inProcess(['app', appId, '--json'], chainEnv())).stdout);
    assert.deepEqual([shownJson.frozen, shownJson.epoch, shownJson.pendingOwner, shownJson.identity], [true, 0, null, appId]);
    ok(await inProcess(['unfreeze-app', appId], nextEnv));
    const unknown = await inProcess(['app', `0x${'ee'.repeat(32)}`], chainEnv());
    assert.equal(unknown.code, 1, show(unknown));
    assert.match(lines(unknown.stderr)[0] ?? '', /UnknownApp/);
    // Withdrawing a proposal: the zero address.
    ok(await inProcess(['transfer-app', appId, '--to', owner], nextEnv));
    ok(await inProcess(['transfer-app', appId, '--to', `0x${'0'.repeat(40)}`], nextEnv));
    assert.equal((await ledger.getApp(appId))?.pendingOwner, null);
  });

  test('no key appears in any output', () => {
    assert.ok(outputs.length > 40 && secrets.size >= 7, `${outputs.length} outputs, ${secrets.size} keys`);
    for (const text of outputs) {
      const lower = text.toLowerCase();
      for (const s of secrets) assert.ok(!lower.includes(s), `a key leaked into:\n${text}`);
    }
  });
});
