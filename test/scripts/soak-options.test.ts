// The soak's command line (scripts/soak/options.ts) and its seeded choices
// (scripts/soak/rand.ts). The soak itself runs in test/cluster/soak.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CommanderError } from 'commander';
import { DEFAULTS, parseSoakOptions, windowsFor } from '../../scripts/soak/options.ts';
import { seededRand } from '../../scripts/soak/rand.ts';
import { windowsFit } from '../../src/protocol/session-rules.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/soak.ts', import.meta.url));
const quiet = (): void => undefined;
const parse = (argv: string[]) => {
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return parseSoakOptions(argv, quiet);
  } finally {
    process.stderr.write = write;
  }
};

describe('soak options', () => {
  test('defaults, with the seed drawn fresh when not given', () => {
    const o = parse(['--minutes', '2']);
    assert.ok(o);
    assert.equal(o.minutes, 2);
    assert.equal(o.nodes, DEFAULTS.nodes);
    assert.equal(o.interval, DEFAULTS.interval);
    assert.ok(Number.isSafeInteger(o.seed) && o.seed >= 0);
    assert.equal(parse(['--minutes', '0.5', '--seed', '7'])?.seed, 7);
  });

  for (const [argv, what] of [
    [[], 'no --minutes'],
    [['--minutes', '0'], '--minutes 0'],
    [['--minutes', '-1'], 'a negative --minutes'],
    [['--minutes', '1e3'], '--minutes in exponent notation'],
    [['--minutes', '2', '--nodes', '3'], 'three operators'],
    [['--minutes', '2', '--nodes', '6', '--max-nodes', '5'], '--max-nodes below --nodes'],
    [['--minutes', '2', '--seed', 'x'], 'a seed that is not an integer'],
    [['--minutes', '2', '--interval', '10'], 'an interval too short for its windows'],
    [['--minutes', '2', '--finality', '3'], 'a finality that leaves no room for a reorg below it'],
    [['--minutes', '2', 'extra'], 'a stray argument'],
  ] as const) {
    test(`refused: ${what}`, () => {
      assert.throws(() => parse([...argv]), CommanderError);
    });
  }

  test('every interval allowed gets windows that fit it', () => {
    for (let interval = 16; interval <= 600; interval++) {
      const w = windowsFor(interval);
      assert.ok(w.deal >= 4 && windowsFit(w.deal, w.ack, w.confirm, 0, interval), `interval ${interval}`);
    }
  });

  test('the command exits 2 with one line on bad usage, 0 on --help', () => {
    const bad = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, '--minutes', 'soon'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /--minutes must be a number above 0/);
    const help = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--fault-every/);
    assert.match(help.stdout, /0 the invariants held, 1 they did not/);
  });
});

describe('soak seeded choices', () => {
  test('one seed, one sequence; another seed, another', () => {
    const draw = (seed: number) => {
      const r = seededRand(seed);
      return [r.float(), r.int(1, 6), r.pick(['a', 'b', 'c']), ...r.shuffle([1, 2, 3, 4, 5])];
    };
    assert.deepEqual(draw(42), draw(42));
    assert.notDeepEqual(draw(42), draw(43));
  });

  test('int stays inside its bounds and reaches both ends', () => {
    const r = seededRand(1);
    const seen = new Set<number>();
    for (let k = 0; k < 500; k++) {
      const v = r.int(3, 5);
      assert.ok(v >= 3 && v <= 5);
      seen.add(v);
    }
    assert.deepEqual([...seen].sort(), [3, 4, 5]);
  });
});
