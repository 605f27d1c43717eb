// kms-server's two listeners (issue 12): the public API on --host/--port and the operations
// listener (/healthz, /status, /metrics) on --ops-host/--ops-port, loopback unless the operator
// consents with --ops-public. Against a real anvil and a freshly deployed registry (the
// operator is not registered: the node starts and waits, which is all a listener needs).
//
// Bad usage runs in-process through main() (no chain needed: it is refused before anything is
// read or created); the starts run in-process too, except those that prove the KMS_OPS_*
// environment variables, which run the real launcher as an operator would (tsx start-up costs
// a few seconds of CPU each, so there are two).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { privateKeyToAccount } from 'viem/accounts';
import { main } from '../../src/cli/kms-server.ts';
import type { CliIo } from '../../src/cli/common.ts';
import { toHex } from '../../src/crypto/domain.ts';
import { generateOperatorSecretKey } from '../../src/crypto/operator-sig.ts';
import { OPS_RATE_LIMIT, startNode, StartupError, type RunningNode } from '../../src/node/node.ts';
import type { Address, Hex } from '../../src/protocol/ledger.ts';
import { deployLedger, HARNESS_CONFIG, sharedChain } from '../chain/anvil-harness.ts';

const BIN = fileURLToPath(new URL('../../bin/kms-server.mjs', import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const lines = (text: string): string[] => text.split('\n').filter((l) => l.length > 0);
const show = (r: Run): string => `exit ${r.code}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr}`;

/** A loopback port that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0));
    });
  });
}

/** Holds a loopback port until closed. */
function holdPort(): Promise<{ port: number; server: Server }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve({ port: typeof addr === 'object' && addr !== null ? addr.port : 0, server });
    });
  });
}

async function get(url: string): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** The `{error:{code,message}}` body of a refusal. */
function errorCode(text: string): string {
  const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
  assert.equal(typeof body.error?.message, 'string', text);
  return String(body.error?.code);
}

