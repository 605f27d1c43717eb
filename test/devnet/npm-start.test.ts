// `npm start` (scripts/devnet.ts) as a person runs it, end to end, on a real anvil with real
// kms-server processes: it must reach the demo (encrypt → attested key release → decrypt;
// secrets; mnemonic, all through the client SDK), print what a person needs next, write
// devnet.json, report at least one reshare round, refuse a second start on the same state
// directory, report a node that dies (with its log) and keep running, and on SIGINT stop
// every child (servers, then anvil), remove its lock and exit 0.
//
// It runs the script the way `npm start` does (`node --import tsx scripts/devnet.ts`, see
// package.json) but with `--dir <tmp>` (so a developer's own .devnet/ is never touched) and
// `--interval 20` (a reshare every 20 s instead of 60). The example commands it prints are then
// run with the printed arguments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main as kmsAdmin } from '../../src/cli/kms-admin.ts';
import { main as kmsClient } from '../../src/cli/kms-client.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts', 'devnet.ts');
const INTERVAL = 20;

/** Our environment without what would change the script's behaviour (node:test's marker, KMS_* settings). */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT' && !k.startsWith('KMS_')));
}

interface Running {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startDevnet(dir: string): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, '--dir', dir, '--interval', String(INTERVAL)], {
    cwd: ROOT,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const r: Running = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout?.on('data', (c: Buffer) => {
    r.stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    r.stderr += c.toString();
  });
  return r;
}

