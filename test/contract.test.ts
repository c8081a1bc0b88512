// Every operation of ../shared/contract/ whose context has a subgraph, and of every capability
// file that has landed (test/contract-capabilities.ts), must validate against the committed API
// schema: the contract is the product's promise.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { buildSchema, parse, validate, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '@vibestream/platform';
import { capabilityContracts } from './contract-capabilities.ts';

const contractDir = resolve(projectRoot, process.env.CONTRACT_DIR ?? '../shared/contract');
const apiSchema = buildSchema(readFileSync(join(projectRoot, 'schema/api.graphql'), 'utf8'));
const existingContexts = readdirSync(join(projectRoot, 'subgraphs'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(projectRoot, 'subgraphs', d.name, 'schema.graphql')))
  .map((d) => d.name);

const contractFiles = readdirSync(contractDir)
  .filter((f) => f.endsWith('.graphql'))
  .filter((f) => existingContexts.includes(basename(f, '.graphql')) || capabilityContracts[f]?.landed === true);

describe('client contract', () => {
  it('finds the contract and at least the identity context', () => {
    expect(existsSync(contractDir)).toBe(true);
    expect(contractFiles).toContain('identity.graphql');
  });

  it('names only capability files the contract has, and covers every landed one', () => {
    for (const [file, { landed }] of Object.entries(capabilityContracts)) {
      expect(existsSync(join(contractDir, file)), file).toBe(true);
      if (landed) expect(contractFiles, file).toContain(file);
    }
  });

  for (const file of contractFiles) {
    it(`${file}: every operation validates against schema/api.graphql`, () => {
      const document = parse(readFileSync(join(contractDir, file), 'utf8'));
      const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
      expect(operations.length).toBeGreaterThan(0);
      const errors = validate(apiSchema, document).map((e) => `${file}: ${e.message}`);
      expect(errors).toEqual([]);
    });
  }

  it('the operation documents our clients send (clients/operations) validate too', () => {
    const dir = join(projectRoot, 'clients/operations');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.graphql'))) {
      const errors = validate(apiSchema, parse(readFileSync(join(dir, file), 'utf8'))).map((e) => `${file}: ${e.message}`);
      expect(errors).toEqual([]);
    }
  });
});
