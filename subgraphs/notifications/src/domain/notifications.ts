import { formatCents, formatDay, formatTokenAmount, groupThousands, plural, shortAddress } from './format.ts';

export const notificationKinds = [
  'REWARD_VOUCHER',
  'ORDER_FILLED',
  'REVENUE_PAID',
  'DEPOSIT_SUCCEEDED',
  'SUBSCRIPTION_CHANGED',
  'CAMPAIGN_NFT_MINTED',
] as const;
export type NotificationKind = (typeof notificationKinds)[number];

export const isNotificationKind = (value: unknown): value is NotificationKind => notificationKinds.includes(value as NotificationKind);

type PlanId = 'FREE' | 'CREATOR' | 'PRO' | 'STUDIO';
type SubscriptionStatus = 'ACTIVE' | 'TRIALING' | 'PAST_DUE' | 'CANCELED' | 'INCOMPLETE' | 'UNPAID';

/**
 * What a notification says, as facts copied from its event. The text is rendered from these
 * when read, so a song's title learned after the event still shows up.
 */
export type NotificationFacts =
  | { kind: 'REWARD_VOUCHER'; amount: string; epoch: number; leafIndex: number }
  | {
      kind: 'ORDER_FILLED';
      orderId: string;
      side: 'BUY' | 'SELL';
      /** Shares this execution filled, at averagePriceCents each on average. */
      quantity: number;
      averagePriceCents: number;
      orderQuantity: number;
      /** The order's filled shares so far, this execution included. */
      filledQuantity: number;
      fullyFilled: boolean;
    }
  | { kind: 'REVENUE_PAID'; distributionId: string; amountCents: number; shares: number; periodLabel: string }
  | { kind: 'DEPOSIT_SUCCEEDED'; depositId: string; amountCents: number; method: 'CARD' | 'USDC_ETHEREUM' | 'USDC_SOLANA' | null }
  | {
      kind: 'SUBSCRIPTION_CHANGED';
      planId: PlanId;
      previousPlanId: PlanId | null;
      status: SubscriptionStatus;
      cancelAtPeriodEnd: boolean;
      currentPeriodEnd: string | null;
      changedAt: string;
    }
  | {
      kind: 'CAMPAIGN_NFT_MINTED';
      campaignId: string;
      campaignName: string;
      editionNumber: number;
      editionSize: number;
      walletAddress: string;
      tokenId: string;
    };

/** A notification to keep for a user, before its preferences are consulted. */
export interface NotificationDraft {
  userId: string;
  songId: string | null;
  /** When the event happened (ISO-8601). */
  occurredAt: string;
  facts: NotificationFacts;
}

/**
 * The business identity of the event behind a notification: a redelivery under another event
 * id carries the same key, so it cannot notify twice.
 */
export function sourceKey(facts: NotificationFacts): string {
  switch (facts.kind) {
    case 'REWARD_VOUCHER':
      // A leaf of an epoch's tree is one voucher.
      return `voucher:${facts.epoch}:${facts.leafIndex}`;
    case 'ORDER_FILLED':
      // Each execution raises the order's filled total, so the total names the execution.
      return `order:${facts.orderId}:${facts.filledQuantity}`;
    case 'REVENUE_PAID':
      return `distribution:${facts.distributionId}`;
    case 'DEPOSIT_SUCCEEDED':
      return `deposit:${facts.depositId}`;
    case 'SUBSCRIPTION_CHANGED':
      return `subscription:${facts.changedAt}:${facts.planId}:${facts.status}:${facts.cancelAtPeriodEnd}`;
    case 'CAMPAIGN_NFT_MINTED':
      return `campaign:${facts.campaignId}:${facts.editionNumber}`;
  }
}

export interface RenderOptions {
  /** The song's title when this context knows it (null: not, or not yet). */
  songTitle: string | null;
  /** The reward token: its decimals, and its symbol if it has one worth showing. */
  rewardToken: { decimals: number; symbol: string | null };
}

export interface RenderedNotification {
  title: string;
  body: string;
}

const planNames: Record<PlanId, string> = { FREE: 'Free', CREATOR: 'Creator', PRO: 'Pro', STUDIO: 'Studio' };
const planRank: Record<PlanId, number> = { FREE: 0, CREATOR: 1, PRO: 2, STUDIO: 3 };
const depositMethods = { CARD: 'by card', USDC_ETHEREUM: 'in USDC on Ethereum', USDC_SOLANA: 'in USDC on Solana' } as const;

