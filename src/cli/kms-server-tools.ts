/**
 * @module
 * The operator's tools, subcommands of `kms-server` (issue 15, items 1–2):
 *
 *   kms-server doctor [node flags] [--json]      checks a node's configuration, chain, store, API
 *   kms-server backup --out FILE                 an encrypted backup of the key store
 *   kms-server restore --in FILE                 fills an empty data directory from a backup
 *   kms-server backup-keygen --out FILE          an X25519 key pair for backups to a recipient
 *
 * `kms-server` alone still runs the node. Exit codes: 0 ok; 1 the operation failed (doctor:
 * a check failed); 2 bad usage (nothing was changed). None of them prints a secret.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, statSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { BackupError, createBackup, restoreBackup } from '../node/backup/backup-restore.ts';
import { BackupFormatError, MAX_BACKUP_BYTES, backupFingerprint, parseBackup, recipientPublicKey, type BackupKey, type BackupSecret } from '../node/backup/format.ts';
import { runDoctor } from '../node/doctor/run-doctor.ts';
import type { DoctorReport } from '../node/doctor/report.ts';
import { parseStorageKey } from '../node/store-crypto.ts';
import type { Address } from '../protocol/ledger.ts';
import { privateKeyToAccount } from 'viem/accounts';
import {
  addJsonOption,
  addSecretOptions,
  CliError,
  parseAddressArg,
  parseHexArg,
  printResult,
  readInputFile,
  readSecret,
  show,
  toJson,
  UsageError,
  type CliContext,
  type SecretSpec,
} from './common.ts';
import type { NodeFlags } from './kms-server.ts';

/** What a tool wants the process to exit with when it did not throw (doctor: 1 when a check failed). */
export interface ToolOutcome {
  exitCode: number;
}

export interface ToolDeps {
  readonly addNodeOptions: (cmd: Command) => Command;
  readonly parseNodeFlags: (opts: Record<string, unknown>, cmd: Command) => NodeFlags;
}

const OPERATOR_KEY: SecretSpec = { flag: 'operator-key', env: 'KMS_OPERATOR_KEY', what: 'operator\'s transaction key' };
const STORE_KEY: SecretSpec = { flag: 'store-key', env: 'KMS_STORE_KEY', what: 'key-store encryption key' };
const PASSPHRASE_ENV = 'KMS_BACKUP_PASSPHRASE';
/** Shorter passphrases are refused for a new backup (it guards every share the node holds). */
const MIN_PASSPHRASE = 12;

export function addToolCommands(program: Command, ctx: CliContext, deps: ToolDeps, outcome: ToolOutcome): void {
  // Options after a subcommand's name belong to it (both take the node's flags).
  program.enablePositionalOptions();
  program.addCommand(doctorCommand(ctx, deps, outcome));
  program.addCommand(backupCommand(ctx));
  program.addCommand(restoreCommand(ctx));
  program.addCommand(keygenCommand(ctx));
}

// ---------------------------------------------------------------------------------------
// doctor

