/**
 * @module
 * `kms-admin`: deploy and administer a registry (SPEC 3, 6, 7). Every command is thin: it
 * validates its flags (bad usage exits 2 before anything is sent), connects a `ChainLedger`
 * (which estimates each transaction first, so a refusal costs nothing and names the
 * contract's custom error), sends, and prints a human summary or `--json`.
 *
 * Keys: governance and app commands sign with `--key` / `--key-file` / `KMS_ADMIN_KEY`;
 * operator commands with `--operator-key` / `--operator-key-file` / `KMS_OPERATOR_KEY`; the
 * operator signing key (BN254 or ECDSA) comes from `--sig-key` / `--sig-key-file` /
 * `KMS_OPERATOR_SIG_KEY`. See `common.ts` for exit codes, output and secret handling, and
 * `docs/admin.md` for a walk-through.
 *
 * App ids: the IBE identity of an app is its bytes32 id as lowercase 0x-hex (66 characters),
 * exactly as `create-app` prints it, followed after key rotations by `#<epoch>`
 * (`appIdentity`, docs/formats.md); `publish-release --env-file` encrypts to the app's
 * identity at its current epoch.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, Option } from 'commander';
import { createPublicClient, createWalletClient, http, type Chain, type PublicClient } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { createChainLedger, type ChainLedger, type TransactionInfo } from '../chain/chain-ledger.ts';
import { defaultRegistryConfig, deployRegistry, type RegistryConfig } from '../chain/deploy.ts';
import { ChainRequestError, redactIn, redactRpcUrl } from '../chain/errors.ts';
import {
  readActiveVersionId,
  readGovernance,
  readLatestSessionId,
  readMpk,
  readOperators,
  readSessionState,
  readSnapshot,
  readVersion,
  toProgress,
  type ReadContext,
} from '../chain/registry-reads.ts';
import { makeDomain, toHex } from '../crypto/domain.ts';
import type { OperatorKeyType } from '../crypto/operator-sig.ts';
import { LedgerError, type Address, type Governance, type GovernanceChangeKind, type Hex, type QueuedGovernanceChange, type Session } from '../protocol/ledger.ts';
import { boundaryOf, effectiveThreshold, MAX_GOVERNANCE_DELAY, phaseAt, phaseEnds, plannedRecipientCount, SIZES, windowsFit } from '../protocol/session-rules.ts';
import {
  addChainOptions,
  addJsonOption,
  addSecretOptions,
  CliError,
  createCliContext,
  LEDGER_ERROR_HELP,
  parseAddressArg,
  parseHexArg,
  parseIntegerArg,
  parseMethodsArg,
  parseUrlArg,
  printResult,
  processIo,
  readInputFile,
  readSecret,
  resolveChainTarget,
  runCli,
  show,
  UsageError,
  type ChainTarget,
  type CliContext,
  type CliIo,
  type SecretSpec,
} from './common.ts';

type Opts = Readonly<Record<string, unknown>>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const lc = (a: string): Address => a.toLowerCase() as Address;

// ---------------------------------------------------------------------------------------
// Keys

const adminKey = (what: string): SecretSpec => ({ flag: 'key', env: 'KMS_ADMIN_KEY', what });
const GOVERNANCE_KEY = adminKey('governance owner\'s transaction key');
const APP_OWNER_KEY = adminKey('app owner\'s transaction key');
const DEPLOYER_KEY = adminKey('deployer\'s transaction key');
const PROPOSED_OWNER_KEY = adminKey('proposed owner\'s transaction key');
const PROPOSED_APP_OWNER_KEY = adminKey('proposed app owner\'s transaction key');
const OPERATOR_KEY: SecretSpec = { flag: 'operator-key', env: 'KMS_OPERATOR_KEY', what: 'operator\'s transaction key' };
const SIG_KEY: SecretSpec = { flag: 'sig-key', env: 'KMS_OPERATOR_SIG_KEY', what: 'operator\'s signing secret key' };

/** The address of a secp256k1 transaction key; an invalid scalar is a usage error (never echoed). */
function addressOfKey(key: Hex, spec: SecretSpec): Address {
  try {
    return lc(privateKeyToAccount(key).address);
  } catch {
    throw new UsageError(`the ${spec.what} is not a valid secp256k1 private key (it must be a non-zero number below the curve order)`);
  }
}

interface Signer {
  readonly key: Hex;
  readonly address: Address;
}

function readSigner(ctx: CliContext, opts: Opts, spec: SecretSpec): Signer {
  const key = readSecret(ctx, opts, spec, true);
  return { key, address: addressOfKey(key, spec) };
}

// ---------------------------------------------------------------------------------------
// Chain access

function registryOf(target: ChainTarget): Address {
  if (!target.registry) throw new UsageError('missing the registry: give --registry ADDRESS (or set KMS_REGISTRY, or use --devnet)');
  return target.registry;
}

interface Connection {
  readonly ledger: ChainLedger;
  /** Every transaction sent through `ledger`, in order. */
  readonly txs: TransactionInfo[];
}

async function connect(target: ChainTarget, signers: readonly Signer[] = []): Promise<Connection> {
  const txs: TransactionInfo[] = [];
  const ledger = await createChainLedger({
    rpcUrl: target.rpcUrl,
    registry: registryOf(target),
    ...(target.chainId !== undefined ? { chainId: target.chainId } : {}),
    keys: Object.fromEntries(signers.map((s) => [s.address, s.key])),
    onTransaction: (info) => txs.push(info),
  });
  return { ledger, txs };
}

/** Runs an RPC step; a failure that is not a refusal becomes a redacted ChainRequestError. */
async function rpcStep<T>(what: string, target: ChainTarget, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof LedgerError || err instanceof CliError || err instanceof ChainRequestError) throw err;
    const text = err instanceof Error ? ((err as { shortMessage?: string }).shortMessage ?? err.message) : String(err);
    throw new ChainRequestError(`${what} failed.`, {
      cause: err,
      details: redactIn(text, target.rpcUrl),
      metaMessages: [`RPC: ${redactRpcUrl(target.rpcUrl)}`, ...(target.registry ? [`Contract: KmsRegistry at ${target.registry}`] : [])],
    });
  }
}

function txJson(txs: readonly TransactionInfo[]): Record<string, unknown>[] {
  return txs.map((t) => ({ function: t.functionName, from: t.account, hash: t.hash, block: Number(t.blockNumber), gasUsed: Number(t.gasUsed) }));
}

function txLines(txs: readonly TransactionInfo[]): string[] {
  return txs.map((t) => `  tx ${t.hash} (${t.functionName}, block ${t.blockNumber}, gas ${t.gasUsed})`);
}

/** Prints a write's result: one headline, the transactions, optional extra lines. */
function printWrite(ctx: CliContext, conn: Connection, data: Record<string, unknown>, headline: string, extra: readonly string[] = []): void {
  printResult(ctx, { ...data, registry: conn.ledger.registry, chainId: Number(conn.ledger.chainId), transactions: txJson(conn.txs) }, [
    headline,
    ...txLines(conn.txs),
    ...extra,
  ]);
}

// ---------------------------------------------------------------------------------------
// Command builders

const EXIT_CODES = `
Exit codes: 0 success, 1 the operation failed (refused by the contract, chain unreachable),
2 bad usage (nothing was sent).`;

function defineCommand(program: Command, nameAndArgs: string, summary: string, description: string, example: string): Command {
  const cmd = program.command(nameAndArgs).summary(summary).description(`${summary}\n\n${description}`);
  cmd.addHelpText('after', `\nExample:\n  $ ${example}\n${EXIT_CODES}`);
  return cmd;
}

/** The options every write command shares, after its own: chain, the signer's key, --json. */
function writeOptions(cmd: Command, key: SecretSpec, chain: { registry?: boolean } = {}): Command {
  addChainOptions(cmd, chain);
  addSecretOptions(cmd, key);
  return addJsonOption(cmd);
}

