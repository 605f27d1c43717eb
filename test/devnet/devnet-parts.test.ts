// The pieces of scripts/devnet.ts that decide what happens without a chain: the lock (one
// devnet per directory, stale locks and their orphans), the command line, the status line,
// log tails. The whole script runs end to end in npm-start.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { acquireLock, isAlive, LOCK_FILE, readLock } from '../../scripts/devnet/lock.ts';
import { DEFAULT_DIR, DEFAULT_INTERVAL, parseOptions, windowsFor } from '../../scripts/devnet/options.ts';
import { Printer, shortHex } from '../../scripts/devnet/output.ts';
import { logTail, renderLogLine } from '../../scripts/devnet/processes.ts';
import { windowsFit } from '../../src/protocol/session-rules.ts';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'kms-devnet-parts-'));

/** A process that lives until killed, whose command line contains `tag`. */
function sleeper(tag: string): Promise<{ pid: number; exited: Promise<NodeJS.Signals | null> }> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', tag], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  return new Promise((resolve) => child.once('spawn', () => resolve({ pid: child.pid as number, exited })));
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid as number;
}

describe('lock', () => {
  test('one devnet per directory: the second start is refused with the holder\'s pid and rpc', (t) => {
    const dir = tmp();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const first = acquireLock(dir);
    assert.ok(first.ok);
    assert.equal(first.tookOver, null);
    assert.equal(statSync(join(dir, LOCK_FILE)).mode & 0o777, 0o600);
    first.lock.update({ rpc: 'http://127.0.0.1:8545', children: [{ name: 'anvil', pid: 1234567 }] });
    assert.deepEqual(readLock(dir)?.children, [{ name: 'anvil', pid: 1234567 }]);
    // This test process's command line names a devnet test file, so it counts as a devnet.
    const second = acquireLock(dir);
    assert.ok(!second.ok);
    assert.equal(second.holder.pid, process.pid);
    assert.equal(second.holder.rpc, 'http://127.0.0.1:8545');
    first.lock.release();
    assert.ok(!existsSync(join(dir, LOCK_FILE)));
    first.lock.release(); // idempotent
  });

  test('a stale lock is taken over; its leftover children are killed, unrelated processes are not', async (t) => {
    const dir = tmp();
    const orphan = await sleeper('kms-server');
    const stranger = await sleeper('something-else');
    t.after(() => {
      for (const p of [orphan.pid, stranger.pid]) if (isAlive(p)) process.kill(p, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    const dead = await deadPid();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: dead, rpc: 'http://127.0.0.1:8545', startedAt: '', children: [{ name: 'op1', pid: orphan.pid }, { name: 'anvil', pid: stranger.pid }] }));
    const r = acquireLock(dir);
    assert.ok(r.ok);
    assert.equal(r.tookOver?.pid, dead);
    assert.deepEqual(r.killedOrphans, [{ name: 'op1', pid: orphan.pid }]);
    assert.equal(await orphan.exited, 'SIGKILL');
    assert.ok(isAlive(stranger.pid), 'a pid reused by another program is left alone');
    assert.equal(readLock(dir)?.pid, process.pid);
    r.lock.release();
  });

  test('an unreadable lock is taken over after a short wait', (t) => {
    const dir = tmp();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, LOCK_FILE), 'not json');
    const r = acquireLock(dir);
    assert.ok(r.ok);
    r.lock.release();
  });

  test('release leaves a lock that another process holds', (t) => {
    const dir = tmp();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const r = acquireLock(dir);
    assert.ok(r.ok);
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, rpc: null, startedAt: '', children: [] }));
    r.lock.release();
    assert.ok(existsSync(join(dir, LOCK_FILE)));
  });
});

