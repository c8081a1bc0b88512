import { describe, expect, it } from 'vitest';
import { formatCents, formatDay, formatTokenAmount, groupThousands, plural, shortAddress } from '../src/domain/format.ts';
import { renderNotification, sourceKey, type NotificationFacts, type RenderOptions } from '../src/domain/notifications.ts';

const known = (songTitle: string | null = 'Midnight Drive'): RenderOptions => ({ songTitle, rewardToken: { decimals: 18, symbol: null } });
const order = (over: Partial<Extract<NotificationFacts, { kind: 'ORDER_FILLED' }>> = {}): NotificationFacts => ({
  kind: 'ORDER_FILLED',
  orderId: '11111111-1111-4111-8111-111111111111',
  side: 'BUY',
  quantity: 12,
  averagePriceCents: 125,
  orderQuantity: 12,
  filledQuantity: 12,
  fullyFilled: true,
  ...over,
});
const subscription = (over: Partial<Extract<NotificationFacts, { kind: 'SUBSCRIPTION_CHANGED' }>> = {}): NotificationFacts => ({
  kind: 'SUBSCRIPTION_CHANGED',
  planId: 'PRO',
  previousPlanId: null,
  status: 'ACTIVE',
  cancelAtPeriodEnd: false,
  currentPeriodEnd: '2026-12-31T12:00:00.000Z',
  changedAt: '2026-11-30T12:00:00.000Z',
  ...over,
});

describe('formatting', () => {
  it('formats integer cents as dollars, exactly', () => {
    expect(formatCents(125)).toBe('$1.25');
    expect(formatCents(5)).toBe('$0.05');
    expect(formatCents(0)).toBe('$0.00');
    expect(formatCents(123_456_789)).toBe('$1,234,567.89');
    expect(() => formatCents(1.5)).toThrow(RangeError);
  });

  it('formats base-unit token amounts as whole tokens without losing precision', () => {
    expect(formatTokenAmount('10000000000000000', 18)).toBe('0.01');
    expect(formatTokenAmount('1000000000000000000', 18)).toBe('1');
    expect(formatTokenAmount('1234500000000000000000', 18)).toBe('1,234.5');
    expect(formatTokenAmount('1', 18)).toBe('0.000000000000000001');
    expect(formatTokenAmount('123456789012345678901234567890', 18)).toBe('123,456,789,012.34567890123456789');
    expect(formatTokenAmount('0', 18)).toBe('0');
    expect(formatTokenAmount('2500', 0)).toBe('2,500');
    expect(formatTokenAmount('2500', 2)).toBe('25');
    expect(() => formatTokenAmount('-1', 18)).toThrow(RangeError);
  });

  it('groups thousands, pluralises, shortens addresses and writes UTC days', () => {
    expect(groupThousands(1_234_567)).toBe('1,234,567');
    expect(groupThousands(999)).toBe('999');
    expect(plural(1, 'share')).toBe('1 share');
    expect(plural(1200, 'share')).toBe('1,200 shares');
    expect(shortAddress('0x1234567890abcdef1234567890abcdef12345678')).toBe('0x1234…5678');
    expect(shortAddress('0xabc')).toBe('0xabc');
    expect(formatDay('2026-12-31T23:30:00.000Z')).toBe('December 31, 2026');
  });
});

describe('order fills', () => {
  it('reads like the issue asks for a whole order filled at once', () => {
    expect(renderNotification(order(), known())).toEqual({
      title: 'Buy order filled',
      body: 'Your buy order for 12 shares of Midnight Drive filled at $1.25 a share.',
    });
    expect(renderNotification(order({ side: 'SELL', quantity: 1, orderQuantity: 1, filledQuantity: 1 }), known()).body).toBe(
      'Your sell order for 1 share of Midnight Drive filled at $1.25 a share.',
    );
  });

  it('tells a partial fill from the one that completes the order', () => {
    expect(renderNotification(order({ quantity: 5, filledQuantity: 5, fullyFilled: false }), known())).toEqual({
      title: 'Buy order partly filled',
      body: '5 of the 12 shares in your buy order for Midnight Drive filled at $1.25 a share.',
    });
    expect(renderNotification(order({ quantity: 3, filledQuantity: 8, fullyFilled: false, averagePriceCents: 130 }), known()).body).toBe(
      '3 of the 12 shares in your buy order for Midnight Drive filled at $1.30 a share (8 of 12 filled so far).',
    );
    expect(renderNotification(order({ quantity: 4, filledQuantity: 12, fullyFilled: true }), known())).toEqual({
      title: 'Buy order filled',
      body: 'Your buy order for 12 shares of Midnight Drive is complete: the last 4 filled at $1.25 a share.',
    });
  });

  it('names "a song" while the song is not known yet', () => {
    expect(renderNotification(order(), known(null)).body).toBe('Your buy order for 12 shares of a song filled at $1.25 a share.');
    expect(renderNotification(order(), known('   ')).body).toContain('of a song filled');
  });
});

