// The network status page's routes on the operations listener (src/node/http/routes/status-page.ts)
// and the view behind them (src/node/status-page/network-view.ts), in process. The page itself
// is exercised in a real browser against a real cluster in test/cluster/status-page.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import pino from 'pino';
import { buildApi, buildOpsApi, type OpsApiDeps } from '../../src/node/http/app.ts';
import { createNodeMetrics } from '../../src/node/metrics.ts';
import { cachedDoctorVerdict, type DoctorVerdict } from '../../src/node/status-page/doctor-verdict.ts';
import { buildNetworkView, networkFacts, summariseSession, type NetworkReads } from '../../src/node/status-page/network-view.ts';
import { NetworkWatch, type NetworkSnapshot, type NetworkWatchOptions } from '../../src/node/status-page/network-watch.ts';
import type { Address, Governance, Hex, RecordedSubmission, Session, VersionRecord } from '../../src/protocol/ledger.ts';
import { ZERO_HASH } from '../../src/protocol/ledger.ts';

const A = '0x00000000000000000000000000000000000000aa' as Address;
const B = '0x00000000000000000000000000000000000000bb' as Address;
const C = '0x00000000000000000000000000000000000000cc' as Address;
const MPK = `0x${'ab'.repeat(96)}` as Hex;
const quiet = pino({ level: 'silent' });

function session(id: number, over: { openedAt?: number; dealClosedAt?: number | null; outcome?: Session['progress']['outcome'] } = {}): Session {
  const openedAt = over.openedAt ?? 1000;
  return {
    snapshotHash: ZERO_HASH,
    snapshot: {
      id, kind: id === 1 ? 'dkg' : 'reshare', boundary: openedAt, openedAt, dealers: [A, B, C], recipients: [A, B, C],
      recipientKeys: [], tNew: 2, tOld: 2, sourceVersion: id - 1, sourcePolyHash: ZERO_HASH,
      dealWindow: 10, ackWindow: 10, confirmWindow: 10, quorum: 2, protocolVersion: 1,
    },
    progress: {
      dealClosedAt: over.dealClosedAt ?? null, ackClosedAt: null, confirmClosedAt: null, dealCount: 2, ackCount: 2, confirmCount: 2,
      counter: 6, digest: ZERO_HASH, outcome: over.outcome ?? 'completed', completedPolyHash: (over.outcome ?? 'completed') === 'completed' ? ZERO_HASH : null,
    },
  };
}
const sub = (type: RecordedSubmission['type'], from: Address, seq: number): RecordedSubmission => {
  const base = { session: 2, from, seq, at: 1000 + seq };
  if (type === 'deal') return { ...base, type, commitments: '0x', ephemeralKey: '0x', sealedShares: [] };
  if (type === 'ack') return { ...base, type, complaints: [] };
  return { ...base, type, publicPolyHash: ZERO_HASH, publicPoly: '0x', nextSessionKey: '0x' };
};
/** A and B did everything; C dealt only. */
const SUBS = [sub('deal', A, 1), sub('deal', C, 2), sub('deal', B, 3), sub('ack', A, 4), sub('ack', B, 5), sub('confirm', A, 6), sub('confirm', B, 7)];
const version = (id: number, completedAt: number): VersionRecord => ({ id, publicPolyHash: ZERO_HASH, publicPoly: MPK, threshold: 2, holders: [A, B, C], completedAt });
const GOV: Governance = {
  owner: A, pendingOwner: B, thresholdOverride: 0, interval: 60, dealWindow: 10, ackWindow: 10, confirmWindow: 10, inclusionMargin: 0,
  governanceDelay: 3600, churnCap: 0, genesisMinOperators: 3, protocolVersion: 1, queued: [{ kind: 'thresholdOverride', value: 3, effectiveAt: 5000 }],
};

