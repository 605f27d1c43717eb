// Issue 15 item 2: backup and restore drills on real processes (test/cluster/harness.ts: anvil,
// the registry, 4 kms-server processes, t = 3). Node 0 is the one that loses its disk.
//
//   (a) node 0 is stopped between sessions, backed up (`kms-server backup`, passphrase from the
//       environment), its data directory wiped and restored (`kms-server restore`); a restore
//       into the now non-empty directory exits 2 and changes nothing; node 0 starts and serves
//       valid partials: t of them, node 0's included, combine to exactly the app key the other
//       nodes give, and it verifies against the MPK;
//   (b) the cluster reshares twice (node 0 takes part), then node 0 is restored from that same
//       backup, now two versions old. It serves nothing stale: /app/sign answers 503 not-ready
//       naming the reason, /status says why, the log says so once, and the version the backup
//       held is gone from its store. At the next reshare it rejoins as a recipient and then
//       serves valid partials of the new version.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, type Cluster } from './harness.ts';
import { askPartial, combineFrom, createEcdsaApp, nodeEnv, runTool, showRun, type EcdsaApp } from './tools.ts';

// Sessions end within 36 s; a 75 s interval leaves ~40 s of quiet for each drill's stop, backup, restore and start.
const INTERVAL = 75;
const WINDOWS = { deal: 20, ack: 8, confirm: 8 } as const;
const PASSPHRASE = 'drill passphrase, not a real one';
const OWNER_ACCOUNT = 15;

describe('backup and restore drills on real processes', { timeout: 900_000 }, () => {
  let c: Cluster;
  let app: EcdsaApp;
  let backupFile = '';
  /** The version the backup holds. */
  let backedUp = 0;

  before(async () => {
    c = await startCluster({ n: 4, interval: INTERVAL, windows: WINDOWS, tickMs: 500, name: 'backup-drill' });
    await c.waitForRoom(30);
    await c.armGenesis();
    await c.waitForVersion(1, { timeoutMs: 120_000 });
    app = await createEcdsaApp(c, OWNER_ACCOUNT);
    backupFile = join(c.dir, 'node0.kmsbackup');
  });

  after(async () => {
    await c?.stop();
  });

  /**
   * Waits until node 0 keeps `id` as its only active version: the older one is retired only once
   * the completion of `id` is final (4 blocks behind the head here), so a node stopped right after
   * the session closes may still hold both, and its backup would too (rightly: before finality the
   * older version may come back). The drills want a backup of exactly one version.
   */
  const waitSettled = (id: number): Promise<true> =>
    c.waitFor(`node 0 to keep version ${id} as its only active one`, async () => {
      const active = ((await c.status(0)).versions ?? []).filter((v) => v.status === 'active').map((v) => v.id);
      return active.length === 1 && active[0] === id ? true : undefined;
    }, { timeoutMs: 30_000, pollMs: 250 });

  /** Stops node 0 between sessions, wipes its data directory and restores `backupFile` into it. */
  const wipeAndRestore = async (): Promise<void> => {
    const node = c.nodes[0]!;
    rmSync(node.dataDir, { recursive: true, force: true });
    const r = await runTool(['restore', '--in', backupFile, '--json'], nodeEnv(c, 0, { KMS_BACKUP_PASSPHRASE: PASSPHRASE }));
    assert.equal(r.code, 0, showRun(r));
    const out = JSON.parse(r.stdout) as { ok: boolean; versions: number[] };
    assert.equal(out.ok, true);
    assert.deepEqual(out.versions, [backedUp], 'the backup restores the version it held');
  };

  it('(a) wipe, restore from a backup: the node serves partials that combine to the app key', async () => {
    await c.waitForQuiet(35);
    const active = await c.ledger.activeVersion();
    assert.ok(active);
    backedUp = active.id;
    await waitSettled(backedUp);
    const before = await combineFrom(c, [1, 2, 3], app);
    await c.stopNodes([0]);

    const b = await runTool(['backup', '--out', backupFile, '--json'], nodeEnv(c, 0, { KMS_BACKUP_PASSPHRASE: PASSPHRASE }));
    assert.equal(b.code, 0, showRun(b));
    const summary = JSON.parse(b.stdout) as { versions: number[]; encryption: string };
    assert.deepEqual(summary.versions, [backedUp]);
    assert.equal(summary.encryption, 'passphrase');
    assert.equal(statSync(backupFile).mode & 0o777, 0o600, 'the backup file is readable by its owner only');
    const text = readFileSync(backupFile, 'utf8');
    for (const secret of [c.nodes[0]!.storeKey, c.nodes[0]!.operatorKey, c.nodes[0]!.sigKey]) {
      assert.ok(!text.includes(secret.slice(2)) && !b.stdout.includes(secret.slice(2)) && !b.stderr.includes(secret.slice(2)), 'no key appears in the backup or the output');
    }

    await wipeAndRestore();
    // A second restore into the directory the first one filled: refused, nothing changed.
    const storePath = c.nodes[0]!.storePath;
    const bytes = readFileSync(storePath);
    const again = await runTool(['restore', '--in', backupFile], nodeEnv(c, 0, { KMS_BACKUP_PASSPHRASE: PASSPHRASE }));
    assert.equal(again.code, 2, showRun(again));
    assert.match(again.stderr, /not empty/);
    assert.deepEqual(readFileSync(storePath), bytes, 'the refused restore changed nothing');

    await c.startNodes([0]);
    assert.equal((await c.ledger.activeVersion())?.id, backedUp, 'no reshare ran during the drill (else the test timing is off)');
    assert.equal((await c.status(0)).activeVersion, backedUp, 'the restored node serves the version it held');
    const withRestored = await combineFrom(c, [0, 1, 2], app);
    assert.equal(withRestored.version, backedUp);
    assert.equal(withRestored.key, before.key, 't partials including the restored node\'s combine to exactly the app key');
  });

  it('(b) restore a backup two versions old: it refuses to serve, rejoins at the next reshare, then serves', async () => {
    await c.waitForVersion(backedUp + 2, { timeoutMs: 3 * INTERVAL * 1000 + 60_000 });
    const keyNow = await combineFrom(c, [1, 2, 3], app);
    const next = await c.waitForQuiet(35);
    await c.stopNodes([0]);
    await wipeAndRestore();
    await c.startNodes([0]);

    // Serves nothing stale: every default request is refused with the reason, so is the retired version.
    const refused = await askPartial(c, 0, app);
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    const error = refused.body.error as { code: string; message: string };
    assert.equal(error.code, 'not-ready');
    assert.match(error.message, /older than the chain/);
    const old = await askPartial(c, 0, app, backedUp);
    assert.equal(old.status, 404, `the retired version ${backedUp} is not served: ${JSON.stringify(old.body)}`);
    const status = await c.status(0);
    assert.equal(status.activeVersion, null);
    assert.match(String(status.staleStore), /older than the chain/);
    assert.match(readFileSync(c.nodes[0]!.logPath, 'utf8'), /"level":40[^\n]*older than the chain/);

    // Rejoins as a recipient at the next reshare, then serves valid partials of it.
    const v = await c.waitForVersion(next, { timeoutMs: 2 * INTERVAL * 1000 + 30_000 });
    assert.ok(v.holders.includes(c.nodes[0]!.address), 'node 0 is a holder of the new version');
    assert.equal((await c.status(0)).staleStore, null);
    const rejoined = await combineFrom(c, [0, 2, 3], app);
    assert.equal(rejoined.version, next);
    assert.equal(rejoined.key, keyNow.key, 'the app key never changes; the rejoined node\'s partial is part of it');
  });
});
