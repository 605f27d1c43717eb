// Issue 16, item 4 on a real cluster (test/cluster/harness.ts: anvil, the registry, 4
// kms-server processes, t = 3, SQLite stores and receipt logs): every answered key release is
// a signed receipt in the answering operator's log, each confirmation commits the log's head
// on-chain, and `kms-client receipts --json` (the real launcher) lists exactly the releases
// that happened, verified against those heads. Then one node's log is truncated on disk (a
// release hidden) and another's rewritten (an entry changed and re-hashed) while they run:
// both are reported `consistent: false` with a reason, and the command exits 1.
//
// Timing: a reshare every 20 s (windows 5/5/5), so that heads are committed within ~20 s of
// the releases; releases go straight to one node at a time (no version needs to agree across
// nodes), so a version switching meanwhile changes nothing this file checks.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { toHex } from '../../src/crypto/domain.ts';
import { requestHash, type KeyReleaseRequestFields, type KeyReleaseRoute } from '../../src/crypto/key-release.ts';
import { decodeReceipt, encodeReceipt, entryHash } from '../../src/crypto/receipt.ts';
import type { KeyReleaseRequest } from '../../src/node/http/schemas.ts';
import type { Address, Hex, Release } from '../../src/protocol/ledger.ts';
import { ecdsaKeyRequest, newRequester } from '../node/release-fixtures.ts';
import { startCluster, type Cluster } from './harness.ts';

const CLIENT = fileURLToPath(new URL('../../bin/kms-client.mjs', import.meta.url));
const OWNER_ACCOUNT = 10;

interface Run { readonly code: number | null; readonly stdout: string; readonly stderr: string }
interface ReceiptsJson {
  readonly ok: boolean;
  readonly receipts: readonly { operator: Address; requestHash: Hex; method: string; version: number; epoch: number; route: string; verified: boolean; committed: boolean }[];
  readonly operators: readonly { address: Address; consistent: boolean; reason?: string; entries: number; committed: number }[];
}