function reads(me: Address, over: Partial<NetworkReads> = {}): NetworkReads {
  return {
    me, chainId: 31337n, registry: C, chainTime: 1100, governance: GOV,
    operators: [A, B, C].map((address, i) => ({ address, socket: `http://op${i}`, sigKeyType: 'bn254', sigPublicKey: '0x', sessionKey: '0x', status: 'active', registeredSeq: i + 1 })),
    mpk: MPK, activeVersion: version(2, 1025),
    sessions: [{ session: session(1, { openedAt: 900 }), submissions: [], version: version(1, 910) }, { session: session(2), submissions: SUBS, version: version(2, 1025) }],
    holdsShare: () => true,
    ...over,
  };
}

describe('network view: who did not submit, from the chain', () => {
  it('lists the parties without a submission once a window has closed, and nobody while it is open', () => {
    const s = session(2);
    const closed = summariseSession(s, SUBS, version(2, 1025), 1100);
    assert.deepEqual(closed.missing, { deal: [], ack: [C], confirm: [C] });
    assert.equal(closed.phase, 'closed');
    assert.equal(closed.durationSeconds, 25, 'opened at 1000, completed at 1025');
    const inAck = summariseSession(s, SUBS, null, 1015);
    assert.deepEqual(inAck.missing, { deal: [], ack: null, confirm: null }, 'ack and confirm windows still open');
    const unread = summariseSession(s, null, null, 1100);
    assert.deepEqual(unread.missing, { deal: null, ack: null, confirm: null }, 'unreadable submissions are unknown, not missed');
    const failed = summariseSession(session(2, { outcome: 'failed' }), SUBS, null, 1100);
    assert.equal(failed.endedAt, 1030, 'a failed session ends with its confirm window');
  });

  it('says what this operator missed in the newest closed session, and whether its active share is missing', () => {
    const v = buildNetworkView(reads(C));
    assert.deepEqual(v.lastClosedSession, { id: 2, missed: ['ack', 'confirm'] });
    assert.equal(v.activeShareMissing, false);
    const part = v.operators.find((o) => o.address === C)?.sessions.find((p) => p.session === 2);
    assert.deepEqual(part, { session: 2, dealt: true, acked: false, confirmed: false });
    assert.equal(buildNetworkView(reads(C, { holdsShare: () => false })).activeShareMissing, true, 'a holder on-chain without the share');
    const outsider = '0x00000000000000000000000000000000000000dd' as Address;
    assert.equal(buildNetworkView(reads(outsider, { holdsShare: () => false })).activeShareMissing, false, 'not a holder: nothing is missing');
    const facts = networkFacts(buildNetworkView(reads(A)));
    assert.deepEqual(facts.lastSession, { id: 2, missedSubmissions: 0 });
    assert.equal(facts.queued.thresholdOverride, 1);
    assert.equal(facts.queued.ownership, 1, 'a proposed owner counts as queued');
    assert.equal(facts.queued.schedule, 0);
  });
});

function opsWith(statusPage: OpsApiDeps['statusPage']) {
  const metrics = createNodeMetrics();
  return buildOpsApi({
    logger: quiet, rateLimit: { perClientPerSecond: 1, burst: 1000 }, metrics,
    health: () => ({ ok: true }),
    status: () => ({ operator: A, activeVersion: null, session: null, lastProcessedBoundary: null, chainHead: null, lastError: null }),
    ...(statusPage ? { statusPage } : {}),
  });
}
const noDoctor = cachedDoctorVerdict(() => null);