/** Resolves when `re` matches the output; rejects (with the output) on exit or after `ms`. */
async function waitFor(r: Running, re: RegExp, ms: number, what: string): Promise<RegExpMatchArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = re.exec(r.stdout);
    if (m) return m;
    if (r.child.exitCode !== null || r.child.signalCode !== null || Date.now() > deadline) {
      assert.fail(`${what}: not seen (${r.child.exitCode !== null ? `exited ${r.child.exitCode}` : Date.now() > deadline ? `${ms / 1000} s passed` : 'killed'})\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    }
    await new Promise((res) => setTimeout(res, 250));
  }
}

interface Output {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs one printed example line (`[echo '…' | ]npx kms-client|kms-admin ARGS`) through the CLI's
 * main() in this process, with `cwd` as its working directory and the echoed text as stdin.
 */
async function runCliLine(line: string, cwd: string): Promise<Output> {
  const m = /^(?:echo '([^']*)' \| )?npx (kms-client|kms-admin) (.+)$/.exec(line);
  assert.ok(m, `not an example command: ${line}`);
  const stdin = m[1] === undefined ? new Uint8Array() : new TextEncoder().encode(`${m[1]}\n`);
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: (text: string) => void (stdout += text),
    stderr: (text: string) => void (stderr += text),
    stdoutBytes: (bytes: Uint8Array) => void (stdout += Buffer.from(bytes).toString('utf8')),
    readStdin: async () => stdin,
    stdoutIsTTY: false,
    stdinIsTTY: false,
    env: cleanEnv(),
    cwd,
  };
  const argv = (m[3] as string).split(' ');
  const code = m[2] === 'kms-client' ? await kmsClient(argv, io) : await kmsAdmin(argv, io);
  return { code, stdout, stderr };
}

function run(command: string, args: readonly string[], opts: { cwd: string }): Promise<Output> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { cwd: opts.cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

// Most of the time is tsx starting processes (4 nodes, 7 commands) and the wait for a reshare;
// the timeout leaves room for a machine busy with other work.
test('npm start: demo, devnet.json, reshares, a second start refused, a dead node reported, SIGINT stops everything', { timeout: 240_000 }, async (t) => {
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'kms-devnet-test-'));
  const work = mkdtempSync(join(tmpdir(), 'kms-devnet-cwd-'));
  const devnet = startDevnet(dir);
  t.after(async () => {
    // After a failure: stop it as a user would, then make sure nothing it started survives.
    let children: Array<{ pid: number }> = [];
    try {
      children = (JSON.parse(readFileSync(join(dir, 'devnet.lock'), 'utf8')) as { children: Array<{ pid: number }> }).children;
    } catch {
      // no lock: nothing was started, or it was already removed on a clean stop
    }
    if (devnet.child.exitCode === null && devnet.child.signalCode === null) {
      devnet.child.kill('SIGINT');
      await Promise.race([devnet.exited, new Promise((res) => setTimeout(res, 20_000))]);
      devnet.child.kill('SIGKILL');
    }
    for (const c of children) if (isAlive(c.pid)) process.kill(c.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  // It shows what it waits for (the DKG takes seconds, so at least one status line), then
  // reaches the demo and the summary.
  await waitFor(devnet, /Resharing every \d+ s/, 120_000, 'the summary after the demo');
  const out = devnet.stdout;
  assert.match(out, /waiting for genesis: session 1 (?:phase \w+, \d\/4 dealt|not open yet)/);
  assert.match(out, /✓ genesis +session 1 \(dkg\) completed → version 1, threshold 3 of 4/);
  for (const step of ['public key', 'encrypt', 'key release', 'decrypt', 'secrets', 'mnemonic']) {
    assert.match(out, new RegExp(`✓ ${step} `), `demo step ${step}\n${out}`);
  }
  assert.match(out, /demo complete ✓/);
  const readyAt = Date.now();

  // devnet.json: what the CLIs and people read.
  const file = JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8')) as {
    rpc: string; registry: string; chainId: number; interval: number; mpk: string;
    operators: Array<{ name: string; address: string; url: string; opsUrl: string }>;
    demo: { appId: string; owner: string; ownerKey: string; ownerKeyFile: string };
  };
  assert.match(file.rpc, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(file.registry, /^0x[0-9a-f]{40}$/);
  assert.equal(file.chainId, 31337);
  assert.equal(file.interval, INTERVAL);
  assert.match(file.mpk, /^0x[0-9a-f]{192}$/);
  assert.deepEqual(file.operators.map((o) => o.name), ['op1', 'op2', 'op3', 'op4']);
  for (const o of file.operators) {
    assert.match(o.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(o.opsUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(o.opsUrl, o.url);
  }
  assert.match(file.demo.appId, /^0x[0-9a-f]{64}$/);
  assert.match(file.demo.ownerKey, /^0x[0-9a-f]{64}$/);
  assert.equal(statSync(join(dir, 'devnet.json')).mode & 0o777, 0o600);
  // What it printed matches the file.
  assert.ok(out.includes(file.mpk), 'the MPK is printed');
  assert.ok(out.includes(file.demo.appId), 'the demo app id is printed');
  for (const o of file.operators) assert.ok(out.includes(o.url) && out.includes(o.opsUrl), `operator URLs ${o.url} and ${o.opsUrl} are printed`);
  // Each node's status page (issue 15): its URL printed, and it answers with the page.
  const pages = /^ {2}status pages {4}(.*?) {2}\(/m.exec(out)?.[1]?.split(/ +/) ?? [];
  assert.deepEqual(pages, file.operators.map((o) => `${o.opsUrl}/`), 'a status page URL per node is printed');
  for (const page of pages) {
    const res = await fetch(page, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200, page);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/, page);
    await res.arrayBuffer();
  }
  // /status answers on the operations listener (as the printed curl line shows), not on the public API.
  const curl = /^ {2}curl -s (http:\/\/127\.0\.0\.1:\d+)\/status$/m.exec(out);
  assert.equal(curl?.[1], file.operators[0]?.opsUrl, 'a curl line for the first node\'s /status is printed');
  for (const o of file.operators) {
    const res = await fetch(`${o.opsUrl}/status`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { operator?: string; activeVersion?: number | null };
    assert.equal(res.status, 200, `${o.name} ${o.opsUrl}/status`);
    assert.equal(body.operator, o.address);
    assert.ok((body.activeVersion ?? 0) >= 1, `${o.name} reports its active version`);
    const pub = await fetch(`${o.url}/status`, { signal: AbortSignal.timeout(5000) });
    await pub.arrayBuffer();
    assert.equal(pub.status, 404, `${o.name}: /status is not served on the public API`);
  }

  // Keys: 0600 files; no key but the demo owner's (a devnet key) in the output.
  const keyFiles = readdirSync(join(dir, 'keys'));
  assert.ok(keyFiles.length >= 3 * 4 + 2);
  for (const f of keyFiles) {
    assert.equal(statSync(join(dir, 'keys', f)).mode & 0o777, 0o600, f);
    const key = readFileSync(join(dir, 'keys', f), 'utf8').trim().slice(2).toLowerCase();
    if (f === 'demo-owner.key') continue;
    assert.ok(!devnet.stdout.toLowerCase().includes(key) && !devnet.stderr.toLowerCase().includes(key), `${f} leaked into the output`);
  }
  assert.ok(out.includes(file.demo.ownerKey) && /devnet key/.test(out), 'the demo owner key is printed, marked as a devnet key');

  // The lock names the script and its children, all alive.
  const lock = JSON.parse(readFileSync(join(dir, 'devnet.lock'), 'utf8')) as { pid: number; rpc: string; children: Array<{ name: string; pid: number }> };
  assert.equal(lock.pid, devnet.child.pid);
  assert.equal(lock.rpc, file.rpc);
  assert.deepEqual(lock.children.map((c) => c.name).sort(), ['anvil', 'op1', 'op2', 'op3', 'op4']);
  for (const c of lock.children) assert.ok(isAlive(c.pid), `${c.name} runs`);

  // A second start on the same directory is refused and changes nothing.
  const second = await run(process.execPath, ['--import', 'tsx', SCRIPT, '--dir', dir], { cwd: ROOT });
  assert.equal(second.code, 1, second.stderr);
  assert.match(second.stderr, new RegExp(`^a devnet is already running \\(pid ${devnet.child.pid}, rpc ${file.rpc.replace(/\./g, '\\.')}\\); stop it with Ctrl-C in its terminal\\n$`));
  assert.equal(JSON.parse(readFileSync(join(dir, 'devnet.lock'), 'utf8')).pid, devnet.child.pid);

  // The example commands work as printed: one through the bin npx runs, the others in this
  // process through the CLIs' main() with the printed arguments (the same code minus the
  // launcher: six more tsx process starts would double the test's time).
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
  assert.match(pkg.scripts.start ?? '', /scripts\/devnet\.ts/);
  assert.ok(pkg.bin['kms-client'] && pkg.bin['kms-admin'], 'package.json has the kms-client and kms-admin bins npx runs');
  const commands = out.split('\n').filter((l) => /^ {2}(?:echo .* \| )?npx kms-(?:client|admin) /.test(l)).map((l) => l.trim());
  assert.equal(commands.length, 6, out);
  const byName = new Map(commands.map((line) => [/kms-(?:client|admin) (\S+)/.exec(line)?.[1] ?? line, line]));
  const runAsPrinted = async (name: string): Promise<Output> => {
    const line = byName.get(name);
    assert.ok(line, `an example ${name} command is printed`);
    const r = await runCliLine(line, work);
    assert.equal(r.code, 0, `${line}\n${r.stderr}`);
    return r;
  };
  // The commands run while the first reshare happens.
  const commandsT0 = Date.now();
  let commandsTook = 0;
  let roundAt = 0;
  const [[pubkey, viaNpx, decrypted, secrets, mnemonic], round] = await Promise.all([
    (async () => {
      const pk = await runAsPrinted('pubkey');
      // `npx kms-client` in a checkout runs the package's own bin (never run npx here: a name it
      // does not find locally is looked up in the npm registry).
      const npx = await run(process.execPath, [join(ROOT, pkg.bin['kms-client'] as string), ...(byName.get('pubkey') ?? '').replace(/^npx kms-client /, '').split(' ')], { cwd: work });
      await runAsPrinted('encrypt');
      assert.ok(existsSync(join(work, 'secret.txt')), 'encrypt wrote secret.txt');
      const dec = await runAsPrinted('decrypt');
      const sec = await runAsPrinted('secrets');
      const mn = await runAsPrinted('mnemonic');
      await runAsPrinted('status');
      commandsTook = Date.now() - commandsT0;
      return [pk, npx, dec, sec, mn] as const;
    })(),
    // At least one reshare round after genesis, with the MPK and the demo app key unchanged.
    waitFor(devnet, /\[\d\d:\d\d:\d\d\] session (\d+) reshare (completed|FAILED)[^\n]*/, 2 * INTERVAL * 1000 + 30_000, 'a reshare line').then((m) => {
      roundAt = Date.now();
      return m;
    }),
  ]);
  assert.equal(viaNpx.code, 0, viaNpx.stderr);
  assert.ok(viaNpx.stdout.includes(`MPK ${file.mpk}`), `bin/kms-client.mjs pubkey prints the MPK\n${viaNpx.stdout}`);
  assert.ok(pubkey.stdout.includes(`MPK ${file.mpk}`), 'pubkey prints the MPK');
  assert.equal(decrypted.stdout.trim(), 'my secret');
  assert.match(secrets.stdout, /DEMO_SECRET=/);
  assert.equal(mnemonic.stdout.trim().split(/\s+/).length, 24);
  assert.equal(round[2], 'completed', round[0]);
  assert.match(round[0], /MPK unchanged ✓/);
  assert.match(round[0], /demo app key unchanged ✓/);

  // A node that dies is reported with the tail of its log; the devnet keeps running.
  const op4 = lock.children.find((c) => c.name === 'op4');
  assert.ok(op4);
  process.kill(op4.pid, 'SIGKILL');
  await waitFor(devnet, new RegExp(`✗ op4 \\(pid ${op4.pid}\\) exited unexpectedly \\(signal SIGKILL\\); last lines of .*op4\\.log:\\n {4}\\S`), 10_000, 'the report of a dead node');
  assert.match(devnet.stdout, /The other operators keep running/);
  assert.equal(devnet.child.exitCode, null);

  // SIGINT: servers, then anvil, then exit 0; no child left, no lock left.
  devnet.child.kill('SIGINT');
  const stopT0 = Date.now();
  const exit = await devnet.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, devnet.stdout.slice(-2000));
  assert.match(devnet.stdout, /stopping 3 kms-servers…\nstopping anvil…\ndevnet stopped\.\n$/);
  for (const c of lock.children) assert.ok(!isAlive(c.pid), `${c.name} (pid ${c.pid}) still runs`);
  assert.ok(!existsSync(join(dir, 'devnet.lock')), 'the lock is removed');
  const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  t.diagnostic(`ready after ${sec(readyAt - t0)}, example commands took ${sec(commandsTook)}, first reshare line after ${sec(roundAt - t0)}, stopped in ${sec(Date.now() - stopT0)}`);
});
