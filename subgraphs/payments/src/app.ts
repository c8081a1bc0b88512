import { defineSubgraph } from '@vibestream/platform';
import { EthereumUsdc, SolanaUsdc, type DepositChain } from './chains.ts';
import { loadPaymentsConfig, type PaymentsConfig } from './config.ts';
import type { CryptoMethod } from './domain/deposits.ts';
import { PriceMap } from './domain/plans.ts';
import { paymentsHandlers } from './handlers.ts';
import { migrations } from './migrations.ts';
import { resolvers, type PaymentsContext } from './resolvers.ts';
import { PaymentsService } from './service.ts';
import { createStripeClient } from './stripe.ts';
import { stripeWebhookRoute } from './webhooks.ts';

export const paymentsSubgraph = defineSubgraph({
  name: 'payments',
  defaultPort: 4005,
  schema: new URL('../schema.graphql', import.meta.url),
  resolvers,
  loadConfig: loadPaymentsConfig,
  database: { migrations },
  setup: ({ persistence, config, log, projections }) => {
    const db = persistence;
    const chains = depositChains(config);
    const publicUrl = config.PUBLIC_URL.replace(/\/$/, '');
    const service = new PaymentsService({
      db,
      stripe: createStripeClient(config),
      prices: new PriceMap({ CREATOR: config.STRIPE_PRICE_CREATOR, PRO: config.STRIPE_PRICE_PRO, STUDIO: config.STRIPE_PRICE_STUDIO }),
      chains,
      urls: {
        checkoutSuccess: config.CHECKOUT_SUCCESS_URL ?? `${publicUrl}/billing/success?session_id={CHECKOUT_SESSION_ID}`,
        checkoutCancel: config.CHECKOUT_CANCEL_URL ?? `${publicUrl}/billing`,
        portalReturn: config.BILLING_PORTAL_RETURN_URL ?? `${publicUrl}/billing`,
      },
      log,
      projections,
    });
    return {
      handlers: paymentsHandlers(db),
      context: ({ em: _em, ...base }): PaymentsContext => ({ ...base, service }),
      routes: [stripeWebhookRoute({ secret: config.STRIPE_WEBHOOK_SECRET, service, log })],
      stop: async () => {
        for (const chain of Object.values(chains)) chain.close();
      },
    };
  },
});

/** The configured USDC chains; a method without its chain cannot take deposits. */
function depositChains(config: PaymentsConfig): Partial<Record<CryptoMethod, DepositChain>> {
  const chains: Partial<Record<CryptoMethod, DepositChain>> = {};
  if (config.ETH_RPC_URL && config.ETH_USDC_ADDRESS && config.ETH_DEPOSIT_ADDRESS) {
    chains.USDC_ETHEREUM = new EthereumUsdc({
      rpcUrl: config.ETH_RPC_URL,
      token: config.ETH_USDC_ADDRESS,
      depositAddress: config.ETH_DEPOSIT_ADDRESS,
      confirmations: config.ETH_DEPOSIT_CONFIRMATIONS,
    });
  }
  if (config.SOLANA_RPC_URL && config.SOLANA_USDC_MINT && config.SOLANA_DEPOSIT_OWNER) {
    chains.USDC_SOLANA = new SolanaUsdc({ rpcUrl: config.SOLANA_RPC_URL, mint: config.SOLANA_USDC_MINT, depositOwner: config.SOLANA_DEPOSIT_OWNER });
  }
  return chains;
}
