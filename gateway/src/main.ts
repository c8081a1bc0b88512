import { checkConfigBeforeStart, ensureSigningKeys, exitOnStartFailure, keepServingThroughFaults, onShutdown, processLogger } from '@vibestream/platform';
import { loadGatewayConfig, subgraphUrlOverrides } from './config.ts';
import { startGateway } from './gateway.ts';

const log = processLogger('gateway');
keepServingThroughFaults(log);
try {
  checkConfigBeforeStart([() => loadGatewayConfig(process.env), () => subgraphUrlOverrides(process.env)], process.env);
  // Alone, the gateway needs only the public key; in development it reads the generated one.
  const keys = process.env.JWT_PUBLIC_KEY || process.env.JWKS_URL ? null : await ensureSigningKeys(process.env, log);
  const env = keys ? { ...process.env, JWT_PUBLIC_KEY: keys.publicKeyPem } : process.env;
  const gateway = await startGateway({ env, log });
  log.info({ url: gateway.url }, `VibeStream gateway ready at ${gateway.url}`);
  onShutdown(log, gateway.stop);
} catch (error) {
  exitOnStartFailure(log, error, 'gateway failed to start');
}
