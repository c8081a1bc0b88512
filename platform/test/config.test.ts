import { describe, expect, it } from 'vitest';
import { ConfigError, baseConfigShape, env, loadConfig } from '@vibestream/platform';

describe('loadConfig', () => {
  const shape = { ...baseConfigShape, PORT: env.port(4000), DATABASE_URL: env.url(), JWT_PRIVATE_KEY: env.string(), RETRIES: env.int(3, 1) };

  it('applies defaults and coerces values', () => {
    const config = loadConfig(shape, { DATABASE_URL: 'postgres://db/x', JWT_PRIVATE_KEY: 'k', PORT: '4100' });
    expect(config).toMatchObject({ PORT: 4100, RETRIES: 3, NODE_ENV: 'development', LOG_LEVEL: 'info', REDIS_PREFIX: 'vs:' });
  });

  it('reports every bad or missing variable on its own line, without echoing values', () => {
    let error: unknown;
    try {
      loadConfig(shape, { PORT: 'eighty', REDIS_URL: 'not a url', RETRIES: '0', JWT_PRIVATE_KEY: '', LOG_LEVEL: 'loud' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems.find((p) => p.startsWith('DATABASE_URL:'))).toMatch(/required but not set/);
    expect(problems.find((p) => p.startsWith('JWT_PRIVATE_KEY:'))).toMatch(/required but not set/);
    expect(problems.some((p) => p.startsWith('PORT:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('REDIS_URL:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('RETRIES:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('LOG_LEVEL:'))).toBe(true);
    expect(problems).toHaveLength(6);
  });

  it('never puts a secret value in its message', () => {
    const secret = '-----BEGIN PRIVATE KEY-----supersecret';
    try {
      loadConfig({ ...shape, JWT_PRIVATE_KEY: env.url() }, { DATABASE_URL: 'postgres://db/x', JWT_PRIVATE_KEY: secret });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).not.toContain('supersecret');
      expect((e as Error).message).toContain('JWT_PRIVATE_KEY');
    }
  });
});
