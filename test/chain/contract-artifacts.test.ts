// The committed contract artifacts are what the sources compile to, and the contract's
// custom errors are exactly the ledger's error codes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { LEDGER_ERROR_CODES } from '../../src/protocol/ledger.ts';
import {
  kmsRegistryAbi,
  kmsRegistryBytecode,
  kmsRegistrySourceHash,
  kmsRegistrySolcVersion,
} from '../../src/chain/kms-registry-artifact.ts';

const root = new URL('../..', import.meta.url).pathname;
const artifact = JSON.parse(readFileSync(`${root}contracts/artifacts/KmsRegistry.json`, 'utf8')) as {
  abi: unknown; bytecode: string; deployedBytecode: string; solcVersion: string; sourceHash: string;
};

describe('contract artifacts', () => {
  it('are not stale: the source hash over compiler, settings and sources matches', () => {
    const r = spawnSync(process.execPath, ['scripts/build-contracts.mjs', '--check'], { cwd: root, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stderr}${r.stdout}`.trim() || 'build-contracts --check failed');
  });

  it('the typed TS module carries the same ABI, bytecode and hash as the JSON artifact', () => {
    assert.deepEqual(kmsRegistryAbi, artifact.abi);
    assert.equal(kmsRegistryBytecode, artifact.bytecode);
    assert.equal(kmsRegistrySourceHash, artifact.sourceHash);
    assert.equal(kmsRegistrySolcVersion, artifact.solcVersion);
    assert.match(artifact.solcVersion, /^0\.8\.30\+/);
  });

  it('fits the 24 KiB code size limit (EIP-170)', () => {
    const size = (artifact.deployedBytecode.length - 2) / 2;
    assert.ok(size > 0 && size <= 24_576, `deployed size ${size} bytes`);
  });

  it('declares one custom error per ledger error code (IncompleteView is the reader\'s own)', () => {
    const errors = kmsRegistryAbi.filter((x) => x.type === 'error').map((x) => x.name).sort();
    const codes = LEDGER_ERROR_CODES.filter((c) => c !== 'IncompleteView').sort();
    assert.deepEqual(errors, codes);
  });
});
