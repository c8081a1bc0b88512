// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title One campaign's NFT drop: a limited edition of ERC-721 tokens.
/// @notice Token ids are the edition numbers 1..editionSize. The campaigns service (the owner)
/// decides who gets which edition before it calls `mint`; the contract enforces on chain that no
/// edition outside the drop exists and that each edition is minted once.
contract CampaignCollection is ERC721, Ownable {
    /// @notice How many editions the drop has; token ids are 1..editionSize.
    uint256 public immutable editionSize;
    /// @notice Editions minted so far.
    uint256 public totalSupply;

    string private baseTokenURI;

    error EditionOutOfRange(uint256 tokenId, uint256 editionSize);

    constructor(
        string memory name_,
        string memory symbol_,
        uint256 editionSize_,
        string memory baseTokenURI_,
        address owner_
    ) ERC721(name_, symbol_) Ownable(owner_) {
        editionSize = editionSize_;
        baseTokenURI = baseTokenURI_;
    }

    /// @notice Mints edition `tokenId` to `to`. Reverts for an edition outside 1..editionSize and,
    /// through ERC721, for an edition that was already minted.
    function mint(address to, uint256 tokenId) external onlyOwner {
        if (tokenId == 0 || tokenId > editionSize) revert EditionOutOfRange(tokenId, editionSize);
        totalSupply += 1;
        _mint(to, tokenId);
    }

    function _baseURI() internal view override returns (string memory) {
        return baseTokenURI;
    }
}
