/**
 * @module
 * `kms-client`: eigenx-kms from an app's side (SPEC 7, issue 6). Scripts depend on this
 * contract, so it changes only on purpose:
 *
 *     kms-client operators [--json]
 *     kms-client pubkey [--json]
 *     kms-client encrypt --app-id ID [--mpk HEX [--epoch N]] [--in FILE|-] [--out FILE|-] [--armor]
 *     kms-client decrypt --app-id ID (--app-key HEX | --owner-key HEX) [--in FILE|-] [--out FILE|-]
 *     kms-client app-key --app-id ID --owner-key HEX [--json]
 *     kms-client secrets --app-id ID --owner-key HEX [--json]
 *     kms-client mnemonic --app-id ID --owner-key HEX [--json]
 *     kms-client rotate-app-key --app-id ID --owner-key HEX [--epoch N] [--env-file FILE] [--json]
 *     kms-client receipts --app-id ID [--sessions N] [--json]
 *
 * Networked commands take `--rpc URL --registry ADDR` (env `KMS_RPC_URL`, `KMS_REGISTRY`) or
 * `--devnet`, and `--timeout MS` per operator request. `encrypt --mpk` and `decrypt --app-key`
 * work offline. Exit codes, output and secret handling are `common.ts`'s: 0 ok, 1 the operation
 * failed (the message says why, with one meta line per operator at fault), 2 bad usage (one
 * line, nothing sent).
 *
 * Each command is thin: validate flags, call the SDK (`src/client`), print. The SDK's errors
 * keep their meta lines (one per operator at fault) on the way out.
 *
 * Secrets: the owner key comes from `--owner-key`, `--owner-key-file` or `KMS_OWNER_KEY`; the
 * app key from `--app-key`, `--app-key-file` or `KMS_APP_KEY`. Both are registered with the
 * redactor and never printed — except by `app-key`, whose purpose is to print the app key.
 * Decrypted output written to a file is created with mode 600.
 */
import { statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import type { KmsClient } from '../client/client.ts';
import type { OperatorFault } from '../client/errors.ts';
import type { Address, Hex } from '../protocol/ledger.ts';
import {
  addChainOptions,
  addJsonOption,
  addSecretOptions,
  CliError,
  createCliContext,
  parseHexArg,
  parseIntegerArg,
  printResult,
  processIo,
  readInputFile,
  readSecret,
  resolveChainTarget,
  runCli,
  show,
  toJson,
  UsageError,
  warn,
  type CliContext,
  type CliIo,
  type SecretSpec,
} from './common.ts';

type Opts = Readonly<Record<string, unknown>>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

// ---------------------------------------------------------------------------------------
// Streams: binary in and out, beside common.ts's text streams

/** `CliIo` plus what a data-moving command needs: raw bytes, stdin, and whether stdout is a terminal. */
export interface ClientIo extends CliIo {
  /** Writes raw bytes to stdout (envelopes, decrypted data). */
  stdoutBytes?(bytes: Uint8Array): void;
  /** Reads all of stdin. */
  readStdin?(): Promise<Uint8Array>;
  /** true when stdout is a terminal: binary output is refused there. */
  readonly stdoutIsTTY?: boolean;
  /** true when stdin is a terminal: a hint is printed before waiting for typed input. */
  readonly stdinIsTTY?: boolean;
}

/** The process's streams, with binary stdout and stdin. */
export function processClientIo(): ClientIo {
  const base = processIo();
  return {
    ...base,
    stdoutBytes: (b) => void process.stdout.write(b),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
      return new Uint8Array(Buffer.concat(chunks));
    },
    stdoutIsTTY: process.stdout.isTTY === true,
    stdinIsTTY: process.stdin.isTTY === true,
  };
}

interface ClientContext extends CliContext {
  readonly io: ClientIo;
}

/** `--in FILE|-`: the file's bytes, or all of stdin. */
async function readIn(ctx: ClientContext, opts: Opts, what: string): Promise<Uint8Array> {
  const path = str(opts.in) ?? '-';
  if (path !== '-') return new Uint8Array(readInputFile(ctx, path, '--in'));
  if (!ctx.io.readStdin) throw new UsageError('--in -: this environment has no stdin; give --in FILE');
  if (ctx.io.stdinIsTTY) ctx.io.stderr(`reading ${what} from the terminal; end with Ctrl-D (or give --in FILE)\n`);
  return ctx.io.readStdin();
}

/** Binary output to a terminal would garble it (and could move the cursor): refused, before any work. */
function refuseBinaryOnTerminal(ctx: ClientContext, opts: Opts): void {
  if ((str(opts.out) ?? '-') === '-' && ctx.io.stdoutIsTTY) {
    throw new UsageError('refusing to write a binary envelope to a terminal: give --out FILE, --armor, or redirect stdout');
  }
}

