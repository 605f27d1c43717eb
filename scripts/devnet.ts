/**
 * @module
 * `npm start`: the whole system on one machine (SPEC 7, issue 6). See docs/devnet.md.
 *
 * 1. takes `<dir>/devnet.lock` (one devnet per state directory; a stale lock is taken over);
 * 2. starts anvil (`--block-time 1`, port 8545 when free) and deploys the registry;
 * 3. creates keys for N operators in `<dir>/keys/` (0600);
 * 4. starts N `kms-server` processes (logs in `<dir>/logs/`) and, while they boot, allows and
 *    registers the operators; waits until each node answers and has published its own session
 *    key, arms genesis and waits for the DKG (and for every node to serve it), showing what it
 *    waits for;
 * 5. creates a demo app (ecdsa attestation) with an IBE-encrypted release env and runs a demo
 *    through the client SDK: encrypt → attested key release → decrypt; secrets; mnemonic;
 * 6. writes `<dir>/devnet.json`, prints what a person needs next, and keeps running, one line
 *    per reshare round, until SIGINT/SIGTERM/SIGHUP: then it stops the servers, then anvil,
 *    removes the lock and exits 0.
 *
 * Nothing secret is printed except the demo app owner's key, a devnet key (said so where printed).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { CommanderError } from 'commander';
import { createPublicClient, createWalletClient, http, type Hex as ViemHex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createChainLedger } from '../src/chain/chain-ledger.ts';
import { deployRegistry } from '../src/chain/deploy.ts';
import { chainProfile } from '../src/chain/profiles.ts';
import { makeDomain } from '../src/crypto/domain.ts';
import { createOperatorSigner } from '../src/crypto/operator-sig.ts';
import { generateSealKeyPair } from '../src/crypto/seal.ts';
import { bytesToHex, mustHex } from '../src/protocol/hex.ts';
import type { Address, Hex } from '../src/protocol/ledger.ts';
import { portIsFree, startDevnetAnvil } from './devnet/anvil.ts';
import { appKeyFingerprint, createDemoApp, errorLine, runDemo, type DemoApp } from './devnet/demo.ts';
import { writeDevnetFile, type DevnetFile } from './devnet/devnet-file.ts';
import { createOperatorKeys, keysDir, writeKeyFile, type OperatorKeys } from './devnet/keys.ts';
import { acquireLock, type DevnetLock } from './devnet/lock.ts';
import { DEFAULT_DIR, OPS_PORT_OFFSET, parseOptions, ROOT, windowsFor, type DevnetOptions } from './devnet/options.ts';
import { clock, Printer, seconds, shortHex } from './devnet/output.ts';
import { describeExit, logTail, Supervisor, type ExitInfo, type ManagedChild } from './devnet/processes.ts';
import { genesisStatus, readChainView, RoundReporter, roundLine, versionSummary } from './devnet/watch.ts';

const KMS_SERVER = join(ROOT, 'bin', 'kms-server.mjs');
const POLL_MS = 1000;

// ---------------------------------------------------------------------------------------
// Helpers

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Path as the user should type it: relative to the working directory when inside it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') ? rel : path;
}

/** Removes what a previous run left (never the lock, never anything else in the directory). */
function clearPreviousRun(dir: string): void {
  for (const name of readdirSync(dir)) {
    if (name === 'devnet.json' || name === 'keys' || name === 'logs' || /^op\d+$/.test(name)) {
      rmSync(join(dir, name), { recursive: true, force: true });
    }
  }
}

