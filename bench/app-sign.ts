/**
 * @module
 * `/app/sign` and `/secrets` on one node under load (issue 7, item 4), and where one request's
 * time goes.
 *
 * Load: the API (`buildApi` + the real `createAppRelease` handler, MemoryLedger +
 * MemoryKeyStore world of `./release-world.ts`, logging at `info` into a sink) runs in a child
 * process pinned to core 0 (`taskset -c 0` when available; this process then pins itself to
 * core 1) and listens on 127.0.0.1. Before timing, this process pre-generates every request:
 * a fresh X25519 response key, a fresh nonce and the app owner's EIP-712 signature each, so
 * all are distinct and validly attested and the replay cache serves none (checked after each
 * run: the server's partial-sign count grows by exactly the number of 200s). autocannon
 * (keep-alive, `KMS_BENCH_CONNECTIONS` connections, default 8, no pipelining) sends them, a
 * fixed count per run (`KMS_BENCH_REQUESTS`, default 2000, after 200 warm-up requests), for
 * each route and each operator key type (ecdsa, bn254), and each release-receipt mode (issue 16:
 * `off`, the baseline without receipts, and the SQLite log's `group`, `full`, `normal`; one
 * server per mode and round, the modes interleaved, `KMS_BENCH_ROUNDS` rounds, default 3, the median
 * run reported, with the on/off ratio). Figures: answered requests/s (200s
 * over wall time) and latency p50/p90/p99 from autocannon's histogram. `KMS_BENCH_CPU_PROF=<dir>` starts
 * the server with `--cpu-prof` (a profile per operator key type under <dir>).
 *
 * Profile: the steps of one accepted ecdsa-attested request, in process, as `measure` medians
 * (ms/op), each as the handler does it next to the generic implementation it replaced (marked
 * "reference", timed in the same run so that the ratio survives a loaded machine): request
 * hash (hand-packed ABI vs viem), EIP-712 digest (hand-packed vs viem), owner recovery
 * (libsecp256k1 vs noble vs viem), the partial (cached per key version and app; a miss costs
 * hash-to-G1 + mul), the operator signature (ecdsa: libsecp256k1 vs noble; bn254: noble),
 * answer encoding + sealing (node X25519, HMAC-based HKDF, AES-GCM), and the whole handler
 * without HTTP (sequential, distinct requests) for both operator key types; the rest of a
 * loaded request's time is fastify, JSON, the socket write and logging.
 *
 * Everything stays on loopback; each run is bounded by its request count and a 120 s timer.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { bls } from '../src/crypto/bls12381/index.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { encodeAbiParameters, hashTypedData, recoverTypedDataAddress } from 'viem';
import { parseHex, toHex } from '../src/crypto/domain.ts';
import {
  appIdentity, encodeAnswer, keyRequestDigest, keyRequestTypedData, partialPayload, recoverKeyRequestSigner, requestHash, REQUEST_TAG, sealResponse,
  type KeyReleaseAnswer,
} from '../src/crypto/key-release.ts';
import { createOperatorSigner, type OperatorKeyType } from '../src/crypto/operator-sig.ts';
import { ecdsaBackend, ecdsaRecoverAddressFromDigest } from '../src/crypto/operator-sig-ecdsa.ts';
import { appIdPoint, partialSign } from '../src/crypto/threshold.ts';
import type { KeyReleaseContext } from '../src/node/http/app.ts';
import type { KeyReleaseRequest } from '../src/node/http/schemas.ts';
import { createAppRelease } from '../src/node/release/handler.ts';
import { encodeReceipt, partialHash, responseKeyHash, ZERO_HEAD } from '../src/crypto/receipt.ts';
import { openSqliteReceiptLog } from '../src/node/receipt-log.ts';
import { attestedRequests, CHAIN_ID, DOMAIN, REGISTRY, releaseWorld } from './release-world.ts';
import { measure, measureAsync, quantile, type BenchOptions } from './timing.ts';

// autocannon ships no types; the part used here.
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}
interface AutocannonOptions {
  url: string;
  connections: number;
  pipelining: number;
  amount: number;
  timeout: number;
  requests: Array<AutocannonRequest & { setupRequest?: (req: AutocannonRequest) => AutocannonRequest }>;
}
interface AutocannonResult {
  readonly latency: Readonly<Record<string, number>>;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly '2xx': number;
  readonly statusCodeStats?: Readonly<Record<string, { count: number }>>;
}
/** The run is a promise and an emitter: 'response' fires as each answer arrives. */
type AutocannonRun = Promise<AutocannonResult> & { on(event: 'response', f: () => void): unknown };
type Autocannon = (opts: AutocannonOptions) => AutocannonRun;

