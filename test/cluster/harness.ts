/**
 * @module
 * A real cluster for acceptance tests (issue 5): one anvil (`--block-time 1`), a freshly
 * deployed registry, N operators allowed and registered through `ChainLedger` writers, and N
 * real `kms-server` child processes (`node bin/kms-server.mjs`, configured only through
 * `KMS_*` environment variables) on loopback, each with its own SQLite key store in a
 * temporary data directory and two ports: its public API (`url`) and its operations listener
 * (`opsUrl`: /healthz, /status, /metrics).
 *
 *   startCluster({ n, interval, windows, sigType?, thresholdOverride?, tickMs?, rpcProxy?, nodeEnv? })
 *                                     → Cluster, its N nodes started while they are allowed and registered
 *   armGenesis(min?)                  waits until every running node published its session key, then arms
 *   waitForVersion(id, { nodes })     the chain's active version is ≥ id and every listed node's
 *                                     /status reports exactly it
 *   waitForSession(id) / waitForPhase(id, phase) / waitForSubmission(id, i, type)
 *   waitForQuiet(s) / waitForRoom(s)  between sessions, with s seconds left before the next boundary
 *   pubkey(i)                         the node's public API (url)
 *   status(i) / metrics(i)            the node's operations listener (opsUrl)
 *   kill(i, signal) / restart(i, { env, consent }) / stopNodes(is) / startNodes(is, opts)
 *   addOperator({ register?, consent? }) / registerOperator(i) / deregister(i) / setThreshold(t)
 *   lag(i, ms)                        delays node i's RPC answers (its RPC goes through a proxy
 *                                     when the cluster was started with rpcProxy)
 *   rpc(i, p)                         node i's p-th RPC provider, a fault-injecting proxy
 *                                     (test/chain/rpc-fault-proxy.ts; `rpcProviders: k` gives
 *                                     every node k of them, all in front of the one anvil)
 *   readStore(i)                      the versions, shares included, of a STOPPED node's store
 *   logTail(i) / stop()               stop kills everything and removes the temporary directory
 *
 * Debuggability: every child's stdout and stderr go to `<tmp>/node<i>.log` (pino JSON lines,
 * one file per operator across restarts, each start and exit marked). When a wait times out,
 * the error carries a chain summary (latest session, its phase and counts, active version) and
 * the tail of the log of every node the wait was about (only the lagging ones for
 * waitForVersion), so a failure at 3 a.m. says what each node was doing.
 * `KMS_CLUSTER_KEEP=1` keeps the directory after `stop()` (its path is printed);
 * `KMS_CLUSTER_LOG_LEVEL=debug` makes the nodes log every tick. A cluster that fails half-way
 * through `startCluster`, or whose test fails, leaves no process behind.
 *
 * Shares never leave a node through its API. Tests that need them stop the node first (the
 * store is locked exclusively while the node runs) and open the store with its storage key:
 * `readStore(i)`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPublicClient, createWalletClient, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { deployRegistry } from '../../src/chain/deploy.ts';
import { kmsRegistryAbi } from '../../src/chain/kms-registry-artifact.ts';
import { startAnvil, type AnvilInstance } from '../../src/chain/anvil.ts';
import { createChainLedger, type ChainLedger } from '../../src/chain/chain-ledger.ts';
import { makeDomain } from '../../src/crypto/domain.ts';
import { createOperatorSigner, generateOperatorSecretKey, type OperatorKeyType } from '../../src/crypto/operator-sig.ts';
import { generateSealKeyPair } from '../../src/crypto/seal.ts';
import type { NodeStatus, PubkeyInfo } from '../../src/node/http/schemas.ts';
import type { StoredVersion } from '../../src/node/key-store.ts';
import { openSqliteKeyStore } from '../../src/node/sqlite-key-store.ts';
import { bytesToHex } from '../../src/protocol/hex.ts';
import type { Address, Hex, LedgerWriter, RecordedSubmission, RegisterParams, Session, VersionRecord } from '../../src/protocol/ledger.ts';
import { phaseAt, windowsFit, type Phase } from '../../src/protocol/session-rules.ts';
import { startRpcFaultProxy, type RpcFaultProxy } from '../chain/rpc-fault-proxy.ts';

const BIN = fileURLToPath(new URL('../../bin/kms-server.mjs', import.meta.url));
const PHASES: readonly Phase[] = ['deal', 'ack', 'confirm', 'closed'];
const REQUEST_LOG = /"msg":"(?:incoming request|request completed)"/;

export interface ClusterOptions {
  /** Operators started (and registered) at once. */
  readonly n: number;
  /** Reshare interval in seconds. */
  readonly interval: number;
  /** Window lengths in seconds; must fit in the interval (`windowsFit`, inclusion margin 0). */
  readonly windows: { readonly deal: number; readonly ack: number; readonly confirm: number };
  /** Signing-key type of every operator (default bn254). */
  readonly sigType?: OperatorKeyType;
  /** Governance threshold override set right after deployment (default 0: ceil(2n/3)). */
  readonly thresholdOverride?: number;
  /** Scheduler tick of every node (default 250 ms). */
  readonly tickMs?: number;
  /** Put every node's RPC behind its own proxy, so that `lag(i, ms)` can delay it. */
  readonly rpcProxy?: boolean;
  /** Give every node this many RPC providers (`--rpc a,b,…`), each its own fault proxy (implies rpcProxy). */
  readonly rpcProviders?: number;
  /** Label of the temporary directory (default "cluster"). */
  readonly name?: string;
  /** Start the N node processes (default true), while the operators are allowed and registered. */
  readonly start?: boolean;
  /** pino level of the nodes (default: KMS_CLUSTER_LOG_LEVEL, else info). */
  readonly logLevel?: string;
  /**
   * anvil's mining (default: a block every second, SPEC 2b). `mixed`: additionally every
   * transaction is mined at once (automine) while the 1 s blocks keep chain time moving
   * (`anvil --block-time 1 --mixed-mining`; used by `npm run bench -- cluster`).
   */
  readonly mining?: 'block-time' | 'mixed';
  /**
   * Blocks from the head to the `finalized` tag (default 4: retention and the other
   * irreversible steps trail the head by ~4 s). The nodes read finality through the tag, as
   * their chain profile says.
   */
  readonly finalityBlocks?: number;
  /** Chain id of the anvil (default 31337; e.g. 11155111 to run on Sepolia's profile). */
  readonly chainId?: number;
  /**
   * Extra environment of every node start, e.g. the `jwt` attestation method's
   * KMS_JWT_JWKS / KMS_JWT_ISSUER / KMS_JWT_AUDIENCE; a start's own `env` wins over it.
   */
  readonly nodeEnv?: Readonly<Record<string, string>>;
}