/** `--out FILE|-`: writes the bytes. `secret`: a new file is created with mode 600. */
function writeOut(ctx: ClientContext, opts: Opts, data: Uint8Array, o: { binary: boolean; secret: boolean }): void {
  const path = str(opts.out) ?? '-';
  if (path === '-') {
    if (o.binary) refuseBinaryOnTerminal(ctx, opts);
    if (ctx.io.stdoutBytes) ctx.io.stdoutBytes(data);
    else ctx.io.stdout(Buffer.from(data).toString(o.binary ? 'latin1' : 'utf8'));
    return;
  }
  const full = resolve(ctx.io.cwd, path);
  try {
    writeFileSync(full, data, o.secret ? { mode: 0o600 } : {});
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = code === 'ENOENT' ? 'no such directory' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : 'cannot be written';
    throw new CliError(`--out ${show(path)}: ${why}.`, { code: 'OUTPUT' });
  }
}

// ---------------------------------------------------------------------------------------
// Flags

const OWNER_KEY: SecretSpec = { flag: 'owner-key', env: 'KMS_OWNER_KEY', what: 'app owner\'s key (signs the ecdsa attestation; never sent)' };
const APP_KEY_ENV = 'KMS_APP_KEY';

const BYTES32_RE = /^0x[0-9a-fA-F]{64}$/;

/** `--app-id`: a bytes32 app id, lowercased (its IBE identity). */
function appIdOf(opts: Opts): Hex {
  const v = opts.appId;
  if (typeof v !== 'string' || !BYTES32_RE.test(v)) {
    throw new UsageError(`--app-id: expected a bytes32 app id (0x followed by 64 hex digits), got ${show(String(v))}`);
  }
  return v.toLowerCase() as Hex;
}

function timeoutOf(opts: Opts): number | undefined {
  return opts.timeout === undefined ? undefined : parseIntegerArg(opts.timeout, '--timeout', { min: 1, max: 600_000 });
}

/**
 * The app key from `--app-key`, `--app-key-file` or KMS_APP_KEY (48 bytes of hex), registered
 * with the redactor; undefined when none is given. `envAllowed`: whether KMS_APP_KEY counts.
 */
function readAppKey(ctx: ClientContext, opts: Opts, envAllowed: boolean): Hex | undefined {
  const flag = str(opts.appKey);
  const file = str(opts.appKeyFile);
  if (flag !== undefined && file !== undefined) throw new UsageError('give --app-key or --app-key-file, not both');
  let raw: string;
  let source: string;
  if (flag !== undefined) {
    raw = flag;
    source = '--app-key';
  } else if (file !== undefined) {
    refuseWorldReadable(ctx, file);
    raw = readInputFile(ctx, file, '--app-key-file').toString('utf8');
    source = '--app-key-file';
  } else if (envAllowed && ctx.io.env[APP_KEY_ENV]) {
    raw = ctx.io.env[APP_KEY_ENV] as string;
    source = APP_KEY_ENV;
  } else {
    return undefined;
  }
  const text = raw.trim();
  ctx.redactor.addHex(text);
  if (!/^(?:0x)?[0-9a-fA-F]{96}$/.test(text)) throw new UsageError(`${source}: expected the app key as 48 bytes of hex (96 digits, 0x optional)`);
  return `0x${text.replace(/^0x/i, '').toLowerCase()}` as Hex;
}

/** A key file every local user can read is refused (as common.ts does for --owner-key-file). */
function refuseWorldReadable(ctx: ClientContext, file: string): void {
  let mode: number;
  try {
    mode = statSync(resolve(ctx.io.cwd, file)).mode;
  } catch {
    return; // missing or unreadable: readInputFile says so
  }
  if (process.platform !== 'win32' && (mode & 0o004) !== 0 && ctx.io.env.KMS_ALLOW_INSECURE_KEY_FILES !== '1') {
    throw new UsageError(`--app-key-file: ${show(file)} is readable by every user of this machine; run \`chmod 600 ${file}\` (or set KMS_ALLOW_INSECURE_KEY_FILES=1)`);
  }
}

/** How a command gets the app key: given (offline), or requested with the owner key. */
type KeySource = { readonly appKey: Hex } | { readonly ownerKey: Hex };

/** `--app-key` or `--owner-key` (flags first, then KMS_APP_KEY, then KMS_OWNER_KEY); exactly one. */
function keySourceOf(ctx: ClientContext, opts: Opts): KeySource {
  const flagApp = opts.appKey !== undefined || opts.appKeyFile !== undefined;
  const flagOwner = opts.ownerKey !== undefined || opts.ownerKeyFile !== undefined;
  if (flagApp && flagOwner) throw new UsageError('give --app-key or --owner-key, not both (--app-key decrypts offline; --owner-key asks the operators)');
  if (flagApp) return { appKey: readAppKey(ctx, opts, false) as Hex };
  if (flagOwner) return { ownerKey: readSecret(ctx, opts, OWNER_KEY, true) };
  const envApp = readAppKey(ctx, opts, true);
  if (envApp !== undefined) return { appKey: envApp };
  const envOwner = readSecret(ctx, opts, OWNER_KEY, false);
  if (envOwner !== undefined) return { ownerKey: envOwner };
  throw new UsageError('missing the key: give --app-key HEX (offline) or --owner-key HEX (asks the operators), or set KMS_APP_KEY or KMS_OWNER_KEY');
}

