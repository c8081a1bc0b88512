// The variables `npm start` itself reads (scripts/start.ts): where the gateway and each
// in-process subgraph listen, and whether the web client is built.
import { env, loadConfig, z, type SubgraphModule } from '@vibestream/platform';

const emptyAsUndefined = (v: unknown) => (v === '' ? undefined : v);

export function launcherConfigShape(modules: Pick<SubgraphModule, 'name' | 'defaultPort'>[]) {
  return {
    GATEWAY_PORT: z
      .preprocess(emptyAsUndefined, z.coerce.number().int().min(0).max(65535).optional())
      .describe('Port of the gateway under `npm start`. Default: PORT, else 4000.'),
    ...Object.fromEntries(
      modules.map((module) => [
        portVariable(module.name),
        env.port(module.defaultPort).describe(`Port of the ${module.name} subgraph under \`npm start\` (a subgraph's own PORT is not used there).`),
      ]),
    ),
    WEB_APP_BUILD: z
      .preprocess(emptyAsUndefined, z.enum(['on', 'off']).optional())
      .describe('on or off: `npm start` builds the web client when clients/web/dist is missing or stale. Default: on.'),
  };
}

export const portVariable = (name: string) => `${name.toUpperCase()}_PORT`;

export interface LauncherConfig {
  gatewayPort: number;
  /** Each subgraph's port, by name. */
  ports: Map<string, number>;
  buildWebApp: boolean;
}

export function loadLauncherConfig(source: NodeJS.ProcessEnv, modules: Pick<SubgraphModule, 'name' | 'defaultPort'>[]): LauncherConfig {
  const config = loadConfig(launcherConfigShape(modules), source) as Record<string, unknown>;
  const gatewayPort = loadConfig({ PORT: env.port(4000) }, source).PORT;
  return {
    gatewayPort: (config.GATEWAY_PORT as number | undefined) ?? gatewayPort,
    ports: new Map(modules.map((module) => [module.name, config[portVariable(module.name)] as number])),
    buildWebApp: config.WEB_APP_BUILD !== 'off',
  };
}