describe('cluster receipts: the receipt logs list exactly the releases, checked against the heads committed on-chain; tampering is detected', { timeout: 240_000 }, () => {
  let c: Cluster;
  let work = '';
  let owner: PrivateKeyAccount;
  let appId: Hex;
  /** Every release answered: (node index, request hash, route). */
  const released: { node: number; requestHash: Hex; route: KeyReleaseRoute }[] = [];

  const cli = (args: readonly string[]): Promise<Run> => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KMS_') && k !== 'NODE_TEST_CONTEXT'));
    const all = [...args, '--rpc', c.rpcUrl, '--registry', c.registry, '--timeout', '30000'];
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLIENT, ...all], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
      child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  };

  const release = async (node: number, route: KeyReleaseRoute): Promise<void> => {
    const req: KeyReleaseRequest = await ecdsaKeyRequest({
      chainId: BigInt(c.anvil.chainId), registry: c.registry, signer: owner, route, appId, requester: newRequester(), time: Math.floor(Date.now() / 1000),
    });
    const res = await fetch(`${c.nodes[node]!.url}${route}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req), signal: AbortSignal.timeout(20_000),
    });
    assert.equal(res.status, 200, `node ${node} ${route}: ${await res.clone().text()}`);
    released.push({ node, requestHash: toHex(requestHash(req as KeyReleaseRequestFields)), route });
  };

  /** GET /receipts head of node i. */
  const logHead = async (i: number): Promise<{ count: number; head: Hex }> => {
    const res = await fetch(`${c.nodes[i]!.url}/receipts?limit=1`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    return (await res.json()) as { count: number; head: Hex };
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'kms-receipts-'));
    c = await startCluster({ n: 4, interval: 20, windows: { deal: 5, ack: 5, confirm: 5 }, name: 'receipts', tickMs: 500, sigType: 'ecdsa' });
    await c.armGenesis();
    await c.waitForVersion(1);
    const key = c.anvil.accounts[OWNER_ACCOUNT] as Hex;
    owner = privateKeyToAccount(key);
    const w = c.ledger.writer(owner.address.toLowerCase() as Address);
    appId = (await w.createApp(toHex(randomBytes(32)), ['ecdsa'])).toLowerCase() as Hex;
    const rel: Release = { imageDigest: toHex(randomBytes(32)), launchPolicy: '0x01', encryptedEnv: toHex(randomBytes(64)), publicEnv: 'A=1\n' };
    await w.publishRelease(appId, rel);
  });

  after(async () => {
    await c?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('kms-client receipts --json lists exactly the releases that happened, every log consistent with its on-chain head', async () => {
    // Node 0: two; node 1: one of each route; node 2: one; node 3: none.
    await release(0, '/app/sign');
    await release(0, '/secrets');
    await release(1, '/app/sign');
    await release(1, '/secrets');
    await release(2, '/app/sign');
    // Each node's next confirmation commits its head: wait until every head on-chain is the served one.
    await c.waitFor('every node to commit its receipt-log head', async () => {
      for (let i = 0; i < 4; i++) {
        const served = await logHead(i);
        const onChain = await c.ledger.getReceiptHead(c.nodes[i]!.address);
        if (onChain !== served.head) return undefined;
      }
      return true;
    }, { timeoutMs: 90_000 });

    const run = await cli(['receipts', '--app-id', appId, '--json']);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const j = JSON.parse(run.stdout) as ReceiptsJson;
    assert.equal(j.ok, true);
    const got = j.receipts.map((r) => `${r.operator} ${r.requestHash} ${r.route}`).sort();
    const want = released.map((r) => `${c.nodes[r.node]!.address} ${r.requestHash} ${r.route}`).sort();
    assert.deepEqual(got, want, 'exactly the releases that happened, each at the operator that answered it');
    for (const r of j.receipts) {
      assert.deepEqual([r.verified, r.committed, r.method, r.epoch], [true, true, 'ecdsa', 0]);
      assert.ok(r.version >= 1, 'a key version');
    }
    assert.deepEqual(j.operators.map((o) => [o.address, o.consistent, o.entries, o.committed]),
      c.nodes.map((n, i) => [n.address, true, [2, 2, 1, 0][i], [2, 2, 1, 0][i]]));
  });

  it('a truncated log and a rewritten log are each reported inconsistent, and the command exits 1', async () => {
    // Node 1 hides its /secrets release (the last entry); node 0's file gets its first entry's
    // time rewritten and re-hashed (by someone without the signing key: its signature no longer
    // matches). Both while the nodes run: they serve what their file holds.
    const tamper = (i: number, sql: (db: Database.Database) => void) => {
      const db = new Database(join(c.nodes[i]!.dataDir, 'receipts.sqlite'), { timeout: 10_000 });
      try {
        db.exec('DROP TRIGGER receipts_append_only_update; DROP TRIGGER receipts_append_only_delete;');
        sql(db);
      } finally {
        db.close();
      }
    };
    tamper(1, (db) => db.prepare('DELETE FROM receipts WHERE position = 1').run());
    tamper(0, (db) => {
      const row = db.prepare('SELECT receipt FROM receipts WHERE position = 0').get() as { receipt: Buffer };
      const r = decodeReceipt(new Uint8Array(row.receipt));
      const forged = encodeReceipt({ ...r, time: r.time - 3600 });
      db.prepare('UPDATE receipts SET receipt = ?, hash = ? WHERE position = 0').run(Buffer.from(forged), Buffer.from(entryHash(forged).slice(2), 'hex'));
    });

    const run = await cli(['receipts', '--app-id', appId, '--json']);
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    const j = JSON.parse(run.stdout) as ReceiptsJson;
    assert.equal(j.ok, false);
    const by = new Map(j.operators.map((o) => [o.address, o]));
    const [n0, n1, n2, n3] = c.nodes.map((n) => by.get(n.address));
    assert.equal(n0?.consistent, false);
    assert.match(n0?.reason ?? '', /entry 0 has no valid signature of the operator's registered signing key/);
    assert.equal(n1?.consistent, false);
    assert.match(n1?.reason ?? '', /\(1 entries\) does not contain the head .* committed on-chain/);
    assert.deepEqual([n2?.consistent, n3?.consistent], [true, true]);
    assert.deepEqual(j.receipts.map((r) => r.operator), [c.nodes[2]!.address], 'only verified logs are listed');
    assert.match(run.stderr, /2 operators served a receipt log that could not be verified/);
  });
});