// ---------------------------------------------------------------------------------------
// The SDK, loaded on first use (the curve and chain libraries take a moment: --help and
// usage errors stay instant)

async function sdk() {
  return import('../client/index.ts');
}

/** A client for the chain target in `opts`; operator faults that did not stop the command print as warnings. */
async function connect(ctx: ClientContext, opts: Opts): Promise<KmsClient> {
  const target = resolveChainTarget(ctx, opts, true);
  const timeoutMs = timeoutOf(opts);
  const { createKmsClient } = await sdk();
  return createKmsClient(
    { rpcUrl: target.rpcUrl, registry: target.registry as Address, ...(target.chainId !== undefined ? { chainId: target.chainId } : {}) },
    { ...(timeoutMs !== undefined ? { timeoutMs } : {}), onWarning: (faults) => warnFaults(ctx, faults) },
  );
}

function warnFaults(ctx: CliContext, faults: readonly OperatorFault[]): void {
  for (const f of faults) warn(ctx, `operator ${f.operator} ${f.reason}${f.socket ? ` (${f.socket})` : ''}`);
}

/** Runs an SDK step; its typed errors keep their meta lines and details in the CLI's output. */
async function step<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    const { KmsClientError, InvalidParameterError } = await sdk();
    if (err instanceof InvalidParameterError) throw new UsageError(err.shortMessage.replace(/\.$/, ''), { cause: err });
    if (err instanceof KmsClientError) {
      throw new CliError(err.shortMessage, {
        code: err.name,
        metaMessages: err.metaMessages,
        ...(err.details ? { details: err.details } : {}),
        cause: err,
      });
    }
    throw err;
  }
}

// ---------------------------------------------------------------------------------------
// Commands

async function operatorsAction(ctx: ClientContext, opts: Opts): Promise<void> {
  const client = await connect(ctx, opts);
  const ops = await step(() => client.getOperators());
  const holders = ops.filter((o) => o.holder).length;
  printResult(ctx, { operators: ops }, [
    `${ops.length} operator${ops.length === 1 ? '' : 's'} registered, ${holders} holding the active key version`,
    ...ops.map((o) => `  ${o.address}  ${o.status.padEnd(7)}  ${o.holder ? 'holder' : '      '}  ${o.sigKeyType.padEnd(5)}  ${o.socket}`),
  ]);
}

async function pubkeyAction(ctx: ClientContext, opts: Opts): Promise<void> {
  const client = await connect(ctx, opts);
  const pk = await step(() => client.getPublicKey());
  printResult(
    ctx,
    { mpk: pk.mpk, version: pk.version, threshold: pk.threshold, operators: pk.operators, publicPolyHash: pk.publicPolyHash, publicPoly: pk.publicPoly },
    [
      `MPK ${pk.mpk}`,
      `Key version ${pk.version}: threshold ${pk.threshold} of ${pk.operators.length} holders, publicPolyHash ${pk.publicPolyHash}`,
      `  (public polynomial served by ${pk.source === 'chain' ? 'the chain (no operator served it)' : pk.source}, checked against the on-chain hash)`,
      ...pk.operators.map((o) => `  ${o.address}  ${o.socket}`),
    ],
  );
}

async function encryptAction(ctx: ClientContext, opts: Opts): Promise<void> {
  const appId = appIdOf(opts);
  const mpk = opts.mpk === undefined ? undefined : parseHexArg(opts.mpk, 96, '--mpk');
  const epoch = opts.epoch === undefined ? undefined : parseIntegerArg(opts.epoch, '--epoch', { min: 0, max: 0xffff_ffff });
  if (epoch !== undefined && mpk === undefined) throw new UsageError('--epoch: only with --mpk (online, the app\'s current epoch is read from the chain)');
  if (opts.armor !== true) refuseBinaryOnTerminal(ctx, opts);
  // Offline with --mpk: the chain flags are not needed (and not read).
  const client = mpk === undefined ? await connect(ctx, opts) : (await sdk()).createKmsClient();
  const plaintext = await readIn(ctx, opts, 'the plaintext');
  const envelope = await step(() => client.encrypt({ appId, plaintext, ...(mpk !== undefined ? { mpk } : {}), ...(epoch !== undefined ? { epoch } : {}) }));
  if (opts.armor === true) {
    const { armor } = await sdk();
    writeOut(ctx, opts, new TextEncoder().encode(`${armor(envelope)}\n`), { binary: false, secret: false });
  } else {
    writeOut(ctx, opts, envelope, { binary: true, secret: false });
  }
}