const SEED = 'load';
const KEY_TYPES: readonly OperatorKeyType[] = ['ecdsa', 'bn254'];
const ROUTES = ['/app/sign', '/secrets'] as const;
type Route = (typeof ROUTES)[number];
/**
 * The release-receipt log of the server (issue 16): `off` is the baseline (answers without
 * receipts, as before receipts existed); then the SQLite log in its durability modes
 * (`src/node/receipt-log.ts`): `background` (the node's: the entry written before the answer,
 * one WAL fdatasync off the event loop every 20 ms, only synced heads committed on-chain),
 * `group` (the answer waits for a shared fdatasync), `full` (a blocking fsync per release),
 * `normal` (no fsync). Each key type runs every mode back to back, so the ratios come from one
 * run. `KMS_BENCH_RECEIPTS=off,background` runs a subset (`off` is always included).
 */
const ALL_RECEIPT_MODES = ['off', 'background', 'group', 'full', 'normal'] as const;
type ReceiptMode = (typeof ALL_RECEIPT_MODES)[number];
const RECEIPT_MODES: readonly ReceiptMode[] = (() => {
  const v = process.env['KMS_BENCH_RECEIPTS'];
  if (v === undefined || v === '') return ALL_RECEIPT_MODES;
  const want = new Set(['off', ...v.split(',').map((x) => x.trim())]);
  for (const m of want) if (!(ALL_RECEIPT_MODES as readonly string[]).includes(m)) throw new Error(`KMS_BENCH_RECEIPTS: unknown mode ${m} (expected ${ALL_RECEIPT_MODES.join(', ')})`);
  return ALL_RECEIPT_MODES.filter((m) => want.has(m));
})();

export interface LoadResult {
  readonly route: Route;
  readonly operatorKey: OperatorKeyType;
  readonly receipts: ReceiptMode;
  readonly requests: number;
  readonly ok: number;
  readonly failed: number;
  readonly partialSigns: number;
  readonly seconds: number;
  readonly perSec: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
}

export interface ProfileRow {
  readonly step: string;
  readonly msPerOp: number;
}

function envInt(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: expected a positive integer, got ${v}`);
  return n;
}

function hasTaskset(): boolean {
  return spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
}

/** Starts the server child (pinned to core 0 when possible); resolves with its ports (public API, operations listener). */
async function startServer(keyType: OperatorKeyType, pin: boolean, receipts: ReceiptMode): Promise<{ child: ChildProcess; port: number; opsPort: number; appId: string }> {
  const script = new URL('./app-sign-server.ts', import.meta.url).pathname;
  const profDir = process.env['KMS_BENCH_CPU_PROF'];
  const node = [process.execPath, ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}/${keyType}-${receipts}`] : []), '--import', 'tsx', script, SEED, keyType, receipts];
  const [cmd, ...args] = pin ? ['taskset', '-c', '0', ...node] : node;
  const child = spawn(cmd as string, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('app-sign server did not start in 60 s')), 60_000);
    lines.once('line', (l) => {
      clearTimeout(timer);
      resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`app-sign server exited (${code})`)));
  });
  const info = JSON.parse(first) as { port: number; opsPort: number; appId: string };
  return { child, port: info.port, opsPort: info.opsPort, appId: info.appId };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** kms_partial_sign_seconds_count from the operations listener's /metrics. */
