// The backup file (docs/formats.md, `eigenx-kms-backup` v1): what it holds, that nothing in it
// can be changed without the decryption failing, and that a crafted file cannot make a restore
// allocate unbounded memory. Attacks run against real files.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createBackup } from '../../src/node/backup/backup-restore.ts';
import { BackupFormatError, decryptBackup, encryptBackup, parseBackup, recipientPublicKey, type BackupFile } from '../../src/node/backup/format.ts';
import { ME, realStore, realVersion, SCOPE } from './backup-fixtures.ts';
import { sessionKey } from './key-store-fixtures.ts';

/** Small scrypt work factor: these tests are about the format, not the KDF's cost. */
const FAST = { N: 2 ** 10, r: 8, p: 1 };
const PASS = 'correct horse battery staple';

const payload = () => ({ versions: [realVersion(5)], sessionKeys: [sessionKey(300)] });
const reparse = (f: BackupFile, edit: (o: Record<string, unknown>) => void): BackupFile => {
  const o = JSON.parse(JSON.stringify(f)) as Record<string, unknown>;
  edit(o);
  return parseBackup(JSON.stringify(o));
};

describe('backup file format v1', () => {
  it('round-trips through a passphrase and through an X25519 recipient key', async () => {
    const p = payload();
    const mpk = p.versions[0]!.publicPoly.slice(0, 194) as `0x${string}`;
    const f1 = parseBackup(JSON.stringify(await encryptBackup(SCOPE, mpk, p, { passphrase: PASS, scrypt: FAST }, 1234)));
    const back = await decryptBackup(f1, { passphrase: PASS });
    assert.equal(back.versions[0]!.share, p.versions[0]!.share);
    assert.deepEqual(back.sessionKeys[0]!.secretKey, p.sessionKeys[0]!.secretKey);
    const secret = randomBytes(32);
    const f2 = parseBackup(JSON.stringify(await encryptBackup(SCOPE, mpk, p, { recipient: recipientPublicKey(secret) }, 1234)));
    assert.equal((await decryptBackup(f2, { recipientSecret: secret })).versions[0]!.share, p.versions[0]!.share);
    await assert.rejects(decryptBackup(f2, { recipientSecret: randomBytes(32) }), /not to the key given/);
  });

  it('a wrong passphrase does not decrypt', async () => {
    const f = await encryptBackup(SCOPE, null, payload(), { passphrase: PASS, scrypt: FAST }, 1);
    await assert.rejects(decryptBackup(f, { passphrase: `${PASS}!` }), /wrong passphrase/);
  });

  it('a header edited after encryption (scope, summary, KDF parameters) makes the decryption fail', async () => {
    const f = await encryptBackup(SCOPE, null, payload(), { passphrase: PASS, scrypt: FAST }, 1);
    const edits: ((o: Record<string, unknown>) => void)[] = [
      (o) => { (o.scope as Record<string, unknown>).operator = '0x00000000000000000000000000000000000000a2'; },
      (o) => { (o.scope as Record<string, unknown>).chainId = '1'; },
      (o) => { ((o.summary as Record<string, unknown>).versions as Record<string, unknown>[])[0]!.id = 6; },
      (o) => { o.createdAt = 2; },
      (o) => { (o.encryption as Record<string, unknown>).N = 2 ** 11; },
    ];
    for (const edit of edits) await assert.rejects(decryptBackup(reparse(f, edit), { passphrase: PASS }), /does not decrypt/);
  });

  it('a crafted file asking scrypt for more than 2^20 × 16 × 4 is refused before any work', () => {
    const text = (n: number, r = 8, p = 1) => JSON.stringify({
      format: 'eigenx-kms-backup', version: 1, createdAt: 1, scope: { chainId: '1', registry: `0x${'11'.repeat(20)}`, operator: ME }, mpk: null,
      summary: { versions: [], sessionKeys: [] }, encryption: { kind: 'passphrase', kdf: 'scrypt', N: n, r, p, salt: `0x${'00'.repeat(16)}`, nonce: `0x${'00'.repeat(12)}` }, ciphertext: 'AAAA',
    });
    assert.throws(() => parseBackup(text(2 ** 21)), BackupFormatError);
    assert.throws(() => parseBackup(text(2 ** 17, 64)), BackupFormatError);
    assert.throws(() => parseBackup(text(2 ** 17, 8, 1000)), BackupFormatError);
    assert.throws(() => parseBackup(text(3 * 2 ** 10)), BackupFormatError);
    assert.doesNotThrow(() => parseBackup(text(2 ** 17)));
  });

  it('refuses what is not a v1 backup, naming the field', () => {
    assert.throws(() => parseBackup('{}'), /format/);
    assert.throws(() => parseBackup('not json'), /not JSON/);
    assert.throws(() => parseBackup(JSON.stringify({ format: 'eigenx-kms-backup', version: 2 })), /format version 2/);
  });

  it('holds only the active versions: never a retired share, never a pending one', async () => {
    const s = realStore();
    const f = await createBackup({ dataDir: s.dataDir, storageKey: s.storageKey, key: { passphrase: PASS, scrypt: FAST }, now: 5 });
    assert.deepEqual(f.summary.versions.map((v) => v.id), [2]);
    const p = await decryptBackup(f, { passphrase: PASS });
    assert.deepEqual(p.versions.map((v) => v.id), [2]);
    assert.equal(p.versions[0]!.share, s.versions[1]!.share);
    assert.equal(p.sessionKeys.length, 2);
    const text = JSON.stringify(f);
    for (const v of s.versions) assert.ok(!text.includes(v.share.toString(16).padStart(64, '0')), `no share of version ${v.id} in clear`);
  });
});