function doctorCommand(ctx: CliContext, deps: ToolDeps, outcome: ToolOutcome): Command {
  const cmd = new Command('doctor')
    .description('Check this node: RPC and chain id, registry, operator registration, signing and session keys, key store and the active share, balance, the node\'s API and registered socket, clock, disk, and its recent submissions. Reads only; safe while the node runs.')
    .addHelpText('after', `
Give it exactly the node's flags or environment (the same KMS_* variables). Each check prints
PASS, WARN or FAIL with one line of what was found and, unless it passed, one line of what to
do. Exit 0 when nothing failed (warnings allowed), 1 when a check failed, 2 on bad flags.

While the node runs it holds its key store locked; the doctor then asks the node's operations
listener (--ops-host/--ops-port, GET /doctor) for the key-store checks, which the node runs
with its own store. Nothing is written, nothing is sent to the chain, no secret is printed.

Example:
  KMS_OPERATOR_KEY=0x… KMS_OPERATOR_SIG_KEY=0x… KMS_STORE_KEY=0x… \\
    kms-server doctor --rpc http://127.0.0.1:8545 --registry 0x… --port 8081 --ops-port 9081 --data-dir ./op1
`);
  deps.addNodeOptions(cmd);
  addJsonOption(cmd);
  cmd.action(async (opts: Record<string, unknown>) => {
    const f = deps.parseNodeFlags(opts, cmd);
    const local = (h: string) => (h === '0.0.0.0' || h === '::' || h === '[::]' ? '127.0.0.1' : h.includes(':') && !h.startsWith('[') ? `[${h}]` : h);
    const apiUrl = f.port === 0 ? null : `http://${local(f.host)}:${f.port}`;
    const opsUrl = f.ops === null || f.ops.port === 0 ? null : `http://${local(f.ops.host)}:${f.ops.port}`;
    let report: DoctorReport;
    try {
      report = await runDoctor({
        operatorKey: f.operatorKey, sigKeyType: f.sigKeyType, sigKey: f.sigKey, rpcUrls: f.rpcUrls, rpcQuorum: f.rpcQuorum,
        finality: f.finality, registry: f.registry, dataDir: resolve(ctx.io.cwd, f.dataDir), storageKey: f.storageKey, apiUrl, opsUrl,
      });
    } finally {
      f.storageKey.fill(0);
    }
    outcome.exitCode = report.ok ? 0 : 1;
    if (ctx.json) {
      ctx.io.stdout(`${ctx.redactor.scrub(toJson(report))}\n`);
      return;
    }
    const width = Math.max(...report.checks.map((c) => c.id.length));
    const lines = [`kms-server doctor: operator ${report.operator}`];
    for (const c of report.checks) {
      lines.push(`  ${c.status.toUpperCase().padEnd(4)}  ${c.id.padEnd(width)}  ${c.message}`);
      if (c.fix !== null) lines.push(`        ${' '.repeat(width)}  fix: ${c.fix}`);
    }
    const fails = report.checks.filter((c) => c.status === 'fail').length;
    const warns = report.checks.filter((c) => c.status === 'warn').length;
    lines.push(fails === 0 ? `healthy${warns ? ` (${warns} warning${warns === 1 ? '' : 's'})` : ''}` : `${fails} check${fails === 1 ? '' : 's'} failed${warns ? `, ${warns} warning${warns === 1 ? '' : 's'}` : ''}`);
    ctx.io.stdout(`${ctx.redactor.scrub(lines.join('\n'))}\n`);
  });
  return cmd;
}

// ---------------------------------------------------------------------------------------
// backup / restore

function dataDirOption(): Option {
  return new Option('--data-dir <dir>', 'the node\'s data directory (its key store)').default('./kms-data').env('KMS_DATA_DIR');
}

function identityOptions(cmd: Command): Command {
  addSecretOptions(cmd, OPERATOR_KEY);
  return cmd.addOption(new Option('--registry <address>', 'optional: refuse unless the store / the backup belongs to this registry').env('KMS_REGISTRY'));
}

/** The optional identity checks: the operator of --operator-key and --registry, when given. */
function identityOf(ctx: CliContext, opts: Record<string, unknown>): { operator?: Address; registry?: Address } {
  const key = readSecret(ctx, opts, OPERATOR_KEY, false);
  const registry = typeof opts.registry === 'string' ? parseAddressArg(opts.registry, '--registry') : undefined;
  return {
    ...(key !== undefined ? { operator: privateKeyToAccount(key).address.toLowerCase() as Address } : {}),
    ...(registry !== undefined ? { registry } : {}),
  };
}

function storageKeyOf(ctx: CliContext, opts: Record<string, unknown>): Uint8Array {
  const hex = readSecret(ctx, opts, STORE_KEY, true);
  try {
    return parseStorageKey(hex);
  } catch (e) {
    throw new UsageError(`--store-key: ${(e as Error).message}`);
  }
}

