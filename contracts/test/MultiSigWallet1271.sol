// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title MultiSigWallet1271 — TEST ONLY: a 2-of-3 contract wallet that can own a KMS app.
/// @notice Exists to test EIP-1271 app owners (issue 16): `isValidSignature(hash, sigs)` answers
/// the magic value 0x1626ba7e when `sigs` is two 65-byte signatures (r ‖ s ‖ v, low s) over
/// `hash` by two different owners, in any order; `execute` sends a call from the wallet under
/// the same rule (owners sign keccak256(abi.encode(wallet, chainId, nonce, to, data)), the
/// raw 32-byte hash, no prefix). Never deploy it to hold anything of value: it has no
/// recovery, no owner management, and no audit.
contract MultiSigWallet1271 {
    bytes4 internal constant MAGIC = 0x1626ba7e;
    uint256 internal constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    address[3] public owners;
    /// Number of calls executed: part of what the owners sign, so a signed call runs once.
    uint256 public nonce;

    constructor(address[3] memory owners_) {
        owners = owners_;
    }

    /// @notice EIP-1271: 0x1626ba7e iff `signatures` holds 2 signatures of `hash` by 2 distinct owners.
    function isValidSignature(bytes32 hash, bytes calldata signatures) external view returns (bytes4) {
        return _twoOfThree(hash, signatures) ? MAGIC : bytes4(0xffffffff);
    }

    /// @notice Calls `to` with `data` from this wallet, if 2 of 3 owners signed it at this nonce.
    function execute(address to, bytes calldata data, bytes calldata signatures) external returns (bytes memory result) {
        bytes32 h = keccak256(abi.encode(address(this), block.chainid, nonce, to, data));
        require(_twoOfThree(h, signatures), "MultiSigWallet1271: need signatures of 2 of 3 owners");
        nonce++;
        bool ok;
        (ok, result) = to.call(data);
        if (!ok) {
            assembly {
                revert(add(result, 32), mload(result))
            }
        }
    }

    function _twoOfThree(bytes32 hash, bytes calldata sigs) internal view returns (bool) {
        if (sigs.length != 130) return false;
        address a = _recover(hash, sigs[0:65]);
        address b = _recover(hash, sigs[65:130]);
        return a != b && _isOwner(a) && _isOwner(b);
    }

    function _isOwner(address a) internal view returns (bool) {
        return a != address(0) && (a == owners[0] || a == owners[1] || a == owners[2]);
    }

    function _recover(bytes32 hash, bytes calldata sig) internal pure returns (address) {
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (uint256(s) > HALF_N || (v != 27 && v != 28)) return address(0);
        return ecrecover(hash, v, r, s);
    }
}