// ---------------------------------------------------------------------------------------
// deploy

async function deployAction(ctx: CliContext, opts: Opts): Promise<void> {
  const num = (flag: string, key: string, min: number): number | undefined =>
    opts[key] === undefined ? undefined : parseIntegerArg(opts[key], flag, { min });
  const given: Partial<RegistryConfig> = {
    interval: num('--interval', 'interval', 1),
    dealWindow: num('--deal-window', 'dealWindow', 1),
    ackWindow: num('--ack-window', 'ackWindow', 1),
    confirmWindow: num('--confirm-window', 'confirmWindow', 1),
    inclusionMargin: num('--inclusion-margin', 'inclusionMargin', 0),
    governanceDelay: opts.governanceDelay === undefined ? undefined : parseIntegerArg(opts.governanceDelay, '--governance-delay', { min: 0, max: MAX_GOVERNANCE_DELAY }),
  };
  const owner = opts.owner === undefined ? undefined : parseAddressArg(opts.owner, '--owner');
  const signer = readSigner(ctx, opts, DEPLOYER_KEY);
  const target = resolveChainTarget(ctx, opts, false);

  const transport = http(target.rpcUrl, { retryCount: 2, timeout: 20_000 });
  const probe = createPublicClient({ transport });
  const chainId = await rpcStep('Reading the chain id', target, () => probe.getChainId());
  const d = defaultRegistryConfig(chainId);
  const config: RegistryConfig = {
    interval: given.interval ?? d.interval,
    dealWindow: given.dealWindow ?? d.dealWindow,
    ackWindow: given.ackWindow ?? d.ackWindow,
    confirmWindow: given.confirmWindow ?? d.confirmWindow,
    inclusionMargin: given.inclusionMargin ?? d.inclusionMargin,
    governanceDelay: given.governanceDelay ?? d.governanceDelay,
  };
  if (!windowsFit(config.dealWindow, config.ackWindow, config.confirmWindow, config.inclusionMargin, config.interval)) {
    throw new CliError(
      `The windows do not fit: deal ${config.dealWindow} + ack ${config.ackWindow} + confirm ${config.confirmWindow} + inclusion margin ${config.inclusionMargin} s exceed the interval of ${config.interval} s (WindowsDoNotFit). ${LEDGER_ERROR_HELP.WindowsDoNotFit}`,
      { code: 'WindowsDoNotFit', metaMessages: [`Chain: ${chainId}`, `Chain defaults: interval ${d.interval} s, windows ${d.dealWindow}/${d.ackWindow}/${d.confirmWindow} s, inclusion margin ${d.inclusionMargin} s`] },
    );
  }
  const chain: Chain = {
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [redactRpcUrl(target.rpcUrl)] } },
  };
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 100 }) as PublicClient;
  const wallet = createWalletClient({ account: privateKeyToAccount(signer.key), chain, transport });
  const r = await deployRegistry(wallet, publicClient, { ...config, ...(owner ? { owner } : {}) });
  printResult(
    ctx,
    { address: r.address, chainId, owner: r.owner, deployer: signer.address, transactionHash: r.transactionHash, block: Number(r.blockNumber), gasUsed: Number(r.gasUsed), config: r.config },
    [
      `KmsRegistry deployed at ${r.address}`,
      `  chain ${chainId}, block ${r.blockNumber}, tx ${r.transactionHash}, gas ${r.gasUsed}`,
      `  owner ${r.owner}`,
      `  interval ${r.config.interval} s, windows deal ${r.config.dealWindow} / ack ${r.config.ackWindow} / confirm ${r.config.confirmWindow} s, inclusion margin ${r.config.inclusionMargin} s`,
      `  governance delay ${describeDelay(r.config.governanceDelay)}`,
      `Next: export KMS_REGISTRY=${r.address}`,
    ],
  );
}

// ---------------------------------------------------------------------------------------
// Governance

const iso = (t: number): string => new Date(t * 1000).toISOString().replace('.000Z', 'Z');

function describeDelay(seconds: number): string {
  if (seconds === 0) return '0 s (governance changes apply at once)';
  const h = seconds / 3600;
  return `${seconds} s (${Number.isInteger(h) ? `${h} h` : `${(seconds / 60).toFixed(1)} min`}): key-weakening changes are queued that long`;
}

/** The queued change a setter just made, found in governance read after it (null: none waits). */
function findQueued(gov: Governance, match: (c: QueuedGovernanceChange) => boolean): QueuedGovernanceChange | null {
  return gov.queued.find(match) ?? null;
}

/**
 * After a delayed setter: when its change applies, as JSON fields and one human line. A
 * deployment without a delay has nothing queued: the change is in effect.
 */
async function whenEffective(conn: Connection, match: (c: QueuedGovernanceChange) => boolean): Promise<{ json: Record<string, unknown>; line: string }> {
  const [gov, now] = await Promise.all([conn.ledger.getGovernance(), conn.ledger.now()]);
  const q = findQueued(gov, match);
  if (!q) return { json: { effectiveAt: now, queued: false }, line: 'In effect now.' };
  return {
    json: { effectiveAt: q.effectiveAt, queued: true },
    line: `Queued: takes effect at ${iso(q.effectiveAt)} (in ${q.effectiveAt - now} s, the governance delay). Withdraw it before then with \`kms-admin cancel-change\`.`,
  };
}

async function allowAction(ctx: CliContext, operators: readonly string[], opts: Opts): Promise<void> {
  const ops = operators.map((o, i) => parseAddressArg(o, operators.length === 1 ? '<operator>' : `<operator> #${i + 1}`));
  const allowed = opts.revoke !== true;
  const gov = readSigner(ctx, opts, GOVERNANCE_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [gov]);
  const w = conn.ledger.writer(gov.address);
  for (const op of ops) await w.allowOperator(op, allowed);
  if (!allowed) {
    printWrite(ctx, conn, { operators: ops, allowed },
      `Removed from the allow-list: ${ops.join(', ')} (at once, queued entries included; registered operators stay registered: use \`eject\` to remove them)`);
    return;
  }
  const [g, now] = await Promise.all([conn.ledger.getGovernance(), conn.ledger.now()]);
  const waiting = new Map(g.queued.flatMap((c) => (c.kind === 'allowOperator' ? [[c.operator, c.effectiveAt] as const] : [])));
  const effectiveAt = Object.fromEntries(ops.map((op) => [op, waiting.get(op) ?? now]));
  printWrite(ctx, conn, { operators: ops, allowed, effectiveAt }, waiting.size === 0 || ops.every((op) => !waiting.has(op))
    ? `Allowed to register: ${ops.join(', ')}`
    : `Allow-listing queued: ${ops.join(', ')}`, ops.filter((op) => waiting.has(op)).map((op) =>
    `  ${op} may register from ${iso(waiting.get(op) as number)} (in ${(waiting.get(op) as number) - now} s, the governance delay)`));
}

async function ejectAction(ctx: CliContext, operator: string, opts: Opts): Promise<void> {
  const op = parseAddressArg(operator, '<operator>');
  const gov = readSigner(ctx, opts, GOVERNANCE_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [gov]);
  await conn.ledger.writer(gov.address).ejectOperator(op);
  printWrite(ctx, conn, { operator: op, status: 'leaving' },
    `Ejected ${op}: it is now leaving (it still deals in the next reshare if it holds the current version, and receives nothing)`);
}

async function armGenesisAction(ctx: CliContext, opts: Opts): Promise<void> {
  const min = parseIntegerArg(opts.minOperators, '--min-operators', { min: 2 });
  const gov = readSigner(ctx, opts, GOVERNANCE_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [gov]);
  await conn.ledger.writer(gov.address).armGenesis(min);
  printWrite(ctx, conn, { genesisMinOperators: min },
    `Genesis armed: the first DKG opens at the next interval boundary once ${min} operators are active`);
}

