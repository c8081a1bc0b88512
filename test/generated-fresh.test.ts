// schema/ and the generated code are committed; these fail when they are stale.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate } from '@graphql-codegen/cli';
import { composeSupergraph, projectRoot } from '@vibestream/platform';
import { subgraphs } from '../subgraphs/index.ts';
import codegenConfig from '../codegen.ts';

const read = (path: string) => readFileSync(join(projectRoot, path), 'utf8');

describe('generated artifacts are fresh', () => {
  it('schema/supergraph.graphql, schema/api.graphql and schema/public.graphql match the subgraphs (run npm run compose)', () => {
    const composed = composeSupergraph(subgraphs);
    expect(read('schema/supergraph.graphql'), 'schema/supergraph.graphql is stale: run npm run compose').toBe(composed.supergraph);
    expect(read('schema/api.graphql'), 'schema/api.graphql is stale: run npm run compose').toBe(composed.api);
    expect(read('schema/public.graphql'), 'schema/public.graphql is stale: run npm run compose').toBe(composed.public);
  });

  it('typed resolvers and client documents match the schemas (run npm run codegen)', async () => {
    const cwd = process.cwd();
    process.chdir(projectRoot);
    try {
      const outputs = await generate({ ...codegenConfig, silent: true, verbose: false }, false);
      expect(outputs.length).toBeGreaterThan(0);
      for (const output of outputs) {
        expect(read(output.filename), `${output.filename} is stale: run npm run codegen`).toBe(output.content);
      }
    } finally {
      process.chdir(cwd);
    }
  });
});