describe('kms-server: the operations listener (issue 12)', { timeout: 180_000 }, () => {
  let rpc = '';
  let registry = '';
  let operatorKey: Hex;
  let operator = '';
  const sigKey = toHex(generateOperatorSecretKey('bn254')) as Hex;
  const storeKey = toHex(generateOperatorSecretKey('ecdsa')) as Hex; // any 32 random bytes
  let workDir = '';
  let dirs = 0;
  const dataDir = () => join(workDir, `data${++dirs}`);

  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'kms-server-test-'));
    const chain = await sharedChain(4);
    const ledger = await deployLedger(chain, HARNESS_CONFIG);
    rpc = chain.anvil.rpcUrl;
    registry = ledger.registry;
    operatorKey = chain.anvil.accounts[1] as Hex;
    operator = privateKeyToAccount(operatorKey).address.toLowerCase();
  });
  after(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  /** Everything a start needs but the listeners; `dir` is the data directory. */
  const base = (dir: string): string[] => [
    '--rpc', rpc, '--registry', registry, '--operator-key', operatorKey, '--sig-key', sigKey, '--store-key', storeKey,
    '--data-dir', dir, '--log-level', 'error',
  ];

  /** main() in-process; `onStarted` gets the running node (and must not stop it: this does). */
  async function inProcess(args: readonly string[], onStarted?: (node: RunningNode) => Promise<void>, env: Record<string, string> = {}): Promise<Run> {
    let stdout = '';
    let stderr = '';
    const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env, cwd: workDir };
    let failure: unknown = null;
    const code = await main(args, io, {
      onStarted: async (node) => {
        try {
          if (onStarted) await onStarted(node);
        } catch (e) {
          failure = e;
        } finally {
          await node.stop();
        }
      },
    });
    if (failure !== null) throw failure;
    return { code, stdout, stderr };
  }

  /**
   * The real launcher, configured only through the environment. Resolves with the parsed
   * "kms-server started" line (then SIGTERMs it and waits for the exit), or with the exit.
   */
  async function launcher(env: Record<string, string>, whileRunning?: (started: Record<string, unknown>, run: () => Run) => Promise<void>): Promise<Run & { started: Record<string, unknown> | null }> {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KMS_') && k !== 'NODE_TEST_CONTEXT'));
    const child = spawn(process.execPath, [BIN], {
      env: {
        ...clean, KMS_RPC_URL: rpc, KMS_REGISTRY: registry, KMS_OPERATOR_KEY: operatorKey, KMS_OPERATOR_SIG_KEY: sigKey,
        KMS_STORE_KEY: storeKey, KMS_DATA_DIR: dataDir(), KMS_PORT: String(await freePort()), KMS_LOG_LEVEL: 'info', ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const started = new Promise<Record<string, unknown> | null>((resolve) => {
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
        const line = lines(stdout).find((l) => l.includes('"msg":"kms-server started"'));
        if (line !== undefined) resolve(JSON.parse(line) as Record<string, unknown>);
      });
      void exited.then(() => resolve(null));
    });
    child.stderr.on('data', (c: Buffer) => void (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    try {
      const line = await started;
      if (line !== null) {
        try {
          await whileRunning?.(line, () => ({ code: null, stdout, stderr }));
        } finally {
          child.kill('SIGTERM');
        }
      }
      const code = await exited;
      return { code, stdout, stderr, started: line };
    } finally {
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }

  test('bad --ops-* usage exits 2 with one line naming the flag, before anything is read or created', async () => {
    const dir = dataDir();
    const cases: ReadonlyArray<{ args: string[]; env?: Record<string, string>; line: RegExp }> = [
      { args: ['--ops-host', '0.0.0.0'], line: /^error: --ops-host "0\.0\.0\.0" is not a loopback address, and the operations listener \(\/status, \/metrics\) has no authentication: add --ops-public \(or KMS_OPS_PUBLIC=1\) to expose it on purpose, or listen on 127\.0\.0\.1$/ },
      { args: ['--ops-host', '::'], line: /^error: --ops-host "::" is not a loopback address/ },
      { args: ['--ops-host', '10.1.2.3'], line: /^error: --ops-host "10\.1\.2\.3" is not a loopback address/ },
      { args: ['--ops-host', '::ffff:10.1.2.3'], line: /^error: --ops-host "::ffff:10\.1\.2\.3" is not a loopback address/ },
      { args: ['--ops-host', 'ops.example.com'], line: /^error: --ops-host "ops\.example\.com" is not a loopback address/ },
      { args: ['--ops-host', 'localhost.example.com'], line: /^error: --ops-host "localhost\.example\.com" is not a loopback address/ },
      // An explicit 0 is not consent.
      { args: ['--ops-host', '0.0.0.0'], env: { KMS_OPS_PUBLIC: '0' }, line: /^error: --ops-host "0\.0\.0\.0" is not a loopback address/ },
      { args: ['--ops-host', '0.0.0.0'], env: { KMS_OPS_PUBLIC: 'yes please' }, line: /^error: KMS_OPS_PUBLIC: expected 1 or 0 \(true or false\), got "yes please"$/ },
      { args: ['--ops-host', ' '], line: /^error: --ops-host: expected an address to listen on, e\.g\. 127\.0\.0\.1$/ },
      { args: ['--ops-port', '70000'], line: /^error: --ops-port: expected a port from 0 to 65535 \(0: any free port\) or off, got "70000"$/ },
      { args: ['--ops-port', 'abc'], line: /^error: --ops-port: expected a port from 0 to 65535 \(0: any free port\) or off, got "abc"$/ },
      { args: ['--ops-port', '-1'], line: /^error: --ops-port: expected a port from 0 to 65535/ },
      { args: ['--ops-port', '1.5'], line: /^error: --ops-port: expected a port from 0 to 65535/ },
      { args: ['--ops-port', ''], line: /^error: --ops-port: expected a port from 0 to 65535/ },
      { args: ['--port', '9999', '--ops-port', '9999'], line: /^error: --ops-port 9999 is also the public API's port \(--port\): give the operations listener a port of its own$/ },
      { args: ['--host', '0.0.0.0', '--port', '9999', '--ops-port', '9999'], line: /^error: --ops-port 9999 is also the public API's port/ },
    ];
    for (const c of cases) {
      const r = await inProcess([...base(dir), ...c.args], () => assert.fail(`started with ${c.args.join(' ')}`), c.env);
      assert.equal(r.code, 2, `${c.args.join(' ')}: ${show(r)}`);
      assert.equal(lines(r.stderr).length, 1, show(r));
      assert.match(lines(r.stderr)[0] ?? '', c.line);
      assert.equal(r.stdout, '');
    }
    assert.equal(existsSync(dir), false, 'a refused start created the data directory');
  });

  test('a non-loopback ops host without consent is refused by startNode itself, before it touches the chain', async () => {
    const log = pino({ level: 'silent' });
    const cfg = {
      operatorKey, sigKeyType: 'bn254' as const, sigKey, rpcUrl: 'http://127.0.0.1:1', finality: null, registry: registry as Address,
      host: '127.0.0.1', port: 0, dataDir: dataDir(), storageKey: new Uint8Array(32).fill(7), consentThreshold: null,
    };
    for (const host of ['0.0.0.0', '192.0.2.1', '::', 'example.com']) {
      await assert.rejects(startNode({ ...cfg, ops: { host, port: 0, public: false } }, log), (e: unknown) => {
        assert.ok(e instanceof StartupError, String(e));
        assert.match(e.message, new RegExp(`^the operations listener's host ${host.replace(/\./g, '\\.')} is not a loopback address: /status and /metrics have no authentication`));
        return true;
      });
    }
    assert.equal(existsSync(cfg.dataDir), false);
  });

  test('flags: /status and /metrics answer on --ops-host/--ops-port and are 404 on the public listener; the ops listener rate-limits', async () => {
    const [port, opsPort] = [await freePort(), await freePort()];
    const r = await inProcess([...base(dataDir()), '--port', String(port), '--ops-host', 'localhost', '--ops-port', String(opsPort)], async (node) => {
      assert.equal(node.url, `http://127.0.0.1:${port}`);
      assert.equal(node.opsUrl, `http://127.0.0.1:${opsPort}`);
      const ops = node.opsUrl;
      const status = await get(`${ops}/status`);
      assert.equal(status.status, 200, status.text);
      assert.equal((JSON.parse(status.text) as { operator: string }).operator, operator);
      const metrics = await get(`${ops}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.text, /^# TYPE kms_http_requests_total counter$/m);
      assert.equal((await get(`${ops}/healthz`)).status, 200);
      for (const path of ['/status', '/metrics']) {
        const res = await get(`${node.url}${path}`);
        assert.equal(res.status, 404, `public ${path}: ${res.text}`);
        assert.equal(errorCode(res.text), 'not-found');
      }
      assert.equal(errorCode((await get(`${ops}/pubkey`)).text), 'not-found', '/pubkey is not on the ops listener');
      assert.equal((await get(`${node.url}/healthz`)).status, 200);
      assert.equal(errorCode((await get(`${node.url}/pubkey`)).text), 'not-ready');

      // The ops listener's own limit, wired by the node: a burst beyond it from one client
      // meets 429 with the JSON error, /healthz included (bounded: the refill is 10/s, so
      // 20 requests in flight at a time reach it long before the bound).
      let refused: { status: number; text: string; headers: Headers } | null = null;
      let sent = 0;
      while (refused === null && sent < 2_000) {
        const batch = await Promise.all(Array.from({ length: 20 }, (_, k) => get(`${ops}${k % 2 === 0 ? '/healthz' : '/status'}`)));
        sent += batch.length;
        refused = batch.find((b) => b.status === 429) ?? null;
      }
      assert.ok(refused, `no 429 after ${sent} requests`);
      assert.ok(sent > OPS_RATE_LIMIT.burst - 10, `refused after only ${sent} requests`);
      assert.equal(errorCode(refused.text), 'rate-limited');
      assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
      // The probe too: a burst of probes alone meets 429 (a burst, because on a loaded machine
      // the bucket may have refilled a token or two since the batch above).
      const probes = await Promise.all(Array.from({ length: 50 }, () => get(`${ops}/healthz`)));
      assert.ok(probes.some((p) => p.status === 429), 'the ops probe is rate-limited too');
      // The public listener has its own buckets.
      assert.equal((await get(`${node.url}/healthz`)).status, 200);
      assert.equal(errorCode((await get(`${node.url}/pubkey`)).text), 'not-ready');
      const text = (await get(`${node.url}/metrics`)).text;
      assert.equal(errorCode(text), 'not-found');
    });
    assert.equal(r.code, 0, show(r));
  });

  test('--ops-port off: no operations listener, and still no /status or /metrics on the public one', async () => {
    const r = await inProcess([...base(dataDir()), '--port', '0', '--ops-port', 'off'], async (node) => {
      assert.equal(node.opsUrl, null);
      assert.equal((await get(`${node.url}/status`)).status, 404);
      assert.equal((await get(`${node.url}/metrics`)).status, 404);
      assert.equal((await get(`${node.url}/healthz`)).status, 200);
    });
    assert.equal(r.code, 0, show(r));
  });

  test('an ops port that is taken: exit 1, one line naming the listener; the public port and the store are released', async () => {
    const held = await holdPort();
    const port = await freePort();
    const dir = dataDir();
    try {
      const r = await inProcess([...base(dir), '--port', String(port), '--ops-port', String(held.port)], () => assert.fail('started'));
      assert.equal(r.code, 1, show(r));
      assert.deepEqual(lines(r.stderr), [`error: refusing to start: cannot listen on 127.0.0.1:${held.port} for the operations listener: the port is already in use (by another process, or by the other listener)`]);
    } finally {
      held.server.close();
    }
    // Both the public port and the store are free again: the same node now starts on them.
    const again = await inProcess([...base(dir), '--port', String(port), '--ops-port', '0'], async (node) => {
      assert.equal(node.url, `http://127.0.0.1:${port}`);
    });
    assert.equal(again.code, 0, show(again));
  });

  test('environment: KMS_OPS_HOST without KMS_OPS_PUBLIC exits 2 naming the variable; with KMS_OPS_PUBLIC=1 it listens there and warns', async () => {
    const refused = await launcher({ KMS_OPS_HOST: '0.0.0.0', KMS_OPS_PORT: String(await freePort()) });
    assert.equal(refused.started, null);
    assert.equal(refused.code, 2, show(refused));
    assert.deepEqual(lines(refused.stderr), ['error: KMS_OPS_HOST "0.0.0.0" is not a loopback address, and the operations listener (/status, /metrics) has no authentication: add --ops-public (or KMS_OPS_PUBLIC=1) to expose it on purpose, or listen on 127.0.0.1']);

    const opsPort = await freePort();
    const exposed = await launcher({ KMS_OPS_HOST: '0.0.0.0', KMS_OPS_PORT: String(opsPort), KMS_OPS_PUBLIC: '1' }, async (started, run) => {
      // Both URLs in the start-up line.
      assert.match(String(started.url), /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(started.opsUrl, `http://127.0.0.1:${opsPort}`);
      const warning = lines(run().stdout).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 40 && /operations listener/.test(String(l.msg)));
      assert.match(String(warning?.msg), /reachable from other machines \(--ops-public\): it has no authentication/);
      const status = await get(`http://127.0.0.1:${opsPort}/status`);
      assert.equal(status.status, 200, status.text);
      assert.equal((JSON.parse(status.text) as { operator: string }).operator, operator);
      assert.equal((await get(`${String(started.url)}/status`)).status, 404);
    });
    assert.ok(exposed.started, show(exposed));
    assert.equal(exposed.code, 0, show(exposed));
  });
});
