// The generated environment references: `.env.example` and docs/configuration.md.
import { renderConfigMarkdown, renderEnvExample } from '@vibestream/platform';
import { configScopes } from './environment.ts';

export function environmentReference(): Record<string, string> {
  const scopes = configScopes();
  return {
    '.env.example': renderEnvExample(scopes, [
      'Every environment variable VibeStream reads, commented out at its default.',
      'Generated from the config schemas by `npm run env:reference`; edit the .describe() texts in the',
      'config.ts files, not this file. docs/configuration.md has the same as tables.',
      '',
      '`npm start` needs none of them. To use a file like this one: `node --env-file=.env scripts/start.ts`;',
      'docker compose reads a .env beside docker-compose.yml for the variables it passes on.',
    ]),
    'docs/configuration.md': renderConfigMarkdown(scopes, [
      '# Configuration',
      '',
      '<!-- Generated from the config schemas by `npm run env:reference`: edit the .describe() texts in the config.ts files, not this file. -->',
      '',
      'Every process validates its environment at start-up and names each bad or missing variable',
      "on its own line, without printing values; `npm start` checks every context's variables at",
      'once, before it starts anything. An empty value counts as unset. [`.env.example`](../.env.example)',
      'lists the same variables, commented out at their defaults.',
    ]),
  };
}