describe('command line', () => {
  test('defaults: 4 operators, 60 s, .devnet in the checkout', () => {
    const o = parseOptions([]);
    assert.ok(o);
    assert.equal(o.operators, 4);
    assert.equal(o.interval, DEFAULT_INTERVAL);
    assert.equal(o.dir, DEFAULT_DIR);
  });

  test('flags, --help, and bad values', () => {
    assert.deepEqual(
      { ...parseOptions(['--operators', '7', '--interval', '30', '--dir', '/tmp/x']) },
      { operators: 7, interval: 30, dir: '/tmp/x', basePort: 18081, chainId: 31337, finalityBlocks: 4, blockTime: 1 },
    );
    // A public chain id takes its profile's interval unless --interval says otherwise.
    assert.deepEqual(
      { ...parseOptions(['--chain-id', '11155111', '--finality', '16', '--block-time', '2', '--dir', '/tmp/x']) },
      { operators: 4, interval: 120, dir: '/tmp/x', basePort: 18081, chainId: 11155111, finalityBlocks: 16, blockTime: 2 },
    );
    let help = '';
    assert.equal(parseOptions(['--help'], (s) => { help += s; }), null);
    assert.match(help, /--interval <seconds>/);
    assert.match(help, /docs\/devnet\.md/);
    const stderr = process.stderr.write;
    process.stderr.write = () => true; // commander prints the error line; the test only wants the throw
    try {
      for (const bad of [['--interval', '19'], ['--interval', '5'], ['--operators', '1'], ['--operators', '99'], ['--interval', 'abc'], ['extra'],
        ['--chain-id', '424242'], ['--finality', '1'], ['--block-time', '0'], ['--block-time', '5', '--interval', '60']]) {
        assert.throws(() => parseOptions(bad), CommanderError, bad.join(' '));
      }
    } finally {
      process.stderr.write = stderr;
    }
  });

  test('windows fit every allowed interval (with the contract\'s own rule)', () => {
    assert.deepEqual(windowsFor(60), { dealWindow: 15, ackWindow: 15, confirmWindow: 15 });
    assert.deepEqual(windowsFor(20), { dealWindow: 5, ackWindow: 5, confirmWindow: 5 });
    for (const i of [20, 21, 45, 59, 60, 61, 600, 86_400]) {
      const w = windowsFor(i);
      assert.ok(windowsFit(w.dealWindow, w.ackWindow, w.confirmWindow, 0, i), `interval ${i}`);
    }
  });
});

describe('output', () => {
  test('without a terminal, a status is printed when it changes (at most every 3 s) and repeated every 10 s', () => {
    let now = 0;
    const lines: string[] = [];
    const p = new Printer({ tty: false, write: (s) => lines.push(s), now: () => now });
    p.status('waiting A');
    now = 1000;
    p.status('waiting B'); // too soon: held back
    assert.equal(p.pendingStatus, 'waiting B');
    now = 3500;
    p.status('waiting B');
    now = 5000;
    p.status('waiting B'); // unchanged
    now = 13_600;
    p.status('waiting B'); // repeated
    p.line('done');
    assert.deepEqual(lines, ['waiting A\n', 'waiting B\n', 'waiting B\n', 'done\n']);
  });

  test('on a terminal, the status line is redrawn in place and erased before a permanent line', () => {
    const out: string[] = [];
    const p = new Printer({ tty: true, write: (s) => out.push(s) });
    p.status('a');
    p.status('b');
    p.line('x');
    assert.deepEqual(out, ['\r\x1b[2Ka', '\r\x1b[2Kb', '\r\x1b[2K', 'x\n']);
  });

  test('log tails render pino lines readably', (t) => {
    const dir = tmp();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'op1.log');
    const lines = Array.from({ length: 30 }, (_, i) => JSON.stringify({ level: 30, time: 1, app: 'kms-server', msg: `line ${i}`, session: i }));
    writeFileSync(file, `${lines.join('\n')}\n${JSON.stringify({ level: 50, time: 2, msg: 'tick failed', err: 'boom' })}\nplain text\n`);
    const tail = logTail(file, 3);
    assert.deepEqual(tail, ['INFO line 29 session=29', 'ERROR tick failed err=boom', 'plain text']);
    assert.deepEqual(logTail(join(dir, 'missing.log')), []);
    assert.equal(renderLogLine('x'.repeat(400)).length, 300);
    assert.equal(renderLogLine(JSON.stringify({ level: 30, msg: 'refused\n\nContract: KmsRegistry\nChain: 31337' })), 'INFO refused Contract: KmsRegistry Chain: 31337');
    assert.equal(readFileSync(file, 'utf8').length > 0, true);
  });

  test('shortHex', () => {
    assert.equal(shortHex('0x70997970c51812dc3a010c7d01b50e0d17dc79c8'), '0x709979…79c8');
    assert.equal(shortHex('0x1234'), '0x1234');
  });
});
