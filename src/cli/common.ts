/**
 * @module
 * What the three command-line tools share (SPEC 7: `kms-server`, `kms-client`, `kms-admin`).
 * A command stays thin: it parses its flags with the helpers below, calls the SDK (ledger,
 * client, node factory), and prints.
 *
 * **Exit codes.** 0: success, and `--help`. 1: the operation failed (the contract refused, the
 * chain could not be reached, a check failed). 2: bad usage (unknown or missing flag,
 * malformed value, unreadable key file); a usage error is always raised before anything is
 * sent, so it never changes state.
 *
 * **Output.** Results go to stdout, errors and warnings to stderr. A failure is one short
 * line (`error: …`) followed by indented `Label: value` meta lines in viem's style. With
 * `--json` both streams carry one JSON document per line:
 *
 *     stdout  {"ok":true, …result}
 *     stderr  {"ok":false,"error":{"code","message","meta":[…],"details"?}}
 *     stderr  {"warning":"…"}
 *
 * `code` is the contract's custom error name for a refusal (`NotOwner`, `ThresholdOutOfBounds`…),
 * `USAGE` for bad usage, and the error class otherwise (`ChainRequestError`, `DeployError`…).
 *
 * **Secrets.** A key comes from a flag (`--key 0x…`; visible to local users in the process
 * list), an environment variable (`KMS_ADMIN_KEY`) or a file (`--key-file path`, refused when
 * it is readable by every user unless `KMS_ALLOW_INSECURE_KEY_FILES=1`). No message ever
 * echoes a key: every secret read is registered with the context's {@link Redactor}, which
 * scrubs each line before it is written, and RPC URLs are printed redacted (credentials and
 * API-key path segments removed).
 *
 * **Chain target.** `--rpc URL` and `--registry ADDR` (env `KMS_RPC_URL`, `KMS_REGISTRY`), or
 * `--devnet` to read both from `.devnet/devnet.json` (written by `npm start`). Precedence:
 * flag, then the devnet file, then the environment.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { CommanderError, type Command } from 'commander';
import { getAddress } from 'viem';
import { ChainError, ContractRefusalError, redactIn, redactRpcUrl } from '../chain/errors.ts';
import { LedgerError, type Address, type AttestationMethod, type Hex, type LedgerErrorCode } from '../protocol/ledger.ts';

// ---------------------------------------------------------------------------------------
// Errors

export interface CliErrorParameters {
  /** Stable code for `--json` (default `ERROR`; `USAGE` for a UsageError). */
  readonly code?: string;
  /** One `Label: value` fact per line. */
  readonly metaMessages?: readonly string[];
  /** A longer explanation, printed last. Must hold no secret. */
  readonly details?: string;
  readonly cause?: unknown;
}

/** An operation failure (exit 1): one short sentence, meta lines, optional details. */
export class CliError extends Error {
  override name = 'CliError';
  readonly shortMessage: string;
  readonly code: string;
  readonly metaMessages: readonly string[];
  readonly details: string | undefined;
  readonly exitCode: 1 | 2 = 1;

  constructor(shortMessage: string, params: CliErrorParameters = {}) {
    super(shortMessage, params.cause === undefined ? undefined : { cause: params.cause });
    this.shortMessage = shortMessage;
    this.code = params.code ?? 'ERROR';
    this.metaMessages = params.metaMessages ?? [];
    this.details = params.details;
  }
}

/** Bad usage (exit 2): detected before anything is sent. The message is one line and names the flag. */
export class UsageError extends CliError {
  override name = 'UsageError';
  override readonly exitCode = 2 as const;

  constructor(shortMessage: string, params: Omit<CliErrorParameters, 'code'> = {}) {
    super(shortMessage, { ...params, code: 'USAGE' });
  }
}

/**
 * What each refusal of the registry means, in one sentence, with the fix where there is one.
 * Keyed by every `LedgerErrorCode`, so a new contract error cannot be left unexplained.
 */