export interface StartOptions {
  /** Environment overrides for this start only (e.g. a wrong KMS_STORE_KEY). */
  readonly env?: Readonly<Record<string, string>>;
  /** `--threshold-override` for this start only (SPEC 6 consent). */
  readonly consent?: number;
  /** Extra Node.js flags for this start (e.g. --cpu-prof, --inspect) when debugging. */
  readonly nodeArgs?: readonly string[];
  /** Milliseconds to wait for "kms-server started" (default 60 000). */
  readonly timeoutMs?: number;
}

/** What a start attempt ended with: the node runs, or the process exited first. */
export type StartResult =
  | { readonly started: true }
  | { readonly started: false; readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly stdout: string; readonly stderr: string };

export interface ClusterNode {
  readonly index: number;
  readonly address: Address;
  readonly operatorKey: Hex;
  readonly sigKey: Hex;
  /** The storage key (hex), given to the node as KMS_STORE_KEY. */
  readonly storeKey: Hex;
  readonly dataDir: string;
  readonly storePath: string;
  readonly logPath: string;
  /** The public API (/pubkey, /app/sign, /secrets, /healthz). */
  readonly port: number;
  readonly url: string;
  /** The operations listener (/healthz, /status, /metrics). */
  readonly opsPort: number;
  readonly opsUrl: string;
  /** The session key the harness registered with (its secret was discarded). */
  readonly registeredSessionKey: Hex;
  /** The running process, if any. */
  proc: ChildProcess | null;
  /** Every activeVersion this node's /status reported during a wait, in order of first sight. */
  readonly seenVersions: number[];
}

export interface WaitOptions {
  readonly timeoutMs?: number;
  /** Milliseconds between probes (default 1000; 100 for `waitForSubmission`). */
  readonly pollMs?: number;
  /** Node indices the condition is about (default: every running node). */
  readonly nodes?: readonly number[];
}

export interface Cluster {
  readonly dir: string;
  readonly anvil: AnvilInstance;
  readonly rpcUrl: string;
  readonly registry: Address;
  /** A ledger with the keys of every account (owner and operators). */
  readonly ledger: ChainLedger;
  /** Governance writer (anvil account 0). */
  readonly gov: LedgerWriter;
  readonly domain: Uint8Array;
  readonly nodes: readonly ClusterNode[];
  readonly interval: number;

