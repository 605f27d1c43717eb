// Issue 16 items 1–3 ("app owners in control") on a real cluster (test/cluster/harness.ts):
// anvil, the registry, 4 kms-server processes (t = 3) over loopback. One cluster serves every
// test, in order; the owner's steps go through the real commands (`kms-admin transfer-app`,
// `accept-app`, `freeze-app`, `unfreeze-app`, `kms-client rotate-app-key`, `encrypt`,
// `decrypt`, `secrets`) as child processes, and the keys are checked to the bottom over real
// HTTP: every node's partial against its public share of the on-chain polynomial for the
// identity of the epoch the node names, the t-combination against the pinned MPK.
//
//   1. transfer: after `accept-app` every node refuses the previous owner (not-app-owner) and
//      the new owner gets the same app key;
//   2. a contract-wallet owner (contracts/test/MultiSigWallet1271.sol, 2 of 3) that took the
//      app over through its own `execute`: 2 owner signatures get the key from every node, 1
//      is refused by every node;
//   3. freeze: every node refuses (app-frozen) from the block after `freeze-app`, and serves
//      the same key again after `unfreeze-app`;
//   4. rotation: after `rotate-app-key` the key differs, every node answers for epoch 1 only
//      (no node releases the epoch-0 key any more), the re-encrypted env decrypts with the new
//      key (`secrets`), a re-run with --epoch 1 does nothing, and `encrypt` → `decrypt`
//      round-trips at the new epoch; and the leaked-key drill: freeze, rotate from the owner's
//      own copy of the env (--env-file), unfreeze.
//
// No reshare runs during the file (interval of 100 days), so every answer is of version 1.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPublicClient, createWalletClient, encodeAbiParameters, encodeFunctionData, http, keccak256, type Abi } from 'viem';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { kmsRegistryAbi } from '../../src/chain/kms-registry-artifact.ts';
import { bls } from '../../src/crypto/bls12381/index.ts';
import type { G2 } from '../../src/crypto/bls12381/types.ts';
import { parseHex, toHex } from '../../src/crypto/domain.ts';
import { decryptFromApp, encryptToApp } from '../../src/crypto/ibe.ts';
import { appIdentity, keyRequestTypedData } from '../../src/crypto/key-release.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { combinePartials, verifyAppKey, verifyPartial } from '../../src/crypto/threshold.ts';
import { publicShare } from '../../src/crypto/vss.ts';
import type { KeyReleaseRequest } from '../../src/node/http/schemas.ts';
import type { Address, Hex } from '../../src/protocol/ledger.ts';
import { newRequester, openReleaseAnswer } from '../node/release-fixtures.ts';
import { startCluster, type Cluster } from './harness.ts';
import { publicPolyOf } from './keys.ts';

const ADMIN = fileURLToPath(new URL('../../bin/kms-admin.mjs', import.meta.url));
const CLIENT = fileURLToPath(new URL('../../bin/kms-client.mjs', import.meta.url));
const WALLET_ARTIFACT = fileURLToPath(new URL('../../contracts/artifacts/MultiSigWallet1271.json', import.meta.url));
const LONG_INTERVAL = 100 * 86_400;
const T = 3;
/** anvil accounts: 0 governance, 1..4 operators; then app owners, a wallet deployer, the wallet's 3 owners. */
const OWNER = 10;
const NEW_OWNER = 11;
const DEPLOYER = 12;
const WALLET_OWNERS = [13, 14, 15] as const;

const utf8 = new TextEncoder();
const nowS = () => Math.floor(Date.now() / 1000);

interface Run {
  readonly args: readonly string[];
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}
const show = (r: Run): string => `${r.args.join(' ')}\nexit ${r.code}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 2000)}`;
const ok = (r: Run): Run => (assert.equal(r.code, 0, show(r)), r);

/** What one node answered to a key request. */
interface NodeAnswer {
  readonly status: number;
  readonly code: string | null;
  readonly epoch: number | null;
  readonly partial: Uint8Array | null;
}

