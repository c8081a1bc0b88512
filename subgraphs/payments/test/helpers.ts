import nacl from 'tweetnacl';
import type { TestStack } from '@vibestream/testkit';
import type { WalletChain } from '../src/domain/wallets.ts';
import { base58, type Keypair } from './solana-chain.ts';
import { signedWebhook } from '../src/local-stripe.ts';

export { signUp } from '@vibestream/catalog/testing';

export const WEBHOOK_SECRET = 'whsec_test_payments_secret';
export const SECRET_KEY = 'sk_test_payments_key';
export const PRICES = { CREATOR: 'price_creator_test', PRO: 'price_pro_test', STUDIO: 'price_studio_test' };

export const PLANS = `query Plans { plans { id name priceCents interval entitlements { key limit } } }`;
export const MY_SUBSCRIPTION = `query MySubscription { me { subscription { status currentPeriodEnd cancelAtPeriodEnd plan { id name } } entitlements { key limit used } } }`;
export const CREATE_DEPOSIT = `mutation CreateDeposit($amountCents: Int!, $method: PaymentMethod!) { createDeposit(amountCents: $amountCents, method: $method) { id status method amountCents clientSecret depositAddress expectedBaseUnits } }`;
export const CONFIRM = `mutation ConfirmCryptoDeposit($depositId: ID!, $txHash: String!) { confirmCryptoDeposit(depositId: $depositId, txHash: $txHash) { id status txHash } }`;
export const MY_PAYMENTS = `query MyPayments($first: Int, $after: String) { me { payments(first: $first, after: $after) { totalCount edges { node { id kind method status amountCents createdAt } } pageInfo { hasNextPage endCursor } } } }`;
export const TRADING_ACCOUNT = `query { me { tradingAccount { cashCents reservedCents } } }`;

export type Deposit = {
  id: string;
  status: string;
  method: string;
  amountCents: number;
  clientSecret: string | null;
  depositAddress: string | null;
  expectedBaseUnits: string | null;
};
export type MySubscription = {
  me: {
    subscription: { status: string; currentPeriodEnd: string | null; cancelAtPeriodEnd: boolean; plan: { id: string; name: string } };
    entitlements: { key: string; limit: string | null; used: string | null }[];
  };
};

/** POSTs a webhook to the gateway's public address, signed unless a signature is given. */
export async function deliver(stack: TestStack, event: Record<string, unknown>, options: { signature?: string | null; timestamp?: number } = {}) {
  const signed = signedWebhook(event, WEBHOOK_SECRET, options.timestamp);
  const signature = options.signature === undefined ? signed.signature : options.signature;
  const response = await fetch(`${stack.publicUrl}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(signature !== null ? { 'stripe-signature': signature } : {}) },
    body: signed.body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export function checkoutCompleted(userId: string, planId: string, subscriptionId: string, customer: string) {
  return {
    id: `cs_test_${subscriptionId}`,
    object: 'checkout.session',
    mode: 'subscription',
    status: 'complete',
    payment_status: 'paid',
    client_reference_id: userId,
    customer,
    subscription: subscriptionId,
    created: Math.floor(Date.now() / 1000) - 60,
    metadata: { userId, planId },
  };
}

export function subscriptionObject(options: {
  id: string;
  customer: string;
  userId?: string;
  price: string;
  status: string;
  periodEnd: number;
  cancelAtPeriodEnd?: boolean;
}) {
  return {
    id: options.id,
    object: 'subscription',
    customer: options.customer,
    status: options.status,
    cancel_at_period_end: options.cancelAtPeriodEnd ?? false,
    created: Math.floor(Date.now() / 1000) - 60,
    metadata: options.userId ? { userId: options.userId } : {},
    items: {
      object: 'list',
      data: [{ id: `si_${options.id}`, object: 'subscription_item', price: { id: options.price, object: 'price' }, current_period_end: options.periodEnd }],
    },
  };
}

export function invoiceObject(options: { id: string; customer: string; subscription: string; amount: number; paid: boolean }) {
  return {
    id: options.id,
    object: 'invoice',
    customer: options.customer,
    status: options.paid ? 'paid' : 'open',
    amount_due: options.amount,
    amount_paid: options.paid ? options.amount : 0,
    parent: { type: 'subscription_details', subscription_details: { subscription: options.subscription, metadata: {} } },
  };
}

export function paymentIntentObject(options: { id: string; amount: number; depositId: string; status: string }) {
  return {
    id: options.id,
    object: 'payment_intent',
    amount: options.amount,
    amount_received: options.status === 'succeeded' ? options.amount : 0,
    currency: 'usd',
    status: options.status,
    metadata: { depositId: options.depositId },
  };
}

/** A wallet that can sign identity's link challenge. */
export interface WalletSigner {
  chain: WalletChain;
  address: string;
  sign(message: string): Promise<string>;
}

/** A Solana keypair: ed25519 over the message bytes, base58. */
export function solanaSigner(keypair: Keypair): WalletSigner {
  return {
    chain: 'SOLANA',
    address: keypair.publicKey.toBase58(),
    sign: async (message) => base58(nacl.sign.detached(new TextEncoder().encode(message), keypair.secretKey)),
  };
}

const WALLET_CHALLENGE = `mutation WalletChallenge($chain: Chain!, $address: String!) { walletChallenge(chain: $chain, address: $address) { message } }`;
const LINK_WALLET = `mutation LinkWallet($chain: Chain!, $address: String!, $signature: String!) { linkWallet(chain: $chain, address: $address, signature: $signature) { address } }`;

/**
 * Links the wallet to the account through identity's real flow (challenge, signature, link) at
 * the gateway. It does not wait for payments' projection of identity.wallet.linked.v1: a deposit
 * sent next waits for it itself (read-your-writes).
 */
export async function linkWallet(stack: TestStack, account: { token: string }, wallet: WalletSigner): Promise<void> {
  const challenge = await stack.gql<{ walletChallenge: { message: string } }>(
    WALLET_CHALLENGE,
    { chain: wallet.chain, address: wallet.address },
    { token: account.token },
  );
  if (!challenge.data) throw new Error(JSON.stringify(challenge.errors));
  const signature = await wallet.sign(challenge.data.walletChallenge.message);
  const linked = await stack.gql(LINK_WALLET, { chain: wallet.chain, address: wallet.address, signature }, { token: account.token });
  if (linked.errors) throw new Error(JSON.stringify(linked.errors));
}
