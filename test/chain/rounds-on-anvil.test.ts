// A full DKG and a reshare driven through the registry on anvil with real crypto (issue 4
// acceptance): every node steps the protocol's round machines over its own ChainLedger view,
// deals, acks (one with a complaint against a cheating dealer) and confirms on-chain. Every
// node then computes the same QUAL and public polynomial from chain data alone, the pinned
// MPK is the protocol's MPK, and t of the new shares reconstruct the secret behind it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bls } from '../../src/crypto/bls12381/index.ts';
import { makeDomain } from '../../src/crypto/domain.ts';
import { operatorX } from '../../src/crypto/operator-x.ts';
import { createOperatorSigner, generateOperatorSecretKey } from '../../src/crypto/operator-sig.ts';
import { seededRng, type Rng } from '../../src/crypto/rng.ts';
import { generateSealKeyPair } from '../../src/crypto/seal.ts';
import { lagrangeCombineShares } from '../../src/crypto/vss.ts';
import { bytesToHex, mustHex } from '../../src/protocol/hex.ts';
import type { Address, Hex, Session } from '../../src/protocol/ledger.ts';
import { initRound, roundFinished, stepRound, type RoundState } from '../../src/protocol/round-driver.ts';
import { computeRoundOutcome, decodePoly } from '../../src/protocol/round-outcome.ts';
import type { ChainLedger } from '../../src/chain/chain-ledger.ts';
import { deployLedger, latestTime, mineAt, setNextTimestamp, sharedChain, type Chain } from './anvil-harness.ts';

const INTERVAL = 1000;
const CONFIG = { interval: INTERVAL, dealWindow: 100, ackWindow: 100, confirmWindow: 100, inclusionMargin: 0 };

interface Node {
  readonly me: Address;
  readonly rng: Rng;
  /** Secret halves of every session key this node published, by public key. */
  readonly sessionSecrets: Map<Hex, Uint8Array>;
  round: RoundState | null;
  /** Share of the active version this node holds. */
  share: bigint | null;
  /** The share a confirmation produced, until the session completes. */
  pendingShare: bigint | null;
}

/** Chain time control: every transaction goes into its own block one second after the last. */
class Clock {
  constructor(readonly chain: Chain, public t: number) {}
  async tx(): Promise<void> {
    await setNextTimestamp(this.chain.client, ++this.t);
  }
}

async function sourceInputs(ledger: ChainLedger, session: Session) {
  if (session.snapshot.kind !== 'reshare') return { sourcePoly: null, mpk: null };
  const version = await ledger.getVersion(session.snapshot.sourceVersion);
  const mpk = await ledger.getMpk();
  assert.ok(version && mpk);
  assert.equal(version.publicPolyHash, session.snapshot.sourcePolyHash);
  return { sourcePoly: decodePoly(mustHex(version.publicPoly, 'poly')), mpk: bls.g2.decode(mustHex(mpk, 'mpk')) };
}

/**
 * Drives one session to its end: each pass, every node reads the chain, steps its machines
 * and sends what they emit. `tamper` may rewrite a node's deal before it is sent.
 */
