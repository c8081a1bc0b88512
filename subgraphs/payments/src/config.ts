import { env, loadConfig, subgraphConfigShape, z } from '@vibestream/platform';

const optional = (v: unknown) => (v === '' ? undefined : v);
const ethAddress = () =>
  z.preprocess(
    optional,
    z
      .string()
      .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')
      .optional(),
  );
const solanaAddress = () =>
  z.preprocess(
    optional,
    z
      .string()
      .regex(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/, 'must be a base58 Solana address')
      .optional(),
  );
const priceId = () => z.preprocess(optional, z.string().min(1).optional());

export const paymentsConfigShape = {
  ...subgraphConfigShape(4005),
  PUBLIC_URL: z
    .preprocess(optional, z.url().default('http://localhost:4000'))
    .describe("The gateway's public address: base of Checkout's and the billing portal's default return addresses."),

  STRIPE_SECRET_KEY: env
    .optionalString()
    .describe(
      'Stripe secret key; without it card deposits, checkout and the portal answer BAD_USER_INPUT (under `npm start`, the local Stripe stand-in fills it in).',
    ),
  STRIPE_WEBHOOK_SECRET: env.optionalString().describe('Signing secret of the webhook endpoint (whsec_...); without it /webhooks/stripe answers 503.'),
  STRIPE_API_URL: env
    .optionalUrl()
    .describe('Another host for the Stripe client (stripe-mock, a test server), e.g. http://127.0.0.1:12111. Default: api.stripe.com.'),
  STRIPE_PRICE_CREATOR: priceId().describe('Stripe price id of the CREATOR plan (a plan without one cannot be bought).'),
  STRIPE_PRICE_PRO: priceId().describe('Stripe price id of the PRO plan.'),
  STRIPE_PRICE_STUDIO: priceId().describe('Stripe price id of the STUDIO plan.'),
  CHECKOUT_SUCCESS_URL: env
    .optionalUrl()
    .describe('Where Checkout returns after payment. Default: PUBLIC_URL/billing/success?session_id={CHECKOUT_SESSION_ID}.'),
  CHECKOUT_CANCEL_URL: env.optionalUrl().describe('Where Checkout returns when abandoned. Default: PUBLIC_URL/billing.'),
  BILLING_PORTAL_RETURN_URL: env.optionalUrl().describe('Where the Customer Portal returns. Default: PUBLIC_URL/billing.'),

  ETH_RPC_URL: env.optionalUrl().describe('JSON-RPC URL of the Ethereum chain USDC deposits arrive on; needed with ETH_USDC_ADDRESS and ETH_DEPOSIT_ADDRESS.'),
  ETH_USDC_ADDRESS: ethAddress().describe('The USDC (6-decimal ERC-20) contract on Ethereum; with ETH_DEPOSIT_ADDRESS and ETH_RPC_URL, or neither.'),
  ETH_DEPOSIT_ADDRESS: ethAddress().describe('The address USDC deposits on Ethereum are sent to.'),
  ETH_DEPOSIT_CONFIRMATIONS: env.int(12, 1).describe('Confirmations an Ethereum deposit transaction needs before it is credited.'),

  SOLANA_RPC_URL: env.optionalUrl().describe('Solana JSON-RPC URL (transactions are read at finalized commitment); set all three Solana variables or none.'),
  SOLANA_USDC_MINT: solanaAddress().describe('The USDC mint on Solana.'),
  SOLANA_DEPOSIT_OWNER: solanaAddress().describe('The wallet that owns the token account USDC deposits on Solana are sent to.'),
};

export type PaymentsConfig = ReturnType<typeof loadPaymentsConfig>;

export function loadPaymentsConfig(source: NodeJS.ProcessEnv) {
  const config = loadConfig(paymentsConfigShape, source);
  const problems: string[] = [];
  // A chain takes deposits once its token and deposit address are set; the RPC URL alone (shared
  // with other contexts, such as rewards' ETH_RPC_URL) configures nothing here.
  const chain = (rpc: keyof typeof config, parts: (keyof typeof config)[], what: string) => {
    const set = parts.filter((n) => config[n] !== undefined);
    if (set.length > 0 && (set.length < parts.length || config[rpc] === undefined))
      problems.push(`${[rpc, ...parts].join(', ')}: set all of them for ${what}, or leave out ${parts.join(' and ')}`);
  };
  chain('ETH_RPC_URL', ['ETH_USDC_ADDRESS', 'ETH_DEPOSIT_ADDRESS'], 'USDC deposits on Ethereum');
  chain('SOLANA_RPC_URL', ['SOLANA_USDC_MINT', 'SOLANA_DEPOSIT_OWNER'], 'USDC deposits on Solana');
  if (problems.length > 0) throw new Error(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return config;
}
