// payments' use cases on payments' own schema, with other contexts' events injected: no gateway,
// no other context booted. The end-to-end behaviour through the gateway is payments.e2e.test.ts.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, openDatabase, openPersistence, type EventEnvelope, type MikroORM, type Persistence, type Principal } from '@vibestream/platform';
import { createTestDatabase, type TestDatabase } from '@vibestream/testkit';
import { WalletLinked } from '@vibestream/identity/events';
import { PriceMap } from '../src/domain/plans.ts';
import { paymentsHandlers } from '../src/handlers.ts';
import { stripeEvent } from '../src/local-stripe.ts';
import { migrations } from '../src/migrations.ts';
import { PaymentsService } from '../src/service.ts';
import type { Stripe } from '../src/stripe.ts';

const log = createLogger('payments-use-cases', process.env.TEST_LOG_LEVEL ?? 'silent');
let db: TestDatabase;
let orm: MikroORM;
let persistence: Persistence;
let service: PaymentsService;
let wakes = 0;

beforeAll(async () => {
  db = await createTestDatabase('paymentsuc');
  orm = await openDatabase({ url: db.url, schema: 'payments', entities: [], migrations, log });
  persistence = openPersistence(orm, { source: 'payments', onEventsCommitted: () => void wakes++ });
  service = new PaymentsService({
    db: persistence,
    stripe: null,
    prices: new PriceMap({ PRO: 'price_pro' }),
    chains: {},
    urls: { checkoutSuccess: 'http://x/s', checkoutCancel: 'http://x/c', portalReturn: 'http://x/p' },
    log,
  });
});

afterAll(async () => {
  await orm?.close();
  await db?.drop();
});

const principal = (userId: string): Principal => ({ userId, roles: ['FAN'], sessionId: 's', expiresAt: Date.now() / 1000 + 300 });
const event = (type: string, object: Record<string, unknown>, created: number) => stripeEvent(type, object, created) as unknown as Stripe.Event;
const outbox = async (userId: string) =>
  (await orm.em.fork().execute<{ type: string }[]>(`select type from outbox_events where payload->>'userId' = ? order by seq`, [userId])).map((r) => r.type);

/** Delivers an event to payments' handler for it, in a transaction as the consumer does. */
async function deliver<P>(contract: { type: string }, payload: P): Promise<void> {
  const handler = paymentsHandlers(persistence).find((h) => h.contract.type === contract.type);
  if (!handler) throw new Error(`no handler for ${contract.type}`);
  const envelope: EventEnvelope = {
    id: randomUUID(),
    type: contract.type,
    source: 'identity',
    payload: {},
    requestId: null,
    occurredAt: new Date().toISOString(),
  };
  await orm.em.fork().transactional((em) => handler.handle(em, payload as never, envelope));
}

describe("payments' use cases on their own schema", () => {
  it('a checkout webhook is one use case: subscription, entitlements and both events commit together, once', async () => {
    const userId = randomUUID();
    const completed = event(
      'checkout.session.completed',
      {
        id: 'cs_1',
        mode: 'subscription',
        client_reference_id: userId,
        subscription: `sub_${userId}`,
        customer: `cus_${userId}`,
        payment_status: 'paid',
        created: 1_800_000_000,
        metadata: { userId, planId: 'PRO' },
      },
      1_800_000_001,
    );
    const before = wakes;
    expect(await service.applyStripeEvent(completed)).toBe(true);
    expect(wakes).toBe(before + 1);
    expect(await outbox(userId)).toEqual(['payments.subscription.changed.v1', 'billing.entitlements.changed.v1']);
    expect((await service.subscription(userId)).plan.id).toBe('PRO');

    // Redelivered: nothing changes, nothing is recorded, the relay is not woken.
    expect(await service.applyStripeEvent(completed)).toBe(false);
    expect(await outbox(userId)).toHaveLength(2);
    expect(wakes).toBe(before + 1);
  });

  it('a linked wallet is projected once; a wallet linked to another user is refused and leaves nothing', async () => {
    const [alice, bob] = [randomUUID(), randomUUID()];
    const address = '0x' + 'ab'.repeat(20);
    await deliver(WalletLinked, { userId: alice, chain: 'ETHEREUM', address });
    await deliver(WalletLinked, { userId: alice, chain: 'ETHEREUM', address });
    await expect(deliver(WalletLinked, { userId: bob, chain: 'ETHEREUM', address })).rejects.toThrow(/already linked to another user/);
    const owners = await orm.em.fork().execute<{ user_id: string }[]>('select user_id from linked_wallets where address = ?', [address]);
    expect(owners.map((r) => r.user_id)).toEqual([alice]);
  });

  it('a USDC deposit on a chain this server does not configure is refused before any row is written', async () => {
    const userId = randomUUID();
    const refused = await service.createDeposit(principal(userId), 1000, 'USDC_ETHEREUM').catch((e: unknown) => e);
    expect(refused).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'method' } });
    expect((await service.payments(userId, 10, null)).totalCount).toBe(0);
  });
});
