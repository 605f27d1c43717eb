/**
 * @module
 * Gas of the registry per operator per round, measured on anvil (issue 4, docs/contracts.md).
 *
 * For each n: n ECDSA operators register, genesis is armed, a DKG round runs with every
 * dealer dealing, every recipient acking (no complaints) and confirming (the first one
 * publishes the polynomial), then a reshare round of the same n runs the same way. Deals,
 * commitments and polynomials are random well-sized bytes (the contract checks sizes only;
 * random bytes cost what real ones cost: calldata is priced per non-zero byte).
 *
 * "Per operator per round" = (openSession + all deals + all acks + all confirmations) / n.
 *
 * Run: `npx tsx bench/contract-gas.ts [n...] [--json]` (default n = 4 10 30).
 */
import { createPublicClient, createWalletClient, http, keccak256, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { startAnvil, type AnvilInstance } from '../src/chain/anvil.ts';
import { ChainLedger, type TransactionInfo } from '../src/chain/chain-ledger.ts';
import { deployRegistry } from '../src/chain/deploy.ts';
import { makeDomain, toHex } from '../src/crypto/domain.ts';
import { createOperatorSigner, generateOperatorSecretKey, type OperatorKeyType } from '../src/crypto/operator-sig.ts';
import { seededRng, type Rng } from '../src/crypto/rng.ts';
import type { Address, SessionSnapshot } from '../src/protocol/ledger.ts';
import { SIZES } from '../src/protocol/session-rules.ts';

/** Gas of one round, by step. */
export interface RoundGas {
  readonly kind: 'dkg' | 'reshare';
  readonly n: number;
  readonly t: number;
  readonly open: number;
  /** Average per call. */
  readonly deal: number;
  readonly ack: number;
  /** Average over all confirmations (the first publishes the polynomial; one completes the session). */
  readonly confirm: number;
  readonly confirmFirst: number;
  readonly total: number;
  readonly perOperator: number;
  /** Calldata bytes of one deal. */
  readonly dealBytes: number;
}

export interface GasReport {
  readonly registerEcdsa: number;
  readonly registerBn254: number;
  readonly deploy: number;
  readonly rounds: readonly RoundGas[];
}

const INTERVAL = 1000;
const WINDOW = 100;

function point(rng: Rng): Hex {
  return toHex(secp256k1.getPublicKey(generateOperatorSecretKey('ecdsa', rng), true));
}

async function freshLedger(anvil: AnvilInstance, log: TransactionInfo[]): Promise<{ ledger: ChainLedger; deployGas: number }> {
  const owner = privateKeyToAccount(anvil.accounts[0] as Hex);
  const client = createPublicClient({ chain: foundry, transport: http(anvil.rpcUrl) });
  const wallet = createWalletClient({ account: owner, chain: foundry, transport: http(anvil.rpcUrl) });
  const d = await deployRegistry(wallet, client, { interval: INTERVAL, dealWindow: WINDOW, ackWindow: WINDOW, confirmWindow: WINDOW, inclusionMargin: 0 });
  const keys = Object.fromEntries(anvil.accounts.map((k) => [privateKeyToAccount(k).address.toLowerCase(), k]));
  const ledger = new ChainLedger({ rpcUrl: anvil.rpcUrl, registry: d.address, chainId: anvil.chainId, keys, pollingIntervalMs: 20, onTransaction: (i) => log.push(i) });
  return { ledger, deployGas: Number(d.gasUsed) };
}

function addresses(anvil: AnvilInstance): Address[] {
  return anvil.accounts.map((k) => privateKeyToAccount(k).address.toLowerCase() as Address);
}

async function register(ledger: ChainLedger, owner: Address, who: Address, type: OperatorKeyType, rng: Rng): Promise<void> {
  const domain = makeDomain({ chainId: ledger.chainId, registry: ledger.registry });
  const signer = createOperatorSigner(type, generateOperatorSecretKey(type, rng), domain);
  await ledger.writer(owner).allowOperator(who, true);
  await ledger.writer(who).register({
    socket: `https://${who.slice(2, 10)}.operators.example:8443`,
    sigKeyType: type,
    sigPublicKey: toHex(signer.publicKey),
    proofOfPossession: toHex(signer.proofOfPossession(who)),
    sessionKey: point(rng),
  });
}

async function setNext(anvil: AnvilInstance, t: number): Promise<void> {
  const client = createPublicClient({ transport: http(anvil.rpcUrl) });
  await client.request({ method: 'evm_setNextBlockTimestamp', params: [`0x${t.toString(16)}`] } as never);
}

/** One full round over `snap`; returns the gas log of its transactions. */
async function runRound(anvil: AnvilInstance, ledger: ChainLedger, snap: SessionSnapshot, start: number, rng: Rng, mpk: Hex | null): Promise<number> {
  let t = start;
  for (const d of snap.dealers) {
    await setNext(anvil, ++t);
    await ledger.writer(d).submitDeal({
      session: snap.id,
      commitments: toHex(rng(snap.tNew * SIZES.g2)),
      ephemeralKey: point(rng),
      sealedShares: snap.recipients.map(() => toHex(rng(SIZES.sealedShare))),
    });
  }
  for (const r of snap.recipients) {
    await setNext(anvil, ++t);
    await ledger.writer(r).submitAck({ session: snap.id, complaints: [] });
  }
  const body = toHex(rng(snap.tNew * SIZES.g2));
  const poly = (mpk === null ? body : `${mpk}${body.slice(2 + 2 * SIZES.g2)}`) as Hex;
  const hash = keccak256(poly);
  for (const [i, r] of snap.recipients.entries()) {
    await setNext(anvil, ++t);
    // A running node commits a non-zero receipt-log head (its first one costs a fresh slot, later ones a rewrite).
    await ledger.writer(r).submitConfirmation({ session: snap.id, publicPolyHash: hash, publicPoly: i === 0 ? poly : '0x', nextSessionKey: point(rng), receiptHead: toHex(rng(32)) });
  }
  return t;
}

function summarise(kind: 'dkg' | 'reshare', snap: SessionSnapshot, txs: readonly TransactionInfo[]): RoundGas {
  const of = (f: string) => txs.filter((x) => x.functionName === f);
  const sum = (xs: readonly TransactionInfo[]) => xs.reduce((a, x) => a + Number(x.gasUsed), 0);
  const avg = (xs: readonly TransactionInfo[]) => (xs.length === 0 ? 0 : Math.round(sum(xs) / xs.length));
  const confirms = of('submitConfirmation');
  const total = sum(txs);
  return {
    kind,
    n: snap.recipients.length,
    t: snap.tNew,
    open: sum(of('openSession')),
    deal: avg(of('submitDeal')),
    ack: avg(of('submitAck')),
    confirm: avg(confirms),
    confirmFirst: Number(confirms[0]?.gasUsed ?? 0n),
    total,
    perOperator: Math.round(total / snap.recipients.length),
    dealBytes: of('submitDeal')[0]?.calldataBytes ?? 0,
  };
}

/** DKG and reshare gas for n operators on a fresh deployment. */
export async function measureRounds(anvil: AnvilInstance, n: number, seed = `gas/${n}`): Promise<RoundGas[]> {
  const rng = seededRng(seed);
  const log: TransactionInfo[] = [];
  const { ledger } = await freshLedger(anvil, log);
  const [owner, ...rest] = addresses(anvil) as [Address, ...Address[]];
  if (rest.length < n) throw new Error(`measureRounds: anvil has ${rest.length} operator accounts, ${n} needed`);
  const ops = rest.slice(0, n);
  for (const a of ops) await register(ledger, owner, a, 'ecdsa', rng);
  await ledger.writer(owner).armGenesis(n);

  const rounds: RoundGas[] = [];
  let now = await ledger.now();
  let mpk: Hex | null = null;
  for (const kind of ['dkg', 'reshare'] as const) {
    const boundary = (Math.floor(now / INTERVAL) + 1) * INTERVAL;
    await setNext(anvil, boundary + 1);
    const mark = log.length;
    const id = await ledger.writer(ops[0] as Address).openSession();
    const session = await ledger.getSession(id);
    if (!session) throw new Error(`measureRounds: session ${id} missing`);
    now = await runRound(anvil, ledger, session.snapshot, boundary + 1, rng, mpk);
    const done = await ledger.getSession(id);
    if (done?.progress.outcome !== 'completed') throw new Error(`measureRounds: ${kind} session ${id} did not complete`);
    mpk = await ledger.getMpk();
    rounds.push(summarise(kind, session.snapshot, log.slice(mark)));
  }
  return rounds;
}

/** Gas of one registration per key type (allow-list write excluded). */
export async function measureRegistration(anvil: AnvilInstance): Promise<{ ecdsa: number; bn254: number; deploy: number }> {
  const rng = seededRng('gas/register');
  const log: TransactionInfo[] = [];
  const { ledger, deployGas } = await freshLedger(anvil, log);
  const [owner, a, b] = addresses(anvil) as [Address, Address, Address];
  await register(ledger, owner, a, 'ecdsa', rng);
  await register(ledger, owner, b, 'bn254', rng);
  const regs = log.filter((x) => x.functionName === 'register');
  return { ecdsa: Number(regs[0]?.gasUsed ?? 0n), bn254: Number(regs[1]?.gasUsed ?? 0n), deploy: deployGas };
}

export async function measureGas(ns: readonly number[]): Promise<GasReport> {
  const anvil = await startAnvil({ accounts: Math.max(...ns) + 2 });
  try {
    const reg = await measureRegistration(anvil);
    const rounds: RoundGas[] = [];
    for (const n of ns) rounds.push(...(await measureRounds(anvil, n)));
    return { registerEcdsa: reg.ecdsa, registerBn254: reg.bn254, deploy: reg.deploy, rounds };
  } finally {
    await anvil.stop();
  }
}

/** Stated price assumptions for the cost table (docs/contracts.md). */
export const PRICE_ASSUMPTIONS = {
  ethUsd: 3000,
  /** L1 gas price in gwei. */
  l1Gwei: 10,
  /** All-in effective L2 price in gwei (execution + amortised L1 data fee). */
  l2Gwei: 0.01,
} as const;

/** USD per day for the whole operator set of one round size, at `interval` seconds per round. */
export function usdPerDay(perOperatorGas: number, n: number, intervalSeconds: number, gwei: number, ethUsd = PRICE_ASSUMPTIONS.ethUsd): number {
  const rounds = 86_400 / intervalSeconds;
  return (perOperatorGas * n * rounds * gwei * 1e-9) * ethUsd;
}

/** Rounds a day for the cost table: one a day, one an hour, mainnet's default interval (600 s), an L2 at 120 s. */
export const SCHEDULES = { daily: 86_400, hourly: 3_600, mainnet: 600, fastL2: 120 } as const;
/** L1 gas prices of the cost table, in gwei. */
export const L1_GWEI = [1, 10, 50] as const;

function usd(v: number): string {
  return `$${v < 10 ? v.toFixed(2) : Math.round(v).toLocaleString('en-US')}`;
}

/** The two cost-per-day tables (L1 at 1/10/50 gwei for one reshare a day / an hour / every 600 s; L2). */
export function renderCostTables(rounds: readonly RoundGas[]): string {
  const p = PRICE_ASSUMPTIONS;
  const reshares = rounds.filter((x) => x.kind === 'reshare');
  const cell = (x: RoundGas, interval: number, gwei: number) => {
    const v = usdPerDay(x.perOperator, x.n, interval, gwei);
    return `${usd(v)} (${usd(v / x.n)})`;
  };
  const l1 = reshares.map((x) =>
    `| ${x.n} | ${(x.perOperator * x.n).toLocaleString('en-US')} | ${L1_GWEI.map((g) => cell(x, SCHEDULES.daily, g)).join(' | ')} | ${L1_GWEI.map((g) => cell(x, SCHEDULES.hourly, g)).join(' | ')} | ${cell(x, SCHEDULES.mainnet, p.l1Gwei)} |`);
  const l2 = reshares.map((x) =>
    `| ${x.n} | ${usd(usdPerDay(x.perOperator, x.n, SCHEDULES.mainnet, p.l2Gwei))} | ${usd(usdPerDay(x.perOperator, x.n, SCHEDULES.fastL2, p.l2Gwei))} |`);
  return [
    `Cost per day of the whole operator set (per operator in parentheses), steady-state reshares, ETH = $${p.ethUsd}. L1:`,
    '',
    '| n | gas per round (all operators) | 1 a day, 1 gwei | 1 a day, 10 gwei | 1 a day, 50 gwei | 1 an hour, 1 gwei | 1 an hour, 10 gwei | 1 an hour, 50 gwei | every 600 s (mainnet default), 10 gwei |',
    '|---|-------------------------------|-----------------|------------------|------------------|-------------------|--------------------|--------------------|-----------------------------------------|',
    ...l1,
    '',
    `L2 at ${p.l2Gwei} gwei all-in:`,
    '',
    '| n | every 600 s (144 rounds/day) | every 120 s (720 rounds/day) |',
    '|---|------------------------------|------------------------------|',
    ...l2,
  ].join('\n');
}

export function renderMarkdown(r: GasReport): string {
  const rows = r.rounds.map((x) =>
    `| ${x.n} | ${x.t} | ${x.kind} | ${x.open.toLocaleString('en-US')} | ${x.deal.toLocaleString('en-US')} (${x.dealBytes} B) | ${x.ack.toLocaleString('en-US')} | ${x.confirm.toLocaleString('en-US')} | **${x.perOperator.toLocaleString('en-US')}** |`);
  return [
    `Registration: ECDSA ${r.registerEcdsa.toLocaleString('en-US')} gas, BN254 ${r.registerBn254.toLocaleString('en-US')} gas (PoP via ecPairing). Deployment: ${r.deploy.toLocaleString('en-US')} gas.`,
    '',
    '| n | t | round | openSession | deal (avg, calldata) | ack (avg) | confirm (avg) | per operator per round |',
    '|---|---|-------|-------------|----------------------|-----------|---------------|------------------------|',
    ...rows,
    '',
    renderCostTables(r.rounds),
  ].join('\n');
}

/** `npm run bench` entry point (register as `gas` in bench/index.ts). */
export async function benchContractGas(opts: { readonly json: boolean }, ns: readonly number[] = [4, 10, 30]): Promise<GasReport> {
  const report = await measureGas(ns);
  console.log(opts.json ? JSON.stringify(report, null, 2) : renderMarkdown(report));
  return report;
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  const args = process.argv.slice(2);
  const ns = args.filter((a) => /^\d+$/.test(a)).map(Number);
  await benchContractGas({ json: args.includes('--json') }, ns.length > 0 ? ns : [4, 10, 30]);
}
