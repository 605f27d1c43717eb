// Protocol version verdicts (issue 15 item 5): which sessions a build may act in, and what it
// says about governance's current and queued versions (src/protocol/protocol-version.ts), and
// the doctor's `protocol` check built on it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { protocolCheck } from '../../src/node/doctor/chain-checks.ts';
import { protocolStatus, sessionProtocolRefusal, speaks, SPOKEN_PROTOCOL, type ProtocolGovernance } from '../../src/protocol/protocol-version.ts';

const V1 = { min: 1, max: 1 };
const V12 = { min: 1, max: 2 };
const V23 = { min: 2, max: 3 };
const gov = (protocolVersion: number, queued?: { protocolVersion: number; effectiveAt: number }): ProtocolGovernance => ({
  protocolVersion,
  queued: queued ? [{ kind: 'churnCap', effectiveAt: 5 }, { kind: 'schedule', ...queued }] : [{ kind: 'churnCap', effectiveAt: 5 }],
});

describe('protocol versions', () => {
  it('this build speaks version 1, the version every deployment starts with', () => {
    assert.deepEqual(SPOKEN_PROTOCOL, { min: 1, max: 1 });
  });

  it('a build acts exactly in sessions whose version lies in its range', () => {
    for (const [spoken, version, ok] of [[V1, 1, true], [V1, 2, false], [V1, 0, false], [V12, 1, true], [V12, 2, true], [V12, 3, false], [V23, 1, false], [V23, 3, true]] as const) {
      assert.equal(speaks(spoken, version), ok, `${JSON.stringify(spoken)} ${version}`);
      assert.equal(sessionProtocolRefusal(spoken, 7, version) === null, ok);
    }
    assert.equal(sessionProtocolRefusal(V1, 7, 2), 'session 7 requires protocol version 2; this node speaks version 1: it sits the session out (upgrade kms-server to a release that speaks it)');
    assert.match(sessionProtocolRefusal(V23, 7, 1) ?? '', /this node speaks versions 2–3: .*this release dropped it; governance must raise the required version/);
  });

  it('against governance: ok, upgrade-soon for a queued version it does not speak, unsupported for the current one', () => {
    assert.deepEqual(protocolStatus(V1, gov(1)), { speaks: V1, required: 1, queued: null, verdict: 'ok', message: null });
    // A schedule change that keeps the version is not a queued version change.
    assert.equal(protocolStatus(V1, gov(1, { protocolVersion: 1, effectiveAt: 9 })).queued, null);
    const soon = protocolStatus(V1, gov(1, { protocolVersion: 2, effectiveAt: 9000 }));
    assert.deepEqual([soon.verdict, soon.queued], ['upgrade-soon', { version: 2, effectiveAt: 9000 }]);
    assert.match(soon.message ?? '', /raises the required protocol version to 2 at chain time 9000; this node speaks version 1: upgrade before then/);
    assert.equal(protocolStatus(V12, gov(1, { protocolVersion: 2, effectiveAt: 9000 })).verdict, 'ok', 'an upgraded build is ready for it');
    const now = protocolStatus(V1, gov(2));
    assert.deepEqual([now.verdict, now.required], ['unsupported', 2]);
    assert.match(now.message ?? '', /requires protocol version 2 and this node speaks version 1: it sits every session out/);
    assert.equal(protocolStatus(V1, gov(2, { protocolVersion: 1, effectiveAt: 9000 })).verdict, 'unsupported', 'until the lowering applies');
  });

  it('the doctor fails on an unsupported version, warns on a queued one, passes otherwise, each with its fix', () => {
    const ok = protocolCheck(protocolStatus(V1, gov(1)));
    assert.deepEqual([ok.id, ok.status, ok.fix], ['protocol', 'pass', null]);
    assert.equal(ok.message, 'sessions require protocol version 1; this build speaks version 1');
    const soon = protocolCheck(protocolStatus(V1, gov(1, { protocolVersion: 2, effectiveAt: 9000 })));
    assert.equal(soon.status, 'warn');
    assert.match(soon.fix ?? '', /upgrade kms-server before then/);
    const bad = protocolCheck(protocolStatus(V1, gov(2)));
    assert.equal(bad.status, 'fail');
    assert.match(bad.fix ?? '', /upgrade kms-server to a release that speaks version 2/);
    const dropped = protocolCheck(protocolStatus(V23, gov(1)));
    assert.equal(dropped.status, 'fail');
    assert.match(dropped.fix ?? '', /governance must raise the required version/);
  });
});
