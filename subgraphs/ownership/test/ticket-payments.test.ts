// loyalty's ticket purchase saga, ownership's step: a reservation debits the buyer's cash once per
// purchaseId and answers succeeded, or debits nothing and answers failed.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openContext, type ContextHarness } from '@vibestream/testkit';
import { TicketReserved } from '@vibestream/contracts/loyalty';
import { DepositSucceeded } from '@vibestream/contracts/payments';
import { ownershipHandlers } from '../src/handlers.ts';
import { migrations } from '../src/migrations.ts';

let h: ContextHarness;

beforeAll(async () => {
  h = await openContext({ name: 'ownership', migrations });
  h.consume(ownershipHandlers(h.db));
});

afterAll(async () => {
  await h?.close();
});

async function cash(userId: string): Promise<number | null> {
  const found = await h.orm.em.fork().getConnection().execute<{ cash_cents: string }[]>(`select cash_cents from accounts where user_id = ?`, [userId]);
  return found[0] ? Number(found[0].cash_cents) : null;
}

const reservation = (userId: string, artistUserId: string, amountCents: number) => ({
  purchaseId: randomUUID() as string,
  userId,
  artistUserId,
  ticketTypeId: randomUUID(),
  quantity: 2,
  amountCents,
  reservedAt: new Date().toISOString(),
});

describe('ticket payments', () => {
  it('debits once per purchase, however often the reservation is delivered, and credits the artist', async () => {
    const fan = randomUUID();
    const artist = randomUUID();
    await h.inject(DepositSucceeded, { depositId: randomUUID(), userId: fan, amountCents: 10_000, succeededAt: new Date().toISOString() });
    const reserved = reservation(fan, artist, 3_000);
    await h.inject(TicketReserved, reserved, { times: 3 });
    expect(await cash(fan)).toBe(7_000);
    expect(await cash(artist)).toBe(3_000);
    const answers = (await h.recorded()).filter((e) => e.payload.purchaseId === reserved.purchaseId);
    expect(answers.map((e) => e.type)).toEqual(['ownership.ticket_payment.succeeded.v1']);
  });

  it('refuses without debiting when the cash does not cover it, or there is no account', async () => {
    const fan = randomUUID();
    const artist = randomUUID();
    await h.inject(DepositSucceeded, { depositId: randomUUID(), userId: fan, amountCents: 1_000, succeededAt: new Date().toISOString() });
    const tooMuch = reservation(fan, artist, 1_001);
    await h.inject(TicketReserved, tooMuch, { times: 2 });
    const stranger = reservation(randomUUID(), artist, 100);
    await h.inject(TicketReserved, stranger);
    expect(await cash(fan)).toBe(1_000);
    expect(await cash(artist)).toBeNull();
    const answers = (await h.recorded('ownership.ticket_payment.failed.v1')).filter((e) =>
      ([tooMuch.purchaseId, stranger.purchaseId] as string[]).includes(e.payload.purchaseId as string),
    );
    expect(answers.map((e) => e.payload.reason)).toEqual(['INSUFFICIENT_FUNDS', 'NO_ACCOUNT']);
  });

  it('never overdraws under concurrent purchases: exactly as many succeed as the cash covers', async () => {
    const fan = randomUUID();
    const artist = randomUUID();
    await h.inject(DepositSucceeded, { depositId: randomUUID(), userId: fan, amountCents: 5_000, succeededAt: new Date().toISOString() });
    const purchases = Array.from({ length: 8 }, () => reservation(fan, artist, 1_000));
    await Promise.all(purchases.map((p) => h.inject(TicketReserved, p)));
    expect(await cash(fan)).toBe(0);
    expect(await cash(artist)).toBe(5_000);
    const ids = new Set<string>(purchases.map((p) => p.purchaseId));
    const succeeded = (await h.recorded('ownership.ticket_payment.succeeded.v1')).filter((e) => ids.has(e.payload.purchaseId as string));
    const failed = (await h.recorded('ownership.ticket_payment.failed.v1')).filter((e) => ids.has(e.payload.purchaseId as string));
    expect([succeeded.length, failed.length]).toEqual([5, 3]);
  });
});
