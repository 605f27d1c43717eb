// Issue 15 item 1: `kms-server doctor` against a real cluster (test/cluster/harness.ts: anvil,
// the registry, 3 kms-server processes). On a healthy running node it passes (exit 0, the JSON
// report's shape, the key-store checks answered by the running node, which holds the store);
// then things that are cheap to break are broken one at a time, and the matching check fails
// with exit 1: the node's HTTP API stopped, a wrong storage key, a wrong RPC URL, an RPC of
// another chain (an unprofiled chain id, no registry there). Bad flags exit 2. The doctor never
// writes (the store file is byte-identical after it ran) and never prints a secret.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { startAnvil, type AnvilInstance } from '../../src/chain/anvil.ts';
import { DOCTOR_CHECK_IDS, type DoctorReport } from '../../src/node/doctor/report.ts';
import { startCluster, type Cluster } from './harness.ts';
import { nodeEnv, runTool, showRun, type ToolRun } from './tools.ts';

/** 100 days: genesis runs when armed; no reshare interleaves with the checks. */
const INTERVAL = 100 * 86_400;
const WINDOWS = { deal: 8, ack: 6, confirm: 6 } as const;

describe('kms-server doctor on a real cluster', { timeout: 300_000 }, () => {
  let c: Cluster;
  let other: AnvilInstance | null = null;

  before(async () => {
    c = await startCluster({ n: 3, interval: INTERVAL, windows: WINDOWS, tickMs: 500, name: 'doctor' });
    await c.armGenesis();
    await c.waitForVersion(1, { timeoutMs: 120_000 });
  });

  after(async () => {
    await other?.stop();
    await c?.stop();
  });

  const doctor = async (over: Readonly<Record<string, string>> = {}, args: readonly string[] = ['--json']): Promise<ToolRun> => {
    const r = await runTool(['doctor', ...args], nodeEnv(c, 0, over));
    const n = c.nodes[0]!;
    for (const secret of [n.operatorKey, n.sigKey, n.storeKey, ...Object.values(over).filter((v) => /^0x[0-9a-f]{64}$/.test(v))]) {
      assert.ok(!r.stdout.includes(secret.slice(2)) && !r.stderr.includes(secret.slice(2)), `no secret in the doctor's output\n${showRun(r)}`);
    }
    return r;
  };
  const report = (r: ToolRun): DoctorReport => JSON.parse(r.stdout) as DoctorReport;
  const check = (rep: DoctorReport, id: string) => {
    const found = rep.checks.find((x) => x.id === id);
    assert.ok(found, `check ${id} is reported`);
    return found;
  };
  const storeFiles = (): string => {
    const dir = c.nodes[0]!.dataDir;
    return JSON.stringify(readdirSync(dir).sort().map((f) => [f, createHash('sha256').update(readFileSync(`${dir}/${f}`)).digest('hex')]));
  };

  it('passes on a healthy running node: exit 0, one entry per check in order, the store checked by the node that holds it', async () => {
    const r = await doctor();
    assert.equal(r.code, 0, showRun(r));
    const rep = report(r);
    assert.deepEqual(Object.keys(rep).sort(), ['checkedAt', 'checks', 'ok', 'operator']);
    assert.equal(rep.ok, true);
    assert.equal(rep.operator, c.nodes[0]!.address);
    assert.deepEqual(rep.checks.map((x) => x.id), [...DOCTOR_CHECK_IDS]);
    for (const x of rep.checks) {
      assert.deepEqual(Object.keys(x).sort(), ['fix', 'id', 'message', 'status']);
      assert.ok(['pass', 'warn'].includes(x.status), `${x.id}: ${x.status} ${x.message}`);
      assert.equal(x.fix === null, x.status === 'pass', `${x.id}: a fix exactly when it did not pass`);
    }
    for (const id of ['rpc', 'registry', 'operator', 'signing-key', 'session-key', 'store', 'share', 'balance', 'api', 'socket', 'clock', 'disk']) {
      assert.equal(check(rep, id).status, 'pass', `${id}: ${check(rep, id).message}`);
    }
    assert.match(check(rep, 'store').message, /checked by the running node/);
    assert.match(check(rep, 'share').message, /holds version 1 .*s·G2 equals/);
    const human = await doctor({}, []);
    assert.equal(human.code, 0, showRun(human));
    assert.match(human.stdout, /PASS {2}share/);
  });

  it('the node stopped: the api check fails (exit 1); the store is checked read-only and left byte-identical', async () => {
    await c.stopNodes([0]);
    const before = storeFiles();
    const r = await doctor();
    assert.equal(r.code, 1, showRun(r));
    const rep = report(r);
    assert.equal(rep.ok, false);
    assert.equal(check(rep, 'api').status, 'fail');
    assert.match(check(rep, 'api').fix ?? '', /start the node/);
    assert.equal(check(rep, 'store').status, 'pass', check(rep, 'store').message);
    assert.equal(check(rep, 'share').status, 'pass', check(rep, 'share').message);
    assert.equal(check(rep, 'socket').status, 'fail', 'the registered socket is this stopped node');
    assert.deepEqual(rep.checks.filter((x) => x.status === 'fail').map((x) => x.id).sort(), ['api', 'socket']);
    assert.equal(storeFiles(), before, 'the doctor wrote nothing in the data directory');
  });

  it('a wrong storage key: the store check fails (exit 1)', async () => {
    const r = await doctor({ KMS_STORE_KEY: `0x${randomBytes(32).toString('hex')}` });
    assert.equal(r.code, 1, showRun(r));
    const store = check(report(r), 'store');
    assert.equal(store.status, 'fail');
    assert.match(store.message, /storage key does not open/);
  });

  it('a wrong RPC URL: the rpc check fails (exit 1)', async () => {
    const r = await doctor({ KMS_RPC_URL: 'http://127.0.0.1:9' });
    assert.equal(r.code, 1, showRun(r));
    const rep = report(r);
    assert.equal(check(rep, 'rpc').status, 'fail');
    assert.match(check(rep, 'rpc').fix ?? '', /--rpc/);
  });

  it('an RPC of another chain (chain id without a profile, no registry there): rpc and registry fail (exit 1)', async () => {
    other = await startAnvil({ chainId: 999 });
    const r = await doctor({ KMS_RPC_URL: other.rpcUrl });
    assert.equal(r.code, 1, showRun(r));
    const rep = report(r);
    assert.equal(check(rep, 'rpc').status, 'fail');
    assert.match(check(rep, 'rpc').message, /chain id 999.*no built-in profile/);
    assert.equal(check(rep, 'registry').status, 'fail');
  });

  it('bad flags exit 2', async () => {
    const r = await doctor({ KMS_RPC_QUORUM: '0' });
    assert.equal(r.code, 2, showRun(r));
  });
});