export const LEDGER_ERROR_HELP: Readonly<Record<LedgerErrorCode, string>> = Object.freeze({
  NotOwner: 'Only the registry\'s governance owner may do this; pass the owner\'s key with --key, --key-file or KMS_ADMIN_KEY.',
  NotPendingOwner: 'Only the address proposed by the owner can accept (governance: `kms-admin transfer-ownership`; an app: `kms-admin transfer-app`, and the app must exist); pass that address\'s key.',
  NothingQueued: 'There is no such change waiting for the governance delay (it may already be in effect); `kms-admin status` lists what is queued.',
  NotAllowed: 'The operator address is not on the allow-list, or its entry is still waiting for the governance delay; governance must run `kms-admin allow <operator>` and the delay must pass (`kms-admin status` shows when).',
  AlreadyRegistered: 'This address is already registered (a leaving operator stays registered); a new operator needs a new address.',
  TooManyOperators: 'The registry holds 256 operators, its maximum; an operator must deregister (and a reshare complete) before another can register.',
  NotRegistered: 'The address is not a registered operator; it must run `kms-admin register-operator` first.',
  NotActiveOperator: 'The operator is already leaving (it deregistered or was ejected).',
  BadProofOfPossession: 'The proof of possession does not verify for this signing key, operator address, chain and registry; send the transaction from the operator\'s own address with its own signing key.',
  BadKey: 'A key has the wrong form: bn254 signing keys are 128-byte G2 points, ecdsa signers 20-byte addresses, session keys valid 33-byte compressed secp256k1 points.',
  BadSocket: 'The socket URL must be 1 to 256 bytes long.',
  ThresholdOutOfBounds: 'The threshold must be 0 (the default, ceil(2n/3)) or between max(2, floor(n/2)+1) and n, the number of operators the next session would admit (members, newcomers limited by the churn cap); register more operators or choose a value in range.',
  ThresholdOverrideNoLongerFits: 'Membership changed since governance set the threshold override, and it no longer fits the next session\'s recipients: no session can open until governance sets a fitting override or 0 (`kms-admin set-threshold`).',
  WindowsDoNotFit: 'Each window must be at least 1 s and deal + ack + confirm + inclusion margin must fit in one interval; shorten the windows or lengthen the interval first.',
  BadParameter: 'A parameter is outside what the contract accepts.',
  GenesisNotArmed: 'Genesis is not armed; governance must run `kms-admin arm-genesis --min-operators N` first.',
  NotEnoughOperators: 'Too few active operators for a session; allow and register more operators (or arm genesis with a lower minimum).',
  BoundaryNotReached: 'The next interval boundary has not passed yet; wait for it (`kms-admin status` shows it).',
  PreviousSessionOpen: 'The previous session has not closed its windows yet; wait until it is over.',
  NoSourceVersion: 'There is no completed version to reshare from.',
  UnknownSession: 'No session with this id exists.',
  NotDealer: 'The sender is not a dealer in this session\'s snapshot.',
  NotRecipient: 'The sender is not a recipient in this session\'s snapshot.',
  WrongPhase: 'The session is not in the window this submission belongs to.',
  AlreadySubmitted: 'This operator has already submitted in this window of the session.',
  BadLength: 'A field has the wrong length for the contract (a release\'s image digest is 32 bytes).',
  BadComplaint: 'A complaint is malformed, or names an address that has not dealt in this session.',
  PolyHashMismatch: 'The published public polynomial does not hash to the confirmed publicPolyHash.',
  PolyRequired: 'The first confirmation of a publicPolyHash must carry the public polynomial.',
  MpkMismatch: 'The reshared polynomial\'s constant term differs from the pinned master public key.',
  AppExists: 'This creator already made an app with this salt; choose another --salt.',
  UnknownApp: 'No app with this id exists on this registry; check the app id (printed by `kms-admin create-app`) and --registry.',
  NotAppOwner: 'Only the app\'s owner (its creator, or whoever accepted a transfer with `kms-admin accept-app`) may publish releases, change its methods, transfer, freeze or rotate it; use that account\'s key (`kms-admin app <appId>` shows the owner).',
  AppEpochMismatch: 'The app key was already rotated to (or past) the epoch this rotation names; re-run `kms-client rotate-app-key` to see where the app stands.',
  IncompleteView: 'The node\'s event log did not match the contract\'s counters; retry, or use another RPC endpoint.',
});