async function decryptAction(ctx: ClientContext, opts: Opts): Promise<void> {
  const appId = appIdOf(opts);
  const source = keySourceOf(ctx, opts);
  // Every flag is checked before input is read (a bad key or a missing chain is bad usage
  // whatever the input); creating the client sends nothing yet.
  if ('appKey' in source) await step(async () => (await import('../client/utils.ts')).decodeAppKey(source.appKey));
  const { envelopeBytes, createKmsClient } = await sdk();
  const client = 'appKey' in source ? createKmsClient() : await connect(ctx, opts);
  const input = await readIn(ctx, opts, 'the envelope');
  if (input.length === 0) throw new CliError('The input is empty: give the envelope with --in FILE or on stdin.', { code: 'EMPTY_INPUT' });
  const { parseEnvelope, IbeError } = await import('../crypto/ibe.ts');
  // The envelope is checked before any key is requested: a wrong file costs no operator a signature.
  let envelope: Uint8Array;
  let envelopeEpoch = 0;
  try {
    envelope = await step(async () => envelopeBytes(input));
    const parsed = parseEnvelope(envelope);
    const { parseAppIdentity } = await import('../crypto/key-release.ts');
    envelopeEpoch = parseAppIdentity(parsed.appId)?.epoch ?? 0;
    if (parseAppIdentity(parsed.appId)?.appId !== appId) {
      // An app id is 66 characters: shown whole; anything longer (a foreign envelope) is clipped.
      const id = parsed.appId.length <= 100 ? JSON.stringify(parsed.appId) : show(parsed.appId);
      throw new CliError(`The envelope is addressed to app ${id}, not ${appId}.`, { code: 'wrong-app' });
    }
  } catch (err) {
    if (err instanceof IbeError) throw new CliError(`The input is not a valid envelope: ${err.message.replace(/^ibe: /, '')}.`, { code: err.code });
    throw err;
  }
  let appKey: Hex;
  if ('appKey' in source) {
    appKey = source.appKey;
  } else {
    const r = await step(() => client.requestAppKey({ appId, ownerKey: source.ownerKey }));
    appKey = r.appKey;
    ctx.redactor.addHex(appKey);
    if (r.epoch !== envelopeEpoch) {
      throw new CliError(`The envelope was encrypted to app-key epoch ${envelopeEpoch}, but the operators release only the current epoch's key (epoch ${r.epoch}): the app key was rotated since.`, {
        code: 'wrong-epoch',
        details: `Decrypt it with the epoch-${envelopeEpoch} app key if you kept it (--app-key), and encrypt it again (\`kms-client encrypt\` uses the current epoch).`,
      });
    }
  }
  const plaintext = await step(() => client.decrypt({ appId, envelope, appKey }));
  writeOut(ctx, opts, plaintext, { binary: false, secret: true });
}

async function appKeyAction(ctx: ClientContext, opts: Opts): Promise<void> {
  const appId = appIdOf(opts);
  const ownerKey = readSecret(ctx, opts, OWNER_KEY, true);
  const version = opts.keyVersion === undefined ? undefined : parseIntegerArg(opts.keyVersion, '--key-version', { min: 1 });
  const client = await connect(ctx, opts);
  const r = await step(() => client.requestAppKey({ appId, ownerKey, ...(version !== undefined ? { version } : {}) }));
  const valid = r.partials.filter((p) => p.valid).length;
  // The one command whose purpose is to print the app key: it is not registered for redaction.
  printResult(
    ctx,
    { appId: r.appId, appKey: r.appKey, epoch: r.epoch, version: r.version, threshold: r.threshold, partials: r.partials, faults: r.faults },
    [
      `App key ${r.appKey}`,
      `  app ${r.appId}, app-key epoch ${r.epoch}, key version ${r.version}, threshold ${r.threshold}: ${r.partials.length} partials received, ${valid} valid`,
      ...r.partials.map((p) => `  ${p.operator}  ${p.valid ? 'valid' : 'INVALID'}`),
    ],
  );
}

async function secretsAction(ctx: ClientContext, opts: Opts): Promise<void> {
  const appId = appIdOf(opts);
  const ownerKey = readSecret(ctx, opts, OWNER_KEY, true);
  const client = await connect(ctx, opts);
  const r = await step(() => client.getSecrets({ appId, ownerKey }));
  if (ctx.json) {
    let text: string | undefined;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(r.env);
    } catch {
      text = undefined;
    }
    printResult(ctx, {
      appId: r.appId, version: r.version, epoch: r.epoch, release: r.release,
      ...(text !== undefined ? { env: text } : { envHex: `0x${Buffer.from(r.env).toString('hex')}` }),
    }, '');
    return;
  }
  // Human mode prints the env exactly as published, so `kms-client secrets … > .env` works.
  writeOut(ctx, {}, r.env, { binary: false, secret: true });
}

async function mnemonicAction(ctx: ClientContext, opts: Opts): Promise<void> {
  const appId = appIdOf(opts);
  const source = keySourceOf(ctx, opts);
  if ('appKey' in source) await step(async () => (await import('../client/utils.ts')).decodeAppKey(source.appKey));
  const client = 'appKey' in source ? (await sdk()).createKmsClient() : await connect(ctx, opts);
  const r = await step(() => client.appMnemonic('appKey' in source ? { appId, appKey: source.appKey } : { appId, ownerKey: source.ownerKey }));
  printResult(ctx, { appId: r.appId, mnemonic: r.mnemonic, ...(r.version !== undefined ? { version: r.version } : {}) }, r.mnemonic);
}