/** `count` free ports from `base` on, skipping those in `taken`. */
async function freePorts(base: number, count: number, taken: readonly number[] = []): Promise<number[]> {
  const ports: number[] = [];
  for (let p = base; ports.length < count && p < base + 1000 && p <= 65_535; p++) {
    if (!taken.includes(p) && (await portIsFree(p))) ports.push(p);
  }
  if (ports.length < count) throw new Error(`no ${count} free TCP ports from ${base} on 127.0.0.1`);
  return ports;
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** The `activeVersion` a node's GET /status (on its operations listener) reports, null when it has none or does not answer. */
async function activeVersionAt(opsUrl: string): Promise<number | null> {
  try {
    const res = await fetch(`${opsUrl}/status`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { activeVersion?: unknown };
    return typeof body.activeVersion === 'number' ? body.activeVersion : null;
  } catch {
    return null;
  }
}

async function setBalance(rpcUrl: string, address: Address, wei: bigint): Promise<void> {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'anvil_setBalance', params: [address, `0x${wei.toString(16)}`] }),
  });
  const body = (await res.json()) as { error?: { message?: string } };
  if (body.error) throw new Error(`anvil_setBalance failed: ${body.error.message ?? 'unknown error'}`);
}

/** The environment of a kms-server child: ours without KMS_* settings (they would override the devnet's). */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('KMS_') || k === 'KMS_BLS_BACKEND' || k === 'KMS_LOG_LEVEL') env[k] = v;
  }
  return env;
}

// ---------------------------------------------------------------------------------------
// The devnet

class Devnet {
  readonly opts: DevnetOptions;
  readonly out: Printer;
  readonly sup = new Supervisor();
  readonly lock: DevnetLock;
  #stopping: Promise<never> | null = null;
  /** anvil answers (before: its start-up reports its own failures, and may retry on another port). */
  #anvilUp = false;
  /** Before the devnet is up, any child death is fatal; afterwards only anvil's. */
  #ready = false;

