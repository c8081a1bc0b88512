import { isUuid, type MikroORM } from '@vibestream/platform';
import { tokenMetadata } from '../domain/campaign.ts';

/** What a collection's tokenURI points at: this subgraph's /nft/ route, which the gateway forwards. */
export class NftMetadata {
  private readonly orm: MikroORM;
  private readonly publicUrl: string;

  constructor(orm: MikroORM, publicUrl: string) {
    this.orm = orm;
    this.publicUrl = publicUrl;
  }

  /** `PUBLIC_URL/nft/<campaignId>/<tokenId>`: the gateway forwards /nft/ to this subgraph. */
  tokenUri(campaignId: string, tokenId: string): string {
    return new URL(`/nft/${campaignId}/${tokenId}`, this.publicUrl).toString();
  }

  /** ERC-721 metadata of a minted edition, or null (unknown campaign, or an edition not minted). */
  async tokenMetadata(campaignId: string, tokenId: string) {
    if (!isUuid(campaignId) || !/^[1-9]\d{0,8}$/.test(tokenId)) return null;
    const [row] = (await this.orm.em.fork().execute(
      `select c.name, c.drop_name, c.edition_size, s.title, m.edition_number
       from mints m join campaigns c on c.id = m.campaign_id join songs s on s.song_id = c.song_id
       where m.campaign_id = ? and m.edition_number = ? and m.status = 'MINTED'`,
      [campaignId, Number(tokenId)],
    )) as { name: string; drop_name: string; edition_size: number; title: string; edition_number: number }[];
    if (!row) return null;
    return tokenMetadata({ dropName: row.drop_name, campaignName: row.name, songTitle: row.title, editionNumber: row.edition_number, editionSize: row.edition_size });
  }
}
