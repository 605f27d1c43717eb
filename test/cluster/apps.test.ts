// Issue 6 acceptance ("Apps") on a real cluster (test/cluster/harness.ts): anvil, the registry,
// 4 kms-server processes (t = 3) over loopback with SQLite stores, every node started with the
// jwt attestation method enabled (a JWKS file of a test token issuer, its issuer, and this
// deployment's audience). One cluster serves every test, in order:
//
//   1. the real `kms-client` launcher (child processes, `--rpc --registry`): an app whose
//      owner enabled ecdsa and published a release with an IBE-encrypted env; `encrypt` a
//      binary file → `app-key --json` (the JSON contract; every partial verifies against its
//      PK_j from the on-chain polynomial, any t of them combine to the key, the key verifies
//      against the pinned MPK) → `decrypt --owner-key` and offline `decrypt --app-key` give
//      the file back byte for byte; `secrets --json` is the published env; `mnemonic` is the
//      BIP39 encoding of HKDF(app key); exit codes 2 (malformed --owner-key) and 1 (a key
//      that is not the owner's);
//   2. every refusal of the acceptance list, per attestation method, on EVERY node over real
//      HTTP: the status, the error code naming the failed check, a body that is only the
//      error (no sealed answer, no partial), and kms_refusals_total{reason} one higher. The
//      accepted requests next to them are checked to the bottom: the answer opens with the
//      response secret, its signature verifies under the operator's on-chain key, its partial
//      against PK_j, and the four nodes' partials combine to the app key (the same key the
//      CLI obtained, for the ecdsa app); an identical retry gets the byte-identical answer;
//   3. after the cluster reshares (the active version moves on every node), `app-key` and
//      `mnemonic` give the same key and words, from partials of the new version.
//
// Timing: the key-release client combines partials of one version, so a request that races a
// version's activation (nodes switch one tick apart) may find the operators split between two
// versions. The registry is therefore deployed with a reshare interval of 100 days: genesis
// runs at once when armed (its interval has begun), and no reshare can interleave with the
// steps before test 3. Test 3 makes the one reshare happen as governance would: it shortens the
// interval, waits for the new version on every node, and restores the long interval (waiting
// for any session that opened meanwhile to close) before the CLI runs again. The direct HTTP
// requests of test 2 name their key version anyway.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateMnemonic } from '@scure/bip39';
import { wordlist as english } from '@scure/bip39/wordlists/english.js';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { bls } from '../../src/crypto/bls12381/index.ts';
import type { G2 } from '../../src/crypto/bls12381/types.ts';
import { parseHex, toHex } from '../../src/crypto/domain.ts';
import { encryptToApp } from '../../src/crypto/ibe.ts';
import { appIdentity, requestHash, verifyAnswerSignature, type KeyReleaseAnswer, type KeyReleaseRequestFields } from '../../src/crypto/key-release.ts';
import { appMnemonic } from '../../src/crypto/mnemonic.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { combinePartials, verifyAppKey, verifyPartial } from '../../src/crypto/threshold.ts';
import { publicShare } from '../../src/crypto/vss.ts';
import type { KeyReleaseRequest } from '../../src/node/http/schemas.ts';
import { defaultAudience } from '../../src/node/release/handler.ts';
import type { Address, AttestationMethod, Hex, Release, VersionRecord } from '../../src/protocol/ledger.ts';
import {
  ecdsaKeyRequest,
  flippedV,
  highSTwin,
  jwtKey,
  jwtKeyRequest,
  newRequester,
  openReleaseAnswer,
  refusalCountIn,
  signJwt,
  teeClaims,
  type Requester,
} from '../node/release-fixtures.ts';
import { startCluster, type Cluster } from './harness.ts';
import { publicPolyOf, subsets } from './keys.ts';

const CLIENT = fileURLToPath(new URL('../../bin/kms-client.mjs', import.meta.url));
/** 100 days: no boundary passes during the file, unless governance shortens it (test 3). */
const LONG_INTERVAL = 100 * 86_400;
/** The interval governance sets to make the next reshare happen within seconds. */
const SHORT_INTERVAL = 20;
const WINDOWS = { deal: 5, ack: 5, confirm: 5 } as const;
const ISSUER = 'https://confidentialcomputing.googleapis.com';
const AUDIENCE = 'eigenx-kms/cluster-apps-test';
const T = 3;
/** anvil accounts of the app owners and of a stranger (0 is governance, 1..4 the operators). */
const OWNER_ACCOUNT = 10;
const TEE_OWNER_ACCOUNT = 11;
const STRANGER_ACCOUNT = 12;

