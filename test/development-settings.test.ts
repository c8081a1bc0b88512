// npm start's development extras: demo content and the local Stripe stand-in, never in production.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@vibestream/platform';
import { loadDevelopmentSettings } from '../scripts/development-settings.ts';

describe('npm start development settings', () => {
  it('seeds demo content and runs the local Stripe stand-in by default in development', () => {
    expect(loadDevelopmentSettings({})).toEqual({ demoSeed: true, localStripe: true });
    expect(loadDevelopmentSettings({ NODE_ENV: 'development', DEMO_SEED: 'off', LOCAL_STRIPE: 'off' })).toEqual({ demoSeed: false, localStripe: false });
  });

  it('leaves card payments to Stripe when a secret key is set', () => {
    expect(loadDevelopmentSettings({ STRIPE_SECRET_KEY: 'sk_test_real' })).toEqual({ demoSeed: true, localStripe: false });
    expect(() => loadDevelopmentSettings({ STRIPE_SECRET_KEY: 'sk_test_real', LOCAL_STRIPE: 'on' })).toThrow(
      /LOCAL_STRIPE: cannot be on while STRIPE_SECRET_KEY is set/,
    );
  });

  it('does neither in production, and refuses to be told to', () => {
    expect(loadDevelopmentSettings({ NODE_ENV: 'production' })).toEqual({ demoSeed: false, localStripe: false });
    expect(() => loadDevelopmentSettings({ NODE_ENV: 'production', LOCAL_STRIPE: 'on' })).toThrow(ConfigError);
    expect(() => loadDevelopmentSettings({ NODE_ENV: 'production', LOCAL_STRIPE: 'on' })).toThrow(/LOCAL_STRIPE: the local Stripe stand-in is for development/);
    expect(() => loadDevelopmentSettings({ NODE_ENV: 'production', DEMO_SEED: 'on' })).toThrow(/DEMO_SEED: demo content is for development/);
  });

  it('names a bad value', () => {
    expect(() => loadDevelopmentSettings({ DEMO_SEED: 'maybe' })).toThrow(/DEMO_SEED/);
  });
});
