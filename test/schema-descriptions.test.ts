// Every type, field, argument, enum value and input field of the API schemas says what it is:
// Sandbox, the generated hooks and partners read these descriptions. Write them in the owning
// subgraph's schema.graphql (SDL doc strings), then run npm run compose.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSchema, isEnumType, isInputObjectType, isInterfaceType, isObjectType, isSpecifiedScalarType, type GraphQLSchema } from 'graphql';
import { projectRoot } from '@vibestream/platform';

/** Each schema element, by its coordinate (Type, Type.field, Type.field(arg), Enum.VALUE), and whether it has a description. */
function elements(schema: GraphQLSchema): { kind: string; coordinate: string; described: boolean }[] {
  const out: { kind: string; coordinate: string; described: boolean }[] = [];
  const add = (kind: string, coordinate: string, description: string | null | undefined) =>
    out.push({ kind, coordinate, described: Boolean(description?.trim()) });
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__') || isSpecifiedScalarType(type)) continue;
    add('type', type.name, type.description);
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        add('field', `${type.name}.${field.name}`, field.description);
        for (const arg of field.args) add('argument', `${type.name}.${field.name}(${arg.name})`, arg.description);
      }
    }
    if (isInputObjectType(type)) for (const field of Object.values(type.getFields())) add('input field', `${type.name}.${field.name}`, field.description);
    if (isEnumType(type)) for (const value of type.getValues()) add('enum value', `${type.name}.${value.name}`, value.description);
  }
  return out;
}

describe.each(['schema/api.graphql', 'schema/public.graphql'])('%s', (file) => {
  const all = elements(buildSchema(readFileSync(join(projectRoot, file), 'utf8')));

  it('describes every type, field, argument, enum value and input field', () => {
    expect(all.filter((e) => !e.described).map((e) => `${e.kind} ${e.coordinate}`)).toEqual([]);
    // Not a vacuous pass: the schema has types, fields and arguments to describe.
    for (const kind of ['type', 'field', 'argument', 'enum value']) expect(all.filter((e) => e.kind === kind).length, kind).toBeGreaterThan(0);
  });
});
