/**
 * @module
 * The identity of a session's snapshot: `keccak256(abi.encode(snapshot))`, exactly what the
 * registry contract stores as `snapshotHash` when `openSession` runs (SPEC 3).
 *
 * Why a node needs it (SPEC 4, v3): a session id is only a counter. A reorg can drop the
 * block that opened session 7 and a later block can open a different session 7 (another
 * opener, another time, other recipients or keys). A round's local state is therefore keyed
 * by (session id, snapshot hash): state built for one snapshot is never fed the other's
 * submissions. Both ledgers report this hash, so the in-memory ledger and the contract agree
 * on it byte for byte (the conformance suite compares whole sessions).
 */
import { encodeAbiParameters, keccak256 } from 'viem';
import type { Hex, SessionSnapshot } from './ledger.ts';

/** The contract's `Snapshot` struct as an ABI tuple (field order is the struct's). */
const SNAPSHOT_TUPLE = {
  type: 'tuple',
  components: [
    { name: 'id', type: 'uint256' },
    { name: 'kind', type: 'uint8' },
    { name: 'boundary', type: 'uint256' },
    { name: 'openedAt', type: 'uint256' },
    { name: 'dealers', type: 'address[]' },
    { name: 'recipients', type: 'address[]' },
    { name: 'recipientKeys', type: 'bytes[]' },
    { name: 'tNew', type: 'uint256' },
    { name: 'tOld', type: 'uint256' },
    { name: 'sourceVersion', type: 'uint256' },
    { name: 'sourcePolyHash', type: 'bytes32' },
    { name: 'dealWindow', type: 'uint256' },
    { name: 'ackWindow', type: 'uint256' },
    { name: 'confirmWindow', type: 'uint256' },
    { name: 'quorum', type: 'uint256' },
    { name: 'protocolVersion', type: 'uint256' },
  ],
} as const;

/** `keccak256(abi.encode(snapshot))`, lowercase hex. */
export function snapshotHash(s: SessionSnapshot): Hex {
  return keccak256(encodeAbiParameters([SNAPSHOT_TUPLE], [{
    id: BigInt(s.id),
    kind: s.kind === 'dkg' ? 0 : 1,
    boundary: BigInt(s.boundary),
    openedAt: BigInt(s.openedAt),
    dealers: [...s.dealers],
    recipients: [...s.recipients],
    recipientKeys: [...s.recipientKeys],
    tNew: BigInt(s.tNew),
    tOld: BigInt(s.tOld),
    sourceVersion: BigInt(s.sourceVersion),
    sourcePolyHash: s.sourcePolyHash,
    dealWindow: BigInt(s.dealWindow),
    ackWindow: BigInt(s.ackWindow),
    confirmWindow: BigInt(s.confirmWindow),
    quorum: BigInt(s.quorum),
    protocolVersion: BigInt(s.protocolVersion),
  }]));
}