/** A failure as it is printed. */
export interface CliFailure {
  readonly code: string;
  /** One line. */
  readonly message: string;
  readonly meta: readonly string[];
  readonly details?: string;
  readonly exitCode: 1 | 2;
}

const firstLine = (s: string): string => s.split('\n', 1)[0] ?? '';
const sentence = (s: string): string => (/[.!?]$/.test(s) ? s : `${s}.`);

/** Maps any thrown value to what the user sees. Never includes a stack or a secret. */
export function describeFailure(err: unknown): CliFailure {
  if (err instanceof CliError) {
    return { code: err.code, message: err.shortMessage, meta: err.metaMessages, ...(err.details ? { details: err.details } : {}), exitCode: err.exitCode };
  }
  if (err instanceof LedgerError) {
    const help = LEDGER_ERROR_HELP[err.code] ?? '';
    if (err instanceof ContractRefusalError) {
      const head = err.shortMessage.includes(err.code) ? err.shortMessage : `${err.shortMessage} (${err.code})`;
      return { code: err.code, message: `${sentence(head)} ${help}`.trim(), meta: err.metaMessages, exitCode: 1 };
    }
    return { code: err.code, message: `${sentence(firstLine(err.message))} ${help}`.trim(), meta: [], exitCode: 1 };
  }
  if (err instanceof ChainError) {
    return { code: err.name, message: err.shortMessage, meta: err.metaMessages, ...(err.details ? { details: err.details } : {}), exitCode: 1 };
  }
  if (err instanceof Error) {
    const short = (err as { shortMessage?: unknown }).shortMessage;
    const code = (err as { code?: unknown }).code;
    return {
      code: typeof code === 'string' ? code : err.name,
      message: firstLine(typeof short === 'string' ? short : err.message) || err.name,
      meta: [],
      exitCode: 1,
    };
  }
  return { code: 'ERROR', message: `unexpected failure (${typeof err})`, meta: [], exitCode: 1 };
}

// ---------------------------------------------------------------------------------------
// Context, redaction, output

/** Where a CLI reads and writes; `processIo()` in production, a capture in unit tests. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

let pipesGuarded = false;

/** The process's streams. A closed pipe (`kms-admin status | head -1`) ends output quietly, not with EPIPE. */
export function processIo(): CliIo {
  if (!pipesGuarded) {
    pipesGuarded = true;
    for (const stream of [process.stdout, process.stderr]) {
      stream.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE') throw err;
      });
    }
  }
  return {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
  };
}

/**
 * Scrubs registered secrets out of text before it is written. Hex secrets match in any case,
 * with or without `0x`; RPC URLs are replaced by their redacted form.
 */
export class Redactor {
  readonly #hex = new Set<string>();
  readonly #urls = new Set<string>();

  /** Registers a hex secret (a private key). Not hex, or shorter than 16 digits: ignored (it would mangle ordinary text). */
  addHex(secret: string): void {
    const digits = secret.replace(/^0x/i, '').toLowerCase();
    if (digits.length >= 16 && /^[0-9a-f]+$/.test(digits)) this.#hex.add(digits);
  }

  /** Registers an RPC URL that carries credentials or an API key: printed only in redacted form. */
  addUrl(url: string): void {
    let plain: string;
    try {
      plain = new URL(url).toString();
    } catch {
      return; // never echoed: parseUrlArg refuses it without printing it
    }
    if (redactRpcUrl(url) !== plain) this.#urls.add(url);
  }