/**
 * `rotate-app-key`: the owner's side of an app-key rotation (issue 16). Reads the app, gets
 * the current epoch's key and the latest release's env through /secrets (or takes the env
 * from --env-file), encrypts the env to the next epoch's identity, and sends ONE transaction
 * (`rotateAppKey`) that raises the epoch and publishes the re-encrypted release (same image
 * digest, launch policy and public env). Nothing changes on-chain before that transaction, and
 * it names its target epoch, so a re-run with `--epoch N` is idempotent: it finishes an
 * interrupted rotation, or reports that epoch N is already in place.
 */
async function rotateAppKeyAction(ctx: ClientContext, opts: Opts): Promise<void> {
  const appId = appIdOf(opts);
  const ownerKey = readSecret(ctx, opts, OWNER_KEY, true);
  const wanted = opts.epoch === undefined ? undefined : parseIntegerArg(opts.epoch, '--epoch', { min: 1, max: 0xffff_ffff });
  const envFile = str(opts.envFile);
  const envGiven = envFile === undefined ? undefined : new Uint8Array(readInputFile(ctx, envFile, '--env-file'));
  const target = resolveChainTarget(ctx, opts, true);
  const client = await connect(ctx, opts);
  const { privateKeyToAccount } = await import('viem/accounts');
  const owner = privateKeyToAccount(ownerKey).address.toLowerCase() as Address;
  const { createChainLedger } = await import('../chain/chain-ledger.ts');
  const ledger = await createChainLedger({
    rpcUrl: target.rpcUrl,
    registry: target.registry as Address,
    ...(target.chainId !== undefined ? { chainId: target.chainId } : {}),
    keys: { [owner]: ownerKey },
  });

  const app = await ledger.getApp(appId);
  if (app === null) throw new CliError(`No app ${appId} exists on this registry.`, { code: 'UnknownApp', metaMessages: [`Registry: ${ledger.registry}`] });
  if (app.owner !== owner) {
    throw new CliError(`The owner key given is for ${owner}, but app ${appId} is owned by ${app.owner}.`, { code: 'NotAppOwner', details: 'Only the app\'s current owner can rotate its key.' });
  }
  const next = wanted ?? app.epoch + 1;
  if (app.epoch === next) {
    // The rotation this command (re-)runs has landed: nothing to do.
    printResult(ctx, { appId, epoch: app.epoch, rotated: false, release: app.releaseCount - 1 }, [
      `App ${appId} is already at app-key epoch ${app.epoch}: nothing to do (release ${app.releaseCount - 1} is its latest).`,
    ]);
    return;
  }
  if (next !== app.epoch + 1) {
    throw new CliError(`--epoch ${next}: app ${appId} is at app-key epoch ${app.epoch}, so the next rotation is to epoch ${app.epoch + 1}.`, { code: 'AppEpochMismatch' });
  }
  if (app.releaseCount === 0 && envGiven === undefined) {
    throw new CliError(`App ${appId} has published no release, so there is no env to re-encrypt.`, {
      code: 'NoRelease',
      details: 'Publish a release first (`kms-admin publish-release`), or give the env to publish with --env-file.',
    });
  }
  const mpk = await ledger.getMpk();
  if (mpk === null) throw new CliError('No master public key is pinned yet (genesis has not completed): nothing can be encrypted.', { code: 'NoMasterPublicKey' });
  if (!ctx.json) {
    ctx.io.stderr(`Rotating app ${appId} from app-key epoch ${app.epoch} to ${next}. If this is interrupted, run the same command with --epoch ${next}: it finishes the rotation, or says it already landed.\n`);
  }

  // The env: the latest release's, decrypted with the current epoch's key (or the file given).
  let env: Uint8Array;
  const latest = app.releaseCount > 0 ? await ledger.getRelease(appId, app.releaseCount - 1) : null;
  if (app.releaseCount > 0 && latest === null) throw new CliError('The registry did not return the app\'s latest release; try again.', { code: 'IncompleteView' });
  if (envGiven !== undefined) {
    env = envGiven;
  } else {
    const r = await step(() => client.getSecrets({ appId, ownerKey }));
    env = r.env;
  }
  // The new release repeats the latest one (with no release yet: a zero image digest).
  const base = latest !== null
    ? { imageDigest: latest.imageDigest, launchPolicy: latest.launchPolicy, publicEnv: latest.publicEnv }
    : { imageDigest: `0x${'00'.repeat(32)}` as Hex, launchPolicy: '0x' as Hex, publicEnv: '' };
  const { encryptToApp } = await import('../crypto/ibe.ts');
  const { appIdentity } = await import('../crypto/key-release.ts');
  const encryptedEnv = env.length === 0 && latest !== null && latest.encryptedEnv === '0x'
    ? ('0x' as Hex)
    : (`0x${Buffer.from(encryptToApp(Buffer.from(mpk.slice(2), 'hex'), appIdentity(appId, next), env)).toString('hex')}` as Hex);
  env.fill(0);
  try {
    await ledger.writer(owner).rotateAppKey(appId, next, { ...base, encryptedEnv });
  } catch (err) {
    // Someone (this command, re-run elsewhere) got there first: say where the app stands.
    const now = await ledger.getApp(appId).catch(() => null);
    if (now !== null && now.epoch === next) {
      printResult(ctx, { appId, epoch: now.epoch, rotated: false, release: now.releaseCount - 1 }, [`App ${appId} is already at app-key epoch ${now.epoch}: nothing to do.`]);
      return;
    }
    throw err;
  }
  const after = await ledger.getApp(appId);
  const index = after === null ? null : after.releaseCount - 1;
  printResult(ctx, { appId, previousEpoch: app.epoch, epoch: next, rotated: true, release: index }, [
    `Rotated app ${appId} to app-key epoch ${next}; release ${index ?? '?'} carries the env re-encrypted to it.`,
    `  Operators release only the epoch-${next} key from now on: envelopes made for epoch ${app.epoch} no longer open through them (encrypt again with \`kms-client encrypt\`).`,
  ]);
}