/** The title and body a person reads. */
export function renderNotification(facts: NotificationFacts, options: RenderOptions): RenderedNotification {
  const song = options.songTitle?.trim() || null;
  switch (facts.kind) {
    case 'REWARD_VOUCHER': {
      const amount = formatTokenAmount(facts.amount, options.rewardToken.decimals);
      const unit = options.rewardToken.symbol ?? (amount === '1' ? 'reward token' : 'reward tokens');
      return { title: 'Listening reward earned', body: `You earned ${amount} ${unit} for listening to ${song ?? 'a song'}.` };
    }
    case 'ORDER_FILLED':
      return renderOrderFilled(facts, song);
    case 'REVENUE_PAID': {
      const of = song ? `the revenue of ${song}` : 'the revenue of a song you hold';
      const shares = `your ${plural(facts.shares, 'share')}`;
      return facts.amountCents > 0
        ? { title: 'Revenue paid', body: `You received ${formatCents(facts.amountCents)} from ${of} for ${facts.periodLabel} (${shares}).` }
        : { title: 'Revenue paid', body: `${capitalize(of)} for ${facts.periodLabel} was paid out; ${shares} came to less than a cent.` };
    }
    case 'DEPOSIT_SUCCEEDED': {
      const how = facts.method ? ` paid ${depositMethods[facts.method]}` : '';
      return { title: 'Deposit received', body: `${formatCents(facts.amountCents)}${how} was added to your trading account.` };
    }
    case 'SUBSCRIPTION_CHANGED':
      return renderSubscription(facts);
    case 'CAMPAIGN_NFT_MINTED': {
      const forSong = song ? ` for ${song}` : '';
      return {
        title: 'Campaign NFT minted',
        body: `Edition ${groupThousands(facts.editionNumber)} of ${groupThousands(facts.editionSize)} from the ${facts.campaignName} campaign${forSong} is now in your wallet ${shortAddress(facts.walletAddress)}.`,
      };
    }
  }
}

function renderOrderFilled(facts: Extract<NotificationFacts, { kind: 'ORDER_FILLED' }>, song: string | null): RenderedNotification {
  const side = facts.side === 'BUY' ? 'buy' : 'sell';
  const Side = facts.side === 'BUY' ? 'Buy' : 'Sell';
  const songName = song ?? 'a song';
  const price = `${formatCents(facts.averagePriceCents)} a share`;
  if (facts.fullyFilled && facts.quantity >= facts.orderQuantity) {
    return { title: `${Side} order filled`, body: `Your ${side} order for ${plural(facts.orderQuantity, 'share')} of ${songName} filled at ${price}.` };
  }
  if (facts.fullyFilled) {
    return {
      title: `${Side} order filled`,
      body: `Your ${side} order for ${plural(facts.orderQuantity, 'share')} of ${songName} is complete: the last ${groupThousands(facts.quantity)} filled at ${price}.`,
    };
  }
  const soFar =
    facts.filledQuantity > facts.quantity ? ` (${groupThousands(facts.filledQuantity)} of ${groupThousands(facts.orderQuantity)} filled so far)` : '';
  return {
    title: `${Side} order partly filled`,
    body: `${groupThousands(facts.quantity)} of the ${plural(facts.orderQuantity, 'share')} in your ${side} order for ${songName} filled at ${price}${soFar}.`,
  };
}

function renderSubscription(facts: Extract<NotificationFacts, { kind: 'SUBSCRIPTION_CHANGED' }>): RenderedNotification {
  const plan = planNames[facts.planId];
  const until = facts.currentPeriodEnd ? formatDay(facts.currentPeriodEnd) : null;
  switch (facts.status) {
    case 'CANCELED':
      return { title: 'Subscription ended', body: `Your ${plan} plan has ended.` };
    case 'PAST_DUE':
    case 'UNPAID':
      return { title: 'Payment needed', body: `We could not collect the payment for your ${plan} plan. Update your payment method to keep it.` };
    case 'INCOMPLETE':
      return { title: 'Subscription awaiting payment', body: `Your ${plan} plan starts once its first payment goes through.` };
    case 'TRIALING':
    case 'ACTIVE':
      break;
  }
  if (facts.cancelAtPeriodEnd) {
    return { title: 'Subscription ending', body: `Your ${plan} plan will not renew; it ends ${until ? `on ${until}` : 'at the end of this period'}.` };
  }
  const renews = until ? (facts.status === 'TRIALING' ? ` Your trial runs until ${until}.` : ` It renews on ${until}.`) : '';
  const previous = facts.previousPlanId;
  if (previous === null || (previous === 'FREE' && facts.planId !== 'FREE')) {
    return facts.status === 'TRIALING'
      ? { title: 'Trial started', body: `Your ${plan} trial has started.${renews}` }
      : { title: 'Subscription started', body: `Welcome to the ${plan} plan.${renews}` };
  }
  if (previous !== facts.planId) {
    const direction = planRank[facts.planId] > planRank[previous] ? 'upgraded' : 'downgraded';
    return { title: `Plan ${direction}`, body: `You moved from the ${planNames[previous]} plan to the ${plan} plan.${facts.planId === 'FREE' ? '' : renews}` };
  }
  return { title: 'Subscription active', body: `Your ${plan} plan is active.${renews}` };
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