  scrub(text: string): string {
    let out = text;
    for (const url of this.#urls) out = redactIn(out, url);
    for (const digits of this.#hex) out = out.replace(new RegExp(`(?:0x)?${digits}`, 'gi'), '<redacted>');
    return out;
  }
}

/** One CLI run: its streams, its secrets, and whether `--json` was asked for. */
export interface CliContext {
  /** Program name for messages (`kms-admin`). */
  readonly name: string;
  readonly io: CliIo;
  readonly redactor: Redactor;
  /** Set by `runCli` from the arguments before parsing (so parse errors are JSON too). */
  json: boolean;
}

export function createCliContext(name: string, io: CliIo = processIo()): CliContext {
  return { name, io, redactor: new Redactor(), json: false };
}

/** JSON with bigint as decimal strings and bytes as 0x-hex. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Uint8Array) return `0x${Buffer.from(v).toString('hex')}`;
    return v;
  });
}

/** Prints a command's result: `{ok:true,…data}` under --json, else the human lines. */
export function printResult(ctx: CliContext, data: Readonly<Record<string, unknown>>, human: string | readonly string[]): void {
  const text = ctx.json ? toJson({ ok: true, ...data }) : (typeof human === 'string' ? human : human.join('\n'));
  ctx.io.stdout(`${ctx.redactor.scrub(text)}\n`);
}

/** A warning on stderr (`warning: …`, or `{"warning":…}` under --json). */
export function warn(ctx: CliContext, message: string): void {
  const text = ctx.json ? toJson({ warning: message }) : `warning: ${message}`;
  ctx.io.stderr(`${ctx.redactor.scrub(text)}\n`);
}

/** Prints a failure on stderr: one line plus indented meta lines, or one JSON document. */
export function printFailure(ctx: CliContext, f: CliFailure): void {
  const scrub = (s: string): string => ctx.redactor.scrub(s);
  if (ctx.json) {
    const error = { code: f.code, message: scrub(f.message), meta: f.meta.map(scrub), ...(f.details ? { details: scrub(f.details) } : {}) };
    ctx.io.stderr(`${toJson({ ok: false, error })}\n`);
    return;
  }
  const lines = [`error: ${scrub(f.message).replace(/\s*\n\s*/g, ' ')}`];
  for (const m of f.meta) lines.push(`  ${scrub(m)}`);
  if (f.details) lines.push(`  Details: ${scrub(f.details).replace(/\s*\n\s*/g, ' ')}`);
  ctx.io.stderr(`${lines.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------
// Running a program

/** True when `--json` appears among the options (before a `--` terminator). */
export function jsonRequested(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--json') return true;
  }
  return false;
}

/** Hex runs long enough to be keys, in text commander echoes from argv. */
const KEYISH = /(?:0x)?[0-9a-fA-F]{64,}/g;

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}

/** A commander parse error as one usage line naming the command's help. */
function usageFailure(err: CommanderError, argv: readonly string[], program: Command): CliFailure {
  const text = err.message.replace(/^error:\s*/i, '').replace(/\s*\n\s*/g, ' ').replace(KEYISH, '<redacted>').trim();
  const sub = argv.find((a) => program.commands.some((c) => c.name() === a));
  const help = `${program.name()}${sub ? ` ${sub}` : ''} --help`;
  return { code: 'USAGE', message: `${text} (see \`${help}\`)`, meta: [], exitCode: 2 };
}

/**
 * Parses `argv` (the user's arguments, without node and the script) with commander, runs the
 * chosen action and returns the exit code: 0 on success or help, 1 on an operation failure,
 * 2 on bad usage. It never calls `process.exit`; the launcher sets `process.exitCode`.
 *
 * @example
 * const ctx = createCliContext('kms-admin');
 * process.exitCode = await runCli(buildProgram(ctx), process.argv.slice(2), ctx);
 */
export async function runCli(program: Command, argv: readonly string[], ctx: CliContext): Promise<number> {
  ctx.json = jsonRequested(argv);
  for (const cmd of allCommands(program)) {
    cmd.exitOverride();
    cmd.configureOutput({
      writeOut: (s) => ctx.io.stdout(s),
      writeErr: (s) => ctx.io.stderr(s),
      // Parse errors are printed by us, as one line (or JSON), from the thrown CommanderError.
      outputError: () => undefined,
    });
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, help <command>, --version
      // No command given: commander printed the program's help on stderr.
      if (err.code === 'commander.help') return 2;
      printFailure(ctx, usageFailure(err, argv, program));
      return 2;
    }
    const f = describeFailure(err);
    printFailure(ctx, f);
    return f.exitCode;
  }
}

// ---------------------------------------------------------------------------------------
// Validation: one clear line per failure, naming the flag; throws UsageError

/** A value for messages: quoted, at most 60 characters. Never use on a secret. */
export function show(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
}

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;

/** A 20-byte address, lowercased. Mixed case must be a valid EIP-55 checksum. */
export function parseAddressArg(value: unknown, what: string): Address {
  if (typeof value !== 'string' || !ADDRESS_RE.test(value)) {
    throw new UsageError(`${what}: expected an address (0x followed by 40 hex digits), got ${show(String(value))}`);
  }
  const body = value.slice(2);
  if (body !== body.toLowerCase() && body !== body.toUpperCase() && getAddress(value) !== value) {
    throw new UsageError(`${what}: ${show(value)} has a wrong EIP-55 checksum (a typo?)`);
  }
  return value.toLowerCase() as Address;
}

/** 0x-hex of exactly `bytes` bytes (any length when undefined), lowercased. */
export function parseHexArg(value: unknown, bytes: number | undefined, what: string): Hex {
  const expected = bytes === undefined ? '0x-prefixed hex (an even number of digits)' : `${bytes} bytes of 0x-hex (${2 * bytes} digits)`;
  if (typeof value !== 'string' || !/^0x(?:[0-9a-fA-F]{2})*$/.test(value)) {
    throw new UsageError(`${what}: expected ${expected}, got ${show(String(value))}`);
  }
  if (bytes !== undefined && value.length !== 2 + 2 * bytes) {
    throw new UsageError(`${what}: expected ${expected}, got ${(value.length - 2) / 2} bytes`);
  }
  return value.toLowerCase() as Hex;
}

/** A decimal integer in [min, max] (max defaults to Number.MAX_SAFE_INTEGER). */
export function parseIntegerArg(value: unknown, what: string, range: { min?: number; max?: number } = {}): number {
  const min = range.min ?? 0;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const kind = min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer >= ${min}`;
  if (typeof value !== 'string' || !/^\d+$/.test(value.trim())) {
    throw new UsageError(`${what}: expected ${kind}, got ${show(String(value))}`);
  }
  const n = Number(value.trim());
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${what}: expected ${kind}${max < Number.MAX_SAFE_INTEGER ? ` <= ${max}` : ''}, got ${show(value)}`);
  }
  return n;
}

