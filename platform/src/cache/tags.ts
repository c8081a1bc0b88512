/**
 * Cache tags: `Type:id`, the entity a cached answer shows. The gateway's entity cache files every
 * entry under the tags of the entities in it; a change to an entity purges its tag.
 *
 * Events name the entities they change by their id fields. Each id field of an event payload is
 * either the id of an entity the graph caches (below) or listed as naming none, so a new id field
 * in a contract cannot silently escape invalidation (test/cache-tags.test.ts checks every contract).
 */
export type CacheTag = string;

export function entityTag(type: string, id: string): CacheTag {
  return `${type}:${id}`;
}

/** Payload field → the entity type whose id it holds. */
export const ENTITY_ID_FIELDS: Readonly<Record<string, string>> = {
  userId: 'User',
  artistUserId: 'User',
  buyerId: 'User',
  sellerId: 'User',
  songId: 'Song',
  artistId: 'Artist',
  albumId: 'Album',
  playlistId: 'Playlist',
  campaignId: 'Campaign',
  orderId: 'Order',
  buyOrderId: 'Order',
  sellOrderId: 'Order',
  offeringId: 'ShareOffering',
};

/** Id fields that name nothing the graph caches as an entity of its own. */
export const NON_ENTITY_ID_FIELDS: ReadonlySet<string> = new Set([
  'sessionId',
  'planId',
  'previousPlanId',
  'tradeId',
  'tokenId',
  'distributionId',
  'depositId',
  'eventId',
  'uploadId',
  // loyalty's purchases and ticket types: not cached entities (loyalty's types carry no cache hints).
  'purchaseId',
  'ticketTypeId',
]);

/** The tags of the entities an event's payload names (top-level id fields). */
export function eventCacheTags(payload: Record<string, unknown>): CacheTag[] {
  const tags: CacheTag[] = [];
  for (const [field, value] of Object.entries(payload)) {
    const type = ENTITY_ID_FIELDS[field];
    if (type && typeof value === 'string' && value) tags.push(entityTag(type, value));
  }
  return tags;
}
