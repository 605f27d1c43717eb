/**
 * @module
 * `kms-server`: runs one operator node (SPEC 5, 7). Every flag can also be given as a
 * `KMS_*` environment variable (secrets preferably so, or as files, never on the command
 * line of a shared machine). It refuses to start — exit 1, one line — when the chain, the
 * key store, the storage key, the MPK or the on-chain registration do not match, or when a
 * listener cannot bind; bad flags exit 2, among them an operations listener on a host that is
 * not loopback without `--ops-public`. It stops cleanly on SIGINT/SIGTERM.
 *
 * Two listeners: the public API (`--host`/`--port`: /pubkey, /app/sign, /secrets, /healthz)
 * and the operations listener (`--ops-host`/`--ops-port`: /healthz, /status, /metrics), see
 * `src/node/http/app.ts` and docs/operations.md.
 */
import { pathToFileURL } from 'node:url';
import { Command, Option } from 'commander';
import pino from 'pino';
import { parseGwei } from 'viem';
import { parseFinality, type Finality } from '../chain/profiles.ts';
import { MAX_PROVIDERS } from '../chain/rpc-pool.ts';
import type { OperatorKeyType } from '../crypto/operator-sig.ts';
import type { AppReleaseHandler } from '../node/http/app.ts';
import { isLoopbackHost } from '../node/http/loopback.ts';
import { startNode, StartupError, type NodeParts, type OpsListenerConfig, type RunningNode } from '../node/node.ts';
import { createAppRelease, type JwtMethodConfig } from '../node/release/handler.ts';
import { ClaimPolicyError, CONFIDENTIAL_SPACE_POLICY, parseClaimPolicy, parseRequiredClaim, withRules, type ClaimPolicy } from '../node/release/claim-policy.ts';
import { DEFAULT_JWKS_MAX_AGE_MS, jwksFromFile, jwksFromUrl, JwksError, type JwksProvider } from '../node/release/jwt.ts';
import { parseStorageKey } from '../node/store-crypto.ts';
import type { Address, Hex } from '../protocol/ledger.ts';
import { addToolCommands, type ToolOutcome } from './kms-server-tools.ts';
import {
  addSecretOptions,
  CliError,
  createCliContext,
  parseAddressArg,
  parseIntegerArg,
  parseUrlArg,
  processIo,
  readInputFile,
  readSecret,
  runCli,
  show,
  UsageError,
  type CliContext,
  type CliIo,
  type SecretSpec,
} from './common.ts';

const OPERATOR_KEY: SecretSpec = { flag: 'operator-key', env: 'KMS_OPERATOR_KEY', what: 'operator\'s transaction key' };
const SIG_KEY: SecretSpec = { flag: 'sig-key', env: 'KMS_OPERATOR_SIG_KEY', what: 'operator\'s signing secret key' };
const STORE_KEY: SecretSpec = { flag: 'store-key', env: 'KMS_STORE_KEY', what: 'key-store encryption key' };

/**
 * The operations listener's default port. Fixed, not "any free port": Prometheus identifies a
 * target by host:port, so a port that changed at every restart would start new series each
 * time. Not 8081 (the port a second node on the same host typically takes for its public API),
 * not 9090–9999 (Prometheus itself, its Pushgateway and Alertmanager, and the range the
 * Prometheus project hands out to exporters), and it mirrors the public 8080.
 */
export const DEFAULT_OPS_PORT = 9080;

export interface ServerHooks {
  /** Called with the running node (tests); the default waits for a signal. */
  readonly onStarted?: (node: RunningNode) => Promise<void> | void;
  /** The key-release handler factory; default `createAppRelease` with the --jwt-* flags. */
  readonly appRelease?: (parts: NodeParts) => AppReleaseHandler | null;
}