/** An http(s) URL (a socket or an RPC endpoint). `secret`: never echo it (it may carry credentials). */
export function parseUrlArg(value: unknown, what: string, opts: { secret?: boolean } = {}): string {
  const shown = (v: string): string => (opts.secret ? show(redactRpcUrl(v)) : show(v));
  if (typeof value !== 'string' || value.length === 0) throw new UsageError(`${what}: expected an http(s) URL`);
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`${what}: expected an http(s) URL, got ${opts.secret ? 'an unparseable value' : show(value)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`${what}: expected an http(s) URL, got ${shown(value)}`);
  return value;
}

const METHODS: readonly AttestationMethod[] = ['ecdsa', 'jwt'];

/** A comma-separated set of attestation methods (`ecdsa`, `jwt`), or `none`. Canonical order. */
export function parseMethodsArg(value: unknown, what = '--methods'): AttestationMethod[] {
  if (typeof value !== 'string') throw new UsageError(`${what}: expected a comma-separated list of ecdsa, jwt (or none)`);
  const v = value.trim().toLowerCase();
  if (v === 'none') return [];
  const parts = v.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
  if (parts.length === 0) throw new UsageError(`${what}: expected a comma-separated list of ecdsa, jwt (or none), got ${show(value)}`);
  for (const p of parts) {
    if (!METHODS.includes(p as AttestationMethod)) {
      throw new UsageError(`${what}: unknown attestation method ${show(p)} (known: ecdsa, jwt; or none)`);
    }
  }
  return METHODS.filter((m) => parts.includes(m));
}

/** Reads a file given on the command line; a missing or unreadable file is a usage error. */
export function readInputFile(ctx: CliContext, path: string, what: string): Buffer {
  const full = resolve(ctx.io.cwd, path);
  try {
    return readFileSync(full);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : 'cannot be read';
    throw new UsageError(`${what}: ${show(path)}: ${why}`);
  }
}

// ---------------------------------------------------------------------------------------
// Secrets: flag, environment variable or file

/** How one secret is given: `--<flag> HEX`, `--<flag>-file PATH`, or the environment variable. */
export interface SecretSpec {
  /** Flag name without dashes, e.g. `key` → `--key` and `--key-file`. */
  readonly flag: string;
  /** Environment variable, e.g. `KMS_ADMIN_KEY`. */
  readonly env: string;
  /** What the key is, for help texts (`governance transaction key`). */
  readonly what: string;
}

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/** Adds `--<flag> <hex>` and `--<flag>-file <path>` to a command. */
export function addSecretOptions(cmd: Command, spec: SecretSpec): Command {
  return cmd
    .option(`--${spec.flag} <hex>`, `${spec.what}, 32 bytes of hex (visible in the process list: prefer ${spec.env} or --${spec.flag}-file)`)
    .option(`--${spec.flag}-file <path>`, `file holding the ${spec.what} as hex (must not be readable by other users; env ${spec.env} also works)`);
}

/** Refuses a key file every local user can read (unless KMS_ALLOW_INSECURE_KEY_FILES=1); warns when its group can. */
function checkKeyFileMode(ctx: CliContext, full: string, path: string, what: string): void {
  if (process.platform === 'win32') return;
  let mode: number;
  try {
    mode = statSync(full).mode;
  } catch {
    return; // the read below reports the problem
  }
  if ((mode & 0o004) !== 0) {
    if (ctx.io.env.KMS_ALLOW_INSECURE_KEY_FILES === '1') {
      warn(ctx, `${what}: ${path} is readable by every user of this machine (allowed by KMS_ALLOW_INSECURE_KEY_FILES=1)`);
      return;
    }
    throw new UsageError(`${what}: ${show(path)} is readable by every user of this machine; run \`chmod 600 ${path}\` (or set KMS_ALLOW_INSECURE_KEY_FILES=1)`);
  }
  if ((mode & 0o040) !== 0) warn(ctx, `${what}: ${path} is readable by its group; consider \`chmod 600 ${path}\``);
}

