import { env, loadConfig, subgraphConfigShape, z } from '@vibestream/platform';

const optional = (v: unknown) => (v === '' ? undefined : v);
const ethAddress = () => z.preprocess(optional, z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address').optional());
const solanaAddress = () => z.preprocess(optional, z.string().regex(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/, 'must be a base58 Solana address').optional());
const priceId = () => z.preprocess(optional, z.string().min(1).optional());

export const paymentsConfigShape = {
  ...subgraphConfigShape(4005),
  /** The gateway's public address; the default return addresses of Checkout and the portal are under it. */
  PUBLIC_URL: z.preprocess(optional, z.url().default('http://localhost:4000')),

  /** Stripe (card payments, subscriptions). Without a secret key, card features answer BAD_USER_INPUT. */
  STRIPE_SECRET_KEY: env.optionalString(),
  /** Signing secret of the webhook endpoint (whsec_…); without it webhooks are answered 503. */
  STRIPE_WEBHOOK_SECRET: env.optionalString(),
  /** Points the Stripe client at another host (stripe-mock, a test server): http://127.0.0.1:12111. */
  STRIPE_API_URL: env.optionalUrl(),
  /** Stripe price ids of the paid plans. */
  STRIPE_PRICE_CREATOR: priceId(),
  STRIPE_PRICE_PRO: priceId(),
  STRIPE_PRICE_STUDIO: priceId(),
  CHECKOUT_SUCCESS_URL: env.optionalUrl(),
  CHECKOUT_CANCEL_URL: env.optionalUrl(),
  BILLING_PORTAL_RETURN_URL: env.optionalUrl(),

  /** USDC on Ethereum: RPC URL, token and deposit address; without token and address the method is unavailable. */
  ETH_RPC_URL: env.optionalUrl(),
  ETH_USDC_ADDRESS: ethAddress(),
  ETH_DEPOSIT_ADDRESS: ethAddress(),
  ETH_DEPOSIT_CONFIRMATIONS: env.int(12, 1),

  /** USDC on Solana: RPC URL, mint and the deposit owner (wallet) address; without mint and owner the method is unavailable. */
  SOLANA_RPC_URL: env.optionalUrl(),
  SOLANA_USDC_MINT: solanaAddress(),
  SOLANA_DEPOSIT_OWNER: solanaAddress(),
};

export type PaymentsConfig = ReturnType<typeof loadPaymentsConfig>;

export function loadPaymentsConfig(source: NodeJS.ProcessEnv) {
  const config = loadConfig(paymentsConfigShape, source);
  const problems: string[] = [];
  // A chain takes deposits once its token and deposit address are set; the RPC URL alone (shared
  // with other contexts, such as rewards' ETH_RPC_URL) configures nothing here.
  const chain = (rpc: keyof typeof config, parts: (keyof typeof config)[], what: string) => {
    const set = parts.filter((n) => config[n] !== undefined);
    if (set.length > 0 && (set.length < parts.length || config[rpc] === undefined)) problems.push(`${[rpc, ...parts].join(', ')}: set all of them for ${what}, or leave out ${parts.join(' and ')}`);
  };
  chain('ETH_RPC_URL', ['ETH_USDC_ADDRESS', 'ETH_DEPOSIT_ADDRESS'], 'USDC deposits on Ethereum');
  chain('SOLANA_RPC_URL', ['SOLANA_USDC_MINT', 'SOLANA_DEPOSIT_OWNER'], 'USDC deposits on Solana');
  if (problems.length > 0) throw new Error(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return config;
}
