import { describe, expect, it } from 'vitest';
import { createLogger, MemoryLiveEvents, ProjectionWaits, type Persistence, type Principal } from '@vibestream/platform';
import { PriceMap } from '../src/domain/plans.ts';
import { PaymentsService } from '../src/service.ts';

/** A service with nothing configured: no Stripe key, no chains. These paths refuse before any I/O. */
function unconfigured() {
  const log = createLogger('payments-test', 'silent');
  return new PaymentsService({
    db: null as unknown as Persistence,
    stripe: null,
    prices: new PriceMap({}),
    chains: {},
    urls: { checkoutSuccess: 'http://x/s', checkoutCancel: 'http://x/c', portalReturn: 'http://x/p' },
    log,
    projections: new ProjectionWaits({ group: 'payments', timeoutMs: 0, live: new MemoryLiveEvents(), log }),
  });
}

const principal: Principal = { userId: '11111111-1111-4111-8111-111111111111', roles: ['FAN'], sessionId: 's', expiresAt: Date.now() / 1000 + 300 };

async function refusal(promise: Promise<unknown>) {
  const error = (await promise.catch((e: unknown) => e)) as { extensions?: { code?: string; field?: string }; message: string };
  return { code: error.extensions?.code, field: error.extensions?.field, message: error.message };
}

describe('a server without Stripe or chains', () => {
  it('answers BAD_USER_INPUT naming the method for a deposit it cannot take', async () => {
    const service = unconfigured();
    for (const method of ['USDC_ETHEREUM', 'USDC_SOLANA'] as const) {
      expect(await refusal(service.createDeposit(principal, 1000, method))).toEqual({
        code: 'BAD_USER_INPUT',
        field: 'method',
        message: `${method} deposits are not available on this server (the chain is not configured)`,
      });
    }
    expect(await refusal(service.createDeposit(principal, 1000, 'CARD'))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'method' });
    expect(await refusal(service.startCheckout(principal, 'PRO'))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'planId' });
    expect(await refusal(service.createDeposit(null, 1000, 'CARD'))).toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