async function partialSignCount(opsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  const m = /^kms_partial_sign_seconds_count(?:\{[^}]*\})? (\d+)/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

async function load(autocannon: Autocannon, port: number, route: Route, bodies: readonly string[], connections: number): Promise<{ r: AutocannonResult; seconds: number }> {
  let i = 0;
  const run = autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    pipelining: 1,
    amount: bodies.length,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: route,
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length] as string }),
      },
    ],
  });
  const t0 = performance.now();
  // Timed to the last answer: autocannon resolves only at its next 1 s tick after the last
  // one, which rounded every run up to whole seconds (2000 requests in 3.3 s read as 4 s).
  let last = t0;
  run.on('response', () => {
    last = performance.now();
  });
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`load run on ${route} exceeded 120 s`)), 120_000);
  });
  try {
    const r = await Promise.race([run, bound]);
    return { r, seconds: (last - t0) / 1000 };
  } finally {
    clearTimeout(timer);
  }
}

async function loadSuite(n: number, connections: number, rounds: number): Promise<{ results: LoadResult[]; pinned: boolean }> {
  const require = createRequire(import.meta.url);
  const autocannon = require('autocannon') as Autocannon;
  const pinned = hasTaskset() && (await import('node:os')).availableParallelism() >= 2;
  if (pinned) spawnSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  const warm = 200;
  const results: LoadResult[] = [];
  for (const keyType of KEY_TYPES) {
    const world = await releaseWorld(SEED, keyType);
    // The modes alternate within each round (a fresh server per mode and round: a server left
    // idle while the others ran once stopped accepting connections here), so a change in the
    // machine's load hits them alike.
    const runs = new Map<string, LoadResult[]>();
    for (let round = 0; round < rounds; round++) {
      for (const receipts of RECEIPT_MODES) {
        const server = await startServer(keyType, pinned, receipts);
        try {
          if (server.appId !== world.appId) throw new Error('app-sign: server and load generator built different worlds');
          for (const route of ROUTES) {
            // Pre-generated and serialized before timing: distinct response keys, nonces, signatures.
            const reqs = await attestedRequests(world.owner, world.appId, warm + n, route);
            const bodies = reqs.map((q) => JSON.stringify(q));
            await load(autocannon, server.port, route, bodies.slice(0, warm), connections);
            const before = await partialSignCount(server.opsPort);
            const { r, seconds } = await load(autocannon, server.port, route, bodies.slice(warm), connections);
            const after = await partialSignCount(server.opsPort);
            const ok = r['2xx'];
            process.stderr.write(`app-sign: ${keyType} ${route} receipts=${receipts} round ${round + 1}/${rounds}: ${(ok / seconds).toFixed(1)} req/s\n`);
            const key = `${route} ${receipts}`;
            runs.set(key, [...(runs.get(key) ?? []), {
              route, operatorKey: keyType, receipts, requests: n, ok, failed: n - ok, partialSigns: after - before, seconds, perSec: ok / seconds,
              p50Ms: r.latency['p50'] ?? NaN, p90Ms: r.latency['p90'] ?? NaN, p99Ms: r.latency['p99'] ?? NaN,
            }]);
          }
        } finally {
          await stopServer(server.child);
        }
      }
    }
    // Per (route, mode): the run of median throughput.
    for (const route of ROUTES) {
      for (const receipts of RECEIPT_MODES) {
        const rs = [...(runs.get(`${route} ${receipts}`) ?? [])].sort((a, b) => a.perSec - b.perSec);
        const median = rs[Math.floor(rs.length / 2)];
        if (median) results.push(median);
      }
    }
  }
  return { results, pinned };
}

const noopLog = {
  info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined, trace: () => undefined, fatal: () => undefined,
  child: () => noopLog, level: 'silent', silent: () => undefined,
};

function benchCtx(): KeyReleaseContext {
  return {
    clientIp: '127.0.0.1', requestId: 'bench', signal: new AbortController().signal,
    log: noopLog as unknown as KeyReleaseContext['log'], // a silent FastifyBaseLogger stand-in
    released: () => undefined,
  };
}

