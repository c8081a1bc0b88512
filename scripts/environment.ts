// Every environment variable VibeStream reads, by the process (or part of one) that reads it:
// the one list behind `npm start`'s up-front check, `.env.example` and docs/configuration.md
// (`npm run env:reference` writes both; test/generated-fresh.test.ts fails when they are stale).
import {
  baseConfigShape,
  checkConfigBeforeStart,
  developmentConfigShape,
  env,
  loadConfig,
  processConfigShape,
  subgraphConfigShape,
  telemetryConfigShape,
  type ConfigScope,
  type SubgraphModule,
} from '@vibestream/platform';
import { gatewayConfigShape, loadGatewayConfig, subgraphUrlOverrides, subgraphUrlShape } from '@vibestream/gateway/config';
import { campaignsConfigShape, loadCampaignsConfig } from '@vibestream/campaigns/config';
import { catalogConfigShape, loadCatalogConfig } from '@vibestream/catalog/config';
import { identityConfigShape, loadIdentityConfig } from '@vibestream/identity/config';
import { loadNotificationsConfig, notificationsConfigShape } from '@vibestream/notifications/config';
import { loadLoyaltyConfig, loyaltyConfigShape } from '@vibestream/loyalty/config';
import { discoveryConfigShape, loadDiscoveryConfig } from '@vibestream/discovery/config';
import { loadOwnershipConfig, ownershipConfigShape } from '@vibestream/ownership/config';
import { loadPaymentsConfig, paymentsConfigShape } from '@vibestream/payments/config';
import { loadRewardsConfig, rewardsConfigShape } from '@vibestream/rewards/config';
import { subgraphs } from '../subgraphs/index.ts';
import { developmentSettingsShape, loadDevelopmentSettings } from './development-settings.ts';
import { launcherConfigShape, loadLauncherConfig } from './launcher-config.ts';

type Shape = ConfigScope['shape'];
const without = (shape: Shape, keys: string[]): Shape => Object.fromEntries(Object.entries(shape).filter(([k]) => !keys.includes(k)));
const processKeys = Object.keys(processConfigShape);
const baseKeys = Object.keys(baseConfigShape);

/** Each subgraph's own settings: its shape and loader, by name (a subgraph missing here fails the reference's test). */
const subgraphConfigs: Record<string, { shape: Shape; load: (env: NodeJS.ProcessEnv) => unknown; summary: string }> = {
  identity: {
    shape: identityConfigShape,
    load: loadIdentityConfig,
    summary: 'Accounts, sign-in, access tokens, wallets and API keys (subgraphs/identity/src/config.ts).',
  },
  catalog: { shape: catalogConfigShape, load: loadCatalogConfig, summary: 'Songs, uploads, media storage and streaming (subgraphs/catalog/src/config.ts).' },
  rewards: {
    shape: rewardsConfigShape,
    load: loadRewardsConfig,
    summary: 'Listen sessions, vouchers and zero-knowledge claims; token amounts are whole numbers of base units (subgraphs/rewards/src/config.ts).',
  },
  ownership: {
    shape: ownershipConfigShape,
    load: loadOwnershipConfig,
    summary: 'Share offerings, the order book and trading accounts (subgraphs/ownership/src/config.ts).',
  },
  payments: {
    shape: paymentsConfigShape,
    load: loadPaymentsConfig,
    summary: 'Card payments and subscriptions (Stripe), USDC deposits on Ethereum and Solana (subgraphs/payments/src/config.ts).',
  },
  campaigns: { shape: campaignsConfigShape, load: loadCampaignsConfig, summary: "Artists' campaigns and their NFT drops (subgraphs/campaigns/src/config.ts)." },
  notifications: { shape: notificationsConfigShape, load: loadNotificationsConfig, summary: 'Notifications (subgraphs/notifications/src/config.ts).' },
  loyalty: {
    shape: loyaltyConfigShape,
    load: loadLoyaltyConfig,
    summary: 'Concert tickets, check-in, wristbands and fan tiers (subgraphs/loyalty/src/config.ts).',
  },
  discovery: {
    shape: discoveryConfigShape,
    load: loadDiscoveryConfig,
    summary: 'Recommendations, similar songs and artist radio from co-listening (subgraphs/discovery/src/config.ts).',
  },
};

