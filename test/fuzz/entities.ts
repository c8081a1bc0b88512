// Hostile traffic on the internal network: `_entities` representations sent straight to a
// subgraph's own /graphql, as the gateway would but not as it ever does: random and unknown
// __typename, missing, garbage or wrongly typed key fields, mixed and long lists.
import { Kind, getNamedType, isLeafType, isObjectType, type GraphQLSchema, type ObjectTypeDefinitionNode, type ObjectTypeExtensionNode } from 'graphql';
import type { SubgraphModule } from '@vibestream/platform';
import { literal, fuzzString, wrongValue, type ValueContext } from './values.ts';

export interface EntityType {
  name: string;
  /** The key fields (`@key(fields: "id")`: ["id"]). */
  keys: string[];
  /** Leaf fields this subgraph resolves on the type, to select. */
  fields: string[];
}

/** Each subgraph's entity types, from its SDL (resolvable ones; `resolvable: false` are references only). */
export function entityTypes(module: SubgraphModule, api: GraphQLSchema): EntityType[] {
  const types: EntityType[] = [];
  for (const definition of module.typeDefs.definitions) {
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION && definition.kind !== Kind.OBJECT_TYPE_EXTENSION) continue;
    const node = definition as ObjectTypeDefinitionNode | ObjectTypeExtensionNode;
    const key = node.directives?.find((d) => d.name.value === 'key');
    if (!key) continue;
    const argument = (name: string) => key.arguments?.find((a) => a.name.value === name)?.value;
    const fieldsArg = argument('fields');
    const resolvable = argument('resolvable');
    if (resolvable?.kind === Kind.BOOLEAN && !resolvable.value) continue;
    const keys = fieldsArg?.kind === Kind.STRING ? fieldsArg.value.split(/\s+/).filter(Boolean) : ['id'];
    const apiType = api.getType(node.name.value);
    const own = new Set((node.fields ?? []).map((f) => f.name.value));
    const fields = isObjectType(apiType)
      ? Object.values(apiType.getFields())
          .filter((f) => own.has(f.name) && f.args.length === 0 && isLeafType(getNamedType(f.type)))
          .map((f) => f.name)
      : [];
    types.push({ name: node.name.value, keys, fields });
  }
  return types;
}

const ODD_TYPENAMES = [
  'Nope',
  'X',
  '',
  ' Song',
  'song',
  'SONG',
  'Query',
  'Mutation',
  '_Service',
  '_Entity',
  '__Schema',
  'String',
  'PageInfo',
  'Node',
  'constructor',
  '__proto__',
  'toString',
];

type Shape = 'valid' | 'garbage-key' | 'missing-key' | 'unknown-type' | 'other-subgraph-type' | 'extra-fields' | 'not-an-object' | 'odd-typename';

const ANY_SHAPE: [number, Shape][] = [
  [4, 'valid'],
  [4, 'garbage-key'],
  [2, 'missing-key'],
  [2, 'unknown-type'],
  [1, 'other-subgraph-type'],
  [1, 'extra-fields'],
  [1, 'not-an-object'],
  [1, 'odd-typename'],
];
const BAD_KEY: [number, Shape][] = [
  [1, 'garbage-key'],
  [1, 'missing-key'],
];
const NOT_OURS: [number, Shape][] = [
  [3, 'unknown-type'],
  [1, 'other-subgraph-type'],
  [1, 'not-an-object'],
  [1, 'odd-typename'],
];