const utf8 = new TextEncoder();
const nowS = () => Math.floor(Date.now() / 1000);
const sha256Hex = (s: string): Hex => `0x${createHash('sha256').update(s).digest('hex')}`;

interface Run {
  readonly args: readonly string[];
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}
const show = (r: Run): string => `kms-client ${r.args.join(' ')}\nexit ${r.code}\nstdout: ${r.stdout.toString().slice(0, 2000)}\nstderr: ${r.stderr}`;
const ok = (r: Run): Run => (assert.equal(r.code, 0, show(r)), r);
const json = <T>(r: Run): T => JSON.parse(r.stdout.toString()) as T;

interface AppKeyJson {
  readonly ok: boolean;
  readonly appId: Hex;
  readonly appKey: Hex;
  readonly version: number;
  readonly threshold: number;
  readonly partials: readonly { readonly operator: Address; readonly x: Hex; readonly partial: Hex; readonly valid: boolean }[];
  readonly faults: readonly unknown[];
}

/** An app on the registry, with its owner's account and (when published) its latest release. */
interface App {
  readonly id: Hex;
  readonly owner: PrivateKeyAccount;
  readonly ownerKey: Hex;
  readonly release: Release | null;
  /** The env encrypted into the release (UTF-8). */
  readonly env: string | null;
}

