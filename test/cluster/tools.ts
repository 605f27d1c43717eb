/**
 * @module
 * Helpers for the operator-tool tests on a real cluster (doctor, backup/restore drills): run
 * `kms-server <tool>` as a child process with a node's own environment, and ask the nodes for
 * attested partial signatures over real HTTP (the ecdsa attestation method: the app owner's
 * EIP-712 signature), checking each one against the chain.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { toHex } from '../../src/crypto/domain.ts';
import { appIdentity } from '../../src/crypto/key-release.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { combinePartials, verifyAppKey, verifyPartial } from '../../src/crypto/threshold.ts';
import { publicShare } from '../../src/crypto/vss.ts';
import { bls } from '../../src/crypto/bls12381/index.ts';
import { mustHex } from '../../src/protocol/hex.ts';
import type { Address, Hex } from '../../src/protocol/ledger.ts';
import { ecdsaKeyRequest, newRequester, openReleaseAnswer } from '../node/release-fixtures.ts';
import type { Cluster } from './harness.ts';
import { publicPolyOf } from './keys.ts';

const BIN = fileURLToPath(new URL('../../bin/kms-server.mjs', import.meta.url));

export interface ToolRun {
  readonly args: readonly string[];
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export const showRun = (r: ToolRun): string => `kms-server ${r.args.join(' ')}\nexit ${r.code}\nstdout: ${r.stdout.slice(0, 4000)}\nstderr: ${r.stderr.slice(0, 2000)}`;

/** Node i's environment, exactly as the harness starts it (KMS_* only), with overrides. */
export function nodeEnv(c: Cluster, i: number, over: Readonly<Record<string, string>> = {}): Record<string, string> {
  const n = c.nodes[i]!;
  return {
    KMS_OPERATOR_KEY: n.operatorKey, KMS_OPERATOR_SIG_KEY: n.sigKey, KMS_STORE_KEY: n.storeKey, KMS_SIG_TYPE: 'bn254',
    KMS_RPC_URL: c.rpcUrl, KMS_REGISTRY: c.registry, KMS_HOST: '127.0.0.1', KMS_PORT: String(n.port),
    KMS_OPS_HOST: '127.0.0.1', KMS_OPS_PORT: String(n.opsPort), KMS_DATA_DIR: n.dataDir, ...over,
  };
}

/** Runs `kms-server ...args` with `env` (no KMS_* variable of the test process leaks in). */
export function runTool(args: readonly string[], env: Readonly<Record<string, string>>): Promise<ToolRun> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KMS_') && k !== 'NODE_TEST_CONTEXT'));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ args, code, stdout, stderr }));
  });
}

/** An app whose owner enabled the ecdsa attestation method. */
export interface EcdsaApp {
  readonly id: Hex;
  readonly owner: PrivateKeyAccount;
}

export async function createEcdsaApp(c: Cluster, ownerAccount: number): Promise<EcdsaApp> {
  const owner = privateKeyToAccount(c.anvil.accounts[ownerAccount] as Hex);
  const id = (await c.ledger.writer(owner.address.toLowerCase() as Address).createApp(toHex(randomBytes(32)), ['ecdsa'])).toLowerCase() as Hex;
  return { id, owner };
}

export interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** The opened partial (200 only). */
  readonly partial: Uint8Array | null;
  readonly version: number | null;
}

/** POST /app/sign to node i for `app`, attested by its owner; opens the answer when 200. */
export async function askPartial(c: Cluster, i: number, app: EcdsaApp, version?: number): Promise<Answer> {
  const r = newRequester();
  const req = await ecdsaKeyRequest({ chainId: c.ledger.chainId, registry: c.registry, signer: app.owner, appId: app.id, requester: r, time: Math.floor(Date.now() / 1000), ...(version !== undefined ? { version } : {}) });
  const res = await fetch(`${c.nodes[i]!.url}/app/sign`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req), signal: AbortSignal.timeout(20_000) });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) return { status: res.status, body, partial: null, version: null };
  const a = openReleaseAnswer(r, req, body.sealed as string);
  return { status: 200, body, partial: a.partial, version: a.version };
}

/**
 * The nodes' partials for `app` at the chain's active version: each verified against its
 * public share from the on-chain polynomial (e(σ_j, G2) = e(Q(id), PK_j)); returns the app key
 * they combine to, after checking it against the pinned MPK.
 */
export async function combineFrom(c: Cluster, nodes: readonly number[], app: EcdsaApp): Promise<{ key: Hex; version: number }> {
  const active = await c.ledger.activeVersion();
  if (active === null) throw new Error('no active version');
  const poly = publicPolyOf(active);
  const items: { x: bigint; partial: Uint8Array }[] = [];
  for (const i of nodes) {
    const a = await askPartial(c, i, app, active.id);
    if (a.status !== 200 || a.partial === null) throw new Error(`node ${i} refused: ${a.status} ${JSON.stringify(a.body)}`);
    if (a.version !== active.id) throw new Error(`node ${i} answered version ${a.version}, not ${active.id}`);
    const x = operatorX(c.nodes[i]!.address);
    if (!verifyPartial(publicShare(poly, x), appIdentity(app.id), a.partial)) throw new Error(`node ${i}'s partial does not verify against its public share of version ${active.id}`);
    items.push({ x, partial: a.partial });
  }
  const key = combinePartials(items);
  const mpk = await c.ledger.getMpk();
  if (mpk === null || !verifyAppKey(bls.g2.decode(mustHex(mpk, 'mpk')), appIdentity(app.id), key)) throw new Error('the combined key does not verify against the MPK');
  return { key: toHex(key), version: active.id };
}
