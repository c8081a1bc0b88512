import {
  OutboxRelay,
  createInfra,
  createLogger,
  verifierFromConfig,
  loadSchemaFile,
  openDatabase,
  startConsumer,
  startSubgraphServer,
  type SubgraphModule,
  type SubgraphStartOptions,
} from '@vibestream/platform';
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

const { sdl, typeDefs } = loadSchemaFile(new URL('../schema.graphql', import.meta.url));

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

async function start(options: SubgraphStartOptions) {
  const config = loadPaymentsConfig(options.env);
  const log = options.log ?? createLogger('payments', config.LOG_LEVEL);
  const infra = options.infra ?? createInfra({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, log });
  const orm = await openDatabase({
    url: config.DATABASE_URL,
    schema: 'payments',
    entities: [],
    migrations,
    log,
    ...(options.onQuery ? { onQuery: options.onQuery } : {}),
  });
  const verifier = await verifierFromConfig(config);
  const relay = new OutboxRelay(orm, infra.transport, log, { intervalMs: config.OUTBOX_RELAY_INTERVAL_MS });
  const chains = depositChains(config);
  const publicUrl = config.PUBLIC_URL.replace(/\/$/, '');
  const service = new PaymentsService({
    orm,
    stripe: createStripeClient(config),
    prices: new PriceMap({ CREATOR: config.STRIPE_PRICE_CREATOR, PRO: config.STRIPE_PRICE_PRO, STUDIO: config.STRIPE_PRICE_STUDIO }),
    chains,
    urls: {
      checkoutSuccess: config.CHECKOUT_SUCCESS_URL ?? `${publicUrl}/billing/success?session_id={CHECKOUT_SESSION_ID}`,
      checkoutCancel: config.CHECKOUT_CANCEL_URL ?? `${publicUrl}/billing`,
      portalReturn: config.BILLING_PORTAL_RETURN_URL ?? `${publicUrl}/billing`,
    },
    log,
    onEventsCommitted: () => relay.kick(),
  });
  relay.start();
  const consumer = startConsumer({ orm, transport: infra.transport, group: 'payments', handlers: paymentsHandlers, log });

  const server = await startSubgraphServer<PaymentsContext>({
    name: 'payments',
    port: options.port ?? config.PORT,
    host: config.HOST,
    typeDefs,
    resolvers: resolvers as never,
    verifier,
    log,
    introspection: config.GRAPHQL_INTROSPECTION ?? config.NODE_ENV !== 'production',
    context: (base) => ({ ...base, em: orm.em.fork(), service }),
    routes: [stripeWebhookRoute({ secret: config.STRIPE_WEBHOOK_SECRET, service, log })],
    ready: async () => orm.isConnected(),
  });

  return {
    name: 'payments',
    url: server.url,
    port: server.port,
    stop: async () => {
      await server.stop();
      await consumer.stop();
      await relay.stop();
      for (const chain of Object.values(chains)) chain.close();
      if (!options.infra) await infra.close();
      await orm.close();
    },
  };
}

export const paymentsSubgraph: SubgraphModule = { name: 'payments', defaultPort: 4005, sdl, typeDefs, start };
