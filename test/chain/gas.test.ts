// Gas per operator per round on anvil for n = 4, 10, 30 (docs/contracts.md): budgets that
// catch a regression, and the table printed as a diagnostic (`npx tsx bench/contract-gas.ts`
// prints the same markdown).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { measureGas, renderMarkdown } from '../../bench/contract-gas.ts';

describe('registry gas', () => {
  it('stays within budget for n = 4, 10, 30 (DKG and reshare)', async (t) => {
    const report = await measureGas([4, 10, 30]);
    t.diagnostic(`\n${renderMarkdown(report)}`);
    assert.ok(report.registerEcdsa < 300_000, `ECDSA registration ${report.registerEcdsa}`);
    assert.ok(report.registerBn254 < 500_000, `BN254 registration ${report.registerBn254}`);
    assert.equal(report.rounds.length, 6);
    for (const r of report.rounds) {
      const what = `${r.kind} n=${r.n}`;
      assert.ok(r.perOperator < 400_000, `${what}: ${r.perOperator} gas per operator per round`);
      assert.ok(r.open < 200_000 + 45_000 * r.n, `${what}: openSession ${r.open}`);
      assert.ok(r.deal < 80_000 + 5_000 * r.n, `${what}: deal ${r.deal}`);
      assert.ok(r.ack < 60_000, `${what}: ack ${r.ack}`);
      assert.ok(r.confirm < 150_000, `${what}: confirm ${r.confirm}`);
    }
  });
});