/** One representation of the given shape (or any): a known type with a good, garbage or missing key, or anything at all. */
function representation(ctx: ValueContext, own: EntityType[], others: string[], shapes: [number, Shape][] = ANY_SHAPE): unknown {
  const rng = ctx.rng;
  const known = (type: string) => ctx.known.ids[type] ?? [];
  const shape = rng.weighted(shapes);
  const type = own.length ? rng.pick(own) : { name: 'Nope', keys: ['id'], fields: [] };
  const goodKey = () =>
    known(type.name).length && rng.chance(0.8)
      ? rng.pick(known(type.name))
      : rng.pick(Object.values(ctx.known.ids).flat().concat(['00000000-0000-4000-8000-000000000000']));
  switch (shape) {
    case 'valid':
      return { __typename: type.name, ...Object.fromEntries(type.keys.map((k) => [k, goodKey()])) };
    case 'garbage-key':
      return { __typename: type.name, ...Object.fromEntries(type.keys.map((k) => [k, rng.chance(0.5) ? fuzzString(rng) : wrongValue(rng)])) };
    case 'missing-key':
      return { __typename: type.name };
    case 'unknown-type':
      return { __typename: rng.chance(0.5) ? rng.pick(ODD_TYPENAMES) : fuzzString(rng), id: goodKey() };
    case 'other-subgraph-type':
      return { __typename: others.length ? rng.pick(others) : 'Nope', id: goodKey() };
    case 'extra-fields':
      return {
        __typename: type.name,
        id: goodKey(),
        email: 'x@example.com',
        roles: ['ADMIN'],
        userId: goodKey(),
        ...(type.fields[0] ? { [type.fields[0]]: wrongValue(rng) } : {}),
      };
    case 'not-an-object':
      return rng.pick<unknown>([null, 'Song', 42, [], [{ __typename: type.name }], true]);
    case 'odd-typename':
      return { __typename: rng.pick<unknown>([null, 5, {}, [type.name], true]), id: goodKey() };
  }
}

/** A `_entities` request body for one subgraph (or `_service { sdl }` now and then). */
export function entitiesRequest(ctx: ValueContext, own: EntityType[], others: string[]): { query: string; variables: Record<string, unknown> } {
  const rng = ctx.rng;
  if (rng.chance(0.05)) return { query: '{ _service { sdl } }', variables: {} };
  const count = rng.weighted([
    [8, () => rng.int(1, 4)],
    [2, () => rng.int(5, 20)],
    [1, () => rng.int(50, 200)],
  ] as const)();
  // Mixed lists: entities of ours with bad keys, then something that is not ours (which made
  // @apollo/subgraph throw while the first ones' promises were pending); or anything in any order.
  const representations = rng.chance(0.35)
    ? [...Array.from({ length: count }, () => representation(ctx, own, others, BAD_KEY)), representation(ctx, own, others, NOT_OURS)]
    : Array.from({ length: count }, () => representation(ctx, own, others));
  const fragments = rng
    .some(own, 3)
    .map((t) => `... on ${t.name} { ${[...rng.some(t.fields, 3), ...(rng.chance(0.5) ? t.keys : [])].join(' ') || '__typename'} }`)
    .join(' ');
  const selection = `{ __typename ${fragments} }`;
  if (rng.chance(0.3)) return { query: `{ _entities(representations: ${literal(representations)}) ${selection} }`, variables: {} };
  // The variable may also be declared with the wrong type, or given a non-list.
  const declared = rng.chance(0.95) ? '[_Any!]!' : rng.pick(['[_Any]', '_Any!', 'String']);
  const value: unknown = rng.chance(0.95) ? representations : rng.pick<unknown>([representations[0], 'x', {}, null]);
  return { query: `query($representations: ${declared}) { _entities(representations: $representations) ${selection} }`, variables: { representations: value } };
}

/** The entity types by subgraph, and for each the entity types of the others. */
export function entityMap(modules: SubgraphModule[], api: GraphQLSchema): Map<string, { own: EntityType[]; others: string[] }> {
  const all = new Map(modules.map((m) => [m.name, entityTypes(m, api)]));
  return new Map(
    [...all].map(([name, own]) => [
      name,
      {
        own,
        others: [
          ...new Set(
            [...all]
              .filter(([n]) => n !== name)
              .flatMap(([, ts]) => ts.map((t) => t.name))
              .filter((t) => !own.some((o) => o.name === t)),
          ),
        ],
      },
    ]),
  );
}