/** Median ms of the whole handler over `n` distinct requests, one at a time (after 100 warm-up). */
async function wholeHandler(keyType: OperatorKeyType, n: number, receipts = false): Promise<number> {
  const world = await releaseWorld('profile', keyType);
  const dir = receipts ? mkdtempSync(join(process.env['KMS_BENCH_RECEIPT_DIR'] ?? tmpdir(), 'app-sign-handler-')) : null;
  const log = dir === null ? null : openSqliteReceiptLog({ path: join(dir, 'receipts.sqlite'), scope: { chainId: CHAIN_ID, registry: REGISTRY, operator: world.parts.me } });
  try {
    return await timeHandler(createAppRelease({ ...world.parts, receipts: log }), world, n);
  } finally {
    log?.close();
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
  }
}

async function timeHandler(handler: ReturnType<typeof createAppRelease>, world: Awaited<ReturnType<typeof releaseWorld>>, n: number): Promise<number> {
  const reqs = await attestedRequests(world.owner, world.appId, n + 100);
  const ctx = benchCtx();
  for (const q of reqs.slice(0, 100)) await handler.sign(q, ctx);
  const times: number[] = [];
  for (const q of reqs.slice(100)) {
    const t0 = performance.now();
    await handler.sign(q, ctx);
    times.push(performance.now() - t0);
  }
  return quantile(times, 0.5);
}

/**
 * Per-step cost of one accepted ecdsa-attested request, in process: each step as the handler
 * does it, and (marked "reference") the generic implementation it replaced, timed in the same
 * run so the ratio is trustworthy on a loaded machine.
 */
