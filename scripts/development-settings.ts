// What `npm start` adds in development so a fresh machine shows the product: demo content, and a
// local stand-in for Stripe's test mode so card deposits work with no Stripe account.
import { ConfigError, env, loadConfig, z } from '@vibestream/platform';

const onOff = () => z.preprocess((v) => (v === '' ? undefined : v), z.enum(['on', 'off']).optional());

export const developmentSettingsShape = {
  NODE_ENV: env.nodeEnv(),
  DEMO_SEED: onOff().describe(
    'on or off: demo artists, songs, an open offering and a funded demo fan seeded on an empty database by `npm start`. Default: on, except in production (never).',
  ),
  LOCAL_STRIPE: onOff().describe(
    "on or off: the local stand-in for Stripe's test mode under `npm start`, so card deposits work with no Stripe account. Default: on when STRIPE_SECRET_KEY is unset, except in production (never).",
  ),
  STRIPE_SECRET_KEY: env.optionalString(),
};

export interface DevelopmentSettings {
  demoSeed: boolean;
  localStripe: boolean;
}

export function loadDevelopmentSettings(source: NodeJS.ProcessEnv): DevelopmentSettings {
  const config = loadConfig(developmentSettingsShape, source);
  const production = config.NODE_ENV === 'production';
  const problems: string[] = [];
  if (production && config.DEMO_SEED === 'on')
    problems.push('DEMO_SEED: demo content is for development and is never seeded in production; leave it unset or off');
  if (production && config.LOCAL_STRIPE === 'on')
    problems.push('LOCAL_STRIPE: the local Stripe stand-in is for development and cannot run in production; set STRIPE_SECRET_KEY');
  if (config.LOCAL_STRIPE === 'on' && config.STRIPE_SECRET_KEY)
    problems.push('LOCAL_STRIPE: cannot be on while STRIPE_SECRET_KEY is set (card payments would go to Stripe); unset one of them');
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    demoSeed: !production && config.DEMO_SEED !== 'off',
    localStripe: !production && !config.STRIPE_SECRET_KEY && config.LOCAL_STRIPE !== 'off',
  };
}