/**
 * The secret given by flag, file or environment variable (in that order of precedence), as
 * lowercase 0x-hex of 32 bytes, registered with the redactor. `undefined` when none is given
 * and `required` is false. Malformed input is a UsageError that never echoes the value.
 */
export function readSecret(ctx: CliContext, opts: Readonly<Record<string, unknown>>, spec: SecretSpec, required: true): Hex;
export function readSecret(ctx: CliContext, opts: Readonly<Record<string, unknown>>, spec: SecretSpec, required: false): Hex | undefined;
export function readSecret(ctx: CliContext, opts: Readonly<Record<string, unknown>>, spec: SecretSpec, required: boolean): Hex | undefined {
  const flagValue = opts[camel(spec.flag)];
  const fileValue = opts[camel(`${spec.flag}-file`)];
  const envValue = ctx.io.env[spec.env];
  if (flagValue !== undefined && fileValue !== undefined) {
    throw new UsageError(`give --${spec.flag} or --${spec.flag}-file, not both`);
  }
  let raw: string;
  let source: string;
  if (typeof flagValue === 'string') {
    raw = flagValue;
    source = `--${spec.flag}`;
  } else if (typeof fileValue === 'string') {
    source = `--${spec.flag}-file`;
    const full = resolve(ctx.io.cwd, fileValue);
    checkKeyFileMode(ctx, full, fileValue, source);
    raw = readInputFile(ctx, fileValue, source).toString('utf8');
  } else if (envValue !== undefined && envValue !== '') {
    raw = envValue;
    source = spec.env;
  } else {
    if (!required) return undefined;
    throw new UsageError(`missing the ${spec.what}: give --${spec.flag}, --${spec.flag}-file or set ${spec.env}`);
  }
  const text = raw.trim();
  // Register before validating: a near-miss key is still a secret.
  ctx.redactor.addHex(text);
  if (!/^(?:0x)?[0-9a-fA-F]{64}$/.test(text)) {
    throw new UsageError(`${source}: expected the ${spec.what} as 32 bytes of hex (64 digits, 0x optional)`);
  }
  return `0x${text.replace(/^0x/i, '').toLowerCase()}` as Hex;
}

