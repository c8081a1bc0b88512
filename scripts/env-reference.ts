// `npm run env:reference`: writes .env.example and docs/configuration.md from the config schemas
// (scripts/environment.ts). `--check` only compares and exits 1 when they are stale.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { projectRoot } from '@vibestream/platform';
import { environmentReference } from './environment-reference.ts';

const check = process.argv.includes('--check');
let stale = false;
for (const [path, content] of Object.entries(environmentReference())) {
  const file = join(projectRoot, path);
  let current: string | null = null;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = null;
  }
  if (current === content) continue;
  if (check) {
    console.error(`${path} is stale: run npm run env:reference`);
    stale = true;
  } else {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
    console.log(`wrote ${path}`);
  }
}
if (stale) process.exit(1);
