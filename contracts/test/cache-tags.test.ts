// Each id field of an event payload either names an entity the gateway's entity cache files answers
// under (and the event purges it) or is listed as naming none: a new id field cannot slip past
// invalidation unnoticed.
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { ENTITY_ID_FIELDS, NON_ENTITY_ID_FIELDS, eventCacheTags } from '@vibestream/platform';
import { allContracts } from '../src/index.ts';

describe('cache tags of events', () => {
  it('every id field of every contract names a cached entity or is listed as naming none', () => {
    const unclassified: string[] = [];
    const contracts = allContracts();
    expect(contracts.length).toBeGreaterThan(10);
    for (const { contract } of contracts) {
      const shape = (contract.payload as unknown as z.ZodObject).shape ?? {};
      for (const field of Object.keys(shape)) {
        if (!/Ids?$/.test(field)) continue;
        if (!(field in ENTITY_ID_FIELDS) && !NON_ENTITY_ID_FIELDS.has(field)) unclassified.push(`${contract.type}.${field}`);
      }
    }
    expect(unclassified).toEqual([]);
  });

  it('tags the entities a payload names, by type', () => {
    const tags = eventCacheTags({ tradeId: 't', songId: 's', buyerId: 'b', sellerId: 'x', buyOrderId: 'o1', sellOrderId: 'o2', priceCents: 10 });
    expect(tags.sort()).toEqual(['Order:o1', 'Order:o2', 'Song:s', 'User:b', 'User:x']);
    expect(eventCacheTags({ songId: 42, userId: '' })).toEqual([]);
  });
});