/** A secret file must not be readable by other users (like the node's key files). */
function readSecretFile(ctx: CliContext, path: string, what: string): string {
  const full = resolve(ctx.io.cwd, path);
  if (process.platform !== 'win32' && existsSync(full) && (statSync(full).mode & 0o077) !== 0 && ctx.io.env.KMS_ALLOW_INSECURE_KEY_FILES !== '1') {
    throw new UsageError(`${what}: ${show(path)} is readable by other users; run \`chmod 600 ${path}\``);
  }
  return readInputFile(ctx, path, what).toString('utf8').replace(/\r?\n$/, '');
}

/** The passphrase from --passphrase-file or KMS_BACKUP_PASSPHRASE (never a flag value: it would show in the process list). */
function passphraseOf(ctx: CliContext, opts: Record<string, unknown>): string | undefined {
  if (typeof opts.passphraseFile === 'string') return readSecretFile(ctx, opts.passphraseFile, '--passphrase-file');
  const env = ctx.io.env[PASSPHRASE_ENV];
  return env !== undefined && env !== '' ? env : undefined;
}

/** Writes a new file, 0600, refusing to overwrite one. */
function writeNewFile(ctx: CliContext, path: string, text: string, what: string): string {
  const full = resolve(ctx.io.cwd, path);
  if (existsSync(full)) throw new UsageError(`${what}: ${show(path)} exists; choose a new name (a backup is never overwritten)`);
  let fd: number;
  try {
    fd = openSync(full, 'wx', 0o600);
  } catch (e) {
    throw new UsageError(`${what}: ${show(path)} cannot be created (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return full;
}

function backupCommand(ctx: CliContext): Command {
  const cmd = new Command('backup')
    .description('Write an encrypted backup of this node\'s key store: its identity, session keys and the shares of the versions it may still serve (never retired ones). Reads the store only.')
    .addHelpText('after', `
Encrypt to a passphrase (scrypt; from --passphrase-file or ${PASSPHRASE_ENV}, never a flag
value, at least ${MIN_PASSPHRASE} characters) or to a recipient's X25519 public key (--recipient; make
one with \`kms-server backup-keygen\` and keep its secret half offline). The store is locked
while the node runs: stop the node between sessions, back up, start it again. A backup holds
the shares of the current key version: take a new one after every reshare you want to be
able to restore to (an older one restores a node that rejoins at the next reshare).

Example:
  KMS_STORE_KEY=0x… KMS_BACKUP_PASSPHRASE='…' kms-server backup --data-dir ./op1 --out op1-v7.kmsbackup
`);
  addSecretOptions(cmd, STORE_KEY);
  identityOptions(cmd);
  cmd.addOption(dataDirOption())
    .addOption(new Option('--out <file>', 'the backup file to create (never overwritten; mode 0600)'))
    .addOption(new Option('--passphrase-file <file>', `file holding the passphrase (or set ${PASSPHRASE_ENV})`))
    .addOption(new Option('--recipient <x25519-public-key>', 'encrypt to this X25519 public key (32 bytes of hex) instead of a passphrase'));
  addJsonOption(cmd);
  cmd.action(async (opts: Record<string, unknown>) => {
    if (typeof opts.out !== 'string' || opts.out === '') throw new UsageError('missing --out FILE (where to write the backup)');
    const passphrase = passphraseOf(ctx, opts);
    let key: BackupKey;
    if (typeof opts.recipient === 'string') {
      if (passphrase !== undefined && typeof opts.passphraseFile === 'string') throw new UsageError('give --recipient or --passphrase-file, not both');
      key = { recipient: Uint8Array.from(Buffer.from(parseHexArg(opts.recipient, 32, '--recipient').slice(2), 'hex')) };
    } else {
      if (passphrase === undefined) throw new UsageError(`missing the encryption: give --passphrase-file FILE, set ${PASSPHRASE_ENV}, or --recipient X25519_PUBLIC_KEY`);
      if ([...passphrase].length < MIN_PASSPHRASE) throw new UsageError(`the backup passphrase is shorter than ${MIN_PASSPHRASE} characters: it guards every share this node holds`);
      key = { passphrase };
    }
    if (existsSync(resolve(ctx.io.cwd, opts.out))) throw new UsageError(`--out: ${show(opts.out)} exists; choose a new name (a backup is never overwritten)`);
    const storageKey = storageKeyOf(ctx, opts);
    const identity = identityOf(ctx, opts);
    let text: string;
    let summary;
    try {
      const file = await createBackup({ dataDir: resolve(ctx.io.cwd, String(opts.dataDir)), storageKey, ...identity, key, now: Math.floor(Date.now() / 1000) });
      text = `${JSON.stringify(file, null, 1)}\n`;
      summary = { fingerprint: backupFingerprint(file), scope: file.scope, mpk: file.mpk, versions: file.summary.versions.map((v) => v.id), sessionKeys: file.summary.sessionKeys.length, encryption: file.encryption.kind };
    } catch (e) {
      throw toolError(e);
    } finally {
      storageKey.fill(0);
    }
    const path = writeNewFile(ctx, opts.out, text, '--out');
    printResult(ctx, { file: path, ...summary }, [
      `backup written: ${path} (${summary.encryption}-encrypted, fingerprint ${summary.fingerprint})`,
      `  operator ${summary.scope.operator}, registry ${summary.scope.registry}, chain ${summary.scope.chainId}`,
      `  versions ${summary.versions.length ? summary.versions.join(', ') : 'none (no active share: the backup restores the identity and session keys only)'}; ${summary.sessionKeys} session key${summary.sessionKeys === 1 ? '' : 's'}`,
    ]);
  });
  return cmd;
}

function restoreCommand(ctx: CliContext): Command {
  const cmd = new Command('restore')
    .description('Fill an empty data directory from a backup (kms-server backup). Refuses a directory that is not empty (exit 2, nothing changed).')
    .addHelpText('after', `
The new key store is sealed under --store-key (or KMS_STORE_KEY), which may be a new storage
key. Every share in the backup is checked against its version's public polynomial before
anything is written. Then start the node as usual. If the chain has moved on since the backup
(a reshare completed without this node), the node serves nothing stale: it says so in its log
and /status, answers key requests with 503 not-ready naming the reason, and rejoins as a
recipient at the next reshare (docs/operations.md, "Restoring a node").

Example:
  KMS_STORE_KEY=0x… KMS_BACKUP_PASSPHRASE='…' kms-server restore --in op1-v7.kmsbackup --data-dir ./op1
`);
  addSecretOptions(cmd, STORE_KEY);
  identityOptions(cmd);
  cmd.addOption(dataDirOption())
    .addOption(new Option('--in <file>', 'the backup file'))
    .addOption(new Option('--passphrase-file <file>', `file holding the passphrase (or set ${PASSPHRASE_ENV})`))
    .addOption(new Option('--recipient-key-file <file>', 'for a backup encrypted to a recipient: file holding its X25519 secret key (hex)'));
  addJsonOption(cmd);
  cmd.action(async (opts: Record<string, unknown>) => {
    if (typeof opts.in !== 'string' || opts.in === '') throw new UsageError('missing --in FILE (the backup to restore)');
    const raw = readInputFile(ctx, opts.in, '--in');
    if (raw.length > MAX_BACKUP_BYTES) throw new UsageError(`--in: ${show(opts.in)} is larger than ${MAX_BACKUP_BYTES} bytes: not a backup`);
    let file;
    try {
      file = parseBackup(raw.toString('utf8'));
    } catch (e) {
      throw new UsageError(`--in: ${(e as Error).message}`);
    }
    let secret: BackupSecret;
    if (typeof opts.recipientKeyFile === 'string') {
      const hex = readSecretFile(ctx, opts.recipientKeyFile, '--recipient-key-file').trim();
      ctx.redactor.addHex(hex);
      if (!/^(?:0x)?[0-9a-fA-F]{64}$/.test(hex)) throw new UsageError('--recipient-key-file: expected an X25519 secret key as 32 bytes of hex');
      secret = { recipientSecret: Uint8Array.from(Buffer.from(hex.replace(/^0x/i, ''), 'hex')) };
    } else {
      const passphrase = passphraseOf(ctx, opts);
      if (passphrase === undefined) {
        throw new UsageError(file.encryption.kind === 'recipient'
          ? `this backup is encrypted to the X25519 public key ${file.encryption.recipient}: give --recipient-key-file FILE`
          : `this backup is encrypted to a passphrase: give --passphrase-file FILE or set ${PASSPHRASE_ENV}`);
      }
      secret = { passphrase };
    }
    const dataDir = resolve(ctx.io.cwd, String(opts.dataDir));
    const storageKey = storageKeyOf(ctx, opts);
    const identity = identityOf(ctx, opts);
    try {
      const r = await restoreBackup({ dataDir, storageKey, file, secret, ...identity });
      printResult(ctx, { dataDir, store: r.path, scope: file.scope, mpk: file.mpk, versions: r.versions.map((v) => v.id), sessionKeys: r.sessionKeys, backupCreatedAt: file.createdAt }, [
        `restored ${r.path} from a backup of ${new Date(file.createdAt * 1000).toISOString()}`,
        `  operator ${file.scope.operator}, registry ${file.scope.registry}, chain ${file.scope.chainId}`,
        `  versions ${r.versions.length ? r.versions.map((v) => v.id).join(', ') : 'none'}; ${r.sessionKeys} session key${r.sessionKeys === 1 ? '' : 's'}`,
        '  start the node; if the chain has a newer version, it serves nothing until it rejoins at the next reshare (its log and /status say so)',
      ]);
    } catch (e) {
      throw toolError(e);
    } finally {
      storageKey.fill(0);
      if ('recipientSecret' in secret) secret.recipientSecret.fill(0);
    }
  });
  return cmd;
}

function keygenCommand(ctx: CliContext): Command {
  const cmd = new Command('backup-keygen')
    .description('Create an X25519 key pair for backups encrypted to a recipient: writes the secret key (hex, 0600) to --out and prints the public key to give `kms-server backup --recipient`.');
  cmd.addOption(new Option('--out <file>', 'where to write the secret key (never overwritten); keep it offline'));
  addJsonOption(cmd);
  cmd.action((opts: Record<string, unknown>) => {
    if (typeof opts.out !== 'string' || opts.out === '') throw new UsageError('missing --out FILE (where to write the secret key)');
    const secret = randomBytes(32);
    const pub = `0x${Buffer.from(recipientPublicKey(secret)).toString('hex')}`;
    const path = writeNewFile(ctx, opts.out, `0x${secret.toString('hex')}\n`, '--out');
    secret.fill(0);
    printResult(ctx, { secretKeyFile: path, publicKey: pub }, [`secret key written to ${path} (keep it offline)`, `public key: ${pub}`, `back up with: kms-server backup --recipient ${pub} --out FILE`]);
  });
  return cmd;
}

/** Backup and restore failures: bad input exits 2 (nothing changed), the rest 1. */
function toolError(e: unknown): unknown {
  if (e instanceof BackupError) {
    if (e.code === 'usage' || e.code === 'not-empty') return new UsageError(e.message, { cause: e });
    return new CliError(e.message, { code: e.code === 'in-use' ? 'IN_USE' : 'INVALID', cause: e });
  }
  if (e instanceof BackupFormatError) return new CliError(e.message, { code: 'INVALID', cause: e });
  return e;
}