async function runSession(
  ledger: ChainLedger,
  nodes: readonly Node[],
  id: number,
  clock: Clock,
  tamper: (from: Address, deal: { sealedShares: readonly Hex[] }) => readonly Hex[] = (_f, d) => d.sealedShares,
): Promise<void> {
  const domain = makeDomain({ chainId: ledger.chainId, registry: ledger.registry });
  for (let pass = 0; pass < 12; pass++) {
    let sent = 0;
    for (const node of nodes) {
      const session = await ledger.getSession(id);
      assert.ok(session);
      node.round ??= initRound(session, node.me, null);
      if (roundFinished(node.round)) continue;
      const j = session.snapshot.recipients.indexOf(node.me);
      const myKey = j >= 0 ? session.snapshot.recipientKeys[j] : undefined;
      const { sourcePoly, mpk } = await sourceInputs(ledger, session);
      const step = stepRound(
        node.round,
        { session, submissions: await ledger.getSubmissions(id), now: await ledger.now(), sourcePoly, mpk },
        { sourceShare: node.share, sessionSecret: myKey ? (node.sessionSecrets.get(myKey) ?? null) : null },
        { rng: node.rng, domain, me: node.me, consentThreshold: null },
      );
      node.round = step.state;
      if (step.produced) {
        node.sessionSecrets.set(step.produced.nextSessionKey.publicKey, step.produced.nextSessionKey.secretKey);
        node.pendingShare = step.produced.share;
      }
      for (const out of step.outbox) {
        const w = ledger.writer(node.me);
        await clock.tx();
        if (out.kind === 'deal') await w.submitDeal({ ...out.body, sealedShares: tamper(node.me, out.body) });
        else if (out.kind === 'ack') await w.submitAck(out.body);
        else await w.submitConfirmation(out.body);
        sent++;
      }
    }
    if (nodes.every((n) => n.round && roundFinished(n.round))) return;
    if (sent === 0) await mineAt(clock.chain.client, ++clock.t); // let time pass
  }
  assert.fail(`session ${id} did not finish: ${nodes.map((n) => `${n.me.slice(0, 8)} ${n.round?.recipient?.status ?? '-'}/${n.round?.dealer?.status ?? '-'}`).join(', ')}`);
}

function finish(nodes: readonly Node[]): void {
  for (const n of nodes) {
    const r = n.round?.recipient;
    if (r?.status === 'active' && n.pendingShare !== null) n.share = n.pendingShare;
    n.pendingShare = null;
    n.round = null;
  }
}

