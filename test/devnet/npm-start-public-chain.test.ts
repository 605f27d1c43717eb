// `npm start -- --chain-id 11155111 --finality 16 --interval 40` (issue 17, item 6): public-chain
// behaviour on one machine. anvil runs as chain 11155111 with its `finalized` tag 16 blocks
// behind the head, and the kms-servers run on their defaults for that chain id (no read-tag or
// finality flag: Sepolia's chain profile). Before v3 no round could finish there with the
// default flags; it must reach genesis and keep resharing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts', 'devnet.ts');
const INTERVAL = 40;

test('npm start -- --chain-id 11155111 --finality 16 --interval 40 reaches genesis and keeps resharing on the servers\' defaults', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kms-devnet-sepolia-'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT' && !k.startsWith('KMS_')));
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, '--dir', dir, '--chain-id', '11155111', '--finality', '16', '--interval', String(INTERVAL), '--base-port', '18281'], {
    cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => void (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => void (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const waitFor = async (re: RegExp, ms: number, what: string): Promise<RegExpMatchArray[]> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const all = [...out.matchAll(new RegExp(re.source, 'g'))];
      if (all.length > 0) return all;
      if (child.exitCode !== null || Date.now() > deadline) assert.fail(`${what}: not seen\n--- stdout\n${out}\n--- stderr\n${err}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  try {
    await waitFor(/chain 11155111 as Sepolia, a block every 1 s, finalized 16 blocks behind the head/, 60_000, 'anvil as Sepolia');
    await waitFor(/demo complete ✓/, 150_000, 'genesis and the demo');
    const file = JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8')) as { chainId: number; operators: { opsUrl: string }[] };
    assert.equal(file.chainId, 11155111);
    for (const o of file.operators) {
      const s = (await (await fetch(`${o.opsUrl}/status`)).json()) as { finality?: string };
      assert.equal(s.finality, 'the finalized tag', 'the server took Sepolia\'s profile from the chain id');
    }
    // Two reshares after genesis, each with the MPK and the demo app key unchanged.
    const deadline = Date.now() + 4 * INTERVAL * 1000;
    let rounds: RegExpMatchArray[] = [];
    while (Date.now() < deadline) {
      rounds = [...out.matchAll(/\[\d\d:\d\d:\d\d\] session (\d+) reshare completed[^\n]*/g)];
      if (rounds.length >= 2) break;
      assert.equal(child.exitCode, null, `npm start exited\n${out}\n${err}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(rounds.length >= 2, `two reshares completed\n${out}`);
    for (const r of rounds) {
      assert.match(r[0], /MPK unchanged ✓/);
      assert.match(r[0], /demo app key unchanged ✓/);
    }
    assert.doesNotMatch(out, /reshare FAILED/, 'no reshare failed');
  } finally {
    child.kill('SIGINT');
    const code = await exited;
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, `SIGINT stops npm start cleanly\n${err}`);
  }
});