// ---------------------------------------------------------------------------------------
// Chain target: --rpc / --registry / --devnet

export interface ChainTarget {
  /** The RPC URL (may carry credentials: print only `redactRpcUrl(rpcUrl)`). */
  readonly rpcUrl: string;
  readonly registry: Address | undefined;
  /** Known only from the devnet file; otherwise read from the node. */
  readonly chainId: number | undefined;
}

/** Adds `--rpc`, `--registry` (unless `registry: false`) and `--devnet`. */
export function addChainOptions(cmd: Command, opts: { registry?: boolean } = {}): Command {
  cmd.option('--rpc <url>', 'JSON-RPC URL of the chain (env KMS_RPC_URL)');
  if (opts.registry !== false) cmd.option('--registry <address>', 'address of the KmsRegistry contract (env KMS_REGISTRY)');
  return cmd.option('--devnet', 'take the RPC URL and registry from .devnet/devnet.json (written by `npm start`)');
}

interface DevnetFile {
  readonly rpc: string;
  readonly registry?: string;
  readonly chainId?: number;
}

export const DEVNET_FILE = '.devnet/devnet.json';

/** Reads `.devnet/devnet.json` under the working directory. */
export function readDevnet(ctx: CliContext): DevnetFile {
  const full = resolve(ctx.io.cwd, DEVNET_FILE);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch {
    throw new UsageError(`--devnet: ${DEVNET_FILE} not found in ${ctx.io.cwd}; start the local devnet with \`npm start\` (or give --rpc and --registry)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(`--devnet: ${DEVNET_FILE} is not valid JSON`);
  }
  const o = parsed as Partial<Record<keyof DevnetFile, unknown>> | null;
  if (typeof o !== 'object' || o === null || typeof o.rpc !== 'string') {
    throw new UsageError(`--devnet: ${DEVNET_FILE} has no "rpc" string`);
  }
  return {
    rpc: o.rpc,
    ...(typeof o.registry === 'string' ? { registry: o.registry } : {}),
    ...(typeof o.chainId === 'number' ? { chainId: o.chainId } : {}),
  };
}

/**
 * The chain to talk to, from flags, the devnet file or the environment. `needRegistry`: a
 * missing registry is a usage error. The RPC URL is registered with the redactor.
 */
export function resolveChainTarget(ctx: CliContext, opts: Readonly<Record<string, unknown>>, needRegistry: boolean): ChainTarget {
  const devnet = opts.devnet === true ? readDevnet(ctx) : undefined;
  const rpc = (typeof opts.rpc === 'string' ? opts.rpc : undefined) ?? devnet?.rpc ?? (ctx.io.env.KMS_RPC_URL || undefined);
  if (rpc === undefined) throw new UsageError('missing the chain: give --rpc URL (or set KMS_RPC_URL, or use --devnet)');
  ctx.redactor.addUrl(rpc);
  const rpcUrl = parseUrlArg(rpc, '--rpc', { secret: true });
  const reg = (typeof opts.registry === 'string' ? opts.registry : undefined) ?? devnet?.registry ?? (ctx.io.env.KMS_REGISTRY || undefined);
  if (reg === undefined && needRegistry) {
    throw new UsageError('missing the registry: give --registry ADDRESS (or set KMS_REGISTRY, or use --devnet)');
  }
  return {
    rpcUrl,
    registry: reg === undefined || !needRegistry ? undefined : parseAddressArg(reg, '--registry'),
    chainId: devnet?.chainId,
  };
}

/** Adds `--json`. */
export function addJsonOption(cmd: Command): Command {
  return cmd.option('--json', 'machine-readable output: one JSON document on stdout (on failure, one on stderr)');
}