describe('DKG and reshare through the registry on anvil', () => {
  it('every node agrees on QUAL and the public polynomial; the pinned MPK is the protocol MPK and survives the reshare', async () => {
    const chain = await sharedChain();
    const ledger = await deployLedger(chain, CONFIG);
    const domain = makeDomain({ chainId: ledger.chainId, registry: ledger.registry });
    const [owner, ...accounts] = chain.addresses as [Address, ...Address[]];
    const gov = ledger.writer(owner);
    const nodes: Node[] = accounts.slice(0, 5).map((me, i) => ({ me, rng: seededRng(`rounds-on-anvil/${i}`), sessionSecrets: new Map(), round: null, share: null, pendingShare: null }));
    const register = async (n: Node, type: 'bn254' | 'ecdsa') => {
      const signer = createOperatorSigner(type, generateOperatorSecretKey(type, n.rng), domain);
      const key = generateSealKeyPair(n.rng);
      n.sessionSecrets.set(bytesToHex(key.publicKey), key.secretKey);
      await gov.allowOperator(n.me, true);
      await ledger.writer(n.me).register({
        socket: `https://${n.me.slice(2, 8)}.example`, sigKeyType: type, sigPublicKey: bytesToHex(signer.publicKey),
        proofOfPossession: bytesToHex(signer.proofOfPossession(n.me)), sessionKey: bytesToHex(key.publicKey),
      });
    };
    const genesisNodes = nodes.slice(0, 4);
    for (const [i, n] of genesisNodes.entries()) await register(n, i % 2 === 0 ? 'bn254' : 'ecdsa');
    await gov.armGenesis(4);

    // --- DKG: n = 4, t = 3. The last dealer seals garbage to the first recipient, who complains.
    const cheater = genesisNodes[3] as Node;
    const victim = genesisNodes[0] as Node;
    const clock = new Clock(chain, (Math.floor((await latestTime(chain.client)) / INTERVAL) + 1) * INTERVAL);
    await clock.tx();
    const dkg = await ledger.writer(victim.me).openSession();
    await runSession(ledger, genesisNodes, dkg, clock, (from, d) =>
      from === cheater.me ? d.sealedShares.map((s, j) => (j === 0 ? bytesToHex(cheater.rng(48)) : s)) : d.sealedShares);

    const dkgSession = await ledger.getSession(dkg);
    assert.equal(dkgSession?.progress.outcome, 'completed');
    const subs = await ledger.getSubmissions(dkg);
    const acks = subs.filter((s) => s.type === 'ack');
    assert.deepEqual(acks.flatMap((a) => (a.type === 'ack' ? a.complaints.map((c) => [a.from, c.dealer]) : [])), [[victim.me, cheater.me]], 'one complaint, on-chain, with evidence');
    // Each node computes the outcome from chain data on its own: one QUAL, one polynomial.
    const outcomes = genesisNodes.map(() => computeRoundOutcome({ domain, snapshot: (dkgSession as Session).snapshot, submissions: subs, sourcePoly: null }));
    for (const o of outcomes) {
      assert.ok(o.ok);
      assert.deepEqual(o.qual, genesisNodes.slice(0, 3).map((n) => n.me), 'the cheater is out of QUAL');
      assert.equal(o.publicPolyHash, dkgSession?.progress.completedPolyHash);
    }
    const dkgOutcome = outcomes[0];
    assert.ok(dkgOutcome?.ok);
    const mpk = await ledger.getMpk();
    assert.equal(mpk, bytesToHex(bls.g2.encode(dkgOutcome.publicPoly[0] as never)), 'pinned MPK = A_0 of the protocol polynomial');
    assert.ok(genesisNodes.every((n) => n.round?.recipient?.status === 'active'));
    finish(genesisNodes);
    // Any t = 3 shares reconstruct x with x·G2 = MPK.
    const reconstruct = (holders: readonly Node[]) => lagrangeCombineShares(holders.map((n) => n.share as bigint), holders.map((n) => operatorX(n.me)));
    const x = reconstruct(genesisNodes.slice(1, 4));
    assert.equal(bytesToHex(bls.g2.encode(bls.g2.mul(bls.g2.generator, x))), mpk);

    // --- Reshare: a newcomer joins (churn cap 1), t = ceil(2·5/3) = 4.
    const newcomer = nodes[4] as Node;
    await register(newcomer, 'ecdsa');
    clock.t = Math.max(clock.t, await latestTime(chain.client));
    clock.t = (Math.floor(clock.t / INTERVAL) + 1) * INTERVAL;
    await clock.tx();
    const reshare = await ledger.writer(newcomer.me).openSession();
    const snap = (await ledger.getSession(reshare))?.snapshot;
    assert.deepEqual([snap?.kind, snap?.dealers, snap?.recipients, snap?.tNew, snap?.tOld], ['reshare', genesisNodes.map((n) => n.me), nodes.map((n) => n.me), 4, 3]);
    await runSession(ledger, nodes, reshare, clock);

    const resharedSession = await ledger.getSession(reshare);
    assert.equal(resharedSession?.progress.outcome, 'completed');
    const version = await ledger.activeVersion();
    assert.equal(version?.id, reshare);
    assert.equal(await ledger.getMpk(), mpk, 'the MPK never changes');
    assert.equal(version?.publicPoly.slice(0, 2 + 192), mpk, "the reshare polynomial's A_0 is the MPK");
    const rsubs = await ledger.getSubmissions(reshare);
    const { sourcePoly } = await sourceInputs(ledger, resharedSession as Session);
    const again = computeRoundOutcome({ domain, snapshot: (resharedSession as Session).snapshot, submissions: rsubs, sourcePoly });
    assert.ok(again.ok);
    assert.equal(again.publicPolyHash, version?.publicPolyHash);
    finish(nodes);
    assert.ok(nodes.every((n) => n.share !== null), 'every recipient holds a share of the new version');
    const y = reconstruct(nodes.slice(0, 4));
    assert.equal(y, x, 'new shares reconstruct the same secret');
    assert.equal(reconstruct(nodes.slice(1, 5)), x);
  });
});
