// Every operation of the client contract (the files whose context has a subgraph, as in
// test/contract.test.ts), sent with random and mutated variables: all valid, some mutated,
// some missing, some unknown, or no object at all; now and then by persisted document id.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import {
  Kind,
  TypeInfo,
  getNamedType,
  parse,
  print,
  separateOperations,
  typeFromAST,
  visit,
  visitWithTypeInfo,
  type GraphQLInputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { projectRoot } from '@vibestream/platform';
import type { GraphQLBody } from './queries.ts';
import { inputValue, wrongValue, type ValueContext } from './values.ts';

export const contractDir = resolve(projectRoot, process.env.CONTRACT_DIR ?? '../shared/contract');

export interface ContractOperation {
  file: string;
  name: string;
  kind: 'query' | 'mutation' | 'subscription';
  text: string;
  /** Each variable's type, and the name its value is picked by (`$id` of `song(id:)`: songId). */
  variables: { name: string; type: GraphQLInputType; hint: string; required: boolean }[];
  /** The persisted document id of the same operation, when the clients' manifest has it. */
  documentId?: string;
}

/** The contract's operations for the subgraphs that exist. */
export function loadContract(schema: GraphQLSchema): ContractOperation[] {
  const existing = readdirSync(join(projectRoot, 'subgraphs'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(projectRoot, 'subgraphs', d.name, 'schema.graphql')))
    .map((d) => d.name);
  const persisted = persistedIds();
  const operations: ContractOperation[] = [];
  for (const file of readdirSync(contractDir).filter((f) => f.endsWith('.graphql') && existing.includes(basename(f, '.graphql')))) {
    for (const [name, document] of Object.entries(separateOperations(parse(readFileSync(join(contractDir, file), 'utf8'))))) {
      const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
      const hints = variableHints(schema, document);
      operations.push({
        file,
        name,
        kind: operation.operation,
        text: print(document),
        variables: (operation.variableDefinitions ?? []).map((v) => ({
          name: v.variable.name.value,
          type: typeFromAST(schema, v.type as never) as GraphQLInputType,
          hint: hints.get(v.variable.name.value) ?? v.variable.name.value,
          required: v.type.kind === Kind.NON_NULL_TYPE && !v.defaultValue,
        })),
        ...(persisted.has(name) ? { documentId: persisted.get(name)! } : {}),
      });
    }
  }
  return operations;
}

/** Operation name -> documentId, from the manifest codegen writes for our clients. */
function persistedIds(): Map<string, string> {
  const path = join(projectRoot, 'clients/generated/persisted-documents.json');
  if (!existsSync(path)) return new Map();
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
  return new Map(
    Object.entries(manifest).flatMap(([id, text]) => {
      const name = /^(?:query|mutation|subscription)\s+(\w+)/.exec(text)?.[1];
      return name ? [[name, id] as const] : [];
    }),
  );
}

/** For each variable, the name of the argument it is given to (`id` named after the field's type). */
function variableHints(schema: GraphQLSchema, document: ReturnType<typeof parse>): Map<string, string> {
  const hints = new Map<string, string>();
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Argument(node) {
        if (node.value.kind !== Kind.VARIABLE) return;
        const field = typeInfo.getFieldDef();
        const hint = node.name.value === 'id' && field ? `${lowerFirst(getNamedType(field.type).name)}Id` : node.name.value;
        hints.set(node.value.name.value, hint);
      },
    }),
  );
  return hints;
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

/** A request body for `operation`: its text (or its persisted id) and variables, valid or mutated. */
export function contractRequest(ctx: ValueContext, operation: ContractOperation): GraphQLBody | Record<string, unknown> {
  const rng = ctx.rng;
  const mode = rng.weighted([
    [4, 'valid'],
    [5, 'fuzzy'],
    [1, 'missing'],
    [1, 'extra'],
    [1, 'not-an-object'],
  ] as const);
  let variables: unknown = {};
  if (mode === 'not-an-object') {
    variables = rng.pick<unknown>(['', 'null', '{}', [], [1, 2], 42, true, '{"input": 1}']);
  } else {
    const values: Record<string, unknown> = {};
    for (const variable of operation.variables) {
      if (mode === 'missing' && rng.chance(0.5)) continue;
      if (!variable.required && rng.chance(0.3)) continue;
      values[variable.name] = inputValue(ctx, variable.type, variable.hint, mode === 'fuzzy' && rng.chance(0.6));
    }
    // defineProperty, so that `__proto__` becomes a key of the JSON rather than the object's prototype.
    if (mode === 'extra')
      Object.defineProperty(values, rng.pick(['userId', 'role', 'isAdmin', '__proto__', 'constructor', 'input']), {
        value: wrongValue(rng),
        enumerable: true,
        configurable: true,
        writable: true,
      });
    variables = values;
  }
  if (operation.documentId && rng.chance(0.2)) {
    return { documentId: rng.chance(0.9) ? operation.documentId : `${operation.documentId.slice(0, -4)}beef`, variables, operationName: operation.name };
  }
  const body: Record<string, unknown> = { query: operation.text, variables };
  if (rng.chance(0.5)) body.operationName = rng.chance(0.95) ? operation.name : 'NotThisOne';
  return body;
}
