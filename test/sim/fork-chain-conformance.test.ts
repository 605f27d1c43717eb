// The ledger conformance suite (test/ledger/conformance.ts) on the simulated chain: the rules
// are the memory ledger's, but every write now travels as a transaction into a block and every
// read goes through a node's view, which replays the blocks into its own state. The suite
// holds that path to the same behaviour as the memory ledger and the contract on anvil.
//
// - automine: every write is mined at once in its own block (what the loop tests use);
// - blocks: every write is checked on a scratch copy of the head (a refusal rejects at once,
//   like a reverting estimate), queued, and mined by the harness in the next block.
import { getAddress, keccak256, stringToHex } from 'viem';
import type { Address, Ledger, LedgerWriter } from '../../src/protocol/ledger.ts';
import type { MemoryLedgerOptions } from '../../src/protocol/memory-ledger.ts';
import { ForkChain } from '../../src/sim/fork-chain.ts';
import { ledgerConformance, type LedgerHarness, type LedgerHarnessConfig, type LedgerHarnessOverrides } from '../ledger/conformance.ts';

const account = (label: string): Address => getAddress(`0x${keccak256(stringToHex(label)).slice(-40)}`) as Address;
const CONFIG: LedgerHarnessConfig = { interval: 60, dealWindow: 15, ackWindow: 15, confirmWindow: 15, inclusionMargin: 5, governanceDelay: 0 };
const START = 1_764_000_000;

function options(config: LedgerHarnessConfig): MemoryLedgerOptions {
  return { chainId: 31337n, registry: account('registry'), owner: account('owner'), ...config, startTime: START };
}

function harnessBase(chain: ForkChain, ledger: Ledger, config: LedgerHarnessConfig, advance: (t: number) => Promise<void>): LedgerHarness {
  let last = chain.time;
  const later = async (t: number) => {
    // Held to anvil's rule, as the memory harness is, so the suite's schedule stays portable.
    if (t <= last) throw new Error(`harness: time ${t} is not after the latest time ${last}`);
    last = t;
    await advance(t);
  };
  return {
    ledger,
    owner: account('owner'),
    accounts: Array.from({ length: 14 }, (_, i) => account(`account ${i}`)),
    txAt: later,
    mineAt: later,
    now: () => ledger.now(),
    config,
    close: async () => {},
  };
}

async function automineHarness(overrides: LedgerHarnessOverrides = {}): Promise<LedgerHarness> {
  const config = { ...CONFIG, ...overrides };
  const chain = new ForkChain({ ledger: options(config), finalityDepth: 2, mode: 'automine' });
  // The suite's ledger is one node's view (its own replayed state), not the chain's.
  return harnessBase(chain, chain.ledgerFor(account('node')), config, (t) => chain.setTime(t));
}

/** Every write through `ledger` is followed by a block (at the time `txAt` set, else the head's). */
function minedAfterEachWrite(chain: ForkChain, ledger: Ledger, nextTime: () => number): Ledger {
  const wrap = (w: LedgerWriter): LedgerWriter => new Proxy(w, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        const sent = (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        sent.catch(() => undefined);
        // Mined after the send was checked and queued (the chain runs its changes in order);
        // a write refused by its estimate leaves an empty block, which the suite allows.
        await chain.mine({ time: nextTime() });
        return sent;
      };
    },
  });
  return new Proxy(ledger, {
    get(target, prop, receiver) {
      if (prop === 'writer') return (a: Address) => wrap(target.writer(a));
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

async function blocksHarness(overrides: LedgerHarnessOverrides = {}): Promise<LedgerHarness> {
  const config = { ...CONFIG, ...overrides };
  const chain = new ForkChain({ ledger: options(config), finalityDepth: 2, mode: 'blocks' });
  let next = chain.time;
  const ledger = minedAfterEachWrite(chain, chain.ledgerFor(account('node')), () => Math.max(next, chain.time));
  return harnessBase(chain, ledger, config, async (t) => {
    next = t;
    await chain.mine({ time: t, include: 'none' });
  });
}

ledgerConformance('fork chain, automine', automineHarness);
ledgerConformance('fork chain, blocks mined after each write', blocksHarness);