async function receiptsAction(ctx: ClientContext, opts: Opts): Promise<void> {
  const appId = appIdOf(opts);
  const client = await connect(ctx, opts);
  const sessions = opts.sessions === undefined ? undefined : parseIntegerArg(opts.sessions, '--sessions', { min: 0, max: 100_000 });
  const r = await step(() => client.getReceipts({ appId, ...(sessions !== undefined ? { sessions } : {}) }));
  if (ctx.json) {
    ctx.io.stdout(`${ctx.redactor.scrub(toJson({ ok: r.ok, appId: r.appId, receipts: r.receipts, operators: r.operators }))}\n`);
  } else {
    const when = (t: number) => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
    const lines = [
      `${r.receipts.length} release${r.receipts.length === 1 ? '' : 's'} of app ${r.appId} in ${r.operators.length} operator log${r.operators.length === 1 ? '' : 's'}`,
      ...r.receipts.map((x) => `  ${when(x.time)}  ${x.operator}  #${x.position}  ${x.route.padEnd(9)}  ${x.method.padEnd(5)}  key v${x.version} epoch ${x.epoch}  block ${x.block}  request ${x.requestHash}${x.committed ? '' : '  (not yet committed on-chain)'}`),
      'Operators:',
      ...r.operators.map((o) => `  ${o.address}  ${o.consistent ? `consistent: ${o.entries} entries, ${o.committed} covered by its on-chain head` : `INCONSISTENT: ${o.reason ?? ''}`}`),
    ];
    ctx.io.stdout(`${ctx.redactor.scrub(lines.join('\n'))}\n`);
  }
  if (!r.ok) {
    const bad = r.operators.filter((o) => !o.consistent).length;
    const { receiptLogMeta } = await sdk();
    throw new CliError(`${bad} operator${bad === 1 ? '' : 's'} served a receipt log that could not be verified against ${bad === 1 ? 'its' : 'their'} on-chain head.`, {
      code: 'inconsistent-receipt-log', metaMessages: receiptLogMeta(r.operators),
    });
  }
}

// ---------------------------------------------------------------------------------------
// The program

const EXIT_CODES = `
Exit codes: 0 success, 1 the operation failed (the message says why; one line per operator at
fault), 2 bad usage (nothing was sent).`;

function defineCommand(program: Command, name: string, summary: string, description: string, examples: readonly string[]): Command {
  const cmd = program.command(name).summary(summary).description(`${summary}\n\n${description}`);
  cmd.addHelpText('after', `\nExample${examples.length > 1 ? 's' : ''}:\n${examples.map((e) => `  $ ${e}`).join('\n')}\n${EXIT_CODES}`);
  return cmd;
}

function networked(cmd: Command): Command {
  addChainOptions(cmd);
  return cmd.option('--timeout <ms>', 'deadline per operator request in milliseconds (default 10000)');
}

function appIdOption(cmd: Command): Command {
  return cmd.requiredOption('--app-id <id>', 'the app\'s bytes32 id (0x + 64 hex digits, as `kms-admin create-app` prints it)');
}

function ioOptions(cmd: Command, what: string): Command {
  return cmd
    .option('--in <file>', `read ${what} from FILE, or stdin with - (default -)`)
    .option('--out <file>', 'write the result to FILE, or stdout with - (default -)');
}

function appKeyOptions(cmd: Command): Command {
  return cmd
    .option('--app-key <hex>', `the app key (48 bytes of hex): offline, no operator is asked (env ${APP_KEY_ENV} also works)`)
    .option('--app-key-file <path>', 'file holding the app key as hex (must not be readable by other users)');
}