  constructor(opts: DevnetOptions, out: Printer, lock: DevnetLock) {
    this.opts = opts;
    this.out = out;
    this.lock = lock;
    this.sup.onUnexpectedExit((child, info) => this.#childDied(child, info));
  }

  get stopping(): boolean {
    return this.#stopping !== null;
  }

  #childDied(child: ManagedChild, info: ExitInfo): void {
    if (this.stopping || (child.name === 'anvil' && !this.#anvilUp)) return;
    const tail = logTail(child.logFile, 15);
    this.out.line(`✗ ${child.name} (pid ${child.pid}) exited unexpectedly (${describeExit(info)}); last lines of ${shown(child.logFile)}:`);
    this.out.lines(tail.length > 0 ? tail.map((l) => `    ${l}`) : ['    (the log is empty)']);
    this.#recordChildren();
    if (child.name === 'anvil') {
      this.out.line('The chain is gone: stopping the devnet.');
      void this.stop(1);
    } else if (!this.#ready) {
      this.out.line(`${child.name} could not start: stopping the devnet.`);
      void this.stop(1);
    } else {
      this.out.line(`The other operators keep running (a round needs the threshold). Restart everything with Ctrl-C and \`npm start\`.`);
    }
  }

  #recordChildren(): void {
    this.lock.update({ children: this.sup.children.filter((c) => !c.hasExited()).map((c) => ({ name: c.name, pid: c.pid })) });
  }

  /** Stops the servers, then anvil; removes the lock; exits with `code`. Idempotent. */
  stop(code: number): Promise<never> {
    this.#stopping ??= (async (): Promise<never> => {
      this.out.endStatus();
      const servers = this.sup.children.filter((c) => c.name !== 'anvil' && !c.hasExited());
      if (servers.length > 0) {
        this.out.line(`stopping ${servers.length} kms-server${servers.length === 1 ? '' : 's'}…`);
        const results = await this.sup.stop(servers.map((c) => c.name));
        for (const r of results) if (r.killed) this.out.line(`  ${r.name} did not stop within 10 s: killed`);
      }
      if (this.sup.children.some((c) => c.name === 'anvil' && !c.hasExited())) {
        this.out.line('stopping anvil…');
        await this.sup.stop(['anvil']);
      }
      this.lock.release();
      this.out.line(code === 0 ? 'devnet stopped.' : 'devnet stopped after an error.');
      process.exit(code);
    })();
    return this.#stopping;
  }

  /** Runs one setup step, printing `✓ label  text  (time)`. */
  async step<T>(label: string, f: () => Promise<T>, describe: (r: T) => string): Promise<T> {
    const t0 = Date.now();
    const r = await f();
    this.out.line(`✓ ${label.padEnd(13)} ${describe(r)}  (${seconds(Date.now() - t0)})`);
    return r;
  }

  async run(): Promise<void> {
    const { opts, out } = this;
    const dirShown = shown(opts.dir);
    clearPreviousRun(opts.dir);
    mkdirSync(join(opts.dir, 'logs'), { recursive: true, mode: 0o700 });
    out.line(`eigenx-kms devnet: ${opts.operators} operators, a reshare every ${opts.interval} s, state in ${dirShown}/ (Ctrl-C stops everything)`);
    out.line();

    // 1. chain and registry
    const anvil = await this.step('anvil', () => startDevnetAnvil(this.sup, {
      logFile: join(opts.dir, 'logs', 'anvil.log'), accounts: Math.max(20, opts.operators + 2), blockTime: opts.blockTime, chainId: opts.chainId, finalityBlocks: opts.finalityBlocks,
    }),
      (a) => `${a.rpcUrl} (chain ${a.chainId}${chainProfile(a.chainId) ? ` as ${chainProfile(a.chainId)?.name}` : ''}, a block every ${opts.blockTime} s, finalized ${opts.finalityBlocks} blocks behind the head, log ${dirShown}/logs/anvil.log)`);
    this.#anvilUp = true;
    this.lock.update({ rpc: anvil.rpcUrl });
    this.#recordChildren();
    const govKey = anvil.accounts[0] as Hex;
    const gov = privateKeyToAccount(govKey);
    const govAddress = gov.address.toLowerCase() as Address;
    const windows = windowsFor(opts.interval);
    const registry = await this.step('registry', async () => {
      const pc = createPublicClient({ transport: http(anvil.rpcUrl) });
      const wc = createWalletClient({ account: gov, transport: http(anvil.rpcUrl) });
      // A devnet: governance changes apply at once, whatever chain id it emulates.
      return deployRegistry(wc, pc, { interval: opts.interval, ...windows, inclusionMargin: 0, governanceDelay: 0 });
    }, (d) => `${d.address} (interval ${d.config.interval} s, windows ${d.config.dealWindow}/${d.config.ackWindow}/${d.config.confirmWindow} s)`);

    // 2. keys
    const ops: OperatorKeys[] = [];
    for (let i = 1; i <= opts.operators; i++) ops.push(createOperatorKeys(opts.dir, i, anvil.accounts[i] as Hex));
    writeKeyFile(join(keysDir(opts.dir), 'governance.key'), govKey);
    const demoOwnerKey = generatePrivateKey() as Hex;
    const demoOwner = privateKeyToAccount(demoOwnerKey as ViemHex).address.toLowerCase() as Address;
    writeKeyFile(join(keysDir(opts.dir), 'demo-owner.key'), demoOwnerKey);
    out.line(`✓ ${'keys'.padEnd(13)} ${opts.operators} operators × (transaction, BN254 signing, storage) in ${dirShown}/keys/ (mode 600)`);

    const ledger = await createChainLedger({
      rpcUrl: anvil.rpcUrl,
      registry: registry.address,
      keys: Object.fromEntries<Hex>([[govAddress, govKey], [demoOwner, demoOwnerKey], ...ops.map((o): [string, Hex] => [o.address, o.txKey])]),
    });
    const ports = await freePorts(opts.basePort, opts.operators);
    const urls = ports.map((p) => `http://127.0.0.1:${p}`);
    // Each node's operations listener (/healthz, /status, /metrics; loopback): 100 above.
    const opsPorts = await freePorts(opts.basePort + OPS_PORT_OFFSET, opts.operators, ports);
    const opsUrls = opsPorts.map((p) => `http://127.0.0.1:${p}`);
    const file: DevnetFile = {
      rpc: anvil.rpcUrl,
      registry: registry.address,
      chainId: anvil.chainId,
      interval: opts.interval,
      pid: process.pid,
      operators: ops.map((o, i) => ({ name: o.name, address: o.address, url: urls[i] as string, opsUrl: opsUrls[i] as string, log: join(opts.dir, 'logs', `${o.name}.log`) })),
      governance: { address: govAddress, keyFile: join(opts.dir, 'keys', 'governance.key') },
      mpk: null,
      demo: null,
    };
    writeDevnetFile(opts.dir, file);

    // 3. servers: they boot (slow: several seconds each) while the operators register; a node
    //    waits for its registration, then publishes its own session key.
    for (const [i, o] of ops.entries()) {
      this.sup.spawn(o.name, {
        command: process.execPath,
        args: [
          KMS_SERVER, '--rpc', anvil.rpcUrl, '--registry', registry.address, '--port', String(ports[i]), '--ops-port', String(opsPorts[i]),
          '--data-dir', join(opts.dir, o.name), '--sig-type', 'bn254',
          '--operator-key-file', o.files.txKey, '--sig-key-file', o.files.sigKey, '--store-key-file', o.files.storeKey,
        ],
        env: serverEnv(),
        cwd: ROOT,
        detached: false,
        logFile: join(opts.dir, 'logs', `${o.name}.log`),
      });
    }
    this.#recordChildren();
    out.line(`✓ ${'kms-server'.padEnd(13)} ${opts.operators} processes spawned (they boot while the operators register):`);
    for (const [i, o] of ops.entries()) out.line(`    ${o.name}  ${o.address}  ${urls[i]}  ops ${opsUrls[i]}  log ${dirShown}/logs/${o.name}.log`);

    // 4. allow and register (session keys are placeholders: each node publishes its own)
    const placeholderKeys = new Map<Address, Hex>();
    await this.step('operators', async () => {
      const w = ledger.writer(govAddress);
      for (const o of ops) await w.allowOperator(o.address, true);
      const domain = makeDomain({ chainId: ledger.chainId, registry: registry.address });
      await Promise.all(ops.map(async (o, i) => {
        const signer = createOperatorSigner('bn254', mustHex(o.sigKey, 'signing key'), domain);
        const sessionKey = bytesToHex(generateSealKeyPair().publicKey);
        placeholderKeys.set(o.address, sessionKey);
        await ledger.writer(o.address).register({
          socket: urls[i] as string,
          sigKeyType: 'bn254',
          sigPublicKey: bytesToHex(signer.publicKey),
          proofOfPossession: bytesToHex(signer.proofOfPossession(o.address)),
          sessionKey,
        });
      }));
    }, () => `${opts.operators} allowed and registered (${ops.map((o) => shortHex(o.address)).join(', ')})`);

    await this.step('nodes up', async () => {
      for (;;) {
        const [healthy, records] = await Promise.all([
          Promise.all(urls.map(async (u, i) => (await httpOk(`${u}/healthz`)) && httpOk(`${opsUrls[i] as string}/healthz`))),
          Promise.all(ops.map((o) => ledger.getOperator(o.address))),
        ]);
        const up = healthy.filter(Boolean).length;
        const published = records.filter((r, i) => r !== null && r.sessionKey !== placeholderKeys.get((ops[i] as OperatorKeys).address)).length;
        if (up === ops.length && published === ops.length) break;
        out.status(`waiting for operators: ${up}/${ops.length} answering, ${published}/${ops.length} published a session key`);
        await sleep(POLL_MS);
      }
      out.endStatus();
    }, () => `${opts.operators}/${opts.operators} answering /healthz (public and ops listeners), each published its own session key`);

    // 5. genesis
    await ledger.writer(govAddress).armGenesis(opts.operators);
    out.line(`✓ ${'genesis armed'.padEnd(13)} the first DKG opens once ${opts.operators} operators are active`);
    const t0 = Date.now();
    let view = await readChainView(ledger);
    while (view.active === null || view.mpk === null) {
      out.status(genesisStatus(view));
      await sleep(POLL_MS);
      view = await readChainView(ledger);
    }
    out.endStatus();
    const mpk = view.mpk;
    const genesisVersion = view.active;
    out.line(`✓ ${'genesis'.padEnd(13)} session ${genesisVersion.id} (dkg) completed → ${versionSummary(genesisVersion, mpk)}  (${seconds(Date.now() - t0)})`);
    writeDevnetFile(opts.dir, { ...file, mpk });
    // Each node activates the version on its next tick after the chain completes it.
    await this.step('activated', async () => {
      const n = await this.#waitForActivation(opsUrls, genesisVersion.id, 30_000, (k) => out.status(`waiting for the nodes to activate version ${genesisVersion.id}: ${k}/${opsUrls.length}`));
      out.endStatus();
      return n;
    }, (n) => `${n}/${urls.length} nodes serve version ${genesisVersion.id}`);

    // 6. demo app and demo
    await setBalance(anvil.rpcUrl, demoOwner, 100n * 10n ** 18n);
    const demo: DemoApp = await this.step('demo app', () => createDemoApp(ledger, demoOwner, mpk),
      (d) => `${d.appId} (owner ${shortHex(d.owner)}, attestation ecdsa); release 0 with an IBE-encrypted env (${d.envNames.join(', ')})`);
    const full: DevnetFile = { ...file, mpk, demo: { appId: demo.appId, owner: demoOwner, ownerKey: demoOwnerKey, ownerKeyFile: join(opts.dir, 'keys', 'demo-owner.key') } };
    writeDevnetFile(opts.dir, full);
    out.line();
    out.line('demo, through the client SDK (src/client) as an app would use it:');
    const demoParams = { rpcUrl: anvil.rpcUrl, registry: registry.address, chainId: anvil.chainId, app: demo, ownerKey: demoOwnerKey, mpk };
    const result = await runDemo(demoParams);
    out.lines(result.lines.map((l) => `  ${l}`));
    out.line(result.ok ? '  demo complete ✓' : '  ✗ the demo did not complete: see the lines above and the logs in ' + `${dirShown}/logs/; the devnet keeps running`);
    out.line();

    // 7. what next
    this.#ready = true;
    this.#printNext(full, urls, opsUrls);
    const reporter = new RoundReporter(mpk, genesisVersion.id);
    for (;;) {
      await sleep(POLL_MS);
      if (this.stopping) return;
      try {
        for (const r of await reporter.poll(ledger)) {
          let line = roundLine(r);
          // The app key (hence the app's secrets and mnemonic) must survive every reshare.
          if (result.appKeyFingerprint !== null && r.session.progress.outcome === 'completed') {
            try {
              // Nodes switch to the new version on their next tick; ask once they all have.
              await this.#waitForActivation(opsUrls, r.session.snapshot.id, 10_000);
              const k = await appKeyFingerprint(demoParams, r.session.snapshot.id);
              line += k.fingerprint === result.appKeyFingerprint ? ', demo app key unchanged ✓' : ', demo app key CHANGED ✗';
            } catch (e) {
              line += `, demo app key not released (${errorLine(e)})`;
            }
          }
          if (this.stopping) return; // the poll raced Ctrl-C: the stop messages come last
          out.line(`[${clock()}] ${line}`);
        }
      } catch (e) {
        if (this.stopping) return;
        out.status(`(could not read the chain: ${(e as Error).message.split('\n', 1)[0]})`);
      }
    }
  }

  /** Waits until every node's /status (on `opsUrls`) reports version ≥ `version` (or `ms` pass); returns how many do. */
  async #waitForActivation(opsUrls: readonly string[], version: number, ms: number, progress?: (n: number) => void): Promise<number> {
    const deadline = Date.now() + ms;
    for (;;) {
      const versions = await Promise.all(opsUrls.map((u) => activeVersionAt(u)));
      const n = versions.filter((v) => v !== null && v >= version).length;
      if (n === opsUrls.length || Date.now() > deadline || this.stopping) return n;
      progress?.(n);
      await sleep(500);
    }
  }

  #printNext(f: DevnetFile, urls: readonly string[], opsUrls: readonly string[]): void {
    const { out, opts } = this;
    const demo = f.demo;
    if (demo === null || f.mpk === null) return;
    // `--devnet` reads .devnet/devnet.json under the working directory: right only for the
    // default directory, run from the checkout. Otherwise the commands name the chain.
    const inCheckout = resolve(opts.dir) === DEFAULT_DIR && resolve(process.cwd()) === ROOT;
    const chain = inCheckout ? '--devnet' : `--rpc ${f.rpc} --registry ${f.registry}`;
    const app = `--app-id ${demo.appId}`;
    const owner = `--owner-key-file ${shown(demo.ownerKeyFile)}`;
    out.lines([
      'The devnet is running. What you need:',
      `  RPC             ${f.rpc}  (chain ${f.chainId})`,
      `  registry        ${f.registry}`,
      `  MPK             ${f.mpk}`,
      `  operators       ${urls.join('  ')}`,
      `  ops listeners   ${opsUrls.join('  ')}  (/status, /metrics; loopback only)`,
      `  status pages    ${opsUrls.map((u) => `${u}/`).join('  ')}  (open one in a browser: the network as that node sees it)`,
      `  demo app id     ${demo.appId}  (attestation: ecdsa; owner ${demo.owner})`,
      `  demo owner key  ${demo.ownerKey}  (also in ${shown(demo.ownerKeyFile)})`,
      '                  ^ a devnet key made for this run: it owns only the demo app on this local chain. Never use it elsewhere.',
      `  all of the above in ${shown(join(opts.dir, 'devnet.json'))}${inCheckout ? ' (the CLIs read it with --devnet)' : ''}`,
      '',
      `Try, in another terminal${inCheckout ? ' in this directory' : ''}:`,
      `  npx kms-client pubkey ${chain}`,
      `  echo 'my secret' | npx kms-client encrypt ${chain} ${app} --armor --out secret.txt`,
      `  npx kms-client decrypt ${chain} ${app} ${owner} --in secret.txt`,
      `  npx kms-client secrets ${chain} ${app} ${owner}`,
      `  npx kms-client mnemonic ${chain} ${app} ${owner}`,
      `  npx kms-admin status ${chain}`,
      `  curl -s ${opsUrls[0] ?? ''}/status`,
      '',
      `Resharing every ${opts.interval} s, one line per round. Ctrl-C stops everything.`,
    ]);
  }
}