  running(i: number): boolean;
  /** Waits until every running node published a session key it holds, then arms genesis (default min = running nodes). */
  armGenesis(minOperators?: number): Promise<void>;
  /** Until the on-chain session key of each node is one the node published itself. */
  waitForSessionKeys(indices: readonly number[], opts?: WaitOptions): Promise<void>;
  /** Returns at once if `seconds` of chain time remain before the next boundary, else after that boundary. */
  waitForRoom(seconds: number, opts?: WaitOptions): Promise<void>;
  /**
   * Until the chain is quiet: the current interval's session has run and closed (a session
   * can open late in its interval), and at least `seconds` remain before the next boundary.
   * Returns the id the next session will get.
   */
  waitForQuiet(seconds: number, opts?: WaitOptions): Promise<number>;
  /**
   * Until the chain's active version is ≥ minId and every listed node (default: the running
   * ones) reports exactly that version active in /status; returns the chain's record.
   */
  waitForVersion(minId: number, opts?: WaitOptions): Promise<VersionRecord>;
  /** Resolves once session `id` exists. */
  waitForSession(id: number, opts?: WaitOptions): Promise<Session>;
  /** Resolves once session `id` is in `phase` or a later one (returns the phase it saw). */
  waitForPhase(id: number, phase: Phase, opts?: WaitOptions): Promise<Phase>;
  /** Resolves once node i's submission of `type` to session `id` is on-chain. */
  waitForSubmission(id: number, i: number, type: RecordedSubmission['type'], opts?: WaitOptions): Promise<void>;
  /** Resolves once chain time ≥ t. */
  waitForChainTime(t: number, opts?: WaitOptions): Promise<void>;
  /** Generic poll: resolves with the first non-undefined value of `probe`. */
  waitFor<T>(what: string, probe: () => Promise<T | undefined>, opts?: WaitOptions): Promise<T>;
  /** Chain time of the latest block. */
  chainTime(): Promise<number>;
  /** The next interval boundary after chain time now. */
  nextBoundary(): Promise<number>;
  pubkey(i: number): Promise<PubkeyInfo>;
  /** GET /status on node i's operations listener. */
  status(i: number): Promise<NodeStatus>;
  /** GET /metrics (Prometheus text) on node i's operations listener. */
  metrics(i: number): Promise<string>;
  /** Sends `signal` (default SIGKILL) and resolves when the process has exited. */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts node i again from its data directory. */
  restart(i: number, opts?: StartOptions): Promise<StartResult>;
  /** Gracefully stops (SIGTERM) the given nodes, in parallel. */
  stopNodes(indices: readonly number[]): Promise<void>;
  /** Starts the given nodes in parallel; throws (with log tails) if one does not start. */
  startNodes(indices: readonly number[], opts?: StartOptions): Promise<void>;
  /**
   * Starts a new operator's node, then (unless `register: false`) allows and registers it and
   * waits until it published its session key; returns its index.
   */
  addOperator(opts?: StartOptions & { readonly register?: boolean }): Promise<number>;
  /** Allows and registers operator i (created by `addOperator({ register: false })`). */
  registerOperator(i: number): Promise<void>;
  deregister(i: number): Promise<void>;
  setThreshold(t: number): Promise<void>;
  /** Delays every RPC response of node i by `ms` (needs `rpcProxy`); 0 lifts it. */
  lag(i: number, ms: number): void;
  /** JSON-RPC requests node i sent so far (needs `rpcProxy`). */
  rpcRequests(i: number): number;
  /** Node i's p-th RPC provider (needs `rpcProxy` or `rpcProviders`): inject faults with `.fault(…)`. */
  rpc(i: number, p?: number): RpcFaultProxy;
  /** The versions in node i's key store (node must be stopped). */
  readStore(i: number): StoredVersion[];
  /** The last `lines` lines of node i's log. */
  logTail(i: number, lines?: number): string;
  /** Replaces the last `depth` blocks with empty ones (`anvil_reorg`): their transactions vanish. */
  reorg(depth: number): Promise<void>;
  /**
   * Kills every child, stops anvil and the proxies, removes the temporary directory (kept,
   * and its path printed, with `keep` or KMS_CLUSTER_KEEP=1).
   */
  stop(opts?: { readonly keep?: boolean }): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Appends to a node's log from a child's stream or exit handler. Output that arrives after a
 * failed `startCluster` removed the directory is dropped (it would otherwise surface as an
 * uncaught ENOENT in whatever test runs next).
 */
function appendLog(path: string, text: string): void {
  try {
    appendFileSync(path, text);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** A free loopback port (bound, read, released). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Children still alive, killed when the test process exits however it exits. */
const liveChildren = new Set<ChildProcess>();
let exitHook = false;
function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of liveChildren) c.kill('SIGKILL');
  });
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const { n, interval, windows } = options;
  if (!windowsFit(windows.deal, windows.ack, windows.confirm, 0, interval)) {
    throw new RangeError(`windows ${windows.deal}/${windows.ack}/${windows.confirm} s do not fit in interval ${interval} s`);
  }
  const sigType = options.sigType ?? 'bn254';
  const tickMs = options.tickMs ?? 250;
  const dir = mkdtempSync(join(tmpdir(), `kms-${options.name ?? 'cluster'}-`));
  installExitHook();

  let anvil: AnvilInstance;
  try {
    anvil = await startAnvil({
      blockTime: 1, accounts: 20, finalityBlocks: options.finalityBlocks ?? 4,
      ...(options.chainId !== undefined ? { chainId: options.chainId } : {}),
      ...(options.mining === 'mixed' ? { extraArgs: ['--mixed-mining'] } : {}),
    });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const nodes: ClusterNode[] = [];
  /** Every node's RPC providers (fault proxies), when the cluster has them. */
  const proxies = new Map<number, RpcFaultProxy[]>();
  const providersPerNode = options.rpcProviders ?? (options.rpcProxy ? 1 : 0);
  try {
    const addresses = anvil.accounts.map((k) => privateKeyToAccount(k).address.toLowerCase() as Address);
    const keys = Object.fromEntries(addresses.map((a, i) => [a, anvil.accounts[i] as Hex]));
    const owner = addresses[0] as Address;
    const pc = createPublicClient({ transport: http(anvil.rpcUrl) });
    const wc = createWalletClient({ account: privateKeyToAccount(anvil.accounts[0] as Hex), transport: http(anvil.rpcUrl) });
    const dep = await deployRegistry(wc, pc, { interval, dealWindow: windows.deal, ackWindow: windows.ack, confirmWindow: windows.confirm, inclusionMargin: 0, governanceDelay: 0 });
    const ledger = await createChainLedger({ rpcUrl: anvil.rpcUrl, registry: dep.address, keys, pollingIntervalMs: 100 });
    const gov = ledger.writer(owner);
    const domain = makeDomain({ chainId: ledger.chainId, registry: dep.address });

    /** Creates operator `index` (anvil account index + 1): keys, port, data dir. */
    const createOperator = async (index: number): Promise<ClusterNode> => {
      const account = index + 1;
      if (account >= anvil.accounts.length) throw new RangeError(`no anvil account left for operator ${index}`);
      const address = addresses[account] as Address;
      const sig = generateOperatorSecretKey(sigType);
      // RPC providers first: they hold their ports from now on, so the free ports picked next
      // for the node (free until its process binds them, seconds later) cannot go to a proxy.
      if (providersPerNode > 0 && !proxies.has(index)) proxies.set(index, await Promise.all(Array.from({ length: providersPerNode }, () => startRpcFaultProxy(anvil.rpcUrl))));
      const port = await freePort();
      let opsPort = await freePort();
      while (opsPort === port) opsPort = await freePort();
      const dataDir = join(dir, `node${index}`);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const signer = createOperatorSigner(sigType, sig, domain);
      const registeredSessionKey = bytesToHex(generateSealKeyPair().publicKey);
      const node: ClusterNode = {
        index, address, operatorKey: anvil.accounts[account] as Hex, sigKey: bytesToHex(sig),
        storeKey: bytesToHex(randomBytes(32)), dataDir, storePath: join(dataDir, 'keystore.sqlite'),
        logPath: join(dir, `node${index}.log`), port, url: `http://127.0.0.1:${port}`,
        opsPort, opsUrl: `http://127.0.0.1:${opsPort}`, registeredSessionKey,
        proc: null, seenVersions: [],
      };
      writeFileSync(node.logPath, '');
      registrations.set(index, {
        socket: node.url, sigKeyType: sigType, sigPublicKey: bytesToHex(signer.publicKey),
        proofOfPossession: bytesToHex(signer.proofOfPossession(address)), sessionKey: registeredSessionKey,
      });
      return node;
    };
    const registrations = new Map<number, RegisterParams>();
    /** Registers operator `index` on-chain (as `kms-admin register-operator` would: the session key's secret is discarded). */
    const register = async (node: ClusterNode): Promise<void> => {
      const params = registrations.get(node.index);
      if (!params) throw new Error(`node ${node.index} was not created`);
      await ledger.writer(node.address).register(params);
    };

    // Every node's RPC providers before any node's ports are picked (see createOperator).
    for (let i = 0; i < n && providersPerNode > 0; i++) proxies.set(i, await Promise.all(Array.from({ length: providersPerNode }, () => startRpcFaultProxy(anvil.rpcUrl))));
    nodes.push(...(await Promise.all(Array.from({ length: n }, (_, i) => createOperator(i)))));
    /**
     * Allow-list all operators in one block (the owner's transactions with consecutive nonces,
     * instead of one block each through the serialising ledger writer), then register them in
     * parallel (one account each). Runs while the node processes start.
     */
    const enrol = async (): Promise<void> => {
      const nonce = await pc.getTransactionCount({ address: owner, blockTag: 'pending' });
      const hashes = await Promise.all(nodes.map((nd, k) => wc.writeContract({
        address: dep.address, abi: kmsRegistryAbi, functionName: 'allowOperator', args: [nd.address, true],
        nonce: nonce + k, gas: 200_000n, chain: null,
      })));
      for (const hash of hashes) {
        const r = await pc.waitForTransactionReceipt({ hash, pollingInterval: 100 });
        if (r.status !== 'success') throw new Error(`allowOperator reverted (${hash})`);
      }
      await Promise.all(nodes.map(register));
    };

    const nodeAt = (i: number): ClusterNode => {
      const node = nodes[i];
      if (!node) throw new RangeError(`no node ${i}`);
      return node;
    };
    const running = (i: number) => nodeAt(i).proc !== null;

    const logTail = (i: number, lines = 40): string => {
      let text: string;
      try {
        text = readFileSync(nodeAt(i).logPath, 'utf8');
      } catch {
        return '(no log)';
      }
      // fastify's per-request lines (the harness polls /status) would bury what the node did.
      return text.trimEnd().split('\n').filter((l) => !REQUEST_LOG.test(l)).slice(-lines).map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l)).join('\n');
    };

    const start = (i: number, opts: StartOptions = {}): Promise<StartResult> => {
      const node = nodeAt(i);
      if (node.proc) throw new Error(`node ${i} is already running`);
      // Only what we set: no KMS_* variable of the test environment leaks into a node.
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KMS_') && v !== undefined) env[k] = v;
      Object.assign(env, {
        KMS_OPERATOR_KEY: node.operatorKey,
        KMS_OPERATOR_SIG_KEY: node.sigKey,
        KMS_STORE_KEY: node.storeKey,
        KMS_SIG_TYPE: sigType,
        KMS_RPC_URL: proxies.get(i)?.map((p) => p.url).join(',') ?? anvil.rpcUrl,
        KMS_REGISTRY: dep.address,
        KMS_HOST: '127.0.0.1',
        KMS_PORT: String(node.port),
        KMS_OPS_HOST: '127.0.0.1',
        KMS_OPS_PORT: String(node.opsPort),
        KMS_DATA_DIR: node.dataDir,
        KMS_TICK_MS: String(tickMs),
        KMS_LOG_LEVEL: options.logLevel ?? process.env['KMS_CLUSTER_LOG_LEVEL'] ?? 'info',
        ...options.nodeEnv,
        ...(opts.consent !== undefined ? { KMS_THRESHOLD_OVERRIDE: String(opts.consent) } : {}),
        ...opts.env,
      });
      appendFileSync(node.logPath, `----- harness: start node ${i} (${new Date().toISOString()})${opts.consent !== undefined ? ` consent ${opts.consent}` : ''}${opts.env ? ` env ${Object.keys(opts.env).join(',')}` : ''}\n`);
      const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      node.proc = child;
      liveChildren.add(child);
      const out = { stdout: '', stderr: '' };
      return new Promise<StartResult>((resolve) => {
        let settled = false;
        let scan = '';
        const timer = setTimeout(() => {
          if (settled) return;
          settled = true;
          resolve({ started: false, code: null, signal: null, stdout: out.stdout, stderr: `${out.stderr}\n(harness: no "kms-server started" within ${opts.timeoutMs ?? 60_000} ms)` });
        }, opts.timeoutMs ?? 60_000);
        child.stdout?.on('data', (chunk: Buffer) => {
          const text = chunk.toString();
          appendLog(node.logPath, text);
          if (out.stdout.length < 1 << 20) out.stdout += text;
          if (!settled) {
            scan = (scan + text).slice(-4096);
            if (scan.includes('"msg":"kms-server started"')) {
              settled = true;
              clearTimeout(timer);
              resolve({ started: true });
            }
          }
        });
        child.stderr?.on('data', (chunk: Buffer) => {
          const text = chunk.toString();
          appendLog(node.logPath, `[stderr] ${text}`);
          if (out.stderr.length < 1 << 20) out.stderr += text;
        });
        child.once('exit', (code, signal) => {
          liveChildren.delete(child);
          if (node.proc === child) node.proc = null;
          appendLog(node.logPath, `----- harness: node ${i} exited (${code ?? signal})\n`);
          if (!settled) {
            settled = true;
            clearTimeout(timer);
            // Let the pipes drain so stderr is complete.
            setImmediate(() => resolve({ started: false, code, signal, stdout: out.stdout, stderr: out.stderr }));
          }
        });
      });
    };

    const kill = async (i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
      const child = nodeAt(i).proc;
      if (!child) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill(signal);
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(force);
    };

    const getJson = async <T>(base: string, i: number, path: string): Promise<T> => {
      const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5000) });
      const body = (await res.json()) as T;
      if (!res.ok) throw new Error(`node ${i} ${path}: HTTP ${res.status} ${JSON.stringify(body)}`);
      return body;
    };
    const status = (i: number) => getJson<NodeStatus>(nodeAt(i).opsUrl, i, '/status');
    const pubkey = (i: number) => getJson<PubkeyInfo>(nodeAt(i).url, i, '/pubkey');
    const metrics = async (i: number): Promise<string> => {
      const res = await fetch(`${nodeAt(i).opsUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      if (!res.ok) throw new Error(`node ${i} /metrics: HTTP ${res.status} ${text.slice(0, 300)}`);
      return text;
    };

    const chainSummary = async (): Promise<string> => {
      try {
        const now = await ledger.now();
        const latest = await ledger.latestSessionId();
        const s = latest > 0 ? await ledger.getSession(latest) : null;
        const active = await ledger.activeVersion();
        const p = s ? `session ${latest} (${s.snapshot.kind}, boundary ${s.snapshot.boundary}, phase ${phaseAt(s, now)}, outcome ${s.progress.outcome}, deals ${s.progress.dealCount} acks ${s.progress.ackCount} confirms ${s.progress.confirmCount})` : 'no session';
        return `chain time ${now}; latest ${p}; active version ${active?.id ?? 'none'}`;
      } catch (e) {
        return `chain unreadable: ${(e as Error).message}`;
      }
    };

    const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>, opts: WaitOptions = {}, tailNodes?: () => readonly number[]): Promise<T> => {
      const timeoutMs = opts.timeoutMs ?? 60_000;
      const deadline = Date.now() + timeoutMs;
      let lastErr = '';
      for (;;) {
        try {
          const v = await probe();
          if (v !== undefined) return v;
        } catch (e) {
          lastErr = (e as Error).message;
        }
        if (Date.now() > deadline) {
          const which = tailNodes?.() ?? opts.nodes ?? nodes.map((nd) => nd.index);
          const tails = which.map((i) => `--- node ${i} (${nodeAt(i).address}, ${running(i) ? 'running' : 'stopped'}), last log lines:\n${logTail(i, 25)}`).join('\n');
          throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}\n${await chainSummary()}${lastErr ? `\nlast probe error: ${lastErr}` : ''}\n${tails}`);
        }
        await sleep(opts.pollMs ?? 1000);
      }
    };

    const runningIndices = () => nodes.filter((nd) => nd.proc !== null).map((nd) => nd.index);

    const waitForVersion = async (minId: number, opts: WaitOptions = {}): Promise<VersionRecord> => {
      const which = opts.nodes ?? runningIndices();
      let behind: readonly number[] = which;
      return waitFor(`version ≥ ${minId} on-chain and active on nodes ${which.join(', ')}`, async () => {
        const v = await ledger.activeVersion();
        const statuses = await Promise.all(which.map(async (i) => ({ i, s: await status(i).catch(() => null) })));
        for (const { i, s } of statuses) {
          const seen = nodeAt(i).seenVersions;
          if (s?.activeVersion != null && !seen.includes(s.activeVersion)) seen.push(s.activeVersion);
        }
        // Every listed node on exactly the chain's active version (a node notices a completion
        // a tick after the chain has it).
        behind = statuses.filter(({ s }) => v === null || s?.activeVersion !== v.id).map(({ i }) => i);
        return v && v.id >= minId && behind.length === 0 ? v : undefined;
      }, { timeoutMs: opts.timeoutMs ?? 90_000, pollMs: opts.pollMs ?? 1000, nodes: which }, () => (behind.length > 0 ? behind : which)).catch((e: Error) => {
        e.message = `${e.message.split('\n')[0]} (behind: nodes ${behind.join(', ') || 'none'})\n${e.message.split('\n').slice(1).join('\n')}`;
        throw e;
      });
    };

    const waitForSession = (id: number, opts: WaitOptions = {}) =>
      waitFor(`session ${id} to open`, async () => ((await ledger.latestSessionId()) >= id ? (await ledger.getSession(id)) ?? undefined : undefined), opts);

    const waitForPhase = async (id: number, phase: Phase, opts: WaitOptions = {}): Promise<Phase> =>
      waitFor(`session ${id} to reach phase ${phase}`, async () => {
        if ((await ledger.latestSessionId()) < id) return undefined;
        const [s, now] = await Promise.all([ledger.getSession(id), ledger.now()]);
        if (!s) return undefined;
        const p = phaseAt(s, now);
        return PHASES.indexOf(p) >= PHASES.indexOf(phase) ? p : undefined;
      }, opts);

    const waitForSubmission = async (id: number, i: number, type: RecordedSubmission['type'], opts: WaitOptions = {}): Promise<void> => {
      const who = nodeAt(i).address;
      await waitFor(`node ${i}'s ${type} in session ${id}`, async () => {
        if ((await ledger.latestSessionId()) < id) return undefined;
        const subs = await ledger.getSubmissions(id);
        return subs.some((s) => s.type === type && s.from === who) ? true : undefined;
      }, { pollMs: 100, ...opts, nodes: opts.nodes ?? [i] });
    };

    const waitForChainTime = async (t: number, opts: WaitOptions = {}): Promise<void> => {
      await waitFor(`chain time ${t}`, async () => ((await ledger.now()) >= t ? true : undefined), opts);
    };

    const startNodes = async (indices: readonly number[], opts: StartOptions = {}): Promise<void> => {
      const results = await Promise.all(indices.map((i) => start(i, opts)));
      const failed = results.map((r, k) => ({ r, i: indices[k] as number })).filter(({ r }) => !r.started);
      if (failed.length > 0) {
        throw new Error(`nodes ${failed.map((f) => f.i).join(', ')} did not start:\n${failed.map(({ i, r }) => `--- node ${i}: ${r.started ? '' : `exit ${r.code ?? r.signal}\n${r.stderr}`}\n${logTail(i, 20)}`).join('\n')}`);
      }
    };

    /** Until each node's on-chain session key is no longer the one registered for it (the node published its own). */
    const waitForSessionKeys = async (which: readonly number[], opts: WaitOptions = {}): Promise<void> => {
      await waitFor(`session keys published by nodes ${which.join(', ')}`, async () => {
        const recs = await Promise.all(which.map((i) => ledger.getOperator(nodeAt(i).address)));
        return recs.every((r, k) => r !== null && r.sessionKey !== nodeAt(which[k] as number).registeredSessionKey) ? true : undefined;
      }, { ...opts, nodes: which });
    };

    const cluster: Cluster = {
      dir, anvil, rpcUrl: anvil.rpcUrl, registry: dep.address, ledger, gov, domain, nodes, interval,
      running,
      async armGenesis(minOperators?: number) {
        const which = runningIndices();
        await waitForSessionKeys(which);
        await gov.armGenesis(minOperators ?? which.length);
      },
      waitForSessionKeys,
      async waitForQuiet(seconds, opts = {}) {
        return waitFor(`a quiet stretch of ${seconds} s before a boundary`, async () => {
          const [now, g, latest] = await Promise.all([ledger.now(), ledger.getGovernance(), ledger.latestSessionId()]);
          const s = latest > 0 ? await ledger.getSession(latest) : null;
          const boundary = Math.floor(now / g.interval) * g.interval;
          const quiet = (s === null || (phaseAt(s, now) === 'closed' && s.snapshot.boundary === boundary)) && boundary + g.interval - now >= seconds;
          return quiet ? latest + 1 : undefined;
        }, { timeoutMs: 120_000, pollMs: 500, ...opts });
      },
      async waitForRoom(seconds, opts = {}) {
        // Either now leaves `seconds` before the next boundary, or right after the next one does.
        const [now, g] = await Promise.all([ledger.now(), ledger.getGovernance()]);
        const next = (Math.floor(now / g.interval) + 1) * g.interval;
        if (next - now < seconds) await waitForChainTime(next, opts);
      },
      waitForVersion, waitForSession, waitForPhase, waitForSubmission, waitForChainTime, waitFor,
      chainTime: () => ledger.now(),
      async nextBoundary() {
        const [now, g] = await Promise.all([ledger.now(), ledger.getGovernance()]);
        return (Math.floor(now / g.interval) + 1) * g.interval;
      },
      pubkey, status, metrics, kill,
      restart: (i, opts) => start(i, opts),
      async stopNodes(indices) {
        await Promise.all(indices.map((i) => kill(i, 'SIGTERM')));
      },
      startNodes,
      async addOperator(opts = {}) {
        const index = nodes.length;
        const node = await createOperator(index);
        nodes.push(node);
        // Start first (the node waits, unregistered), then allow and register: the node then
        // publishes its session key at its next tick instead of after a whole process start.
        await startNodes([index], opts);
        if (opts.register !== false) await cluster.registerOperator(index);
        return index;
      },
      async registerOperator(i) {
        await gov.allowOperator(nodeAt(i).address, true);
        await register(nodeAt(i));
        if (running(i)) await waitForSessionKeys([i]);
      },
      async deregister(i) {
        await ledger.writer(nodeAt(i).address).deregister();
      },
      async setThreshold(t) {
        await gov.setThresholdOverride(t);
      },
      lag(i, ms) {
        const ps = proxies.get(i);
        if (!ps) throw new Error('lag() needs startCluster({ rpcProxy: true })');
        for (const p of ps) p.delayMs = ms;
      },
      rpcRequests(i) {
        const ps = proxies.get(i);
        if (!ps) throw new Error('rpcRequests() needs startCluster({ rpcProxy: true })');
        return ps.reduce((n, p) => n + p.requests, 0);
      },
      rpc(i, p = 0) {
        const proxy = proxies.get(i)?.[p];
        if (!proxy) throw new Error(`node ${i} has no RPC provider ${p} (startCluster({ rpcProviders }))`);
        return proxy;
      },
      readStore(i) {
        const node = nodeAt(i);
        if (node.proc) throw new Error(`node ${i} is running: stop it before opening its store`);
        const store = openSqliteKeyStore({
          path: node.storePath,
          storageKey: Buffer.from(node.storeKey.slice(2), 'hex'),
          scope: { chainId: ledger.chainId, registry: dep.address, operator: node.address },
        });
        try {
          return store.listVersions();
        } finally {
          store.close();
        }
      },
      logTail,
      async reorg(depth) {
        const r = await fetch(anvil.rpcUrl, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'anvil_reorg', params: [depth, []] }),
        });
        const body = (await r.json()) as { error?: { message: string } };
        if (body.error) throw new Error(`anvil_reorg(${depth}): ${body.error.message}`);
      },
      async stop(opts = {}) {
        await Promise.all(nodes.map((nd) => kill(nd.index, 'SIGKILL')));
        await Promise.all([...proxies.values()].flat().map((p) => p.close()));
        await anvil.stop();
        if (opts.keep === true || process.env['KMS_CLUSTER_KEEP'] === '1') console.error(`cluster kept in ${dir}`);
        else rmSync(dir, { recursive: true, force: true });
      },
    };
    if (options.start === false) await enrol();
    else await Promise.all([enrol(), startNodes(nodes.map((nd) => nd.index))]);
    // Governance's override needs registered operators to be within bounds.
    if (options.thresholdOverride) await gov.setThresholdOverride(options.thresholdOverride);
    return cluster;
  } catch (e) {
    // A half-built cluster must not outlive the failure: its anvil and children would keep
    // the test process alive forever.
    for (const nd of nodes) nd.proc?.kill('SIGKILL');
    await Promise.all([...proxies.values()].flat().map((p) => p.close()));
    await anvil.stop();
    if (process.env['KMS_CLUSTER_KEEP'] === '1') console.log(`cluster kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