const PROGRAM_HELP = `
Chain (networked commands): --rpc URL (KMS_RPC_URL) and --registry ADDRESS (KMS_REGISTRY), or
  --devnet (.devnet/devnet.json, written by \`npm start\`). Offline: encrypt --mpk, decrypt --app-key.
Keys (never echoed; a flag is visible in the process list, prefer the env var or a file):
  app owner's key   --owner-key HEX | --owner-key-file PATH | KMS_OWNER_KEY
  app key           --app-key HEX | --app-key-file PATH | KMS_APP_KEY
Output: human text, or --json (one JSON document on stdout; failures one on stderr).
${EXIT_CODES.trim()}
Run \`kms-client <command> --help\` for a command's flags. Walk-through: docs/client.md.`;

/** The kms-client program, with its actions bound to `ctx`. */
export function buildProgram(ctx: ClientContext): Command {
  const program = new Command('kms-client')
    .description('Use eigenx-kms from an app: discover operators, encrypt to an app id, obtain the app key, decrypt, fetch secrets.')
    .showSuggestionAfterError(true)
    .addHelpText('after', PROGRAM_HELP);

  const operators = defineCommand(program, 'operators',
    'List the registry\'s operators and which of them hold the active key version.',
    'Read from the chain only; no operator is contacted.',
    ['kms-client operators --devnet', 'kms-client operators --rpc http://127.0.0.1:8545 --registry 0x5fbdb2315678afecb367f032d93f642f64180aa3 --json']);
  addJsonOption(networked(operators)).action((opts: Opts) => operatorsAction(ctx, opts));

  const pubkey = defineCommand(program, 'pubkey',
    'Print the master public key, the active key version, its threshold and holders.',
    'The MPK and the version\'s publicPolyHash come from the chain; the public polynomial is fetched from an operator '
      + 'and accepted only if it hashes to the on-chain value and starts with the MPK. An operator serving a wrong '
      + 'polynomial is named in a warning. The MPK never changes: save it for offline `encrypt --mpk`.',
    ['kms-client pubkey --devnet --json | jq -r .mpk > mpk.hex']);
  addJsonOption(networked(pubkey)).action((opts: Opts) => pubkeyAction(ctx, opts));

  const encrypt = defineCommand(program, 'encrypt',
    'Encrypt data to an app id (IBE envelope v1).',
    'Without --mpk the pinned MPK is read from the chain and the app id must exist there (an envelope to an id '
      + 'nobody owns could never be opened); the envelope is for the app\'s current key epoch, read there too. With '
      + '--mpk it works offline for any app id, at epoch 0 unless --epoch N says otherwise (after a rotation, the '
      + 'operators release only the current epoch\'s key). Output is the binary envelope, or one line of base64 with --armor.',
    [
      'echo "DB_PASSWORD=hunter2" | kms-client encrypt --devnet --app-id 0x<app id> --armor > secret.txt',
      'kms-client encrypt --app-id 0x<app id> --mpk $(cat mpk.hex) --in .env --out env.ekms',
    ]);
  appIdOption(encrypt)
    .option('--mpk <hex>', 'the master public key (96 bytes of hex): offline, no chain needed')
    .option('--epoch <n>', 'with --mpk: the app-key epoch to encrypt to (default 0)');
  ioOptions(encrypt, 'the plaintext').option('--armor', 'write base64 text instead of binary');
  // Encrypting reads the chain only (app id, MPK): no operator, so no --timeout.
  addChainOptions(encrypt).action((opts: Opts) => encryptAction(ctx, opts));

  const decrypt = defineCommand(program, 'decrypt',
    'Decrypt an envelope (binary or armored, detected automatically).',
    'With --app-key it works offline. With --owner-key the app key is first requested from the operators (an ecdsa '
      + 'attestation signed with the owner key; the app must enable ecdsa) exactly as `app-key` does. The envelope '
      + 'must be addressed to --app-id; that is checked before any operator is asked. A file given with --out is '
      + 'created with mode 600.',
    [
      'kms-client decrypt --devnet --app-id 0x<app id> --owner-key-file owner.key --in secret.txt',
      'KMS_APP_KEY=0x<app key> kms-client decrypt --app-id 0x<app id> --in env.ekms --out .env',
    ]);
  appIdOption(decrypt);
  appKeyOptions(decrypt);
  addSecretOptions(decrypt, OWNER_KEY);
  ioOptions(decrypt, 'the envelope');
  networked(decrypt).action((opts: Opts) => decryptAction(ctx, opts));

  const appKey = defineCommand(program, 'app-key',
    'Obtain the app key from the operators and print it, with every partial and whether it verified.',
    'Sends an ecdsa attestation signed with the owner key to every holder of the key version at once; checks each '
      + 'answer\'s operator signature against the chain, batch-verifies the partials, combines t of them and verifies '
      + 'the result against the MPK. Operators at fault are named (warnings, or the error when fewer than t valid '
      + 'partials arrive). The app key is a secret: it decrypts everything ever sent to the app.',
    ['kms-client app-key --devnet --app-id 0x<app id> --owner-key-file owner.key --json']);
  appIdOption(appKey);
  addSecretOptions(appKey, OWNER_KEY);
  appKey.option('--key-version <n>', 'combine partials of this key version (default: the one the operators use now)');
  addJsonOption(networked(appKey)).action((opts: Opts) => appKeyAction(ctx, opts));

  const secrets = defineCommand(program, 'secrets',
    'Fetch the app\'s latest release env through POST /secrets and print it decrypted.',
    'The latest release is read from the chain; the app key comes from the operators as with `app-key`, and opens '
      + 'the release\'s encrypted env. Human output is the env exactly as published (redirect it to a file); --json '
      + 'adds the release index, image digest, launch policy and public env.',
    ['kms-client secrets --devnet --app-id 0x<app id> --owner-key-file owner.key > .env']);
  appIdOption(secrets);
  addSecretOptions(secrets, OWNER_KEY);
  addJsonOption(networked(secrets)).action((opts: Opts) => secretsAction(ctx, opts));

  const mnemonic = defineCommand(program, 'mnemonic',
    'Print the app\'s 24-word wallet mnemonic (derived from its app key).',
    'BIP39 of HKDF-SHA256(app key, "eigenx-kms/mnemonic/v1"): the same words on every run and across reshares. '
      + 'With --owner-key the app key is requested from the operators first; with --app-key it works offline. The '
      + 'words control the app\'s wallet: keep them secret.',
    ['kms-client mnemonic --devnet --app-id 0x<app id> --owner-key-file owner.key']);
  appIdOption(mnemonic);
  addSecretOptions(mnemonic, OWNER_KEY);
  appKeyOptions(mnemonic);
  addJsonOption(networked(mnemonic)).action((opts: Opts) => mnemonicAction(ctx, opts));

  const rotate = defineCommand(program, 'rotate-app-key',
    'Rotate the app key: raise the app\'s key epoch and re-publish its env encrypted to the new key.',
    'App owner only (the owner key sends the transaction). Gets the current key and the latest release\'s env '
      + 'through the operators (as `secrets`; the app must enable ecdsa and not be frozen — or give the env with '
      + '--env-file), encrypts the env to the next epoch\'s identity, and sends one transaction that raises the epoch '
      + 'and publishes it as a new release (same image digest, launch policy and public env). From that block on '
      + 'operators release only the new key. The old key does not open the new release; envelopes made for the old '
      + 'epoch must be encrypted again. Interrupted? Run it again with --epoch N (printed at the start): it finishes '
      + 'the rotation, or reports that it landed. The app\'s wallet mnemonic changes with the key: move its funds first.',
    [
      'kms-client rotate-app-key --devnet --app-id 0x<app id> --owner-key-file owner.key',
      'kms-client rotate-app-key --devnet --app-id 0x<app id> --owner-key-file owner.key --epoch 2 --json',
    ]);
  appIdOption(rotate);
  addSecretOptions(rotate, OWNER_KEY);
  rotate
    .option('--epoch <n>', 'the epoch to rotate to (default: the current one + 1); already there: nothing to do')
    .option('--env-file <path>', 'publish this env (re-encrypted) instead of decrypting the latest release\'s');
  addJsonOption(networked(rotate)).action((opts: Opts) => rotateAppKeyAction(ctx, opts));

  const receipts = defineCommand(program, 'receipts',
    'List who received the app\'s key, from every operator\'s signed receipt log, checked against the chain.',
    'Reads every operator and the receipt-log head it last committed on-chain (with each confirmation), fetches '
      + 'each operator\'s whole log from GET /receipts, and verifies every receipt\'s signature against the '
      + 'operator\'s registered signing key, the hash chain, and that the log contains the committed head and every '
      + 'head it committed in the latest --sessions sessions (a history rewritten since is caught). Lists the '
      + 'releases of --app-id (receipts logged after the operator\'s last confirmation are marked not yet committed). '
      + 'An operator whose log was rewritten, truncated or reordered, or that cannot be read, is reported inconsistent '
      + 'and the command exits 1 (the listing is still printed). No key is needed: receipts hold no secret.',
    ['kms-client receipts --devnet --app-id 0x<app id>', 'kms-client receipts --devnet --app-id 0x<app id> --json | jq \'.receipts[] | [.operator, .requestHash]\'']);
  appIdOption(receipts);
  receipts.option('--sessions <n>', 'also check the heads each operator committed in the latest N sessions (default 100; 0: the latest head only)');
  addJsonOption(networked(receipts)).action((opts: Opts) => receiptsAction(ctx, opts));

  return program;
}

/**
 * Runs kms-client with `argv` (the user's arguments) and resolves to the exit code.
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: readonly string[] = process.argv.slice(2), io: ClientIo = processClientIo()): Promise<number> {
  const ctx = createCliContext('kms-client', io) as ClientContext;
  return runCli(buildProgram(ctx), argv, ctx);
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(resolve(entry)).href) {
  process.exitCode = await main();
}
