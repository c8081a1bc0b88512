import { isUuid, type Persistence } from '@vibestream/platform';
import { tokenMetadata } from '../domain/campaign.ts';
import * as store from '../store.ts';

/** What a collection's tokenURI points at: this subgraph's /nft/ route, which the gateway forwards. */
export class NftMetadata {
  private readonly db: Persistence;
  private readonly publicUrl: string;

  constructor(db: Persistence, publicUrl: string) {
    this.db = db;
    this.publicUrl = publicUrl;
  }

  /** `PUBLIC_URL/nft/<campaignId>/<tokenId>`: the gateway forwards /nft/ to this subgraph. */
  tokenUri(campaignId: string, tokenId: string): string {
    return new URL(`/nft/${campaignId}/${tokenId}`, this.publicUrl).toString();
  }

  /** ERC-721 metadata of a minted edition, or null (unknown campaign, or an edition not minted). */
  async tokenMetadata(campaignId: string, tokenId: string) {
    if (!isUuid(campaignId) || !/^[1-9]\d{0,8}$/.test(tokenId)) return null;
    const row = await store.mintedToken(this.db.reader(), campaignId, Number(tokenId));
    if (!row) return null;
    return tokenMetadata({
      dropName: row.drop_name,
      campaignName: row.name,
      songTitle: row.title,
      editionNumber: row.edition_number,
      editionSize: row.edition_size,
    });
  }
}
