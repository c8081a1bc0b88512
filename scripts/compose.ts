// Composes schema/supergraph.graphql, schema/api.graphql and schema/public.graphql (the partner
// graph: what is tagged @tag(name: "public")) from the subgraphs' SDL.
// `--check` only compares and exits 1 when the committed files are stale.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { buildSchema } from 'graphql';
import { subgraphs } from '../subgraphs/index.ts';
import { composeSupergraph, listSizeProblems, readCostDirectives } from '@vibestream/platform';

const check = process.argv.includes('--check');
const schemaDir = new URL('../schema/', import.meta.url);
const composed = composeSupergraph(subgraphs);
// Query cost follows declared list sizes: a list without one is a composition error here.
const unsized = listSizeProblems(buildSchema(composed.api), readCostDirectives(composed.supergraph));
if (unsized.length > 0) {
  console.error(`Every list field needs a size (see gateway/src/limits/README.md):\n${unsized.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
const files = { 'supergraph.graphql': composed.supergraph, 'api.graphql': composed.api, 'public.graphql': composed.public };

let stale = false;
mkdirSync(schemaDir, { recursive: true });
for (const [name, content] of Object.entries(files)) {
  const url = new URL(name, schemaDir);
  let current = '';
  try {
    current = readFileSync(url, 'utf8');
  } catch {
    // missing counts as stale
  }
  if (current === content) continue;
  stale = true;
  if (check) console.error(`schema/${name} is stale: run npm run compose`);
  else {
    writeFileSync(url, content);
    console.log(`wrote schema/${name}`);
  }
}
if (check && stale) process.exit(1);
if (!stale) console.log('schema/ is up to date');
