// `kms-server backup`, `restore` and `backup-keygen` (issue 15, item 2), in-process through
// main() against real SQLite stores: a round trip under a new storage key, and every refusal
// (bad input exits 2 and changes nothing; a failed operation exits 1 and changes nothing).
// The backups here use the production scrypt parameters: each costs about a second.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CliIo } from '../../src/cli/common.ts';
import { main } from '../../src/cli/kms-server.ts';
import { openSqliteKeyStore } from '../../src/node/sqlite-key-store.ts';
import { generateStorageKeyHex, parseStorageKey } from '../../src/node/store-crypto.ts';
import { realStore, SCOPE } from '../node/backup-fixtures.ts';
import { tmpDir } from '../node/key-store-fixtures.ts';

const PASS = 'a passphrase for tests only';

async function run(args: string[], env: Record<string, string>, cwd = tmpDir()): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env, cwd };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

const listing = (dir: string): string => (existsSync(dir) ? JSON.stringify(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f)).toString('base64')])) : 'absent');

describe('kms-server backup and restore', () => {
  it('round trip: the restored store (under a new storage key) holds the active share and the session keys, nothing retired or pending', async () => {
    const s = realStore();
    const out = join(tmpDir(), 'b.kmsbackup');
    const b = await run(['backup', '--data-dir', s.dataDir, '--out', out, '--json'], { KMS_STORE_KEY: s.storeKeyHex, KMS_BACKUP_PASSPHRASE: PASS });
    assert.equal(b.code, 0, b.stderr);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.ok(!readFileSync(out, 'utf8').includes(s.storeKeyHex.replace(/^0x/, '')), 'the storage key is not in the file');
    const target = join(tmpDir(), 'restored');
    const newKey = generateStorageKeyHex();
    const r = await run(['restore', '--in', out, '--data-dir', target, '--json'], { KMS_STORE_KEY: newKey, KMS_BACKUP_PASSPHRASE: PASS });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { versions: number[] }).versions, [2]);
    const store = openSqliteKeyStore({ path: join(target, 'keystore.sqlite'), storageKey: parseStorageKey(newKey), scope: SCOPE });
    try {
      assert.deepEqual(store.listVersions().map((v) => [v.id, v.status]), [[2, 'active']]);
      assert.equal(store.getVersion(2)?.share, s.versions[1]!.share);
      assert.equal(store.mpk(), s.mpk);
      assert.equal(store.listSessionKeys().length, 2);
    } finally {
      store.close();
    }
    assert.equal(statSync(target).mode & 0o777, 0o700);
  });

  it('restore refuses a data directory that is not empty: exit 2, nothing changed', async () => {
    const s = realStore();
    const out = join(tmpDir(), 'b.kmsbackup');
    assert.equal((await run(['backup', '--data-dir', s.dataDir, '--out', out], { KMS_STORE_KEY: s.storeKeyHex, KMS_BACKUP_PASSPHRASE: PASS })).code, 0);
    const dir = tmpDir();
    writeFileSync(join(dir, 'notes.txt'), 'something');
    const before = listing(dir);
    const r = await run(['restore', '--in', out, '--data-dir', dir], { KMS_STORE_KEY: generateStorageKeyHex(), KMS_BACKUP_PASSPHRASE: PASS });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /not empty/);
    assert.equal(listing(dir), before);
  });

  it('a wrong passphrase (exit 1), another operator\'s key (exit 2): nothing is created', async () => {
    const s = realStore();
    const out = join(tmpDir(), 'b.kmsbackup');
    assert.equal((await run(['backup', '--data-dir', s.dataDir, '--out', out], { KMS_STORE_KEY: s.storeKeyHex, KMS_BACKUP_PASSPHRASE: PASS })).code, 0);
    const target = join(tmpDir(), 'restored');
    const wrong = await run(['restore', '--in', out, '--data-dir', target], { KMS_STORE_KEY: generateStorageKeyHex(), KMS_BACKUP_PASSPHRASE: `${PASS}?` });
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(wrong.stderr, /wrong passphrase/);
    assert.equal(existsSync(target), false);
    const other = await run(['restore', '--in', out, '--data-dir', target], { KMS_STORE_KEY: generateStorageKeyHex(), KMS_BACKUP_PASSPHRASE: PASS, KMS_OPERATOR_KEY: `0x${'11'.repeat(32)}` });
    assert.equal(other.code, 2, other.stderr);
    assert.match(other.stderr, /belongs to operator/);
    assert.equal(existsSync(target), false);
  });

  it('backup refusals: a short passphrase, an existing --out, a passphrase given as a flag value (exit 2); a store held by a running node (exit 1)', async () => {
    const s = realStore();
    const out = join(tmpDir(), 'b.kmsbackup');
    const env = { KMS_STORE_KEY: s.storeKeyHex };
    assert.equal((await run(['backup', '--data-dir', s.dataDir, '--out', out], { ...env, KMS_BACKUP_PASSPHRASE: 'short' })).code, 2);
    assert.equal(existsSync(out), false);
    assert.equal((await run(['backup', '--data-dir', s.dataDir, '--out', out, '--passphrase', PASS], env)).code, 2, 'there is no --passphrase flag');
    writeFileSync(out, 'keep me');
    assert.equal((await run(['backup', '--data-dir', s.dataDir, '--out', out], { ...env, KMS_BACKUP_PASSPHRASE: PASS })).code, 2);
    assert.equal(readFileSync(out, 'utf8'), 'keep me', 'an existing file is never overwritten');
    const held = openSqliteKeyStore({ path: s.path, storageKey: s.storageKey, scope: SCOPE });
    try {
      const out2 = join(tmpDir(), 'c.kmsbackup');
      const r = await run(['backup', '--data-dir', s.dataDir, '--out', out2], { ...env, KMS_BACKUP_PASSPHRASE: PASS });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /in use by a running node/);
      assert.equal(existsSync(out2), false);
    } finally {
      held.close();
    }
  });

  it('to a recipient key: backup-keygen, backup --recipient, restore --recipient-key-file', async () => {
    const s = realStore();
    const work = tmpDir();
    const k = await run(['backup-keygen', '--out', 'r.key', '--json'], {}, work);
    assert.equal(k.code, 0, k.stderr);
    const pub = (JSON.parse(k.stdout) as { publicKey: string }).publicKey;
    assert.equal(statSync(join(work, 'r.key')).mode & 0o777, 0o600);
    const b = await run(['backup', '--data-dir', s.dataDir, '--out', 'b.kmsbackup', '--recipient', pub], { KMS_STORE_KEY: s.storeKeyHex }, work);
    assert.equal(b.code, 0, b.stderr);
    const noKey = await run(['restore', '--in', 'b.kmsbackup', '--data-dir', 'restored'], { KMS_STORE_KEY: generateStorageKeyHex() }, work);
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /--recipient-key-file/);
    const r = await run(['restore', '--in', 'b.kmsbackup', '--data-dir', 'restored', '--recipient-key-file', 'r.key'], { KMS_STORE_KEY: generateStorageKeyHex() }, work);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(work, 'restored', 'keystore.sqlite')));
  });
});