export function buildProgram(ctx: CliContext, hooks: ServerHooks = {}, outcome: ToolOutcome = { exitCode: 0 }): Command {
  const program = new Command('kms-server')
    .description('Run one eigenx-kms operator node: it takes part in DKG and reshare rounds through the registry contract and serves partial signatures to attested apps.')
    .addHelpText('after', `
Every option can be set through its environment variable instead (shown in brackets). Keys
are 32 bytes of hex; give them through the environment or a 0600 file.

Two listeners. The public API (--host, --port: /pubkey, /app/sign, /secrets, /healthz) is
for apps and clients. The operations listener (--ops-host, --ops-port: /healthz, /status,
/metrics, and at / a network status page for a browser) is for you and your monitoring.
It has no authentication, so it listens on
127.0.0.1:${DEFAULT_OPS_PORT} by default; any other host needs --ops-public (or KMS_OPS_PUBLIC=1),
a conscious choice. --ops-port off turns it off. Both URLs are logged at start-up.

Several RPC URLs (--rpc a,b,c or --rpc a --rpc b) give failover: a provider that fails
or times out is skipped, with a growing backoff, and used again once it answers. Each tick
acts on the head the freshest provider reports. With --rpc-quorum k, a tick acts only on a
block k providers report alike, and every read of it must come back identical from k of
them: one lying or stale provider cannot move the node. A node that cannot get such a view
does not act and says why (log, /status chainView, the operations /healthz, kms_chain_view_ok).

Example:
  KMS_OPERATOR_KEY=0x… KMS_OPERATOR_SIG_KEY=0x… KMS_STORE_KEY=0x… \\
    kms-server --rpc http://127.0.0.1:8545 --registry 0x… --port 8081 --ops-port 9081 --data-dir ./op1
  kms-server --rpc https://a.example/v3/KEY,https://b.example,https://c.example --rpc-quorum 2 …
`);
  addNodeOptions(program);
  addToolCommands(program, ctx, { addNodeOptions, parseNodeFlags: (opts, cmd) => parseNodeFlags(ctx, opts, cmd) }, outcome);
  program
    .action(async (opts: Record<string, unknown>) => {
      const { operatorKey, sigKey, storageKey, rpcUrl, rpcUrls, rpcQuorum, maxFeePerGas, registry, port, ops, finality } = parseNodeFlags(ctx, opts, program);
      const tickMs = parseIntegerArg(opts.tickMs, '--tick-ms', { min: 50, max: 60_000 });
      const headPollMs = parseIntegerArg(opts.headPollMs, '--head-poll-ms', { min: 0, max: 60_000 });
      const consent = opts.thresholdOverride === undefined ? null : parseIntegerArg(opts.thresholdOverride, '--threshold-override', { min: 2, max: 10_000 });
      const log = pino({ level: String(opts.logLevel), base: { app: 'kms-server' } });
      const jwt = jwtConfig(ctx, opts);
      if (consent !== null) log.warn({ threshold: consent }, `threshold consent: this node takes part only in sessions with threshold ${consent}`);
      if (jwt?.claimPolicy !== undefined) {
        log.info({ policy: jwt.claimPolicy.source, rules: jwt.claimPolicy.rules.map((r) => r.claim) }, 'jwt claim policy');
        if (jwt.claimPolicy.rules.length === 0) log.warn('the jwt claim policy requires no claims: tokens from debug enclaves are accepted');
      }
      let node: RunningNode;
      try {
        node = await startNode({
          operatorKey, sigKeyType: opts.sigType as OperatorKeyType, sigKey, rpcUrl, rpcUrls, rpcQuorum, finality, registry,
          ...(maxFeePerGas !== undefined ? { maxFeePerGas } : {}),
          host: String(opts.host), port, ops, dataDir: String(opts.dataDir), storageKey, consentThreshold: consent, tickMs, headPollMs,
          appRelease: hooks.appRelease ?? ((parts) => createAppRelease(parts, { jwt })),
        }, log);
      } catch (e) {
        if (e instanceof StartupError) throw new CliError(`refusing to start: ${e.message}`, { code: 'STARTUP', cause: e });
        throw e;
      } finally {
        storageKey.fill(0);
      }
      if (hooks.onStarted) {
        await hooks.onStarted(node);
        return;
      }
      await new Promise<void>((resolveStop) => {
        const stop = (signal: string) => {
          log.info({ signal }, 'stopping');
          void node.stop().then(resolveStop);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
  return program;
}

/**
 * The node's flags (every one also a KMS_* variable), on `kms-server` itself and on
 * `kms-server doctor`, which takes exactly the node's configuration.
 */
function addNodeOptions(program: Command): Command {
  addSecretOptions(program, OPERATOR_KEY);
  addSecretOptions(program, SIG_KEY);
  addSecretOptions(program, STORE_KEY);
  return program
    .addOption(new Option('--sig-type <type>', 'type of the signing key registered on-chain').choices(['bn254', 'ecdsa']).default('bn254').env('KMS_SIG_TYPE'))
    .addOption(new Option('--rpc <url[,url…]>', `JSON-RPC URL of the chain; several (comma-separated, or the flag repeated; at most ${MAX_PROVIDERS}) in order of preference give failover. Credentials in a URL never appear in logs or metrics`).env('KMS_RPC_URL').argParser(collectUrls))
    .addOption(new Option('--rpc-quorum <k>', 'providers that must report the same head and answer every read identically before the node acts (1 to the number of --rpc URLs; docs/operations.md)').default('1').env('KMS_RPC_QUORUM'))
    .addOption(new Option('--max-fee-gwei <gwei|none>', 'cap on the max fee per gas of the node\'s transactions; while the base fee is above it the node does not send and says so. Default: the chain profile\'s for the RPC\'s chain id (Ethereum 100, Base 5, … none on anvil; docs/operations.md); "none" lifts it').env('KMS_MAX_FEE_GWEI'))
    .addOption(new Option('--registry <address>', 'address of the KmsRegistry contract').env('KMS_REGISTRY'))
    .addOption(new Option('--finality <finalized|safe|N>', 'how this chain\'s finality is read: a block tag, or N confirmations. The node acts on the latest block and waits for finality only before irreversible steps (retiring or deleting a version, deleting a session secret). Default: the chain profile for the RPC\'s chain id (docs/operations.md); required on a chain id without one').env('KMS_FINALITY'))
    .addOption(new Option('--host <host>', 'address the public HTTP API (/pubkey, /app/sign, /secrets, /healthz) listens on').default('127.0.0.1').env('KMS_HOST'))
    .addOption(new Option('--port <port>', 'port of the public HTTP API').default('8080').env('KMS_PORT'))
    .addOption(new Option('--ops-host <host>', 'address the operations listener (/healthz, /status, /metrics) listens on; anything but loopback needs --ops-public').default('127.0.0.1').env('KMS_OPS_HOST'))
    .addOption(new Option('--ops-port <port|off>', 'port of the operations listener (0: any free port; off: no operations listener)').default(String(DEFAULT_OPS_PORT)).env('KMS_OPS_PORT'))
    .addOption(new Option('--ops-public', 'consent to an --ops-host that is not loopback: /status and /metrics have no authentication, so expose them only to your monitoring network (env: KMS_OPS_PUBLIC=1)'))
    .addOption(new Option('--data-dir <dir>', 'directory of the key store (created 0700 if missing)').default('./kms-data').env('KMS_DATA_DIR'))
    .addOption(new Option('--threshold-override <n>', 'explicit consent to a governance threshold: take part only in sessions whose threshold is n (SPEC 6)').env('KMS_THRESHOLD_OVERRIDE'))
    .addOption(new Option('--jwt-jwks <file|url>', 'enable the jwt attestation method: JWKS of the TEE token issuer, a file or an https URL').env('KMS_JWT_JWKS'))
    .addOption(new Option('--jwt-issuer <iss>', 'the exact token issuer (iss) accepted, e.g. https://confidentialcomputing.googleapis.com').env('KMS_JWT_ISSUER'))
    .addOption(new Option('--jwt-audience <aud>', 'the token audience (aud) naming this deployment (default: eigenx-kms:<chainId>:<registry>)').env('KMS_JWT_AUDIENCE'))
    .addOption(new Option('--jwt-require-claim <name=value>', 'with --jwt-jwks: a token claim that must hold, on top of the claim policy (repeatable); NAME a dotted path (submods.confidential_space.support_attributes), VALUE JSON or a string; an array claim may contain it').argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]).env('KMS_JWT_REQUIRE_CLAIM'))
    .addOption(new Option('--jwt-claim-policy <file>', 'with --jwt-jwks: replace the default claim policy (Confidential Space production: no debug images, secure boot, confidential hardware) by the rules of this JSON file, for another TEE issuer (docs/client.md)').env('KMS_JWT_CLAIM_POLICY'))
    .addOption(new Option('--jwt-jwks-max-age <duration>', 'with a JWKS URL: how long its keys stay trusted after the last successful fetch when refreshes fail; beyond that jwt requests are refused (503 attestation-unavailable). e.g. 24h, 90m, 3600s').default(`${DEFAULT_JWKS_MAX_AGE_MS / 3600_000}h`).env('KMS_JWT_JWKS_MAX_AGE'))
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info').env('KMS_LOG_LEVEL'))
    .addOption(new Option('--tick-ms <ms>', 'milliseconds between scheduler ticks').default('500').env('KMS_TICK_MS').hideHelp())
    .addOption(new Option('--head-poll-ms <ms>', 'milliseconds between head polls between ticks; a new block starts a tick at once (0: off)').default('100').env('KMS_HEAD_POLL_MS').hideHelp());
}

/** The node's flags every command that takes the node's configuration parses alike. */
export interface NodeFlags {
  readonly operatorKey: Hex;
  readonly sigKeyType: OperatorKeyType;
  readonly sigKey: Hex;
  /** Wipe it when done (`fill(0)`). */
  readonly storageKey: Uint8Array;
  readonly rpcUrl: string;
  readonly rpcUrls: string[];
  readonly rpcQuorum: number;
  readonly maxFeePerGas: bigint | null | undefined;
  readonly registry: Address;
  readonly host: string;
  readonly port: number;
  readonly ops: OpsListenerConfig | null;
  readonly finality: Finality | null;
  readonly dataDir: string;
}

/** Parses and checks the node's flags (`addNodeOptions`); bad ones are usage errors naming the flag. */
function parseNodeFlags(ctx: CliContext, opts: Record<string, unknown>, program: Command): NodeFlags {
      const operatorKey = readSecret(ctx, opts, OPERATOR_KEY, true);
      const sigKey = readSecret(ctx, opts, SIG_KEY, true);
      const storeKeyHex = readSecret(ctx, opts, STORE_KEY, true);
      let storageKey: Uint8Array;
      try {
        storageKey = parseStorageKey(storeKeyHex);
      } catch (e) {
        throw new UsageError(`--store-key: ${(e as Error).message}`);
      }
      const urls = Array.isArray(opts.rpc) ? (opts.rpc as string[]) : typeof opts.rpc === 'string' ? collectUrls(opts.rpc) : [];
      if (urls.length === 0) throw new UsageError('missing the chain: give --rpc URL (or set KMS_RPC_URL)');
      for (const u of urls) ctx.redactor.addUrl(u);
      const rpcUrls = urls.map((u, i) => parseUrlArg(u, urls.length > 1 ? `--rpc (URL ${i + 1})` : '--rpc', { secret: true }));
      if (rpcUrls.length > MAX_PROVIDERS) throw new UsageError(`--rpc: at most ${MAX_PROVIDERS} URLs, got ${rpcUrls.length}`);
      const twice = rpcUrls.findIndex((u, i) => rpcUrls.indexOf(u) !== i);
      if (twice >= 0) throw new UsageError(`--rpc: URL ${twice + 1} is listed twice`);
      const rpcUrl = rpcUrls[0] as string;
      const rpcQuorum = parseIntegerArg(opts.rpcQuorum, '--rpc-quorum', { min: 1, max: MAX_PROVIDERS });
      if (rpcQuorum > rpcUrls.length) throw new UsageError(`--rpc-quorum ${rpcQuorum} needs at least ${rpcQuorum} --rpc URLs, got ${rpcUrls.length}`);
      const maxFeePerGas = parseMaxFee(opts.maxFeeGwei);
      if (typeof opts.registry !== 'string') throw new UsageError('missing the registry: give --registry ADDRESS (or set KMS_REGISTRY)');
      const registry = parseAddressArg(opts.registry, '--registry');
      const port = parseIntegerArg(opts.port, '--port', { min: 0, max: 65535 });
      const ops = opsListenerConfig(ctx, opts, (name) => program.getOptionValueSource(name) === 'env', String(opts.host), port);
      let finality: Finality | null = null;
      if (opts.finality !== undefined) {
        try {
          finality = parseFinality(String(opts.finality));
        } catch (e) {
          throw new UsageError(`--finality: ${(e as Error).message}`);
        }
      }
  return {
    operatorKey, sigKeyType: opts.sigType as OperatorKeyType, sigKey, storageKey, rpcUrl, rpcUrls, rpcQuorum, maxFeePerGas, registry,
    host: String(opts.host), port, ops, finality, dataDir: String(opts.dataDir),
  };
}

/** `--rpc a,b --rpc c` (and KMS_RPC_URL=a,b): every URL, in order. */
function collectUrls(value: string, previous?: string[]): string[] {
  return [...(previous ?? []), ...value.split(',').map((u) => u.trim()).filter((u) => u.length > 0)];
}

/** `--max-fee-gwei`: undefined (the chain profile's), null (`none`), or the cap in wei. */
function parseMaxFee(value: unknown): bigint | null | undefined {
  if (value === undefined) return undefined;
  const text = String(value).trim().toLowerCase();
  if (text === 'none') return null;
  // Up to 9 decimals: a gwei has 9 digits of wei (L2 fees are fractions of a gwei).
  if (!/^\d{1,7}(\.\d{1,9})?$/.test(text)) throw new UsageError(`--max-fee-gwei: expected a number of gwei (e.g. 50 or 0.05) or "none", got "${String(value).slice(0, 40)}"`);
  const wei = parseGwei(text);
  if (wei === 0n) throw new UsageError('--max-fee-gwei: must be above 0 (use "none" for no cap)');
  return wei;
}

/**
 * The operations listener from --ops-host, --ops-port and --ops-public (or their KMS_OPS_*
 * variables); null for `--ops-port off`. A host that is not loopback without the consent flag
 * is bad usage: exposing unauthenticated /status and /metrics must be a conscious act (issue 12).
 */
function opsListenerConfig(ctx: CliContext, opts: Record<string, unknown>, fromEnv: (option: string) => boolean, host: string, port: number): OpsListenerConfig | null {
  const portFlag = fromEnv('opsPort') ? 'KMS_OPS_PORT' : '--ops-port';
  const hostFlag = fromEnv('opsHost') ? 'KMS_OPS_HOST' : '--ops-host';
  const rawPort = String(opts.opsPort).trim();
  if (rawPort.toLowerCase() === 'off') return null;
  if (!/^\d{1,5}$/.test(rawPort) || Number(rawPort) > 65535) {
    throw new UsageError(`${portFlag}: expected a port from 0 to 65535 (0: any free port) or off, got ${show(rawPort)}`);
  }
  const opsPort = Number(rawPort);
  const opsHost = String(opts.opsHost).trim();
  if (opsHost === '') throw new UsageError(`${hostFlag}: expected an address to listen on, e.g. 127.0.0.1`);
  const consent = opts.opsPublic === true || envFlag(ctx, 'KMS_OPS_PUBLIC');
  if (!consent && !isLoopbackHost(opsHost)) {
    throw new UsageError(`${hostFlag} ${show(opsHost)} is not a loopback address, and the operations listener (/status, /metrics) has no authentication: add --ops-public (or KMS_OPS_PUBLIC=1) to expose it on purpose, or listen on 127.0.0.1`);
  }
  const wildcard = (h: string) => h === '0.0.0.0' || h === '::' || h === '[::]';
  if (opsPort !== 0 && opsPort === port && (opsHost.toLowerCase() === host.toLowerCase() || wildcard(opsHost) || wildcard(host))) {
    throw new UsageError(`${portFlag} ${opsPort} is also the public API's port (--port): give the operations listener a port of its own`);
  }
  return { host: opsHost, port: opsPort, public: consent };
}

/** A yes/no environment variable: 1/true or 0/false (or unset, empty); anything else is bad usage. */
function envFlag(ctx: CliContext, name: string): boolean {
  const v = ctx.io.env[name]?.trim().toLowerCase();
  if (v === undefined || v === '' || v === '0' || v === 'false') return false;
  if (v === '1' || v === 'true') return true;
  throw new UsageError(`${name}: expected 1 or 0 (true or false), got ${show(v)}`);
}

/**
 * The jwt method's settings from --jwt-*: none of them → jwt is refused; --jwt-jwks needs
 * --jwt-issuer (a token from any issuer whose keys happen to be listed must not pass). A JWKS
 * file and a claim policy file are read now, so a bad one stops the node before it serves; a
 * JWKS URL is fetched on first use.
 */
function jwtConfig(ctx: CliContext, opts: Record<string, unknown>): JwtMethodConfig | null {
  const { jwtJwks, jwtIssuer, jwtAudience } = opts;
  const maxAgeMs = parseDurationArg(opts.jwtJwksMaxAge, '--jwt-jwks-max-age', { minMs: 60_000 });
  if (jwtJwks === undefined) {
    if (jwtIssuer !== undefined || jwtAudience !== undefined || opts.jwtRequireClaim !== undefined || opts.jwtClaimPolicy !== undefined) {
      throw new UsageError('--jwt-issuer, --jwt-audience, --jwt-require-claim and --jwt-claim-policy need --jwt-jwks FILE|URL');
    }
    return null;
  }
  const claimPolicy = claimPolicyOf(ctx, opts);
  if (typeof jwtJwks !== 'string' || jwtJwks.length === 0) throw new UsageError('--jwt-jwks: expected a file path or an https URL');
  if (typeof jwtIssuer !== 'string' || jwtIssuer.length === 0) throw new UsageError('--jwt-jwks needs --jwt-issuer ISS (the exact iss of accepted tokens)');
  if (jwtAudience !== undefined && (typeof jwtAudience !== 'string' || jwtAudience.length === 0)) throw new UsageError('--jwt-audience: expected a non-empty string');
  let jwks: JwksProvider;
  if (/^https?:\/\//i.test(jwtJwks)) {
    const url = new URL(parseUrlArg(jwtJwks, '--jwt-jwks'));
    const local = url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';
    // Over plain http anyone on the path could substitute the keys that authorize key release.
    if (url.protocol !== 'https:' && !local) throw new UsageError('--jwt-jwks: a JWKS URL must be https (http only for localhost)');
    jwks = jwksFromUrl(url.href, { maxAgeMs });
  } else {
    try {
      jwks = jwksFromFile(jwtJwks);
    } catch (e) {
      if (e instanceof JwksError) throw new UsageError(`--jwt-jwks: ${e.message}`);
      throw e;
    }
  }
  return { jwks, issuer: jwtIssuer, audience: typeof jwtAudience === 'string' ? jwtAudience : undefined, claimPolicy };
}

const MAX_POLICY_BYTES = 64 * 1024;

/** --jwt-claim-policy FILE (or the default), plus every --jwt-require-claim; a bad one is a usage error. */
function claimPolicyOf(ctx: CliContext, opts: Record<string, unknown>): ClaimPolicy {
  try {
    let policy = CONFIDENTIAL_SPACE_POLICY;
    if (opts.jwtClaimPolicy !== undefined) {
      const path = String(opts.jwtClaimPolicy);
      const text = readInputFile(ctx, path, '--jwt-claim-policy');
      if (text.length > MAX_POLICY_BYTES) throw new UsageError(`--jwt-claim-policy: ${show(path)} is larger than ${MAX_POLICY_BYTES} bytes`);
      let json: unknown;
      try {
        json = JSON.parse(text.toString('utf8'));
      } catch {
        throw new UsageError(`--jwt-claim-policy: ${show(path)} is not JSON`);
      }
      policy = parseClaimPolicy(json, `--jwt-claim-policy ${path}`);
    }
    const flags = opts.jwtRequireClaim === undefined ? [] : Array.isArray(opts.jwtRequireClaim) ? opts.jwtRequireClaim : [opts.jwtRequireClaim];
    return withRules(policy, flags.map((f) => parseRequiredClaim(String(f), '--jwt-require-claim')));
  } catch (e) {
    if (e instanceof ClaimPolicyError) throw new UsageError(e.message);
    throw e;
  }
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

/** `90s`, `15m`, `24h`, `7d` (or plain seconds) → milliseconds, at least `minMs`. */
function parseDurationArg(value: unknown, what: string, range: { minMs: number }): number {
  const m = typeof value === 'string' ? /^\s*(\d{1,9})\s*([smhd]?)\s*$/.exec(value) : null;
  if (m === null) throw new UsageError(`${what}: expected a duration such as 90s, 15m, 24h or 7d, got ${show(String(value))}`);
  const ms = Number(m[1]) * (DURATION_UNITS_MS[m[2] || 's'] as number);
  if (ms < range.minMs) throw new UsageError(`${what}: expected at least ${range.minMs / 1000} s, got ${show(String(value))}`);
  return ms;
}

export async function main(argv: readonly string[], io: CliIo = processIo(), hooks: ServerHooks = {}): Promise<number> {
  const ctx = createCliContext('kms-server', io);
  const outcome: ToolOutcome = { exitCode: 0 };
  const code = await runCli(buildProgram(ctx, hooks, outcome), argv, ctx);
  return code === 0 ? outcome.exitCode : code;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