describe('the other kinds', () => {
  it('reward vouchers in whole tokens, with the symbol when one is configured', () => {
    const voucher: NotificationFacts = { kind: 'REWARD_VOUCHER', amount: '10000000000000000', epoch: 20_000, leafIndex: 3 };
    expect(renderNotification(voucher, known())).toEqual({
      title: 'Listening reward earned',
      body: 'You earned 0.01 reward tokens for listening to Midnight Drive.',
    });
    expect(renderNotification({ ...voucher, amount: '1000000000000000000' }, known(null)).body).toBe('You earned 1 reward token for listening to a song.');
    expect(renderNotification(voucher, { songTitle: 'Midnight Drive', rewardToken: { decimals: 18, symbol: 'VIBE' } }).body).toBe(
      'You earned 0.01 VIBE for listening to Midnight Drive.',
    );
  });

  it('revenue payouts, including one that rounds to nothing', () => {
    const paid: NotificationFacts = { kind: 'REVENUE_PAID', distributionId: 'd', amountCents: 700, shares: 70, periodLabel: '2026-11' };
    expect(renderNotification(paid, known())).toEqual({
      title: 'Revenue paid',
      body: 'You received $7.00 from the revenue of Midnight Drive for 2026-11 (your 70 shares).',
    });
    expect(renderNotification({ ...paid, amountCents: 0, shares: 1 }, known(null)).body).toBe(
      'The revenue of a song you hold for 2026-11 was paid out; your 1 share came to less than a cent.',
    );
  });

  it('deposits with and without a method', () => {
    const deposit: NotificationFacts = { kind: 'DEPOSIT_SUCCEEDED', depositId: 'x', amountCents: 50_000, method: 'CARD' };
    expect(renderNotification(deposit, known())).toEqual({ title: 'Deposit received', body: '$500.00 paid by card was added to your trading account.' });
    expect(renderNotification({ ...deposit, method: 'USDC_SOLANA' }, known()).body).toBe('$500.00 paid in USDC on Solana was added to your trading account.');
    expect(renderNotification({ ...deposit, method: null }, known()).body).toBe('$500.00 was added to your trading account.');
  });

  it('subscription changes, each in its own words', () => {
    expect(renderNotification(subscription(), known())).toEqual({
      title: 'Subscription started',
      body: 'Welcome to the Pro plan. It renews on December 31, 2026.',
    });
    expect(renderNotification(subscription({ status: 'TRIALING' }), known())).toEqual({
      title: 'Trial started',
      body: 'Your Pro trial has started. Your trial runs until December 31, 2026.',
    });
    expect(renderNotification(subscription({ previousPlanId: 'CREATOR' }), known())).toEqual({
      title: 'Plan upgraded',
      body: 'You moved from the Creator plan to the Pro plan. It renews on December 31, 2026.',
    });
    expect(renderNotification(subscription({ planId: 'CREATOR', previousPlanId: 'STUDIO' }), known()).title).toBe('Plan downgraded');
    expect(renderNotification(subscription({ planId: 'FREE', previousPlanId: 'PRO' }), known()).body).toBe('You moved from the Pro plan to the Free plan.');
    expect(renderNotification(subscription({ previousPlanId: 'PRO' }), known())).toEqual({
      title: 'Subscription active',
      body: 'Your Pro plan is active. It renews on December 31, 2026.',
    });
    expect(renderNotification(subscription({ previousPlanId: 'PRO', cancelAtPeriodEnd: true }), known())).toEqual({
      title: 'Subscription ending',
      body: 'Your Pro plan will not renew; it ends on December 31, 2026.',
    });
    expect(renderNotification(subscription({ status: 'CANCELED', previousPlanId: 'PRO' }), known())).toEqual({
      title: 'Subscription ended',
      body: 'Your Pro plan has ended.',
    });
    expect(renderNotification(subscription({ status: 'PAST_DUE', previousPlanId: 'PRO' }), known()).title).toBe('Payment needed');
    expect(renderNotification(subscription({ status: 'UNPAID', previousPlanId: 'PRO' }), known()).title).toBe('Payment needed');
    expect(renderNotification(subscription({ status: 'INCOMPLETE' }), known()).body).toBe('Your Pro plan starts once its first payment goes through.');
    expect(renderNotification(subscription({ currentPeriodEnd: null }), known()).body).toBe('Welcome to the Pro plan.');
  });

  it('campaign NFTs, naming the campaign, the edition and a shortened wallet', () => {
    const minted: NotificationFacts = {
      kind: 'CAMPAIGN_NFT_MINTED',
      campaignId: 'c',
      campaignName: 'Summer Drop',
      editionNumber: 12,
      editionSize: 1000,
      walletAddress: '0x1234567890abcdef1234567890abcdef12345678',
      tokenId: '12',
    };
    expect(renderNotification(minted, known())).toEqual({
      title: 'Campaign NFT minted',
      body: 'Edition 12 of 1,000 from the Summer Drop campaign for Midnight Drive is now in your wallet 0x1234…5678.',
    });
    expect(renderNotification(minted, known(null)).body).toBe('Edition 12 of 1,000 from the Summer Drop campaign is now in your wallet 0x1234…5678.');
  });
});

describe('source keys', () => {
  it('name the business event, so a redelivery under another event id is the same notification', () => {
    expect(sourceKey(order({ filledQuantity: 5 }))).toBe(sourceKey(order({ filledQuantity: 5, averagePriceCents: 999 })));
    // Two executions of one order are two notifications.
    expect(sourceKey(order({ filledQuantity: 5 }))).not.toBe(sourceKey(order({ filledQuantity: 12 })));
    expect(sourceKey({ kind: 'REWARD_VOUCHER', amount: '1', epoch: 1, leafIndex: 2 })).not.toBe(
      sourceKey({ kind: 'REWARD_VOUCHER', amount: '1', epoch: 1, leafIndex: 3 }),
    );
    expect(sourceKey(subscription())).not.toBe(sourceKey(subscription({ cancelAtPeriodEnd: true })));
  });
});