describe('cluster apps: the kms-client CLI end to end, attested key release refusals on every node, keys across a reshare', { timeout: 330_000 }, () => {
  let c: Cluster;
  let work = '';
  /** The MPK pinned on-chain at genesis. */
  let mpkPoint: G2;
  /** ecdsa only, release with an IBE-encrypted env: the CLI's app. */
  let app: App;
  /** ecdsa only, same owner, no release: "an attestation for another app". */
  let sibling: App;
  /** jwt only, release run in the "TEE". */
  let tee: App;
  /** jwt only, same owner and release as `tee`: "a token for another app". */
  let teeTwin: App;
  let stranger: PrivateKeyAccount;
  let strangerKey: Hex;
  const tokenKey = jwtKey('cluster-tee-1', 'ES256');
  const rogueKey = jwtKey('cluster-tee-1', 'ES256'); // same kid, not in the JWKS

  /** What test 1 obtained: the app key, the version it was combined from, its partials, the words. */
  let appKey: Hex;
  let firstVersion: number;
  let firstPartials: AppKeyJson['partials'];
  let words: string;

  // -------------------------------------------------------------------------------------------
  // Helpers

  /** Runs the real launcher (a child process); no KMS_* variable of this environment leaks in. */
  const cli = (args: readonly string[], opts: { chain?: boolean } = {}): Promise<Run> => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KMS_') && k !== 'NODE_TEST_CONTEXT'));
    // A generous deadline per operator request (commands that ask operators): on a loaded
    // 2-core machine a node can take seconds to answer, and a timed-out operator is a fault
    // this file does not test.
    const chain = ['--rpc', c.rpcUrl, '--registry', c.registry, ...(args[0] === 'encrypt' ? [] : ['--timeout', '30000'])];
    const all = opts.chain === false ? args : [...args, ...chain];
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLIENT, ...all], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
      child.once('error', reject);
      child.once('close', (code) => resolve({ args: all, code, stdout: Buffer.concat(out), stderr }));
    });
  };

  const post = async (i: number, path: '/app/sign' | '/secrets', body: KeyReleaseRequest) => {
    const res = await fetch(`${c.nodes[i]!.url}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    return { status: res.status, text, json: JSON.parse(text) as Record<string, unknown> };
  };

  const metrics = async (i: number): Promise<string> => {
    const res = await fetch(`${c.nodes[i]!.opsUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    return res.text();
  };

  const createApp = async (owner: PrivateKeyAccount, methods: AttestationMethod[], release: Release | null): Promise<Hex> => {
    const w = c.ledger.writer(owner.address.toLowerCase() as Address);
    const id = (await w.createApp(toHex(randomBytes(32)), methods)).toLowerCase() as Hex;
    if (release) await w.publishRelease(id, release);
    return id;
  };

  /** The version's public polynomial from the chain (checked against its hash). */
  const polyOf = async (version: number): Promise<G2[]> => {
    const v = await c.ledger.getVersion(version);
    assert.ok(v, `version ${version} exists on-chain`);
    return publicPolyOf(v);
  };

  /** e(σ_j, G2) == e(Q(id), PK_j), PK_j = Σ A_k·x_j^k from the on-chain polynomial. */
  const partialOk = (poly: readonly G2[], operator: Address, appId: Hex, partial: Uint8Array): boolean =>
    verifyPartial(publicShare(poly, operatorX(operator)), appIdentity(appId), partial);

  /** Every t-subset of (operator, partial) combines to `key`, which verifies against the MPK. */
  const assertCombines = (items: readonly { operator: Address; partial: Uint8Array }[], appId: Hex, key?: Hex): Hex => {
    assert.ok(items.length >= T, `at least t = ${T} partials`);
    let combined: Hex | undefined = key;
    for (const s of subsets(items, T)) {
      const d = toHex(combinePartials(s.map((p) => ({ x: operatorX(p.operator), partial: p.partial }))));
      combined ??= d;
      assert.equal(d, combined, `the partials of ${s.map((p) => p.operator.slice(0, 8)).join(', ')} combine to the same key`);
    }
    assert.ok(combined);
    assert.ok(verifyAppKey(mpkPoint, appIdentity(appId), parseHex(combined, 48, 'app key')), 'the combined key verifies against the pinned MPK');
    const short = items.slice(0, T - 1).map((p) => ({ x: operatorX(p.operator), partial: p.partial }));
    assert.ok(!verifyAppKey(mpkPoint, appIdentity(appId), combinePartials(short)), 't − 1 partials do not give the key');
    return combined;
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'kms-apps-'));
    const jwksPath = join(work, 'jwks.json');
    writeFileSync(jwksPath, JSON.stringify({ keys: [tokenKey.jwk] }));
    c = await startCluster({
      n: 4, interval: LONG_INTERVAL, windows: WINDOWS, name: 'apps', tickMs: 500,
      nodeEnv: { KMS_JWT_JWKS: jwksPath, KMS_JWT_ISSUER: ISSUER, KMS_JWT_AUDIENCE: AUDIENCE },
    });
    await c.armGenesis();
    const v1 = await c.waitForVersion(1);
    assert.equal(v1.threshold, T);
    const pinned = await c.ledger.getMpk();
    assert.ok(pinned);
    mpkPoint = bls.g2.decode(parseHex(pinned, 96, 'mpk'));

    const account = (k: number) => {
      const key = c.anvil.accounts[k] as Hex;
      return { key, account: privateKeyToAccount(key) };
    };
    const o = account(OWNER_ACCOUNT);
    const t = account(TEE_OWNER_ACCOUNT);
    const s = account(STRANGER_ACCOUNT);
    stranger = s.account;
    strangerKey = s.key;

    // The CLI's app: its env is IBE-encrypted to the app id under the pinned MPK, as
    // `kms-admin publish-release --env-file` (and the devnet's demo app) do. Created first:
    // the env is encrypted to the id the contract assigns.
    const ownerWriter = c.ledger.writer(o.account.address.toLowerCase() as Address);
    const env = `DB_PASSWORD=${randomBytes(12).toString('hex')}\nAPI_TOKEN=tok_${randomBytes(9).toString('base64url')}\n`;
    const makeApp = async (): Promise<App> => {
      const id = (await ownerWriter.createApp(toHex(randomBytes(32)), ['ecdsa'])).toLowerCase() as Hex;
      const release: Release = {
        imageDigest: sha256Hex('eigenx-kms cluster apps test image'), launchPolicy: '0x01',
        encryptedEnv: toHex(encryptToApp(mpkPoint, id, utf8.encode(env))), publicEnv: 'LOG_LEVEL=info\n',
      };
      await ownerWriter.publishRelease(id, release);
      return { id, owner: o.account, ownerKey: o.key, release, env };
    };
    const teeRelease: Release = {
      imageDigest: sha256Hex('eigenx-kms cluster tee image'), launchPolicy: '0x0102ab',
      encryptedEnv: toHex(randomBytes(80)), publicEnv: 'REGION=eu\n',
    };
    // Two owners, two accounts: their transactions go in parallel.
    const [[a, sib], [teeId, twinId]] = await Promise.all([
      (async () => [await makeApp(), await createApp(o.account, ['ecdsa'], null)] as const)(),
      (async () => [await createApp(t.account, ['jwt'], teeRelease), await createApp(t.account, ['jwt'], teeRelease)] as const)(),
    ]);
    app = a;
    sibling = { id: sib, owner: o.account, ownerKey: o.key, release: null, env: null };
    tee = { id: teeId, owner: t.account, ownerKey: t.key, release: teeRelease, env: null };
    teeTwin = { id: twinId, owner: t.account, ownerKey: t.key, release: teeRelease, env: null };
  });

  after(async () => {
    await c?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  // -------------------------------------------------------------------------------------------
  // 1. The CLI

  it('kms-client: encrypt → app-key --json (verifies against the MPK) → decrypt --owner-key and --app-key give the bytes back; secrets; mnemonic; exit codes', async () => {
    const active = await c.ledger.activeVersion();
    assert.ok(active);
    // Bytes that are not UTF-8 survive the round trip.
    const plaintext = Buffer.concat([Buffer.from('DB_PASSWORD=hunter2\n', 'utf8'), randomBytes(300), Buffer.from([0, 0xff, 0xfe])]);
    writeFileSync(join(work, 'plain.bin'), plaintext);
    const badOwnerKey = '0x1234';

    const [enc, key, secrets, mnemonic, badUsage, notOwner] = await Promise.all([
      cli(['encrypt', '--app-id', app.id, '--in', 'plain.bin', '--out', 'env.ekms']),
      cli(['app-key', '--app-id', app.id, '--owner-key', app.ownerKey, '--json']),
      cli(['secrets', '--app-id', app.id, '--owner-key', app.ownerKey, '--json']),
      cli(['mnemonic', '--app-id', app.id, '--owner-key', app.ownerKey]),
      cli(['app-key', '--app-id', app.id, '--owner-key', badOwnerKey, '--json']),
      cli(['app-key', '--app-id', app.id, '--owner-key', strangerKey, '--json']),
    ]);

    // encrypt: an envelope v1 addressed to the app.
    ok(enc);
    const envelope = readFileSync(join(work, 'env.ekms'));
    assert.equal(envelope.subarray(0, 5).toString('latin1'), 'EKMS\u0001');
    assert.equal(envelope.length, 195 + app.id.length + plaintext.length);

    // app-key --json: the contract shape, and the key is x·Q(appId).
    const j = json<AppKeyJson>(ok(key));
    assert.equal(j.ok, true);
    assert.equal(j.appId, app.id);
    assert.match(j.appKey, /^0x[0-9a-f]{96}$/);
    assert.equal(j.version, active.id, 'combined from the active version');
    assert.equal(j.threshold, T);
    assert.deepEqual(j.faults, []);
    assert.deepEqual(j.partials.map((p) => p.operator).sort(), c.nodes.map((n) => n.address).sort(), 'a partial from every operator');
    const poly = await polyOf(j.version);
    for (const p of j.partials) {
      assert.deepEqual(Object.keys(p).sort(), ['operator', 'partial', 'valid', 'x']);
      assert.match(p.x, /^0x[0-9a-f]{64}$/);
      assert.equal(BigInt(p.x), operatorX(p.operator), 'x = keccak256(address) mod r');
      assert.match(p.partial, /^0x[0-9a-f]{96}$/);
      assert.equal(p.valid, true);
      assert.ok(partialOk(poly, p.operator, app.id, parseHex(p.partial, 48, 'partial')), `${p.operator}'s partial verifies against its public share`);
    }
    assert.ok(verifyAppKey(mpkPoint, app.id, parseHex(j.appKey, 48, 'appKey')), 'e(d, G2) == e(Q(appId), MPK) with the on-chain MPK');
    assertCombines(j.partials.map((p) => ({ operator: p.operator, partial: parseHex(p.partial, 48, 'partial') })), app.id, j.appKey);
    appKey = j.appKey;
    firstVersion = j.version;
    firstPartials = j.partials;

    // secrets --json: the env that was published, and the release it came from.
    const s = json<{ ok: boolean; appId: Hex; version: number; env: string; release: { index: number; imageDigest: Hex; launchPolicy: Hex; publicEnv: string } }>(ok(secrets));
    assert.equal(s.ok, true);
    assert.equal(s.appId, app.id);
    assert.equal(s.env, app.env);
    assert.deepEqual(s.release, { index: 0, imageDigest: app.release?.imageDigest, launchPolicy: app.release?.launchPolicy, publicEnv: app.release?.publicEnv });
    assert.equal(s.version, active.id);

    // mnemonic: 24 valid BIP39 words, BIP39(HKDF-SHA256(d, "eigenx-kms/mnemonic/v1")).
    const m = ok(mnemonic).stdout.toString();
    assert.match(m, /\n$/);
    words = m.trimEnd();
    assert.equal(words.split(' ').length, 24);
    assert.ok(validateMnemonic(words, english), 'a valid BIP39 mnemonic (checksum included)');
    assert.equal(words, appMnemonic(parseHex(appKey, 48, 'appKey')));

    // Exit 2: a malformed --owner-key is bad usage (one line, nothing on stdout).
    assert.equal(badUsage.code, 2, show(badUsage));
    assert.equal(badUsage.stdout.length, 0);
    assert.equal(badUsage.stderr.trimEnd().split('\n').length, 1, badUsage.stderr);
    const u = JSON.parse(badUsage.stderr) as { ok: boolean; error: { code: string; message: string } };
    assert.equal(u.ok, false);
    assert.equal(u.error.code, 'USAGE');
    assert.match(u.error.message, /^--owner-key: /);
    // Exit 1: a well-formed key that is not the owner's fails the operation.
    assert.equal(notOwner.code, 1, show(notOwner));
    assert.equal(notOwner.stdout.length, 0);
    const e = JSON.parse(notOwner.stderr) as { ok: boolean; error: { code: string; message: string } };
    assert.equal(e.ok, false);
    assert.equal(e.error.code, 'NotAppOwnerError');
    assert.ok(!notOwner.stderr.toLowerCase().includes(strangerKey.slice(2).toLowerCase()), 'the key is not echoed');

    // decrypt, online (the owner key asks the operators) and offline (the app key).
    const [online, offline] = await Promise.all([
      cli(['decrypt', '--app-id', app.id, '--owner-key', app.ownerKey, '--in', 'env.ekms', '--out', 'decrypted.bin']),
      cli(['decrypt', '--app-id', app.id, '--app-key', appKey, '--in', 'env.ekms'], { chain: false }),
    ]);
    ok(online);
    assert.deepEqual(readFileSync(join(work, 'decrypted.bin')), plaintext, 'decrypt --owner-key: the plaintext, byte for byte');
    assert.deepEqual(ok(offline).stdout, plaintext, 'decrypt --app-key (offline): the plaintext, byte for byte');
  });

  // -------------------------------------------------------------------------------------------
  // 2. Refusals on every node

  /** Node i's accepted answer to `req`, checked completely; the identical retry is byte-identical. */
  const accepted = async (i: number, req: KeyReleaseRequest, r: Requester, version: number, poly: readonly G2[]): Promise<KeyReleaseAnswer> => {
    const node = c.nodes[i]!;
    const res = await post(i, '/app/sign', req);
    assert.equal(res.status, 200, `node ${i}: ${res.text}`);
    assert.equal(res.json.operator, node.address);
    assert.equal(res.json.version, version);
    const a = openReleaseAnswer(r, req, res.json.sealed as string);
    assert.equal(a.kind, 'sign');
    assert.equal(toHex(a.appId), req.appId);
    assert.equal(toHex(a.operator), node.address);
    assert.equal(a.version, version);
    const rec = await c.ledger.getOperator(node.address);
    assert.ok(rec);
    assert.ok(verifyAnswerSignature(a, requestHash(req as KeyReleaseRequestFields), c.domain, rec.sigKeyType, parseHex(rec.sigPublicKey, undefined, 'sigPublicKey'), parseHex(req.responseKey, 32, 'responseKey')),
      `node ${i}: the answer's signature verifies under its on-chain ${rec.sigKeyType} key`);
    assert.ok(partialOk(poly, node.address, req.appId, a.partial), `node ${i}: the partial verifies against PK_j`);
    const again = await post(i, '/app/sign', req);
    assert.equal(again.status, 200);
    assert.equal(again.text, res.text, `node ${i}: an identical retry gets the identical answer`);
    return a;
  };

  /**
   * On every node at once: `build(i)` is refused with `status` and `code`, the body is only the
   * error (no sealed answer, none of the node's partials), and the node counts the refusal under
   * `code`.
   */
  const refusedEverywhere = async (
    what: string,
    build: (i: number) => Promise<KeyReleaseRequest> | KeyReleaseRequest,
    status: number,
    code: string,
    partials: readonly Uint8Array[],
    path: '/app/sign' | '/secrets' = '/app/sign',
  ) => {
    await Promise.all(c.nodes.map(async (_, i) => {
      const req = await build(i);
      const before = refusalCountIn(await metrics(i), code);
      const res = await post(i, path, req);
      const where = `${what}, node ${i}`;
      assert.equal(res.status, status, `${where}: expected ${status} ${code}, got ${res.status} ${res.text}`);
      assert.deepEqual(Object.keys(res.json), ['error'], `${where}: the body is only the error`);
      const err = res.json.error as Record<string, unknown>;
      assert.equal(err.code, code, `${where}: ${res.text}`);
      assert.equal(typeof err.message, 'string');
      assert.ok(!/sealed/i.test(res.text), `${where}: no sealed answer`);
      const body = res.text.toLowerCase();
      for (const p of partials) assert.ok(!body.includes(toHex(p).slice(2)), `${where}: no partial in the body`);
      assert.equal(refusalCountIn(await metrics(i), code), before + 1, `${where}: kms_refusals_total{reason="${code}"} grew by one`);
    }));
  };

  it('ecdsa: accepted on every node (partials combine to the CLI\'s app key); every refusal on every node', async () => {
    const version = firstVersion;
    const poly = await polyOf(version);
    const chainId = c.ledger.chainId;
    const registry = c.registry;
    const owner = (r: Requester, over: Partial<Parameters<typeof ecdsaKeyRequest>[0]> = {}) =>
      ecdsaKeyRequest({ chainId, registry, signer: app.owner, appId: app.id, requester: r, time: nowS(), version, ...over });

    // Accepted: the app owner's fresh attestation, on every node.
    const requesters = c.nodes.map(() => newRequester());
    const signedAt = nowS();
    const reqs = await Promise.all(requesters.map((r) => owner(r, { time: signedAt })));
    const answers = await Promise.all(c.nodes.map((_, i) => accepted(i, reqs[i]!, requesters[i]!, version, poly)));
    const items = answers.map((a, i) => ({ operator: c.nodes[i]!.address, partial: a.partial }));
    assert.equal(assertCombines(items, app.id), appKey, 'the four nodes\' partials combine to the key kms-client app-key returned');
    for (const a of answers) {
      const fromCli = firstPartials.find((p) => p.operator === toHex(a.operator));
      assert.equal(toHex(a.partial), fromCli?.partial, 'the same version gives the same partial as for the CLI');
    }
    const partials = answers.map((a) => a.partial);

    await refusedEverywhere('an attestation for another app (of the same owner)',
      () => owner(newRequester(), { signedAppId: sibling.id }), 403, 'not-app-owner', partials);
    await refusedEverywhere('an attestation for another response key',
      () => owner(newRequester(), { signedResponseKey: newRequester().responseKey }), 403, 'not-app-owner', partials);
    // Copies of the accepted requests an observer could make: the same body on the other route,
    // the owner's signature in its high-s and v = 0/1 forms.
    await refusedEverywhere('the accepted request sent to /secrets (the owner signed /app/sign)',
      (i) => reqs[i]!, 403, 'not-app-owner', partials, '/secrets');
    const withSignature = (req: KeyReleaseRequest, signature: Hex): KeyReleaseRequest => ({ ...req, attestation: { ...(req.attestation as { method: 'ecdsa'; signature: Hex; time: number }), signature } });
    await refusedEverywhere('the high-s twin of the owner\'s signature',
      (i) => withSignature(reqs[i]!, highSTwin((reqs[i]!.attestation as { signature: Hex }).signature)), 403, 'attestation-bad-signature', partials);
    await refusedEverywhere('the owner\'s signature with v = 0/1',
      (i) => withSignature(reqs[i]!, flippedV((reqs[i]!.attestation as { signature: Hex }).signature)), 403, 'attestation-bad-signature', partials);
    // Another request the owner signed with the accepted nonce and response key is answered too.
    await Promise.all(c.nodes.map(async (_, i) => accepted(i, await owner(requesters[i]!, { time: signedAt + 1 }), requesters[i]!, version, poly)));
    await refusedEverywhere('the accepted nonce and attestation with another response key',
      (i) => ({ ...reqs[i]!, responseKey: newRequester().responseKey }), 403, 'not-app-owner', partials);
    await refusedEverywhere('an expired attestation (10 minutes old)',
      () => owner(newRequester(), { time: nowS() - 600 }), 403, 'attestation-expired', partials);
    await refusedEverywhere('a key that is not the app owner\'s',
      () => owner(newRequester(), { signer: stranger }), 403, 'not-app-owner', partials);
    await refusedEverywhere('ecdsa for an app that enabled only jwt (signed by its owner)',
      () => ecdsaKeyRequest({ chainId, registry, signer: tee.owner, appId: tee.id, requester: newRequester(), time: nowS(), version }), 403, 'method-not-enabled', partials);

    // After all that, the accepted requests still get their answers, byte for byte.
    for (const [i, req] of reqs.entries()) {
      const [x, y] = await Promise.all([post(i, '/app/sign', req), post(i, '/app/sign', req)]);
      assert.equal(x.status, 200);
      assert.equal(y.text, x.text);
      assert.deepEqual(openReleaseAnswer(requesters[i]!, req, x.json.sealed as string).partial, answers[i]!.partial);
    }
  });

  it('jwt: accepted on every node (partials combine to a key that verifies); every refusal on every node', async () => {
    const version = firstVersion;
    const poly = await polyOf(version);
    const release = tee.release;
    assert.ok(release);
    /** A token for `r`'s request of this key version to /app/sign for `appId`. */
    const token = (appId: Hex, r: Requester, over: Record<string, unknown> = {}, key = tokenKey) =>
      signJwt(key, teeClaims({ issuer: ISSUER, audience: AUDIENCE, domain: c.domain, appId, responseKey: r.responseKey, nonce: r.nonce, version, release, now: nowS(), over }));
    const fresh = (over: Record<string, unknown> = {}, key = tokenKey): KeyReleaseRequest => {
      const r = newRequester();
      return jwtKeyRequest(tee.id, r, token(tee.id, r, over, key), version);
    };

    const requesters = c.nodes.map(() => newRequester());
    const reqs = requesters.map((r) => jwtKeyRequest(tee.id, r, token(tee.id, r), version));
    const answers = await Promise.all(c.nodes.map((_, i) => accepted(i, reqs[i]!, requesters[i]!, version, poly)));
    assertCombines(answers.map((a, i) => ({ operator: c.nodes[i]!.address, partial: a.partial })), tee.id);
    const partials = answers.map((a) => a.partial);

    await refusedEverywhere('a token for another app (same owner, same release)', () => {
      const r = newRequester();
      return jwtKeyRequest(tee.id, r, token(teeTwin.id, r), version);
    }, 403, 'wrong-eat-nonce', partials);
    await refusedEverywhere('a token for another response key', () => {
      const r = newRequester();
      return jwtKeyRequest(tee.id, r, token(tee.id, { ...r, responseKey: newRequester().responseKey }), version);
    }, 403, 'wrong-eat-nonce', partials);
    await refusedEverywhere('the accepted request sent to /secrets (its eat_nonce binds /app/sign)',
      (i) => reqs[i]!, 403, 'wrong-eat-nonce', partials, '/secrets');
    await refusedEverywhere('the accepted token with another key version (its eat_nonce binds the version)',
      (i) => ({ ...reqs[i]!, version: undefined }), 403, 'wrong-eat-nonce', partials);
    await refusedEverywhere('a token from a debug Confidential Space image', () => fresh({ dbgstat: 'enabled' }), 403, 'debug-enclave', partials);
    // Another token for the accepted nonce and response key is answered too.
    await Promise.all(c.nodes.map(async (_, i) => accepted(i, jwtKeyRequest(tee.id, requesters[i]!, token(tee.id, requesters[i]!, { iat: nowS() - 1 }), version), requesters[i]!, version, poly)));
    await refusedEverywhere('the accepted nonce and token with another response key',
      (i) => ({ ...reqs[i]!, responseKey: newRequester().responseKey }), 403, 'wrong-eat-nonce', partials);
    await refusedEverywhere('an expired token', () => fresh({ iat: nowS() - 7200, nbf: nowS() - 7200, exp: nowS() - 3600 }), 403, 'attestation-expired', partials);
    await refusedEverywhere('a wrong audience (the default audience, while this deployment names its own)',
      () => fresh({ aud: defaultAudience(c.ledger.chainId, c.registry) }), 403, 'wrong-audience', partials);
    await refusedEverywhere('a wrong issuer', () => fresh({ iss: 'https://issuer.example' }), 403, 'wrong-issuer', partials);
    await refusedEverywhere('a wrong image digest',
      () => fresh({ submods: { container: { image_digest: `sha256:${sha256Hex('another image').slice(2)}` } } }), 403, 'wrong-image-digest', partials);
    await refusedEverywhere('a wrong launch policy', () => fresh({ launch_policy: '0x01' }), 403, 'wrong-launch-policy', partials);
    await refusedEverywhere('a token signed by a key outside the JWKS', () => fresh({}, rogueKey), 403, 'attestation-bad-signature', partials);
    await refusedEverywhere('jwt for an app that enabled only ecdsa', () => {
      const r = newRequester();
      return jwtKeyRequest(app.id, r, token(app.id, r), version);
    }, 403, 'method-not-enabled', partials);

    for (const [i, req] of reqs.entries()) {
      const x = await post(i, '/app/sign', req);
      assert.equal(x.status, 200);
      assert.deepEqual(openReleaseAnswer(requesters[i]!, req, x.json.sealed as string).partial, answers[i]!.partial);
    }
  });

  // -------------------------------------------------------------------------------------------
  // 3. Across a reshare

  it('after a reshare (a new version active on every node): the same app key and mnemonic, from partials of the new version', async () => {
    assert.equal((await c.ledger.activeVersion())?.id, firstVersion, 'no reshare ran before this test');
    await c.gov.setInterval(SHORT_INTERVAL);
    try {
      await c.waitForVersion(firstVersion + 1, { timeoutMs: 120_000 });
    } finally {
      await c.gov.setInterval(LONG_INTERVAL);
    }
    // A session opened at a short boundary while the version was being waited for must be
    // over too: then nothing changes any more, and every node serves the final version.
    await c.waitForPhase(await c.ledger.latestSessionId(), 'closed', { timeoutMs: 60_000 });
    const next: VersionRecord = await c.waitForVersion(firstVersion + 1);
    assert.ok(next.id > firstVersion);
    assert.equal((await c.ledger.getSession(next.id))?.snapshot.kind, 'reshare');
    const [key, mnemonic] = await Promise.all([
      cli(['app-key', '--app-id', app.id, '--owner-key', app.ownerKey, '--json']),
      cli(['mnemonic', '--app-id', app.id, '--owner-key', app.ownerKey]),
    ]);
    const j = json<AppKeyJson>(ok(key));
    assert.equal(j.version, next.id, 'combined from the new version');
    assert.equal(j.appKey, appKey, 'the same app key as before the reshare');
    assert.ok(verifyAppKey(mpkPoint, app.id, parseHex(j.appKey, 48, 'appKey')));
    const poly = await polyOf(next.id);
    for (const p of j.partials) {
      assert.equal(p.valid, true);
      assert.ok(partialOk(poly, p.operator, app.id, parseHex(p.partial, 48, 'partial')), `${p.operator}'s new partial verifies against the new version's PK_j`);
      const old = firstPartials.find((q) => q.operator === p.operator);
      assert.ok(old);
      assert.notEqual(p.partial, old.partial, `${p.operator}: a new share gives a new partial`);
    }
    assertCombines(j.partials.map((p) => ({ operator: p.operator, partial: parseHex(p.partial, 48, 'partial') })), app.id, appKey);
    assert.equal(ok(mnemonic).stdout.toString().trimEnd(), words, 'the same mnemonic');
  });
});