async function setThresholdAction(ctx: CliContext, n: string, opts: Opts): Promise<void> {
  const t = parseIntegerArg(n, '<threshold>', { min: 0 });
  const gov = readSigner(ctx, opts, GOVERNANCE_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [gov]);
  await conn.ledger.writer(gov.address).setThresholdOverride(t);
  const when = await whenEffective(conn, (c) => c.kind === 'thresholdOverride' && c.value === t);
  const done = when.json.queued ? 'queued' : 'set';
  printWrite(ctx, conn, { thresholdOverride: t, ...when.json },
    t === 0 ? `Threshold override 0 ${done}: new sessions use the default ceil(2n/3)` : `Threshold override ${t} ${done}: every new session uses it (nodes started with --threshold-override ${t} consent to it)`,
    [when.line]);
}

async function setIntervalAction(ctx: CliContext, seconds: string, opts: Opts): Promise<void> {
  const s = parseIntegerArg(seconds, '<seconds>', { min: 1 });
  const gov = readSigner(ctx, opts, GOVERNANCE_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [gov]);
  await conn.ledger.writer(gov.address).setInterval(s);
  const when = await whenEffective(conn, (c) => c.kind === 'schedule' && c.interval === s);
  printWrite(ctx, conn, { interval: s, ...when.json }, `Reshare interval ${s} s ${when.json.queued ? 'queued' : 'set'}`, [when.line]);
}

/** The schedule in effect once the queued one (if any) applies: what omitted windows keep. */
function latestSchedule(g: Governance): { interval: number; dealWindow: number; ackWindow: number; confirmWindow: number; protocolVersion: number } {
  const q = g.queued.find((c) => c.kind === 'schedule');
  return q?.kind === 'schedule' ? q : g;
}

async function setWindowsAction(ctx: CliContext, opts: Opts): Promise<void> {
  const pick = (key: string, flag: string): number | undefined => (opts[key] === undefined ? undefined : parseIntegerArg(opts[key], flag, { min: 1 }));
  const deal = pick('deal', '--deal');
  const ack = pick('ack', '--ack');
  const confirm = pick('confirm', '--confirm');
  if (deal === undefined && ack === undefined && confirm === undefined) {
    throw new UsageError('give at least one of --deal, --ack, --confirm (omitted windows keep their length)');
  }
  const gov = readSigner(ctx, opts, GOVERNANCE_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [gov]);
  const g = await conn.ledger.getGovernance();
  const base = latestSchedule(g);
  const next = { dealWindow: deal ?? base.dealWindow, ackWindow: ack ?? base.ackWindow, confirmWindow: confirm ?? base.confirmWindow };
  await conn.ledger.writer(gov.address).setWindows(next.dealWindow, next.ackWindow, next.confirmWindow);
  const when = await whenEffective(conn, (c) => c.kind === 'schedule' && c.dealWindow === next.dealWindow && c.ackWindow === next.ackWindow && c.confirmWindow === next.confirmWindow);
  printWrite(ctx, conn, { ...next, ...when.json },
    `Windows ${when.json.queued ? 'queued' : 'set'}: deal ${next.dealWindow} s, ack ${next.ackWindow} s, confirm ${next.confirmWindow} s (interval ${base.interval} s, inclusion margin ${g.inclusionMargin} s)`,
    [when.line]);
}

async function setChurnCapAction(ctx: CliContext, n: string, opts: Opts): Promise<void> {
  const cap = parseIntegerArg(n, '<cap>', { min: 0 });
  const gov = readSigner(ctx, opts, GOVERNANCE_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [gov]);
  await conn.ledger.writer(gov.address).setChurnCap(cap);
  const when = await whenEffective(conn, (c) => c.kind === 'churnCap' && c.value === cap);
  const done = when.json.queued ? 'queued' : 'set';
  printWrite(ctx, conn, { churnCap: cap, ...when.json }, cap === 0
    ? `Churn cap 0 ${done}: each session admits at most max(1, floor(old holders / 3)) newcomers`
    : `Churn cap ${cap} ${done}: each session admits at most min(${cap}, max(1, floor(old holders / 3))) newcomers`, [when.line]);
}

async function setProtocolVersionAction(ctx: CliContext, v: string, opts: Opts): Promise<void> {
  const version = parseIntegerArg(v, '<version>', { min: 1, max: 0xffff });
  const gov = readSigner(ctx, opts, GOVERNANCE_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [gov]);
  const before = latestSchedule(await conn.ledger.getGovernance()).protocolVersion;
  await conn.ledger.writer(gov.address).setProtocolVersion(version);
  const when = await whenEffective(conn, (c) => c.kind === 'schedule' && c.protocolVersion === version);
  printWrite(ctx, conn, { protocolVersion: version, previous: before, ...when.json },
    `Protocol version ${version} ${when.json.queued ? 'queued' : 'set'} (was ${before}): sessions opened from then on require it; a node that does not speak it sits them out and says so (/status, kms-server doctor)`,
    [when.line]);
}

async function transferOwnershipAction(ctx: CliContext, newOwner: string, opts: Opts): Promise<void> {
  const to = parseAddressArg(newOwner, '<new-owner>');
  const gov = readSigner(ctx, opts, GOVERNANCE_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [gov]);
  await conn.ledger.writer(gov.address).transferOwnership(to);
  printWrite(ctx, conn, { owner: gov.address, pendingOwner: to },
    `Proposed ${to} as the new governance owner; you stay owner until it runs \`kms-admin accept-ownership\` with its own key (withdraw with \`kms-admin cancel-change ownership\`)`);
}

async function acceptOwnershipAction(ctx: CliContext, opts: Opts): Promise<void> {
  const next = readSigner(ctx, opts, PROPOSED_OWNER_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [next]);
  await conn.ledger.writer(next.address).acceptOwnership();
  printWrite(ctx, conn, { owner: next.address }, `Governance accepted: ${next.address} is the owner; the previous key has no rights any more`);
}

/** CLI names of the changes `cancel-change` withdraws. */
const CHANGE_NAMES: Readonly<Record<string, GovernanceChangeKind>> = {
  threshold: 'thresholdOverride',
  'churn-cap': 'churnCap',
  schedule: 'schedule',
  ownership: 'ownership',
};

async function cancelChangeAction(ctx: CliContext, what: string, opts: Opts): Promise<void> {
  const kind = CHANGE_NAMES[what];
  if (!kind) throw new UsageError(`<change>: expected one of ${Object.keys(CHANGE_NAMES).join(', ')}, got ${show(what)}`);
  const gov = readSigner(ctx, opts, GOVERNANCE_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [gov]);
  await conn.ledger.writer(gov.address).cancelGovernanceChange(kind);
  printWrite(ctx, conn, { cancelled: kind }, kind === 'ownership'
    ? 'Ownership proposal withdrawn: nobody can accept governance now'
    : `Queued ${what} change withdrawn: the value in effect stays`);
}

// ---------------------------------------------------------------------------------------
// Operators (the curve libraries are imported by the commands that need them: faster start)

const SIG_TYPES: readonly OperatorKeyType[] = ['bn254', 'ecdsa'];

function parseSocket(value: unknown): string {
  const socket = parseUrlArg(value, '--socket');
  if (Buffer.byteLength(socket, 'utf8') > SIZES.maxSocket) {
    throw new UsageError(`--socket: at most ${SIZES.maxSocket} bytes, got ${Buffer.byteLength(socket, 'utf8')}`);
  }
  return socket;
}

const bytesOf = (hex: Hex): Uint8Array => new Uint8Array(Buffer.from(hex.slice(2), 'hex'));

