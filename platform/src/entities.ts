import { Kind, getNamedType, isCompositeType, isUnionType, parse, type GraphQLObjectType, type GraphQLSchema } from 'graphql';
import { badInput } from './errors.ts';
import { observed } from './references.ts';

/** For each entity type of a subgraph schema, the top-level fields of each of its @key directives. */
type EntityKeys = Map<string, { type: GraphQLObjectType; keys: string[][] }>;

/**
 * Hardens `Query._entities` of a schema from `buildSubgraphSchema`, in place: every representation
 * must be an object naming an entity type of this subgraph with one of its keys' fields present,
 * or the whole field is BAD_USER_INPUT before any reference resolver runs. Then each
 * representation is resolved on its own, so a resolver that throws costs its own entity only and
 * cannot leave the promises of the others unobserved (@apollo/subgraph maps the batch
 * synchronously and drops them when one throws; an unobserved rejection ends a Node process).
 */
export function guardEntities(schema: GraphQLSchema): GraphQLSchema {
  const field = schema.getQueryType()?.getFields()._entities;
  const resolveEntities = field?.resolve;
  if (!field || !resolveEntities) return schema;
  const entities = entityKeys(schema);
  field.resolve = (source, args: { representations: readonly unknown[] }, ctx, info) => {
    args.representations.forEach((representation, index) => {
      const problem = problemOf(representation, entities);
      if (problem) throw badInput(`representations[${index}]: ${problem}`, 'representations');
    });
    return args.representations.map((representation) =>
      observed(() => (resolveEntities(source, { representations: [representation] }, ctx, info) as unknown[])[0]),
    );
  };
  return schema;
}

function entityKeys(schema: GraphQLSchema): EntityKeys {
  const union = schema.getType('_Entity');
  const entities: EntityKeys = new Map();
  if (!isUnionType(union)) return entities;
  for (const type of union.getTypes()) {
    const directives = [type.astNode, ...type.extensionASTNodes].flatMap((node) => node?.directives ?? []);
    const keys = directives
      .filter((d) => d.name.value === 'key' || d.name.value === 'federation__key')
      .map((d) => d.arguments?.find((a) => a.name.value === 'fields')?.value)
      .filter((value) => value?.kind === Kind.STRING)
      .map((value) => topLevelFields((value as { value: string }).value));
    entities.set(type.name, { type, keys });
  }
  return entities;
}

function topLevelFields(fields: string): string[] {
  const [operation] = parse(`{ ${fields} }`, { noLocation: true }).definitions;
  if (operation?.kind !== Kind.OPERATION_DEFINITION) return [];
  return operation.selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD ? [s.name.value] : []));
}

/** What is wrong with a representation, or null when it names an entity with one of its keys. */
function problemOf(representation: unknown, entities: EntityKeys): string | null {
  if (typeof representation !== 'object' || representation === null || Array.isArray(representation)) return 'not an object with a __typename';
  const fields = representation as Record<string, unknown>;
  const typename = fields.__typename;
  if (typeof typename !== 'string') return '__typename must be a string';
  const entity = entities.get(typename);
  if (!entity) return `${JSON.stringify(typename.slice(0, 60))} is not an entity type of this subgraph`;
  const complete = (key: string[]) => key.every((name) => isKeyValue(fields[name], entity.type, name));
  if (entity.keys.length === 0 || entity.keys.some(complete)) return null;
  return `a ${typename} needs the key field${entity.keys[0]!.length > 1 ? 's' : ''} ${entity.keys.map((k) => k.join(' ')).join(' or ')}`;
}

/** A scalar key field holds a scalar; a key field of an object type holds an object. */
function isKeyValue(value: unknown, type: GraphQLObjectType, name: string): boolean {
  if (value === null || value === undefined) return false;
  const fieldType = type.getFields()[name]?.type;
  const composite = fieldType !== undefined && isCompositeType(getNamedType(fieldType));
  return composite ? typeof value === 'object' : typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}