describe('cluster app owners: transfer, contract-wallet owners, freeze, key rotation (issue 16)', { timeout: 300_000 }, () => {
  let c: Cluster;
  let work = '';
  let mpk: G2;
  let poly: G2[];
  const account = (k: number): PrivateKeyAccount => privateKeyToAccount(c.anvil.accounts[k] as Hex);
  const keyOf = (k: number): Hex => c.anvil.accounts[k] as Hex;
  const addr = (a: PrivateKeyAccount): Address => a.address.toLowerCase() as Address;

  /** Runs a launcher as a child process against this cluster (no KMS_* variable leaks in). */
  const run = (bin: string, args: readonly string[], input?: Uint8Array): Promise<Run> => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KMS_') && k !== 'NODE_TEST_CONTEXT'));
    const all = [...args, '--rpc', c.rpcUrl, '--registry', c.registry];
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [bin, ...all], { cwd: work, env, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (b: Buffer) => { stdout += b.toString('latin1'); });
      child.stderr?.on('data', (b: Buffer) => { stderr += b.toString(); });
      child.once('error', reject);
      child.once('close', (code) => resolve({ args: [bin.endsWith('kms-admin.mjs') ? 'kms-admin' : 'kms-client', ...all], code, stdout, stderr }));
      if (input && child.stdin) child.stdin.end(Buffer.from(input));
    });
  };
  const admin = (args: readonly string[]) => run(ADMIN, [...args, '--json']);
  const client = (args: readonly string[], input?: Uint8Array) => run(CLIENT, args, input);

  /** A request to /app/sign attested by `signers` (one: its EIP-712 signature; several: theirs, concatenated). */
  const request = async (appId: Hex, signers: readonly PrivateKeyAccount[]) => {
    const r = newRequester();
    const time = nowS();
    const typed = keyRequestTypedData({ chainId: c.ledger.chainId, registry: c.registry, route: '/app/sign', appId, responseKey: r.responseKey, nonce: r.nonce, time });
    const sigs = await Promise.all(signers.map((s) => s.signTypedData(typed)));
    const req: KeyReleaseRequest = { appId, responseKey: r.responseKey, nonce: r.nonce, attestation: { method: 'ecdsa', signature: `0x${sigs.map((s) => s.slice(2)).join('')}` as Hex, time } };
    return { r, req };
  };

  /** Every node's answer to one request attested by `signers`. */
  const askAll = async (appId: Hex, signers: readonly PrivateKeyAccount[]): Promise<NodeAnswer[]> => {
    const { r, req } = await request(appId, signers);
    return Promise.all(c.nodes.map(async (n): Promise<NodeAnswer> => {
      const res = await fetch(`${n.url}/app/sign`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req), signal: AbortSignal.timeout(30_000) });
      const body = (await res.json()) as Record<string, unknown>;
      if (res.status !== 200) return { status: res.status, code: (body.error as { code?: string } | undefined)?.code ?? null, epoch: null, partial: null };
      const a = openReleaseAnswer(r, req, body.sealed as string);
      return { status: 200, code: null, epoch: typeof body.epoch === 'number' ? body.epoch : null, partial: a.partial };
    }));
  };

  /** Every node refuses with `code`. */
  const refusedByAll = async (appId: Hex, signers: readonly PrivateKeyAccount[], code: string): Promise<void> => {
    const answers = await askAll(appId, signers);
    answers.forEach((a, i) => {
      assert.equal(a.status === 200 ? 'answered' : a.code, code, `node ${i}: ${JSON.stringify({ status: a.status, code: a.code })}`);
    });
  };

  /**
   * The app key from every node's partial: each node answers, names `epoch`, and its partial
   * verifies against its public share for the identity of that epoch; any t combine to a key
   * that verifies against the MPK.
   */
  const keyFromAll = async (appId: Hex, signers: readonly PrivateKeyAccount[], epoch: number): Promise<Hex> => {
    const answers = await askAll(appId, signers);
    const identity = appIdentity(appId, epoch);
    const items = answers.map((a, i) => {
      assert.equal(a.status, 200, `node ${i} refused: ${a.code}`);
      assert.equal(a.epoch, epoch, `node ${i} names epoch ${epoch}`);
      const x = operatorX(c.nodes[i]!.address);
      assert.ok(verifyPartial(publicShare(poly, x), identity, a.partial as Uint8Array), `node ${i}'s partial verifies for epoch ${epoch}`);
      return { x, partial: a.partial as Uint8Array };
    });
    const key = combinePartials(items.slice(0, T));
    assert.ok(verifyAppKey(mpk, identity, key), 'the combined key verifies against the MPK');
    assert.equal(toHex(combinePartials(items.slice(1, T + 1))), toHex(key), 'another t-subset gives the same key');
    return toHex(key);
  };

  const newApp = async (owner: PrivateKeyAccount): Promise<Hex> =>
    (await c.ledger.writer(addr(owner)).createApp(toHex(randomBytes(32)), ['ecdsa'])).toLowerCase() as Hex;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'kms-app-owners-'));
    c = await startCluster({ n: 4, interval: LONG_INTERVAL, windows: { deal: 5, ack: 5, confirm: 5 }, name: 'app-owners', tickMs: 500 });
    await c.armGenesis();
    const v1 = await c.waitForVersion(1);
    assert.equal(v1.threshold, T);
    poly = publicPolyOf(v1);
    const pinned = await c.ledger.getMpk();
    assert.ok(pinned);
    mpk = bls.g2.decode(parseHex(pinned, 96, 'mpk'));
  });

  after(async () => {
    await c?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  let transferred: Hex;
  let transferredKey: Hex;

  it('after a transfer every node refuses the previous owner; the new owner gets the same key', async () => {
    const owner = account(OWNER);
    const next = account(NEW_OWNER);
    transferred = await newApp(owner);
    transferredKey = await keyFromAll(transferred, [owner], 0);

    const proposed = JSON.parse(ok(await admin(['transfer-app', transferred, '--to', addr(next), '--key', keyOf(OWNER)])).stdout) as { pendingOwner: string };
    assert.equal(proposed.pendingOwner, addr(next));
    // Proposed only: the owner keeps its rights, the proposed owner has none yet.
    await refusedByAll(transferred, [next], 'not-app-owner');
    ok(await admin(['accept-app', transferred, '--key', keyOf(NEW_OWNER)]));

    await refusedByAll(transferred, [owner], 'not-app-owner');
    assert.equal(await keyFromAll(transferred, [next], 0), transferredKey, 'same app key for the new owner');
    // The previous owner cannot change the app any more either (the contract refuses; exit 1).
    const freeze = await admin(['freeze-app', transferred, '--key', keyOf(OWNER)]);
    assert.equal(freeze.code, 1, show(freeze));
    assert.match(freeze.stderr, /NotAppOwner/);
  });

  it('a 2-of-3 contract-wallet owner (EIP-1271) gets the key with 2 owner signatures from every node, and with 1 from none', async () => {
    const owner = account(OWNER);
    const signers = WALLET_OWNERS.map(account);
    const [s0, s1, s2] = signers as [PrivateKeyAccount, PrivateKeyAccount, PrivateKeyAccount];
    const artifact = JSON.parse(readFileSync(WALLET_ARTIFACT, 'utf8')) as { abi: Abi; bytecode: Hex };
    const chain = { ...foundry, id: Number(c.ledger.chainId) };
    const deployer = createWalletClient({ account: account(DEPLOYER), chain, transport: http(c.rpcUrl) });
    const reader = createPublicClient({ chain, transport: http(c.rpcUrl), pollingInterval: 100 });
    const hash = await deployer.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode, args: [signers.map(addr)] });
    const wallet = (await reader.waitForTransactionReceipt({ hash })).contractAddress?.toLowerCase() as Address;
    assert.ok(wallet, 'wallet deployed');

    const app = await newApp(owner);
    const key = await keyFromAll(app, [owner], 0);
    ok(await admin(['transfer-app', app, '--to', wallet, '--key', keyOf(OWNER)]));
    // The wallet accepts through its own execute(), authorized by 2 of its 3 owners.
    const data = encodeFunctionData({ abi: kmsRegistryAbi, functionName: 'acceptApp', args: [app] });
    const digest = keccak256(encodeAbiParameters(
      [{ type: 'address' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'address' }, { type: 'bytes' }],
      [wallet, c.ledger.chainId, 0n, c.registry, data],
    ));
    const sigs = await Promise.all([s0, s2].map((s) => s.sign({ hash: digest })));
    const tx = await deployer.writeContract({ address: wallet, abi: artifact.abi, functionName: 'execute', args: [c.registry, data, `0x${sigs.map((s) => s.slice(2)).join('')}`] });
    assert.equal((await reader.waitForTransactionReceipt({ hash: tx })).status, 'success');
    assert.equal((await c.ledger.getApp(app))?.owner, wallet);

    assert.equal(await keyFromAll(app, [s1, s2], 0), key, '2 of 3 owners: the same key from every node');
    assert.equal(await keyFromAll(app, [s2, s0], 0), key, 'any 2, in any order');
    await refusedByAll(app, [s1], 'not-app-owner');
    await refusedByAll(app, [s1, s1], 'not-app-owner');
    await refusedByAll(app, [owner], 'not-app-owner');
  });

  it('a frozen app is refused by every node from the next block on, and served again after unfreeze', async () => {
    const next = account(NEW_OWNER);
    const frozen = JSON.parse(ok(await admin(['freeze-app', transferred, '--key', keyOf(NEW_OWNER)])).stdout) as { frozen: boolean };
    assert.equal(frozen.frozen, true);
    await refusedByAll(transferred, [next], 'app-frozen');
    // The client says so before asking anyone.
    const cli = await client(['app-key', '--app-id', transferred, '--owner-key', keyOf(NEW_OWNER), '--json']);
    assert.equal(cli.code, 1, show(cli));
    assert.match(cli.stderr, /frozen/);
    ok(await admin(['unfreeze-app', transferred, '--key', keyOf(NEW_OWNER)]));
    assert.equal(await keyFromAll(transferred, [next], 0), transferredKey, 'the same key again');
  });

  it('after a rotation the key differs, the re-encrypted env opens with it, and no node releases the old epoch\'s key', async () => {
    const owner = account(OWNER);
    const app = await newApp(owner);
    const env = `DB_PASSWORD=${randomBytes(12).toString('hex')}\n`;
    await c.ledger.writer(addr(owner)).publishRelease(app, {
      imageDigest: toHex(randomBytes(32)), launchPolicy: '0x01', encryptedEnv: toHex(encryptToApp(mpk, appIdentity(app, 0), utf8.encode(env))), publicEnv: 'LOG_LEVEL=info\n',
    });
    const key0 = await keyFromAll(app, [owner], 0);

    const rotated = JSON.parse(ok(await client(['rotate-app-key', '--app-id', app, '--owner-key', keyOf(OWNER), '--json'])).stdout) as { epoch: number; rotated: boolean; release: number };
    assert.deepEqual([rotated.epoch, rotated.rotated, rotated.release], [1, true, 1]);
    const key1 = await keyFromAll(app, [owner], 1);
    assert.notEqual(key1, key0, 'a new key');
    // No node serves the epoch-0 key any more: every partial is for epoch 1, none verifies for epoch 0.
    for (const [i, a] of (await askAll(app, [owner])).entries()) {
      assert.equal(a.epoch, 1, `node ${i}`);
      assert.ok(!verifyPartial(publicShare(poly, operatorX(c.nodes[i]!.address)), appIdentity(app, 0), a.partial as Uint8Array), `node ${i} released no epoch-0 partial`);
    }
    // The re-encrypted env (the new latest release) opens with the new key, not with the old one.
    const latest = await c.ledger.getRelease(app, 1);
    assert.ok(latest);
    const envelope = parseHex(latest.encryptedEnv, undefined, 'env');
    assert.equal(new TextDecoder().decode(decryptFromApp(parseHex(key1, 48, 'key1'), appIdentity(app, 1), envelope)), env);
    assert.throws(() => decryptFromApp(parseHex(key0, 48, 'key0'), appIdentity(app, 1), envelope));
    const secrets = JSON.parse(ok(await client(['secrets', '--app-id', app, '--owner-key', keyOf(OWNER), '--json'])).stdout) as { env: string; release: { index: number } };
    assert.deepEqual([secrets.env, secrets.release.index], [env, 1]);

    // Idempotent re-run (as after an interruption): nothing happens.
    const again = JSON.parse(ok(await client(['rotate-app-key', '--app-id', app, '--owner-key', keyOf(OWNER), '--epoch', '1', '--json'])).stdout) as { epoch: number; rotated: boolean };
    assert.deepEqual([again.epoch, again.rotated], [1, false]);
    assert.equal((await c.ledger.getApp(app))?.epoch, 1);

    // `encrypt` seals to the current epoch; `decrypt --owner-key` opens it with the key operators release now.
    const secret = utf8.encode(`rotated ${randomBytes(8).toString('hex')}`);
    const sealed = ok(await client(['encrypt', '--app-id', app, '--armor'], secret)).stdout.trim();
    writeFileSync(join(work, 'sealed.txt'), sealed);
    const opened = ok(await client(['decrypt', '--app-id', app, '--owner-key', keyOf(OWNER), '--in', join(work, 'sealed.txt')]));
    assert.equal(opened.stdout, Buffer.from(secret).toString('latin1'));

    // The leaked-key drill: freeze, rotate from the owner's own copy of the env, unfreeze.
    ok(await admin(['freeze-app', app, '--key', keyOf(OWNER)]));
    const blocked = await client(['rotate-app-key', '--app-id', app, '--owner-key', keyOf(OWNER)]);
    assert.equal(blocked.code, 1, show(blocked));
    assert.match(blocked.stderr, /frozen/);
    assert.equal((await c.ledger.getApp(app))?.epoch, 1, 'a refused rotation changes nothing');
    const envFile = join(work, 'env.txt');
    const newEnv = `DB_PASSWORD=${randomBytes(12).toString('hex')}\n`;
    writeFileSync(envFile, newEnv, { mode: 0o600 });
    const drill = JSON.parse(ok(await client(['rotate-app-key', '--app-id', app, '--owner-key', keyOf(OWNER), '--env-file', envFile, '--json'])).stdout) as { epoch: number; rotated: boolean };
    assert.deepEqual([drill.epoch, drill.rotated], [2, true]);
    await refusedByAll(app, [owner], 'app-frozen');
    ok(await admin(['unfreeze-app', app, '--key', keyOf(OWNER)]));
    const key2 = await keyFromAll(app, [owner], 2);
    assert.ok(key2 !== key1 && key2 !== key0);
    const after2 = JSON.parse(ok(await client(['secrets', '--app-id', app, '--owner-key', keyOf(OWNER), '--json'])).stdout) as { env: string; epoch: number };
    assert.deepEqual([after2.env, after2.epoch], [newEnv, 2]);
  });
});