// ---------------------------------------------------------------------------------------
// Entry point

async function main(argv: readonly string[]): Promise<void> {
  let opts: DevnetOptions | null;
  try {
    opts = parseOptions(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.stderr.write(`(see \`npm start -- --help\`)\n`);
      process.exit(2);
    }
    throw e;
  }
  if (opts === null) return;
  const lockResult = acquireLock(opts.dir);
  if (!lockResult.ok) {
    const h = lockResult.holder;
    process.stderr.write(`a devnet is already running (pid ${h.pid}, rpc ${h.rpc ?? 'starting'}); stop it with Ctrl-C in its terminal\n`);
    process.exit(1);
  }
  const out = new Printer();
  if (lockResult.tookOver !== null) {
    const killed = lockResult.killedOrphans;
    out.line(`(a previous devnet, pid ${lockResult.tookOver.pid}, ended without cleaning up${killed.length > 0 ? `; stopped its leftover ${killed.map((c) => `${c.name} (pid ${c.pid})`).join(', ')}` : ''})`);
  }
  const devnet = new Devnet(opts, out, lockResult.lock);
  process.on('exit', () => lockResult.lock.release());
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (devnet.stopping) return;
      out.endStatus();
      out.line();
      out.line(`${sig}: stopping the devnet…`);
      void devnet.stop(0);
    });
  }
  try {
    await devnet.run();
  } catch (e) {
    if (devnet.stopping) return;
    out.endStatus();
    out.line(`error: ${(e as Error).message}`);
    await devnet.stop(1);
  }
}

if (!existsSync(KMS_SERVER)) throw new Error(`devnet: ${KMS_SERVER} is missing`);
await main(process.argv.slice(2));