async function registerOperatorAction(ctx: CliContext, opts: Opts): Promise<void> {
  const socket = parseSocket(opts.socket);
  const type = opts.sigType as OperatorKeyType; // commander restricts it to SIG_TYPES
  const sigKey = readSecret(ctx, opts, SIG_KEY, true);
  const operator = readSigner(ctx, opts, OPERATOR_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const registry = registryOf(target);
  const { createOperatorSigner, operatorPublicKey } = await import('../crypto/operator-sig.ts');
  const { generateSealKeyPair } = await import('../crypto/seal.ts');
  const sk = bytesOf(sigKey);
  try {
    operatorPublicKey(type, sk); // a bad key is bad usage: refused before connecting
  } catch {
    sk.fill(0);
    throw new UsageError(`the ${SIG_KEY.what} is not a valid ${type} key (it must be a non-zero number below the ${type === 'bn254' ? 'BN254 group' : 'secp256k1'} order)`);
  }

  const conn = await connect(target, [operator]);
  // The proof of possession binds the key to this chain, this registry and this operator.
  const signer = createOperatorSigner(type, sk, makeDomain({ chainId: conn.ledger.chainId, registry }));
  sk.fill(0);
  // A first session key so the registration is complete; its secret is dropped at once.
  // kms-server publishes its own session key (rotateSessionKey) when it first starts.
  const session = generateSealKeyPair();
  session.secretKey.fill(0);
  const sigPublicKey = toHex(signer.publicKey);
  await conn.ledger.writer(operator.address).register({
    socket,
    sigKeyType: type,
    sigPublicKey,
    proofOfPossession: toHex(signer.proofOfPossession(operator.address)),
    sessionKey: toHex(session.publicKey),
  });
  const note = 'The session key registered now is a placeholder whose secret was discarded: kms-server publishes its own session key when it first starts. Keep the signing key; kms-server signs with it.';
  printWrite(ctx, conn, { operator: operator.address, socket, sigKeyType: type, sigPublicKey, sessionKey: toHex(session.publicKey), note }, `Registered operator ${operator.address} (${type} signing key, socket ${socket})`, [
    `  signing public key ${sigPublicKey}`,
    `Note: ${note}`,
  ]);
}

async function updateSocketAction(ctx: CliContext, opts: Opts): Promise<void> {
  const socket = parseSocket(opts.socket);
  const operator = readSigner(ctx, opts, OPERATOR_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [operator]);
  await conn.ledger.writer(operator.address).updateSocket(socket);
  printWrite(ctx, conn, { operator: operator.address, socket }, `Socket of ${operator.address} set to ${socket}`);
}

async function deregisterAction(ctx: CliContext, opts: Opts): Promise<void> {
  const operator = readSigner(ctx, opts, OPERATOR_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [operator]);
  await conn.ledger.writer(operator.address).deregister();
  printWrite(ctx, conn, { operator: operator.address, status: 'leaving' },
    `Deregistered ${operator.address}: it is now leaving (keep its node running until the next reshare completes: it still deals in it)`);
}

async function genSigKeyAction(ctx: CliContext, opts: Opts): Promise<void> {
  const type = opts.type as OperatorKeyType; // commander restricts it to SIG_TYPES
  const out = str(opts.out);
  if (!out) throw new UsageError('--out: give the file to write the new key to');
  const { createOperatorSigner, generateOperatorSecretKey } = await import('../crypto/operator-sig.ts');
  const sk = generateOperatorSecretKey(type);
  const hex = toHex(sk);
  ctx.redactor.addHex(hex);
  // A domain is needed only to build a signer; the public key does not depend on it.
  const signer = createOperatorSigner(type, sk, makeDomain({ chainId: 0, registry: `0x${'00'.repeat(20)}` }));
  sk.fill(0);
  const full = resolve(ctx.io.cwd, out);
  try {
    writeFileSync(full, `${hex}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new UsageError(`--out: ${show(out)}: ${code === 'EEXIST' ? 'already exists (refusing to overwrite a key)' : 'cannot be written'}`);
  }
  const publicKey = toHex(signer.publicKey);
  const g1 = signer.publicKeyG1 ? toHex(signer.publicKeyG1) : undefined;
  printResult(ctx, { type, file: out, publicKey, ...(g1 ? { publicKeyG1: g1 } : {}) }, [
    `Wrote a new ${type} signing key to ${out} (mode 600)`,
    `  public key ${publicKey}`,
    ...(g1 ? [`  G1 public key ${g1}`] : []),
    `Next: kms-admin register-operator --sig-type ${type} --sig-key-file ${out} --socket URL …`,
  ]);
}

// ---------------------------------------------------------------------------------------
// Apps and releases

async function createAppAction(ctx: CliContext, opts: Opts): Promise<void> {
  const salt = parseHexArg(opts.salt, 32, '--salt');
  const methods = parseMethodsArg(opts.methods);
  const owner = readSigner(ctx, opts, APP_OWNER_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [owner]);
  const appId = await conn.ledger.writer(owner.address).createApp(salt, methods);
  printWrite(ctx, conn, { appId, owner: owner.address, salt, methods }, `Created app ${appId}`, [
    `  owner ${owner.address}, attestation methods ${methods.length > 0 ? methods.join(', ') : 'none (no key release until set-methods)'}`,
  ]);
}

async function setMethodsAction(ctx: CliContext, appId: string, opts: Opts): Promise<void> {
  const id = parseHexArg(appId, 32, '<appId>');
  const methods = parseMethodsArg(opts.methods);
  const owner = readSigner(ctx, opts, APP_OWNER_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [owner]);
  await conn.ledger.writer(owner.address).setAttestationMethods(id, methods);
  printWrite(ctx, conn, { appId: id, methods }, `Attestation methods of ${id}: ${methods.length > 0 ? methods.join(', ') : 'none'}`);
}

/** `sha256:<64 hex>` (a container digest as registries print it) or 32 bytes of 0x-hex. */
function parseImageDigest(value: unknown): Hex {
  if (typeof value === 'string' && /^sha256:[0-9a-fA-F]{64}$/.test(value)) return `0x${value.slice(7).toLowerCase()}`;
  if (typeof value === 'string' && !value.startsWith('0x')) {
    throw new UsageError(`--image-digest: expected sha256:<64 hex digits> or 32 bytes of 0x-hex, got ${show(value)}`);
  }
  return parseHexArg(value, 32, '--image-digest');
}

async function publishReleaseAction(ctx: CliContext, appId: string, opts: Opts): Promise<void> {
  const id = parseHexArg(appId, 32, '<appId>');
  const imageDigest = parseImageDigest(opts.imageDigest);
  const launchPolicy = parseHexArg(opts.launchPolicy, undefined, '--launch-policy');
  const envFile = str(opts.envFile);
  const env = envFile === undefined ? undefined : readInputFile(ctx, envFile, '--env-file');
  const publicEnvFile = str(opts.publicEnvFile);
  const publicEnv = publicEnvFile !== undefined ? readInputFile(ctx, publicEnvFile, '--public-env-file').toString('utf8') : (str(opts.publicEnv) ?? '');
  const owner = readSigner(ctx, opts, APP_OWNER_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [owner]);

  let encryptedEnv: Hex = '0x';
  if (env !== undefined) {
    const mpk = await conn.ledger.getMpk();
    if (mpk === null) {
      throw new CliError(
        'No master public key is pinned yet, so the env cannot be encrypted: genesis has not completed. Wait for the first DKG (`kms-admin status` shows the MPK), or publish without --env-file.',
        { code: 'NoMasterPublicKey', metaMessages: [`Contract: KmsRegistry at ${conn.ledger.registry}`, `Chain: ${conn.ledger.chainId}`] },
      );
    }
    // The current epoch's identity: the key operators release now (0 until a rotation).
    const before = await conn.ledger.getApp(id);
    if (before === null) throw new LedgerError('UnknownApp', `app ${id} does not exist`);
    // Loaded here only: the BLS12-381 backend is the slowest import of the CLI.
    const { encryptToApp } = await import('../crypto/ibe.ts');
    const { appIdentity } = await import('../crypto/key-release.ts');
    const plaintext = new Uint8Array(env);
    encryptedEnv = toHex(encryptToApp(bytesOf(mpk), appIdentity(id, before.epoch), plaintext));
    plaintext.fill(0);
    env.fill(0);
  }
  await conn.ledger.writer(owner.address).publishRelease(id, { imageDigest, launchPolicy, encryptedEnv, publicEnv });
  const app = await conn.ledger.getApp(id);
  const index = app ? app.releaseCount - 1 : null;
  const envBytes = (encryptedEnv.length - 2) / 2;
  printWrite(ctx, conn, { appId: id, release: index, imageDigest, launchPolicy, encryptedEnvBytes: envBytes, publicEnvBytes: Buffer.byteLength(publicEnv, 'utf8') },
    `Published release ${index ?? '?'} of app ${id}`, [
      `  image digest ${imageDigest}`,
      `  env: ${envFile === undefined ? 'none' : `${envBytes} bytes, encrypted to the app's identity at key epoch ${app?.epoch ?? '?'} under the pinned MPK`}; public env ${Buffer.byteLength(publicEnv, 'utf8')} bytes`,
    ]);
}

// ---------------------------------------------------------------------------------------
// App ownership and freeze (issue 16)

async function transferAppAction(ctx: CliContext, appId: string, opts: Opts): Promise<void> {
  const id = parseHexArg(appId, 32, '<appId>');
  const to = parseAddressArg(opts.to, '--to');
  const owner = readSigner(ctx, opts, APP_OWNER_KEY);
  if (to === owner.address) throw new UsageError(`--to: ${to} already owns the app (it is the signer)`);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [owner]);
  await conn.ledger.writer(owner.address).transferApp(id, to);
  const cancelled = /^0x0{40}$/.test(to);
  printWrite(ctx, conn, { appId: id, owner: owner.address, pendingOwner: cancelled ? null : to },
    cancelled ? `Withdrew the pending transfer of app ${id}` : `Proposed ${to} as the new owner of app ${id}`,
    cancelled ? [] : [
      `  ${owner.address} stays the owner, with every right, until ${to} accepts`,
      `Next: the new owner runs  kms-admin accept-app ${id} --key-file <its key>  (a contract wallet sends acceptApp(${id}) itself)`,
    ]);
}

async function acceptAppAction(ctx: CliContext, appId: string, opts: Opts): Promise<void> {
  const id = parseHexArg(appId, 32, '<appId>');
  const signer = readSigner(ctx, opts, PROPOSED_APP_OWNER_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [signer]);
  const before = await conn.ledger.getApp(id);
  if (before === null) throw new LedgerError('UnknownApp', `app ${id} does not exist`);
  await conn.ledger.writer(signer.address).acceptApp(id);
  printWrite(ctx, conn, { appId: id, owner: signer.address, previousOwner: before.owner }, `${signer.address} now owns app ${id}`, [
    `  the previous owner ${before.owner} can no longer change the app or sign its ecdsa attestations`,
  ]);
}

/** `app <appId>`: the app as the operators see it now (read-only, no key). */
async function appAction(ctx: CliContext, appId: string, opts: Opts): Promise<void> {
  const id = parseHexArg(appId, 32, '<appId>');
  const target = resolveChainTarget(ctx, opts, true);
  const { ledger } = await connect(target);
  const app = await rpcStep('Reading the app', target, () => ledger.getApp(id));
  if (app === null) throw new LedgerError('UnknownApp', `app ${id} does not exist`);
  const { appIdentity } = await import('../crypto/key-release.ts');
  const identity = appIdentity(id, app.epoch);
  printResult(ctx, { ...app, identity, registry: ledger.registry, chainId: Number(ledger.chainId) }, [
    `App ${id}`,
    `  owner          ${app.owner}${app.pendingOwner ? ` (transfer proposed to ${app.pendingOwner}: it must run accept-app)` : ''}`,
    `  methods        ${app.methods.length > 0 ? app.methods.join(', ') : 'none (no key release)'}`,
    `  key release    ${app.frozen ? 'FROZEN: every operator refuses it (unfreeze-app lifts it)' : 'open'}`,
    `  key epoch      ${app.epoch} (IBE identity ${identity})`,
    `  releases       ${app.releaseCount}${app.releaseCount > 0 ? ` (latest: ${app.releaseCount - 1})` : ''}`,
  ]);
}

async function setFrozenAction(ctx: CliContext, appId: string, opts: Opts, frozen: boolean): Promise<void> {
  const id = parseHexArg(appId, 32, '<appId>');
  const owner = readSigner(ctx, opts, APP_OWNER_KEY);
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target, [owner]);
  await conn.ledger.writer(owner.address).setAppFrozen(id, frozen);
  printWrite(ctx, conn, { appId: id, frozen },
    frozen ? `Froze app ${id}: from the next block on, every operator refuses to release its key (403 app-frozen)` : `Unfroze app ${id}: operators release its key again`,
    frozen ? [`Undo with: kms-admin unfreeze-app ${id}`] : []);
}

// ---------------------------------------------------------------------------------------
// status

function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.length); });
  return rows.map((r) => `  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}`);
}

function describeQueued(c: QueuedGovernanceChange): string {
  switch (c.kind) {
    case 'thresholdOverride':
      return c.value === 0 ? 'threshold override -> 0 (default)' : `threshold override -> ${c.value}`;
    case 'churnCap':
      return c.value === 0 ? 'churn cap -> 0 (default)' : `churn cap -> ${c.value}`;
    case 'schedule':
      return `interval ${c.interval} s, windows ${c.dealWindow}/${c.ackWindow}/${c.confirmWindow} s, protocol version ${c.protocolVersion}`;
    case 'allowOperator':
      return `allow ${c.operator}`;
  }
}

function sessionJson(s: Session, now: number): Record<string, unknown> {
  const ends = phaseEnds(s);
  const { snapshot: snap, progress: p } = s;
  return {
    id: snap.id,
    kind: snap.kind,
    phase: phaseAt(s, now),
    outcome: p.outcome,
    boundary: snap.boundary,
    openedAt: snap.openedAt,
    ends: { deal: ends.dealEnd, ack: ends.ackEnd, confirm: ends.confirmEnd },
    tNew: snap.tNew,
    tOld: snap.tOld,
    quorum: snap.quorum,
    sourceVersion: snap.sourceVersion,
    dealers: snap.dealers,
    recipients: snap.recipients,
    progress: { deals: p.dealCount, acks: p.ackCount, confirmations: p.confirmCount, counter: p.counter, digest: p.digest },
    completedPolyHash: p.completedPolyHash,
  };
}

async function statusAction(ctx: CliContext, opts: Opts): Promise<void> {
  const target = resolveChainTarget(ctx, opts, true);
  const conn = await connect(target);
  const { ledger } = conn;
  // One block for every read: the report is one consistent picture of the registry.
  const rc = await rpcStep('Reading the registry', target, async (): Promise<ReadContext> => {
    const block = await ledger.client.getBlock({ blockTag: 'latest' });
    return { client: ledger.client, registry: ledger.registry, blockNumber: block.number, blockHash: block.hash, timestamp: Number(block.timestamp) };
  });
  const now = rc.timestamp;
  const [gov, operators, latestId, mpk, activeId] = await rpcStep('Reading the registry', target, () =>
    Promise.all([readGovernance(rc), readOperators(rc), readLatestSessionId(rc), readMpk(rc), readActiveVersionId(rc)]));
  const session = await rpcStep('Reading the latest session', target, async (): Promise<Session | null> => {
    if (latestId === 0) return null;
    const state = await readSessionState(rc, latestId);
    if (!state) return null;
    return { snapshot: await readSnapshot(rc, latestId, state), snapshotHash: state.snapshotHash, progress: toProgress(state, now) };
  });
  const version = activeId === 0 ? null : await rpcStep('Reading the active version', target, () => readVersion(rc, activeId));

  const active = operators.filter((o) => o.status === 'active').length;
  const leaving = operators.length - active;
  // The threshold the next session would use: over the recipients it would admit (members,
  // newcomers limited by the churn cap), as the contract checks it.
  const recipients = mpk !== null && version === null ? active : plannedRecipientCount({ operators, active: version, mpkPinned: mpk !== null, churnCap: gov.churnCap });
  const effective = effectiveThreshold(gov.thresholdOverride, recipients);
  const nextBoundary = boundaryOf(now, gov.interval) + gov.interval;
  const queued = gov.queued.map((c) => ({ ...c, effectiveAtIso: iso(c.effectiveAt), inSeconds: c.effectiveAt - now }));

  const data = {
    chain: { chainId: Number(ledger.chainId), registry: ledger.registry, rpc: redactRpcUrl(target.rpcUrl), block: Number(rc.blockNumber), time: now, timeIso: iso(now) },
    governance: { ...gov, queued, genesisArmed: gov.genesisMinOperators > 0, nextSessionRecipients: recipients, effectiveThreshold: effective, nextBoundary },
    operators: operators.map((o) => ({ address: o.address, status: o.status, sigKeyType: o.sigKeyType, socket: o.socket, registeredSeq: o.registeredSeq, sigPublicKey: o.sigPublicKey, sessionKey: o.sessionKey })),
    operatorCounts: { active, leaving },
    latestSession: session ? sessionJson(session, now) : null,
    activeVersion: version
      ? { id: version.id, threshold: version.threshold, holders: version.holders, publicPolyHash: version.publicPolyHash, completedAt: version.completedAt }
      : null,
    mpk,
  };

  const lines: string[] = [
    `Registry   ${ledger.registry} on chain ${ledger.chainId} (${redactRpcUrl(target.rpcUrl)})`,
    `Chain time ${iso(now)} (${now}), block ${rc.blockNumber}`,
    '',
    'Governance',
    ...table([
      ['owner', gov.owner],
      ...(gov.pendingOwner ? [['proposed owner', `${gov.pendingOwner} (becomes owner when it runs \`kms-admin accept-ownership\`)`]] : []),
      ['threshold', gov.thresholdOverride === 0
        ? `default ceil(2n/3)${effective !== null ? ` = ${effective} for the ${recipients} recipients of the next session` : ` (no valid threshold for ${recipients} recipients)`}`
        : `override ${gov.thresholdOverride}${effective === null ? ` (does not fit the ${recipients} recipients of the next session: sessions cannot open until governance changes it)` : ''}`],
      ['interval', `${gov.interval} s (next boundary ${iso(nextBoundary)})`],
      ['windows', `deal ${gov.dealWindow} s, ack ${gov.ackWindow} s, confirm ${gov.confirmWindow} s; inclusion margin ${gov.inclusionMargin} s`],
      ['churn cap', gov.churnCap === 0 ? 'default max(1, floor(old holders / 3))' : `${gov.churnCap} (never more than max(1, floor(old holders / 3)))`],
      ['protocol version', `${gov.protocolVersion} (sessions opened now require it)`],
      ['genesis', gov.genesisMinOperators > 0 ? `armed, at least ${gov.genesisMinOperators} operators` : 'not armed (run `kms-admin arm-genesis`)'],
      ['delay', describeDelay(gov.governanceDelay)],
    ]),
    '',
    ...(queued.length === 0
      ? ['Queued governance changes: none']
      : [`Queued governance changes (${queued.length})`, ...table(queued.map((c) => [describeQueued(c), `at ${c.effectiveAtIso}`, `(in ${c.inSeconds} s)`]))]),
    '',
    `Operators (${active} active, ${leaving} leaving)`,
    ...(operators.length === 0
      ? ['  none registered']
      : table([['#', 'address', 'status', 'key', 'socket'], ...operators.map((o) => [String(o.registeredSeq), o.address, o.status, o.sigKeyType, o.socket])])),
    '',
  ];
  if (session) {
    const s = sessionJson(session, now) as { phase: string; ends: { deal: number; ack: number; confirm: number } };
    const { snapshot: snap, progress: p } = session;
    const end = s.phase === 'deal' ? s.ends.deal : s.phase === 'ack' ? s.ends.ack : s.phase === 'confirm' ? s.ends.confirm : undefined;
    lines.push(
      `Latest session #${snap.id} (${snap.kind}, boundary ${iso(snap.boundary)})`,
      `  phase ${s.phase}${end !== undefined ? ` until ${iso(end)} (in ${end - now} s)` : ''}, outcome ${p.outcome}`,
      `  deals ${p.dealCount}/${snap.dealers.length}, acks ${p.ackCount}/${snap.recipients.length}, confirmations ${p.confirmCount} (quorum ${snap.quorum})`,
      `  t_new ${snap.tNew}, t_old ${snap.tOld}${snap.sourceVersion ? `, source version ${snap.sourceVersion}` : ''}`,
    );
  } else {
    lines.push('Latest session: none opened yet');
  }
  lines.push(
    version
      ? `Active version #${version.id}: threshold ${version.threshold}, ${version.holders.length} holders, completed ${iso(version.completedAt)}`
      : 'Active version: none (genesis has not completed)',
    `MPK ${mpk ?? 'not pinned yet'}`,
  );
  printResult(ctx, data, lines);
}

