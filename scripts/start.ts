// `npm start`: every subgraph that exists plus the gateway, in one process.
// Without DATABASE_URL an embedded PostgreSQL keeps its data in .data/; without REDIS_URL
// events and live updates travel in-process.
import {
  createInfra,
  dataDir,
  exitOnStartFailure,
  keepServingThroughFaults,
  onShutdown,
  prepareDevelopmentEnv,
  processLogger,
  type RunningSubgraph,
} from '@vibestream/platform';
import { startGateway } from '@vibestream/gateway';
import { subgraphUrlVariable } from '@vibestream/gateway/config';
import { startLocalStripe } from '@vibestream/payments/local-stripe';
import { subgraphs } from '../subgraphs/index.ts';
import { ensureWebAppBuilt } from '@vibestream/web/build';
import { loadDevelopmentSettings } from './development-settings.ts';
import { checkEnvironment } from './environment.ts';
import { loadLauncherConfig } from './launcher-config.ts';
import { demoBanner, startDemoSeed } from './demo/launch.ts';

const log = processLogger('vibestream', process.env, 'VibeStream failed to start');
// One context's stray rejection or exception must not take the others down (platform/src/process-faults.ts).
keepServingThroughFaults(log);

try {
  // Every context's variables, all at once, before anything starts.
  checkEnvironment(process.env);
  const launcher = loadLauncherConfig(process.env, subgraphs);
  const prepared = await prepareDevelopmentEnv(process.env, log);
  const gatewayPort = String(launcher.gatewayPort);
  const development = loadDevelopmentSettings(prepared.env);
  // How this process reaches its own gateway (webhooks from the Stripe stand-in, the demo seed).
  const gatewayHost = prepared.env.HOST && !['0.0.0.0', '::'].includes(prepared.env.HOST) ? prepared.env.HOST : '127.0.0.1';
  const localGateway = `http://${gatewayHost.includes(':') ? `[${gatewayHost}]` : gatewayHost}:${gatewayPort}`;
  const localStripe = development.localStripe
    ? await startLocalStripe({ nodeEnv: prepared.env.NODE_ENV, webhookUrl: `${localGateway}/webhooks/stripe`, log: log.child({ process: 'local-stripe' }) })
    : null;
  const env: NodeJS.ProcessEnv = {
    ...prepared.env,
    ...localStripe?.env,
    // Links the subgraphs hand out (media URLs, wallet challenges) name the gateway.
    PUBLIC_URL: prepared.env.PUBLIC_URL ?? `http://localhost:${gatewayPort}`,
    // In one process only the gateway faces clients; subgraphs listen on loopback.
    HOST: prepared.env.HOST ?? '127.0.0.1',
  };
  const infra = createInfra({ redisUrl: env.REDIS_URL, prefix: env.REDIS_PREFIX || 'vs:', log });
  const running: RunningSubgraph[] = [];
  const gatewayEnv: NodeJS.ProcessEnv = { ...env, PORT: gatewayPort, HOST: prepared.env.HOST ?? '0.0.0.0' };
  for (const module of subgraphs) {
    const port = launcher.ports.get(module.name)!;
    const subgraph = await module.start({ env, port, infra, log: log.child({ subgraph: module.name }) });
    running.push(subgraph);
    gatewayEnv[subgraphUrlVariable(module.name)] ??= `http://127.0.0.1:${subgraph.port}/graphql`;
  }
  // Every consumer group listens now: the in-process bus counts an event delivered once each has it.
  infra.transport.consumersStarted?.();
  // The gateway serves the web client at / from clients/web/dist: build it when missing or stale.
  if (!gatewayEnv.WEB_APP_DIR && launcher.buildWebApp) {
    try {
      if (await ensureWebAppBuilt(undefined, { quiet: true })) log.info('web client built (clients/web/dist)');
    } catch (error) {
      log.warn({ err: error instanceof Error ? error.message : error }, 'web client build failed; the gateway serves the API only');
    }
  }
  const gateway = await startGateway({
    env: gatewayEnv,
    log: log.child({ process: 'gateway' }),
    live: infra.live,
    revocations: infra.revocations,
    cacheInvalidations: infra.cacheInvalidations,
  });
  log.info({ url: gateway.url, subgraphs: running.map((s) => s.name) }, 'VibeStream is up');
  console.log(`\n  VibeStream gateway ready at ${gateway.url}\n${development.demoSeed ? `\n${demoBanner({ fanFunded: localStripe !== null })}\n` : ''}`);
  const demoSeed = development.demoSeed
    ? startDemoSeed({
        graphqlUrl: `${localGateway}/graphql`,
        dataDir: dataDir(env),
        databaseUrl: env.DATABASE_URL!,
        fundFan: localStripe !== null,
        log: log.child({ process: 'demo-seed' }),
      })
    : null;
  onShutdown(log, async () => {
    await demoSeed?.stop();
    await gateway.stop();
    for (const subgraph of running.reverse()) await subgraph.stop();
    await localStripe?.stop();
    await infra.close();
    await prepared.stop();
  });
} catch (error) {
  exitOnStartFailure(log, error, 'VibeStream failed to start');
}