describe('status page routes (operations listener)', () => {
  it('GET / serves one self-contained page: only its own script and style may run, nothing loads from elsewhere', async () => {
    const ops = opsWith({ network: async () => ({ view: null, readAtMs: null, error: null }), doctor: noDoctor });
    const res = await ops.inject({ method: 'GET', url: '/' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /connect-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    const hash = (s: string) => createHash('sha256').update(s, 'utf8').digest('base64');
    const script = /<script>([\s\S]*)<\/script>/.exec(res.body)?.[1];
    const style = /<style>([\s\S]*)<\/style>/.exec(res.body)?.[1];
    assert.ok(script && style);
    assert.ok(csp.includes(`'sha256-${hash(script)}'`), 'the CSP allows exactly the inline script');
    assert.ok(csp.includes(`'sha256-${hash(style)}'`), 'the CSP allows exactly the inline style');
    assert.doesNotMatch(res.body, /https?:\/\//, 'no address outside this listener');
    assert.doesNotMatch(res.body, /\b(?:src|href)=["'](?!data:)/, 'no asset to fetch');
    assert.doesNotMatch(script, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, 'data is never put in as markup');
    await ops.close();
  });

  it('is not served on the public API', async () => {
    const api = buildApi({ logger: quiet, rateLimit: { perClientPerSecond: 1, burst: 1000 }, metrics: createNodeMetrics(), pubkey: () => null, health: () => ({ ok: true }), appRelease: null });
    for (const url of ['/', '/status/network', '/status/doctor']) assert.equal((await api.inject({ method: 'GET', url })).statusCode, 404, url);
    await api.close();
  });

  it('GET /status/network: 503 until the network was read, then the view, and only the fields of its schema', async () => {
    let snapshot: NetworkSnapshot = { view: null, readAtMs: null, error: 'RPC down' };
    const ops = opsWith({ network: async () => snapshot, doctor: noDoctor });
    const before = await ops.inject({ method: 'GET', url: '/status/network' });
    assert.equal(before.statusCode, 503);
    assert.deepEqual(before.json(), { error: { code: 'not-ready', message: 'the network could not be read: RPC down' } });
    const view = buildNetworkView(reads(A));
    snapshot = { view: { ...view, share: 'SHARE-MUST-NOT-LEAK', operators: view.operators.map((o) => ({ ...o, sessionSecret: 'SECRET-MUST-NOT-LEAK' })) } as typeof view, readAtMs: 1_700_000_000_123, error: 'a later read failed' };
    const res = await ops.inject({ method: 'GET', url: '/status/network' });
    assert.equal(res.statusCode, 200);
    assert.doesNotMatch(res.body, /MUST-NOT-LEAK/);
    const body = res.json() as Record<string, unknown>;
    assert.equal(body['mpk'], MPK);
    assert.equal(body['readAt'], 1_700_000_000);
    assert.equal(body['readError'], 'a later read failed');
    assert.deepEqual(body['lastClosedSession'], { id: 2, missed: [] });
    assert.equal((await ops.inject({ method: 'GET', url: '/status/network?x=1' })).statusCode, 400, 'no query accepted');
    await ops.close();
  });

  it('GET /status/doctor: unavailable without a doctor, the verdict with one (asked once per minute), the failure when it throws', async () => {
    const verdict: DoctorVerdict = { ok: false, checkedAt: 1_700_000_000, checks: [{ id: 'balance', status: 'fail', message: 'pays for 2 rounds', fix: 'top up 0.1 ETH' }] };
    let asked = 0;
    // The doctor's own report carries more fields than the page shows (its operator, a check's extras).
    const report = { ...verdict, operator: A, checks: verdict.checks.map((c) => ({ ...c, detail: 'more' })) };
    const withDoctor = opsWith({ network: async () => ({ view: null, readAtMs: null, error: null }), doctor: cachedDoctorVerdict(() => async () => (asked++, report)) });
    const none = opsWith({ network: async () => ({ view: null, readAtMs: null, error: null }), doctor: noDoctor });
    const failing = opsWith({ network: async () => ({ view: null, readAtMs: null, error: null }), doctor: cachedDoctorVerdict(() => async () => { throw new Error('RPC down\nstack'); }) });
    assert.deepEqual((await withDoctor.inject({ method: 'GET', url: '/status/doctor' })).json(), { available: true, verdict });
    await withDoctor.inject({ method: 'GET', url: '/status/doctor' });
    assert.equal(asked, 1, 'the second request is answered from the cached verdict');
    assert.equal((await none.inject({ method: 'GET', url: '/status/doctor' })).json().available, false);
    assert.deepEqual((await failing.inject({ method: 'GET', url: '/status/doctor' })).json(), { available: false, reason: 'the doctor failed: RPC down' });
    await Promise.all([withDoctor.close(), none.close(), failing.close()]);
  });

  it('records answer times per route template for the key-release latency alert', async () => {
    const metrics = createNodeMetrics();
    const ops = buildOpsApi({ logger: quiet, rateLimit: { perClientPerSecond: 1, burst: 1000 }, metrics, health: () => ({ ok: true }), status: () => ({ operator: A, activeVersion: null, session: null, lastProcessedBoundary: null, chainHead: null, lastError: null }) });
    await ops.inject({ method: 'GET', url: '/healthz' });
    await ops.inject({ method: 'GET', url: '/no/such/route' });
    const text = (await metrics.render()).body;
    assert.match(text, /kms_http_request_seconds_count\{listener="ops",route="\/healthz"\} 1/);
    assert.doesNotMatch(text, /kms_http_request_seconds_count\{[^}]*route="unmatched"/, 'unmatched URLs get no latency series');
    await ops.close();
  });
});

describe('network watch: what it reads from the chain, and how often', () => {
  /** A ledger reader that counts the calls the watch makes. */
  function fakeLedger() {
    const calls = { submissions: 0, versions: 0, sessions: 0 };
    const sessions = new Map<number, Session>([[1, session(1, { openedAt: 900 })], [2, session(2)]]);
    const ledger = {
      chainId: 31337n, registry: C,
      now: async () => 1100,
      getGovernance: async () => GOV,
      getOperators: async () => reads(A).operators.slice(),
      getMpk: async () => MPK,
      activeVersion: async () => version(2, 1025),
      latestSessionId: async () => Math.max(...sessions.keys()),
      getSession: async (id: number) => (calls.sessions++, sessions.get(id) ?? null),
      getSubmissions: async (id: number) => (calls.submissions++, id === 2 ? SUBS : []),
      getVersion: async (id: number) => (calls.versions++, version(id, id === 1 ? 910 : 1025)),
    } as unknown as NetworkWatchOptions['ledger']; // only the reads the watch makes
    return { ledger, calls, sessions };
  }

  it('reads a session\'s submissions again only when its counter changed, and sets the alert gauges', async () => {
    const { ledger, calls, sessions } = fakeLedger();
    const metrics = createNodeMetrics();
    const watch = new NetworkWatch({ ledger, me: C, holdsShare: () => false, metrics, log: { warn() {}, debug() {} }, everyMs: 0 });
    await watch.refresh();
    assert.equal(calls.submissions, 2, 'both sessions read once');
    await watch.refresh();
    assert.equal(calls.submissions, 2, 'nothing changed: nothing read again');
    assert.equal(calls.versions, 2, 'a completed session\'s version is read once');
    const s2 = sessions.get(2)!;
    sessions.set(2, { ...s2, progress: { ...s2.progress, counter: 7 } });
    await watch.refresh();
    assert.equal(calls.submissions, 3, 'the session whose counter moved is read again');
    const text = (await metrics.render()).body;
    assert.match(text, /^kms_last_session_missed_submissions 2$/m, 'C missed its ack and confirmation');
    assert.match(text, /^kms_active_share_missing 1$/m, 'C is a holder without the share');
    assert.match(text, /^kms_chain_active_version 2$/m);
    assert.match(text, /^kms_governance_queued_changes\{kind="ownership"\} 1$/m);
  });

  it('keeps the last view when a read fails, and says why', async () => {
    const { ledger } = fakeLedger();
    let fail = false;
    const flaky = { ...ledger, getGovernance: async () => { if (fail) throw new Error('RPC down\ndetails'); return GOV; } } as NetworkWatchOptions['ledger'];
    const watch = new NetworkWatch({ ledger: flaky, me: A, holdsShare: () => true, metrics: createNodeMetrics(), log: { warn() {}, debug() {} }, everyMs: 0 });
    await watch.refresh();
    fail = true;
    await watch.refresh();
    const s = watch.snapshot();
    assert.equal(s.view?.mpk, MPK, 'the last good view is kept');
    assert.equal(s.error, 'RPC down');
  });
});