async function profile(runs: number, minMs: number): Promise<ProfileRow[]> {
  const world = await releaseWorld('profile', 'ecdsa');
  const version = world.parts.store.activeVersion();
  if (version === null) throw new Error('app-sign profile: no active version');
  const pool = await attestedRequests(world.owner, world.appId, 64);
  const req = pool[0] as KeyReleaseRequest & { attestation: { method: 'ecdsa'; signature: `0x${string}`; time: number } };
  const id = appIdentity(world.appId);
  const rh = requestHash(req);
  const responseKey = parseHex(req.responseKey, 32, 'responseKey');
  const appIdBytes = parseHex(world.appId, 32, 'appId');
  const partial = partialSign(version.share, id);
  const payload = partialPayload({ appId: appIdBytes, version: version.id, partial, requestHash: rh });
  const ecdsaSigner = createOperatorSigner('ecdsa', world.parts.sigKey, DOMAIN);
  const bnWorld = await releaseWorld('profile', 'bn254');
  const bnSigner = createOperatorSigner('bn254', bnWorld.parts.sigKey, DOMAIN);
  const answer = (kind: 'sign' | 'secrets'): KeyReleaseAnswer => ({
    kind, appId: appIdBytes, operator: parseHex(world.parts.me, 20, 'me'), version: version.id, partial, signature: ecdsaSigner.sign(payload),
    ...(kind === 'secrets' ? { env: { releaseIndex: 0, encryptedEnv: new Uint8Array(1024), publicEnv: 'LOG_LEVEL=info\nREGION=eu' } } : {}),
  });
  const signAnswer = answer('sign');
  const secretsAnswer = answer('secrets');
  const params = { chainId: CHAIN_ID, registry: REGISTRY, route: '/app/sign' as const, appId: req.appId, responseKey: req.responseKey, nonce: req.nonce, time: req.attestation.time };
  const sigBytes = parseHex(req.attestation.signature, 65, 'signature');
  const digest = keyRequestDigest(params);
  if (recoverKeyRequestSigner(params, sigBytes) !== world.owner.address.toLowerCase()) throw new Error('app-sign profile: recover mismatch');
  if (toHex(ecdsaRecoverAddressFromDigest(digest, sigBytes)) !== world.owner.address.toLowerCase()) throw new Error('app-sign profile: fast recover mismatch');
  const nobleSig = secp256k1.Signature.fromBytes(Uint8Array.of(sigBytes[64]! - 27, ...sigBytes.subarray(0, 64)), 'recovered');
  const opDigest = keccak_256(Uint8Array.from([...DOMAIN, ...payload]));
  const att = req.attestation;
  const viemRequestHash = () => keccak_256(parseHex(encodeAbiParameters(
    [{ type: 'string' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes' }, { type: 'uint64' }, { type: 'uint64' }, { type: 'string' }, { type: 'bytes' }],
    [REQUEST_TAG, req.appId, req.responseKey, req.nonce, 0n, 0n, 'ecdsa', encodeAbiParameters([{ type: 'uint64' }, { type: 'bytes' }], [BigInt(att.time), att.signature])],
  ), undefined, 'abi'));

  const rows: ProfileRow[] = [];
  const add = (step: string, opsPerSec: number): void => void rows.push({ step, msPerOp: 1000 / opsPerSec });
  add('request hash, hand-packed ABI + keccak', measure(() => requestHash(req), runs, minMs));
  add('  reference: viem encodeAbiParameters + keccak', measure(viemRequestHash, runs, minMs));
  add('EIP-712 digest, hand-packed', measure(() => keyRequestDigest(params), runs, minMs));
  add('  reference: viem hashTypedData', measure(() => hashTypedData(keyRequestTypedData(params)), runs, minMs));
  add(`EIP-712 recover → address (${ecdsaBackend()})`, measure(() => ecdsaRecoverAddressFromDigest(digest, sigBytes), runs, minMs));
  add('  reference: noble recoverPublicKey', measure(() => nobleSig.recoverPublicKey(digest), runs, minMs));
  add('  reference: viem recoverTypedDataAddress', await measureAsync(() => recoverTypedDataAddress({ ...keyRequestTypedData(params), signature: att.signature }), runs, minMs));
  add('partial s·Q(id), cache miss: hash to G1 + mul (mcl)', measure(() => partialSign(version.share, id), runs, minMs));
  add('  of which G1 mul s·Q + encode (mcl)', (() => {
    const q = appIdPoint(id);
    return measure(() => bls.g1.encode(bls.g1.mul(q, version.share)), runs, minMs);
  })());
  add(`operator signature, ecdsa key (${ecdsaBackend()})`, measure(() => ecdsaSigner.sign(payload), runs, minMs));
  add('  reference: noble sign', measure(() => secp256k1.sign(opDigest, world.parts.sigKey, { prehash: false, format: 'recovered' }), runs, minMs));
  add('operator signature, bn254 key (noble)', measure(() => bnSigner.sign(payload), runs, minMs));
  add('encode + seal answer, /app/sign', measure(() => sealResponse(responseKey, rh, encodeAnswer(signAnswer)), runs, minMs));
  add('encode + seal answer, /secrets (1 KiB env)', measure(() => sealResponse(responseKey, rh, encodeAnswer(secretsAnswer)), runs, minMs));
  // Release receipts (issue 16): what a receipt adds besides its signature (which replaces the
  // partial-payload signature), and one append to the SQLite log at each durability setting.
  const receiptOf = (position: number, prevHash: `0x${string}`) => encodeReceipt({
    operator: world.parts.me, position, prevHash, appId: world.appId, epoch: 0, version: version.id, route: '/app/sign', method: 'ecdsa',
    requestHash: toHex(rh), responseKeyHash: responseKeyHash(responseKey), block: 1, time: 1, partialHash: partialHash(payload),
  });
  add('receipt: build (2 keccak + encode), no signature', measure(() => receiptOf(0, ZERO_HEAD), runs, minMs));
  for (const sync of ['full', 'normal'] as const) {
    const dir = mkdtempSync(join(process.env['KMS_BENCH_RECEIPT_DIR'] ?? tmpdir(), 'app-sign-profile-'));
    // (group mode appends as normal does; its sync runs off the event loop, see the load rows)
    const log = openSqliteReceiptLog({ path: join(dir, 'receipts.sqlite'), scope: { chainId: CHAIN_ID, registry: REGISTRY, operator: world.parts.me }, synchronous: sync });
    const sig = ecdsaSigner.sign(receiptOf(0, ZERO_HEAD));
    try {
      add(`receipt log append, SQLite synchronous=${sync.toUpperCase()}`, measure(() => {
        const h = log.head();
        log.append(receiptOf(h.count, h.hash), sig);
      }, runs, minMs));
    } finally {
      log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  rows.push({ step: 'whole handler, /app/sign, ecdsa op key (median of 500)', msPerOp: await wholeHandler('ecdsa', 500) });
  rows.push({ step: 'whole handler, /app/sign, bn254 op key (median of 200)', msPerOp: await wholeHandler('bn254', 200) });
  rows.push({ step: 'whole handler, ecdsa op key, receipts (background sync: the node\'s mode)', msPerOp: await wholeHandler('ecdsa', 500, true) });
  rows.push({ step: 'whole handler, bn254 op key, receipts (background sync: the node\'s mode)', msPerOp: await wholeHandler('bn254', 200, true) });
  return rows;
}

export async function benchAppSign(opts: BenchOptions): Promise<{ load: LoadResult[]; profile: ProfileRow[] }> {
  const n = envInt('KMS_BENCH_REQUESTS', 2000);
  const connections = envInt('KMS_BENCH_CONNECTIONS', 8);
  const prof = await profile(opts.runs ?? 5, opts.minMs ?? 200);
  const rounds = envInt('KMS_BENCH_ROUNDS', 3);
  const { results, pinned } = await loadSuite(n, connections, rounds);
  if (opts.json) {
    console.log(JSON.stringify({ suite: 'app-sign', pinned, connections, load: results, profile: prof }));
    return { load: results, profile: prof };
  }
  const f1 = (v: number): string => v.toFixed(1);
  console.log(
    `Key release under load: ${n} distinct ecdsa-attested requests per run after 200 warm-up, ${connections} keep-alive connections, ` +
      `receipt modes interleaved, the median of ${rounds} rounds per row, ` +
      `server ${pinned ? 'pinned to core 0 (taskset), load generator to core 1' : 'NOT pinned (no taskset or < 2 cores)'}`,
  );
  console.log(`${'route'.padEnd(11)}${'op key'.padEnd(8)}${'receipts'.padEnd(9)}${'ok'.padStart(7)}${'failed'.padStart(8)}${'signs'.padStart(7)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p90 ms'.padStart(9)}${'p99 ms'.padStart(9)}`);
  for (const r of results) {
    console.log(
      `${r.route.padEnd(11)}${r.operatorKey.padEnd(8)}${r.receipts.padEnd(9)}${String(r.ok).padStart(7)}${String(r.failed).padStart(8)}${String(r.partialSigns).padStart(7)}` +
        `${f1(r.perSec).padStart(9)}${f1(r.p50Ms).padStart(9)}${f1(r.p90Ms).padStart(9)}${f1(r.p99Ms).padStart(9)}`,
    );
  }
  console.log('(signs: partial signatures the server made during the run; = ok means no answer came from the replay cache)');
  console.log('Receipts on / off, req/s ratio (issue 16 budget: ≥ 0.85):');
  for (const r of results) {
    if (r.receipts === 'off') continue;
    const base = results.find((b) => b.receipts === 'off' && b.route === r.route && b.operatorKey === r.operatorKey);
    if (base) console.log(`  ${r.route.padEnd(11)}${r.operatorKey.padEnd(8)}${r.receipts.padEnd(9)}${(r.perSec / base.perSec).toFixed(3).padStart(7)}`);
  }
  console.log();
  console.log('One request, step by step (in process, ms/op, median):');
  for (const r of prof) console.log(`  ${r.step.padEnd(52)}${r.msPerOp.toFixed(3).padStart(9)}`);
  return { load: results, profile: prof };
}
