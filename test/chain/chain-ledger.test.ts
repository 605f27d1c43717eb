// The registry contract on anvil through ChainLedger: the shared ledger conformance suite
// (the same cases as the in-memory ledger), on a fresh deployment per case.
import { ledgerConformance } from '../ledger/conformance.ts';
import { anvilHarness } from './anvil-harness.ts';

ledgerConformance('anvil', anvilHarness);
