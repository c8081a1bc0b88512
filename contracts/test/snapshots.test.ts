// A published event contract version never changes: its payload's JSON Schema is frozen in
// snapshots/<type>.json, and a new payload is a new version (a new type name).
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { defineEvent } from '@vibestream/platform';
import { allContracts } from '../src/index.ts';
import { DepositSucceeded } from '../src/payments.ts';
import { jsonSchemaOf, readSnapshots, serialise, snapshotOf } from '../scripts/snapshot.ts';

const contracts = allContracts();
const snapshots = readSnapshots();

describe('event contracts', () => {
  it('are found in every producer module, each type once, each named with its version', () => {
    expect(contracts.length).toBeGreaterThanOrEqual(16);
    const types = contracts.map(({ contract }) => contract.type);
    expect(new Set(types).size).toBe(types.length);
    for (const type of types) expect(type).toMatch(/\.v\d+$/);
  });

  it.each(contracts.map(({ producer, contract }) => [contract.type, producer, contract] as const))(
    '%s (%s) has a snapshot and still matches it',
    (type, producer, contract) => {
      const frozen = snapshots.get(type);
      expect(frozen, `${type} has no snapshot: run npm run snapshot -w contracts`).toBeDefined();
      expect(serialise(snapshotOf(producer, contract)), `${type} is published and its payload changed: define the change as the next version instead`).toBe(
        frozen,
      );
    },
  );

  it('keeps every published version: each snapshot still has its contract', () => {
    const defined = new Set(contracts.map(({ contract }) => contract.type));
    expect([...snapshots.keys()].filter((type) => !defined.has(type))).toEqual([]);
  });

  it('tells a changed payload from the frozen one (a new field, a looser type, a field made optional)', () => {
    const frozen = jsonSchemaOf(DepositSucceeded);
    const shape = DepositSucceeded.payload.shape;
    const changed = [
      DepositSucceeded.payload.extend({ note: z.string() }),
      DepositSucceeded.payload.extend({ amountCents: z.number() }),
      DepositSucceeded.payload.extend({ userId: shape.userId.optional() }),
    ];
    for (const payload of changed) expect(jsonSchemaOf(defineEvent(DepositSucceeded.type, payload))).not.toEqual(frozen);
    expect(jsonSchemaOf(defineEvent(DepositSucceeded.type, DepositSucceeded.payload.extend({})))).toEqual(frozen);
  });
});