// ---------------------------------------------------------------------------------------
// The program

const PROGRAM_HELP = `
Keys (never echoed; a flag is visible in the process list, prefer the env var or a file):
  governance and app commands  --key HEX | --key-file PATH | KMS_ADMIN_KEY
  operator commands            --operator-key HEX | --operator-key-file PATH | KMS_OPERATOR_KEY
  operator signing key         --sig-key HEX | --sig-key-file PATH | KMS_OPERATOR_SIG_KEY
  Key files readable by every user are refused (KMS_ALLOW_INSECURE_KEY_FILES=1 overrides).
Chain: --rpc URL (KMS_RPC_URL), --registry ADDRESS (KMS_REGISTRY), or --devnet (.devnet/devnet.json).
Output: human text, or --json (one JSON document on stdout; failures one on stderr).
${EXIT_CODES.trim()}
Run \`kms-admin <command> --help\` for a command's flags. Walk-through: docs/admin.md.`;

/** The kms-admin program, with its actions bound to `ctx`. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('kms-admin')
    .description('Deploy and administer an eigenx-kms registry: operators, governance, apps, releases and status.')
    .showSuggestionAfterError(true)
    .addHelpText('after', PROGRAM_HELP);

  // deploy
  const deploy = defineCommand(program, 'deploy',
    'Deploy a new KmsRegistry contract and print its address.',
    'Interval, windows, inclusion margin and governance delay default per chain id: 1 -> 600 s, windows 72/72/72 s, '
      + 'margin 36 s, delay 86400 s; 11155111 -> 120 s, 30/30/30 s, margin 24 s, delay 86400 s; 31337 -> 60 s, '
      + '15/15/15 s, margin 3 s, delay 0 s; any other chain -> 60 s, 15/15/15 s, margin 12 s, delay 86400 s. '
      + 'The windows plus the inclusion margin must fit in the interval. The margin and the delay are fixed forever; '
      + 'interval and windows can be changed later by governance (after the delay).',
    'kms-admin deploy --rpc http://127.0.0.1:8545 --key-file gov.key --interval 120')
    .option('--interval <seconds>', 'reshare interval (default: per chain)')
    .option('--deal-window <seconds>', 'deal window (default: per chain)')
    .option('--ack-window <seconds>', 'ack window (default: per chain)')
    .option('--confirm-window <seconds>', 'confirm window (default: per chain)')
    .option('--inclusion-margin <seconds>', 'seconds left at the end of each interval so a round\'s last transactions are mined before the next boundary, fixed at deployment (default: per chain, a few block times)')
    .option('--governance-delay <seconds>', `seconds a key-weakening governance change (allow-listing, churn cap, threshold, interval, windows) waits after it is announced, fixed at deployment, at most ${MAX_GOVERNANCE_DELAY} (default: per chain; 0 only on a local chain)`)
    .option('--owner <address>', 'governance owner (default: the deployer)');
  writeOptions(deploy, DEPLOYER_KEY, { registry: false }).action((opts: Opts) => deployAction(ctx, opts));

  // governance
  const allow = defineCommand(program, 'allow <operator...>',
    'Allow operator addresses to register (or, with --revoke, withdraw the permission).',
    'Governance only. Allowing is delayed: an address may register once the governance delay has passed '
      + '(`status` shows when). Revoking acts at once, also on an entry still waiting, and does not remove an '
      + 'operator that already registered: use `eject` for that.',
    'kms-admin allow 0x70997970c51812dc3a010c7d01b50e0d17dc79c8')
    .option('--revoke', 'remove the addresses from the allow-list instead');
  writeOptions(allow, GOVERNANCE_KEY).action((operators: string[], opts: Opts) => allowAction(ctx, operators, opts));

  const eject = defineCommand(program, 'eject <operator>',
    'Eject a registered operator: it becomes leaving.',
    'Governance only. A leaving operator still deals in the next reshare if it holds the source version, '
      + 'and receives nothing; it is removed once that reshare completes.',
    'kms-admin eject 0x70997970c51812dc3a010c7d01b50e0d17dc79c8');
  writeOptions(eject, GOVERNANCE_KEY).action((operator: string, opts: Opts) => ejectAction(ctx, operator, opts));

  const arm = defineCommand(program, 'arm-genesis',
    'Arm genesis: allow the first DKG once enough operators are active.',
    'Governance only. The first session opens at the next interval boundary after at least --min-operators '
      + 'operators are active (any registered operator opens it).',
    'kms-admin arm-genesis --min-operators 3')
    .requiredOption('--min-operators <n>', 'operators needed for genesis (at least 2)');
  writeOptions(arm, GOVERNANCE_KEY).action((opts: Opts) => armGenesisAction(ctx, opts));

  const threshold = defineCommand(program, 'set-threshold <n>',
    'Set the threshold override (0 = default ceil(2n/3)).',
    'Governance only, delayed. A non-zero value must lie within max(2, floor(n/2)+1)..n for the n operators the next '
      + 'session would admit (members, newcomers limited by the churn cap); once in effect every new session uses it. '
      + 'Nodes take part only if started with `kms-server --threshold-override N` (SPEC 6).',
    'kms-admin set-threshold 3');
  writeOptions(threshold, GOVERNANCE_KEY).action((n: string, opts: Opts) => setThresholdAction(ctx, n, opts));

  const interval = defineCommand(program, 'set-interval <seconds>',
    'Set the reshare interval.',
    'Governance only, delayed (the interval and the windows change together). The windows plus the inclusion margin '
      + 'must fit in the new interval.',
    'kms-admin set-interval 600');
  writeOptions(interval, GOVERNANCE_KEY).action((seconds: string, opts: Opts) => setIntervalAction(ctx, seconds, opts));

  const windows = defineCommand(program, 'set-windows',
    'Set the deal, ack and confirm window lengths.',
    'Governance only, delayed (the interval and the windows change together). Each window is at least 1 s; '
      + 'deal + ack + confirm + inclusion margin must fit in the interval. Omitted windows keep their length '
      + '(a queued one included). Sessions opened after the change takes effect use the new windows.',
    'kms-admin set-windows --deal 30 --ack 30 --confirm 30')
    .option('--deal <seconds>', 'deal window')
    .option('--ack <seconds>', 'ack window')
    .option('--confirm <seconds>', 'confirm window');
  writeOptions(windows, GOVERNANCE_KEY).action((opts: Opts) => setWindowsAction(ctx, opts));

  const churn = defineCommand(program, 'set-churn-cap <n>',
    'Set how many new operators one session may admit (0 = default).',
    'Governance only, delayed. The default admits max(1, floor(old holders / 3)) newcomers per session, in registration '
      + 'order; a cap can only lower that, never raise it (so newcomers always stay below the threshold).',
    'kms-admin set-churn-cap 2');
  writeOptions(churn, GOVERNANCE_KEY).action((n: string, opts: Opts) => setChurnCapAction(ctx, n, opts));

  const protocol = defineCommand(program, 'set-protocol-version <version>',
    'Set the protocol version sessions require (the last step of a rolling upgrade).',
    'Governance only, delayed, and queued with the schedule (interval and windows): `cancel-change schedule` withdraws '
      + 'it. Sessions opened once it is in effect require it; a node that does not speak it sits those sessions out and '
      + 'says so in its log, /status and `kms-server doctor`. Raise it only after every operator runs a release that speaks '
      + 'it (docs/operations.md, "Upgrades"); lowering it again is the way back.',
    'kms-admin set-protocol-version 2');
  writeOptions(protocol, GOVERNANCE_KEY).action((v: string, opts: Opts) => setProtocolVersionAction(ctx, v, opts));

  const transfer = defineCommand(program, 'transfer-ownership <new-owner>',
    'Propose another address as the governance owner (step one of two).',
    'Governance only. The current key keeps every right until the proposed address runs `accept-ownership` with its '
      + 'own key; a new proposal replaces the previous one; `cancel-change ownership` withdraws it.',
    'kms-admin transfer-ownership 0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc');
  writeOptions(transfer, GOVERNANCE_KEY).action((newOwner: string, opts: Opts) => transferOwnershipAction(ctx, newOwner, opts));

  const accept = defineCommand(program, 'accept-ownership',
    'Accept governance proposed to this key (step two of two).',
    'Sent from the proposed owner\'s address (--key): it becomes the owner and the previous owner loses every right. '
      + 'Queued changes stay queued.',
    'kms-admin accept-ownership --key-file new-gov.key');
  writeOptions(accept, PROPOSED_OWNER_KEY).action((opts: Opts) => acceptOwnershipAction(ctx, opts));

  const cancel = defineCommand(program, 'cancel-change <change>',
    'Withdraw a queued governance change before it takes effect: threshold, churn-cap, schedule or ownership.',
    'Governance only. `schedule` is a queued interval or window change (they change together); `ownership` withdraws '
      + 'a proposal nobody accepted yet. A queued allow-list entry is withdrawn with `allow --revoke`. '
      + '`status` lists what is queued.',
    'kms-admin cancel-change churn-cap');
  writeOptions(cancel, GOVERNANCE_KEY).action((what: string, opts: Opts) => cancelChangeAction(ctx, what, opts));

  // operators
  const register = defineCommand(program, 'register-operator',
    'Register this operator: socket, signing key with proof of possession, first session key.',
    'Sent from the operator\'s own address (--operator-key), which governance must have allowed. The proof of '
      + 'possession signs (chain id, registry, operator address) with the signing key, so it cannot be reused elsewhere. '
      + 'A first session key is generated and its secret discarded: kms-server publishes its own session key when it '
      + 'first starts. Create a signing key with `kms-admin gen-sig-key`.',
    'KMS_OPERATOR_KEY=0x... kms-admin register-operator --socket https://op1.example:8443 --sig-type bn254 --sig-key-file sig.key')
    .requiredOption('--socket <url>', 'public http(s) URL of this operator\'s kms-server API')
    .addOption(new Option('--sig-type <type>', 'signing key type').choices(SIG_TYPES).makeOptionMandatory());
  addSecretOptions(register, SIG_KEY);
  writeOptions(register, OPERATOR_KEY).action((opts: Opts) => registerOperatorAction(ctx, opts));

  const socket = defineCommand(program, 'update-socket',
    'Change this operator\'s socket URL.',
    'Sent from the operator\'s own address; leaving operators may update too.',
    'kms-admin update-socket --socket https://op1.example:9443 --operator-key-file op.key')
    .requiredOption('--socket <url>', 'new public http(s) URL of the kms-server API');
  writeOptions(socket, OPERATOR_KEY).action((opts: Opts) => updateSocketAction(ctx, opts));

  const deregister = defineCommand(program, 'deregister',
    'Leave the operator set (this operator becomes leaving).',
    'Sent from the operator\'s own address. Keep the node running until the next reshare completes: a leaving '
      + 'operator still deals in it so the others keep the key.',
    'kms-admin deregister --operator-key-file op.key');
  writeOptions(deregister, OPERATOR_KEY).action((opts: Opts) => deregisterAction(ctx, opts));

  const gen = defineCommand(program, 'gen-sig-key',
    'Create a new operator signing key in a file (mode 600) and print its public key.',
    'Offline; nothing is sent. A bn254 key must be a number below the BN254 group order, which random bytes often '
      + 'are not, so use this command rather than a generic random generator. Refuses to overwrite an existing file.',
    'kms-admin gen-sig-key --type bn254 --out sig.key')
    .addOption(new Option('--type <type>', 'signing key type').choices(SIG_TYPES).makeOptionMandatory())
    .requiredOption('--out <path>', 'file to create');
  addJsonOption(gen).action((opts: Opts) => genSigKeyAction(ctx, opts));

  // apps
  const create = defineCommand(program, 'create-app',
    'Create an app and print the app id the contract assigns.',
    'appId = keccak256(chainId, registry, creator, salt): nobody can take an id someone else already encrypts to. '
      + 'The sender owns the app. --methods chooses which attestations may release the app key: jwt (a TEE token '
      + 'bound to the latest release) and/or ecdsa (a signature by the owner); default jwt.',
    'kms-admin create-app --salt 0x$(openssl rand -hex 32) --methods jwt')
    .requiredOption('--salt <hex32>', '32 bytes of 0x-hex; any value, unique per creator')
    .option('--methods <list>', 'comma-separated attestation methods: ecdsa, jwt, or none', 'jwt');
  writeOptions(create, APP_OWNER_KEY).action((opts: Opts) => createAppAction(ctx, opts));

  const methods = defineCommand(program, 'set-methods <appId>',
    'Choose which attestation methods may release an app\'s key.',
    'App owner only. ecdsa: the owner\'s EIP-712 signature; jwt: a TEE token bound to the latest release; none: no release.',
    'kms-admin set-methods 0x<app id> --methods ecdsa,jwt')
    .requiredOption('--methods <list>', 'comma-separated attestation methods: ecdsa, jwt, or none');
  writeOptions(methods, APP_OWNER_KEY).action((appId: string, opts: Opts) => setMethodsAction(ctx, appId, opts));

  const publish = defineCommand(program, 'publish-release <appId>',
    'Publish a release of an app: image digest, launch policy, encrypted env, public env.',
    'App owner only. --env-file is encrypted to the app\'s identity at its current key epoch with the pinned master public key (IBE envelope v1), '
      + 'so only a node-released app key opens it; this needs a completed genesis. The public env is stored in clear.',
    'kms-admin publish-release 0x<app id> --image-digest sha256:<digest> --launch-policy 0x01 --env-file .env')
    .requiredOption('--image-digest <digest>', 'container image digest: sha256:<64 hex> or 32 bytes of 0x-hex')
    .requiredOption('--launch-policy <hex>', 'launch policy bytes, 0x-hex')
    .option('--env-file <path>', 'file whose bytes are encrypted to the app (its current key epoch; refused before genesis)')
    .addOption(new Option('--public-env <text>', 'public environment, stored in clear').conflicts('publicEnvFile'))
    .option('--public-env-file <path>', 'file holding the public environment (UTF-8)');
  writeOptions(publish, APP_OWNER_KEY).action((appId: string, opts: Opts) => publishReleaseAction(ctx, appId, opts));

  const transferApp = defineCommand(program, 'transfer-app <appId>',
    'Propose a new owner for an app (step one of two; the new owner accepts with accept-app).',
    'App owner only. The current owner keeps every right until the new owner accepts; a second transfer-app '
      + 'replaces the proposal, and --to 0x0000000000000000000000000000000000000000 withdraws it. The new owner may '
      + 'be a contract wallet (EIP-1271): operators then ask it to validate ecdsa attestations.',
    'kms-admin transfer-app 0x<app id> --to 0x<new owner> --key-file owner.key')
    .requiredOption('--to <address>', 'the proposed owner (0x + 40 hex digits; the zero address withdraws a proposal)');
  writeOptions(transferApp, APP_OWNER_KEY).action((appId: string, opts: Opts) => transferAppAction(ctx, appId, opts));

  const acceptApp = defineCommand(program, 'accept-app <appId>',
    'Take over an app proposed to you with transfer-app (step two of two).',
    'Sent by the proposed owner. From its block on, the previous owner can no longer publish, set methods, transfer, '
      + 'freeze, rotate or sign ecdsa attestations for the app. The app key does not change (rotate it with '
      + '`kms-client rotate-app-key` if the previous owner should not keep it).',
    'kms-admin accept-app 0x<app id> --key-file new-owner.key');
  writeOptions(acceptApp, PROPOSED_APP_OWNER_KEY).action((appId: string, opts: Opts) => acceptAppAction(ctx, appId, opts));

  const showApp = defineCommand(program, 'app <appId>',
    'Show an app: owner (and a proposed one), methods, whether key release is frozen, key epoch, releases.',
    'Read-only; no key is needed. The IBE identity printed is what `kms-client encrypt` encrypts to now.',
    'kms-admin app 0x<app id> --json');
  addJsonOption(addChainOptions(showApp)).action((appId: string, opts: Opts) => appAction(ctx, appId, opts));

  const freeze = defineCommand(program, 'freeze-app <appId>',
    'Stop every key release of an app (emergency brake), until unfreeze-app.',
    'App owner only. Operators read the app at the latest block for every request: from the next block on each of '
      + 'them refuses /app/sign and /secrets for the app with 403 app-frozen, even identical retries of answered '
      + 'requests. Releases, methods and the key stay as they are.',
    'kms-admin freeze-app 0x<app id> --key-file owner.key');
  writeOptions(freeze, APP_OWNER_KEY).action((appId: string, opts: Opts) => setFrozenAction(ctx, appId, opts, true));

  const unfreeze = defineCommand(program, 'unfreeze-app <appId>',
    'Let operators release an app\'s key again after freeze-app.',
    'App owner only; takes effect from the next block on.',
    'kms-admin unfreeze-app 0x<app id> --key-file owner.key');
  writeOptions(unfreeze, APP_OWNER_KEY).action((appId: string, opts: Opts) => setFrozenAction(ctx, appId, opts, false));

  // status
  const status = defineCommand(program, 'status',
    'Show governance (with queued changes and when each takes effect), operators, the latest session, the active version and the pinned MPK.',
    'Read-only; every value is read at one block. No key is needed.',
    'kms-admin status --devnet --json');
  addJsonOption(addChainOptions(status)).action((opts: Opts) => statusAction(ctx, opts));

  return program;
}

/**
 * Runs kms-admin with `argv` (the user's arguments) and resolves to the exit code.
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: readonly string[] = process.argv.slice(2), io: CliIo = processIo()): Promise<number> {
  const ctx = createCliContext('kms-admin', io);
  return runCli(buildProgram(ctx), argv, ctx);
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(resolve(entry)).href) {
  process.exitCode = await main();
}