/** The scopes, general ones first; `modules` are the subgraphs `npm start` runs. */
export function configScopes(modules: SubgraphModule[] = subgraphs): ConfigScope[] {
  const names = modules.map((m) => m.name);
  const subgraphRuntime = without(subgraphConfigShape(0), [...baseKeys, 'PORT']);
  return [
    {
      id: 'every process',
      title: 'Every process',
      summary: 'Read first by every process: `npm start`, the gateway and each subgraph run alone.',
      shape: processConfigShape,
      general: true,
    },
    {
      id: 'gateway and subgraphs',
      title: 'The gateway and every subgraph',
      summary: 'Shared settings: the database, Redis and access-token verification (platform/src/config.ts).',
      shape: without(baseConfigShape, processKeys),
      general: true,
    },
    {
      id: 'every subgraph',
      title: 'Every subgraph',
      summary: "What the subgraph runtime reads in each context's process (platform/src/config.ts, subgraphConfigShape).",
      shape: subgraphRuntime,
      general: true,
      checks: [(env) => loadConfig(subgraphRuntime, env)],
    },
    {
      id: 'tracing',
      title: 'Tracing',
      summary: "OpenTelemetry's own variable names, read by the gateway and every subgraph (platform/src/telemetry.ts).",
      shape: telemetryConfigShape,
      general: true,
    },
    {
      id: 'development',
      title: 'Development',
      summary:
        'What `npm start` and a process run alone use when DATABASE_URL is unset or no key is configured; never in production (platform/src/config.ts, scripts/development-settings.ts).',
      shape: { ...developmentConfigShape, DEMO_SEED: developmentSettingsShape.DEMO_SEED, LOCAL_STRIPE: developmentSettingsShape.LOCAL_STRIPE },
      general: true,
      checks: [(env) => loadConfig(developmentConfigShape, env), loadDevelopmentSettings],
    },
    {
      id: 'npm start',
      title: '`npm start`',
      summary:
        'Every context and the gateway in one process (scripts/start.ts); all of them read the same environment, so HOST, PUBLIC_URL and the like apply to each.',
      shape: launcherConfigShape(modules),
      general: true,
      checks: [(env) => loadLauncherConfig(env, modules)],
    },
    {
      id: 'gateway',
      title: 'Gateway',
      summary: 'The gateway (gateway/src/config.ts).',
      shape: { ...without(gatewayConfigShape, baseKeys), ...subgraphUrlShape(names) },
      checks: [loadGatewayConfig, subgraphUrlOverrides],
    },
    {
      id: 'web dev server',
      title: 'Web client development server',
      summary: '`npm run dev -w clients/web` (clients/web/vite.config.ts): the Vite server that proxies /graphql and /media to a gateway.',
      shape: {
        VIBESTREAM_GATEWAY: env
          .optionalUrl()
          .describe('The gateway the development server proxies /graphql (WebSocket included) and /media to. Default: http://localhost:4000.'),
      },
      general: true,
    },
    ...names.map((name): ConfigScope => {
      const own = subgraphConfigs[name];
      if (!own) throw new Error(`scripts/environment.ts does not know the ${name} subgraph's config: add it to subgraphConfigs`);
      return { id: name, title: name, summary: own.summary, shape: without(own.shape, [...baseKeys, ...Object.keys(subgraphRuntime)]), checks: [own.load] };
    }),
  ];
}

/** Validates every scope's variables in `env` at once, before anything starts (one ConfigError lists them all). */
export function checkEnvironment(env: NodeJS.ProcessEnv, modules: SubgraphModule[] = subgraphs): void {
  checkConfigBeforeStart(
    configScopes(modules).flatMap((scope) => (scope.checks ?? [(e: NodeJS.ProcessEnv) => loadConfig(scope.shape, e)]).map((check) => () => check(env))),
    env,
  );
}
