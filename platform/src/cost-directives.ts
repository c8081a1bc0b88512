/**
 * The GraphQL cost directives (the IBM GraphQL Cost Directive spec, as Apollo Federation 2.9+
 * imports them into subgraphs and composes them into the supergraph, and as Apollo Router's
 * demand control reads them):
 *
 * - `@listSize(assumedSize, slicingArguments, sizedFields, requireOneSlicingArgument)` on a
 *   field says how long the list it returns (or, with `sizedFields`, the lists of the object
 *   it returns, such as a connection's `edges`) can be: the largest slicing argument given or
 *   defaulted (`first`), else `assumedSize`.
 * - `@cost(weight)` on a field or a type replaces the default weight of what it marks.
 *
 * The API schema drops them: read them from the subgraph or supergraph SDL.
 */
import {
  Kind,
  getNamedType,
  getNullableType,
  isInterfaceType,
  isListType,
  isObjectType,
  parse,
  type DirectiveNode,
  type ValueNode,
  type DocumentNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
} from 'graphql';

export interface ListSize {
  assumedSize?: number;
  slicingArguments?: readonly string[];
  /** Fields of the returned object whose lists the size applies to, instead of the field itself. */
  sizedFields?: readonly string[];
  requireOneSlicingArgument: boolean;
}

export interface CostDirectives {
  /** By `Type.field`. */
  listSizes: ReadonlyMap<string, ListSize>;
  /** By `Type.field` (a field's weight) or `Type` (the weight of every field returning it). */
  weights: ReadonlyMap<string, number>;
}

export const NO_COST_DIRECTIVES: CostDirectives = { listSizes: new Map(), weights: new Map() };

const FIELD_OWNERS = new Set<Kind>([Kind.OBJECT_TYPE_DEFINITION, Kind.OBJECT_TYPE_EXTENSION, Kind.INTERFACE_TYPE_DEFINITION, Kind.INTERFACE_TYPE_EXTENSION]);

/** Every @listSize and @cost of an SDL (a subgraph's schema.graphql or the supergraph), by where it stands. */
export function readCostDirectives(sdl: string | DocumentNode): CostDirectives {
  const document = typeof sdl === 'string' ? parse(sdl) : sdl;
  const listSizes = new Map<string, ListSize>();
  const weights = new Map<string, number>();
  for (const definition of document.definitions) {
    if (!('name' in definition) || !definition.name || definition.kind === Kind.DIRECTIVE_DEFINITION) continue;
    const typeName = definition.name.value;
    const typeWeight = weightOf(definition.directives);
    if (typeWeight !== undefined) weights.set(typeName, typeWeight);
    if (!FIELD_OWNERS.has(definition.kind)) continue;
    for (const field of ('fields' in definition ? definition.fields : undefined) ?? []) {
      const key = `${typeName}.${field.name.value}`;
      const weight = weightOf(field.directives);
      if (weight !== undefined) weights.set(key, weight);
      const listSize = field.directives?.find((d) => d.name.value === 'listSize');
      if (listSize) listSizes.set(key, listSizeOf(listSize));
    }
  }
  return { listSizes, weights };
}

function weightOf(directives: readonly DirectiveNode[] | undefined): number | undefined {
  const cost = directives?.find((d) => d.name.value === 'cost');
  const weight = cost && argument(cost, 'weight');
  return weight?.kind === Kind.INT ? Number(weight.value) : undefined;
}

function listSizeOf(directive: DirectiveNode): ListSize {
  const assumed = argument(directive, 'assumedSize');
  const requireOne = argument(directive, 'requireOneSlicingArgument');
  return {
    ...(assumed?.kind === Kind.INT ? { assumedSize: Number(assumed.value) } : {}),
    ...optionalList('slicingArguments', argument(directive, 'slicingArguments')),
    ...optionalList('sizedFields', argument(directive, 'sizedFields')),
    requireOneSlicingArgument: requireOne?.kind === Kind.BOOLEAN ? requireOne.value : true,
  };
}

function argument(directive: DirectiveNode, name: string): ValueNode | undefined {
  return directive.arguments?.find((a) => a.name.value === name)?.value;
}

function optionalList<K extends string>(key: K, value: ValueNode | undefined): Partial<Record<K, string[]>> {
  if (!value) return {};
  const items = value.kind === Kind.LIST ? value.values : [value];
  return { [key]: items.flatMap((v) => (v.kind === Kind.STRING ? [v.value] : [])) } as Partial<Record<K, string[]>>;
}

function fieldsOf(type: GraphQLNamedType): Record<string, GraphQLField<unknown, unknown>> {
  return isObjectType(type) || isInterfaceType(type) ? type.getFields() : {};
}

function isList(field: GraphQLField<unknown, unknown>): boolean {
  return isListType(getNullableType(field.type));
}

/**
 * Whether `listSize` gives `field` a size whatever the operation says: an assumed size, or a
 * slicing argument that always has a value (a default, or required).
 */
function alwaysSized(field: GraphQLField<unknown, unknown>, listSize: ListSize): boolean {
  if (listSize.assumedSize !== undefined) return true;
  return field.args.some((a) => listSize.slicingArguments?.includes(a.name) && (a.defaultValue !== undefined || a.type.toString().endsWith('!')));
}

/**
 * Every list field of `schema` (the API schema) that the directives leave without a size, and
 * every directive that names what is not there, one message each. Empty when every list is
 * bounded: sized by its own @listSize, or by the @listSize(sizedFields) of every field that
 * returns its type (a connection's `edges`).
 */
export function listSizeProblems(schema: GraphQLSchema, directives: CostDirectives): string[] {
  const problems: string[] = [];
  const fields = Object.values(schema.getTypeMap())
    .filter((type) => !type.name.startsWith('__'))
    .flatMap((type) => Object.values(fieldsOf(type)).map((field) => ({ type, field, key: `${type.name}.${field.name}` })));
  /** The fields returning each type (by name). */
  const returning = new Map<string, string[]>();
  for (const { field, key } of fields) {
    const target = getNamedType(field.type);
    returning.set(target.name, [...(returning.get(target.name) ?? []), key]);
    const listSize = directives.listSizes.get(key);
    if (!listSize) continue;
    for (const name of listSize.slicingArguments ?? []) {
      if (!field.args.some((a) => a.name === name)) problems.push(`${key}: @listSize names the slicing argument "${name}", which the field does not have`);
    }
    for (const name of listSize.sizedFields ?? []) {
      const sized = fieldsOf(target)[name];
      if (!sized || !isList(sized)) problems.push(`${key}: @listSize sizes "${name}", which is not a list field of ${target.name}`);
    }
    if (!alwaysSized(field, listSize)) problems.push(`${key}: @listSize gives no assumedSize and no slicing argument that always has a value`);
  }
  for (const { type, field, key } of fields) {
    if (!isList(field)) continue;
    const own = directives.listSizes.get(key);
    if (own && !own.sizedFields) continue;
    const parents = returning.get(type.name) ?? [];
    const unsized = parents.filter((parent) => !directives.listSizes.get(parent)?.sizedFields?.includes(field.name));
    if (parents.length > 0 && unsized.length === 0) continue;
    problems.push(
      parents.length > 0 && unsized.length < parents.length
        ? `${key}: no size through ${unsized.join(', ')} (add it to their @listSize(sizedFields))`
        : `${key}: a list with no size: declare @listSize(assumedSize: ...) and enforce it, or slice it with a capped first (@listSize(slicingArguments: ["first"]))`,
    );
  }
  return problems;
}
