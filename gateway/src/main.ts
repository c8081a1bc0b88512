import { createLogger, ensureSigningKeys, keepServingThroughFaults, onShutdown } from '@vibestream/platform';
import { startGateway } from './gateway.ts';

const log = createLogger('gateway');
keepServingThroughFaults(log);
try {
  // Alone, the gateway needs only the public key; in development it reads the generated one.
  const keys = process.env.JWT_PUBLIC_KEY || process.env.JWKS_URL ? null : await ensureSigningKeys(process.env, log);
  const env = keys ? { ...process.env, JWT_PUBLIC_KEY: keys.publicKeyPem } : process.env;
  const gateway = await startGateway({ env, log });
  log.info({ url: gateway.url }, `VibeStream gateway ready at ${gateway.url}`);
  onShutdown(log, gateway.stop);
} catch (error) {
  log.fatal({ err: error instanceof Error ? { message: error.message } : error }, 'gateway failed to start');
  process.exit(1);
}
