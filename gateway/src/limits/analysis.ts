/**
 * Static analysis of one GraphQL operation against the API schema: how deep it nests, how many
 * aliases it uses and what it costs. Pure functions, no I/O: the gateway runs them after
 * validation and before execution, so an operation over a limit never reaches a subgraph.
 *
 * The model (also in ./README.md):
 *
 * - **Depth**: the longest chain of nested fields, fragments expanded; `{ me { id } }` is 2.
 *   Every field counts, leaves and introspection fields (`__schema`, `__type`, `__typename`)
 *   included, except `__Type.ofType`: an `ofType` chain is bounded by the schema's type
 *   wrappers (`[Song!]!` is three levels), resolves in memory, and the standard introspection
 *   queries of GraphiQL and Sandbox nest it nine levels deep.
 * - **Aliases**: the number of aliased fields, fragments expanded (a fragment with 3 aliases
 *   spread twice counts 6).
 * - **Cost**: an estimate of the objects the operation makes the graph resolve, with the
 *   schema's cost directives (`@listSize`, `@cost`; see platform/src/cost-directives.ts) as
 *   Apollo Router's demand control reads them.
 *   - A field of a leaf type (scalar or enum, lists of them too) costs 0: it comes with its
 *     parent object. A field of an object, interface or union type costs 1, plus the cost of
 *     its selection. `@cost(weight)` on the field, else on its type, replaces that 0 or 1.
 *   - A list field multiplies that by its size. With `@listSize`: the largest of its slicing
 *     arguments (`first`; a literal or a variable, else the argument's default), else its
 *     `assumedSize`; with `sizedFields` (a connection's `edges`, an order book's `bids` and
 *     `asks`) that size is the size of those lists inside it instead. Nested lists compound:
 *     20 songs x 100 songs of each one's album is 2000.
 *   - A field without `@listSize` (introspection, or a schema that declares none) falls back
 *     to a guess: its size argument (`first`, `last`, `limit` or `depth`, the larger when
 *     several are given, else the argument's default) sizes it, or, on a field that is not a
 *     list, the lists selected directly inside it; else {@link DEFAULT_LIST_SIZE}. The
 *     supergraph declares a size for every list (`listSizeProblems`, checked by `npm run
 *     compose`), so the guess never decides the cost of a query on it.
 *   - `__Type.ofType` costs 0 itself (see depth); its selection is counted as usual.
 *   - Fields are counted as written: a field selected twice, or in two fragments on different
 *     types of an abstract selection, counts twice (an upper bound).
 *
 *   Examples: `{ song(id: 1) { title artist { name } } }` costs 2;
 *   `{ trendingSongs(first: 20) { title artist { name } } }` costs 20 x (1 + 1) = 40;
 *   `{ searchSongs(query: "a", first: 20) { totalCount edges { node { title } } } }` costs
 *   1 + 20 x (1 + 1) = 41.
 */
import { NO_COST_DIRECTIVES, type CostDirectives, type ListSize } from '@vibestream/platform';
import {
  Kind,
  getNamedType,
  getNullableType,
  getOperationAST,
  isLeafType,
  isListType,
  isObjectType,
  isInterfaceType,
  SchemaMetaFieldDef,
  TypeMetaFieldDef,
  TypeNameMetaFieldDef,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLOutputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';

/** Arguments that bound the size of a list field. */
export const SIZE_ARGUMENTS: readonly string[] = ['first', 'last', 'limit', 'depth'];
/** The size guessed for a list without @listSize, size argument or default. */
export const DEFAULT_LIST_SIZE = 10;

export interface OperationMeasures {
  depth: number;
  aliases: number;
  cost: number;
}

export type LimitName = 'depth' | 'aliases' | 'cost';

export interface Limits {
  /** Deepest field nesting allowed; 0 or absent: not enforced. */
  maxDepth?: number;
  /** Most aliases allowed; 0 or absent: not enforced. */
  maxAliases?: number;
  /** Highest cost allowed; 0 or absent: not enforced. */
  maxCost?: number;
}

export const DEFAULT_LIMITS: Readonly<Required<Limits>> = { maxDepth: 12, maxAliases: 30, maxCost: 5000 };

/** The limits, and the cost directives the cost is measured with (read from the supergraph: the API schema drops them). */
export interface QueryLimits extends Limits {
  directives?: CostDirectives;
}

export interface LimitViolation {
  limit: LimitName;
  /** The configured maximum. */
  max: number;
  /** What the operation measured. */
  actual: number;
  message: string;
}

type Variables = Readonly<Record<string, unknown>> | null | undefined;

const ZERO: OperationMeasures = { depth: 0, aliases: 0, cost: 0 };

/**
 * Depth, aliases and cost of the operation `operationName` (or the only one) of `document`.
 * The document should be valid against `schema`; fields the schema does not know count for
 * depth and aliases and cost 0. Without a matching operation everything is 0 (execution
 * will refuse the request anyway).
 */
export function analyzeOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName?: string | null,
  variables?: Variables,
  directives: CostDirectives = NO_COST_DIRECTIVES,
): OperationMeasures {
  const operation = getOperationAST(document, operationName ?? undefined);
  if (!operation) return { ...ZERO };
  const root = schema.getRootType(operation.operation);
  if (!root) return { ...ZERO };
  return new Analyzer(schema, document, operation, variables, directives).selectionSet(root, operation.selectionSet, undefined);
}

/**
 * A size handed down by an enclosing field that is not itself a list (a connection): it sizes
 * the list fields selected directly inside it, or only those named in `fields`.
 */
interface InheritedSize {
  size: number;
  fields?: ReadonlySet<string>;
}

/** The limits `measures` break, in the order depth, aliases, cost. */
export function checkLimits(measures: OperationMeasures, limits: Limits): LimitViolation[] {
  const violations: LimitViolation[] = [];
  if (enforced(limits.maxDepth) && measures.depth > limits.maxDepth) {
    violations.push({
      limit: 'depth',
      max: limits.maxDepth,
      actual: measures.depth,
      message: `Query depth limit exceeded: the operation nests ${measures.depth} levels deep; the maximum depth is ${limits.maxDepth}`,
    });
  }
  if (enforced(limits.maxAliases) && measures.aliases > limits.maxAliases) {
    violations.push({
      limit: 'aliases',
      max: limits.maxAliases,
      actual: measures.aliases,
      message: `Query alias limit exceeded: the operation uses ${measures.aliases} aliases; the maximum is ${limits.maxAliases}`,
    });
  }
  if (enforced(limits.maxCost) && measures.cost > limits.maxCost) {
    violations.push({
      limit: 'cost',
      max: limits.maxCost,
      actual: measures.cost,
      message: `Query cost limit exceeded: the operation costs ${formatCost(measures.cost)}; the maximum cost is ${limits.maxCost}`,
    });
  }
  return violations;
}

function enforced(limit: number | undefined): limit is number {
  return typeof limit === 'number' && limit > 0 && Number.isFinite(limit);
}

function formatCost(cost: number): string {
  return Number.isFinite(cost) && cost < 1e15 ? String(Math.round(cost)) : 'more than 10^15';
}

class Analyzer {
  private readonly schema: GraphQLSchema;
  private readonly fragments = new Map<string, FragmentDefinitionNode>();
  private readonly variableDefaults = new Map<string, ValueNode>();
  private readonly variables: Variables;
  private readonly directives: CostDirectives;
  /** A fragment's measures depend only on the list size it inherits; computed once each. */
  private readonly fragmentMemo = new Map<string, OperationMeasures>();
  private readonly expanding = new Set<string>();

  constructor(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Variables, directives: CostDirectives) {
    this.schema = schema;
    this.variables = variables;
    this.directives = directives;
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) this.fragments.set(definition.name.value, definition);
    }
    for (const definition of operation.variableDefinitions ?? []) {
      if (definition.defaultValue) this.variableDefaults.set(definition.variable.name.value, definition.defaultValue);
    }
  }

  /** @param inheritedSize what the enclosing non-list field (a connection) says of the lists selected directly in this set. */
  selectionSet(parentType: GraphQLNamedType | undefined, set: SelectionSetNode, inheritedSize: InheritedSize | undefined): OperationMeasures {
    let depth = 0;
    let aliases = 0;
    let cost = 0;
    for (const selection of set.selections) {
      let measures: OperationMeasures;
      switch (selection.kind) {
        case Kind.FIELD:
          measures = this.field(parentType, selection, inheritedSize);
          break;
        case Kind.INLINE_FRAGMENT: {
          const type = selection.typeCondition ? this.schema.getType(selection.typeCondition.name.value) : parentType;
          measures = this.selectionSet(type, selection.selectionSet, inheritedSize);
          break;
        }
        case Kind.FRAGMENT_SPREAD:
          measures = this.fragment(selection.name.value, inheritedSize);
          break;
      }
      depth = Math.max(depth, measures.depth);
      aliases += measures.aliases;
      cost += measures.cost;
    }
    return { depth, aliases, cost };
  }

  private fragment(name: string, inheritedSize: InheritedSize | undefined): OperationMeasures {
    const key = `${name}\u0000${inheritedSize?.size ?? ''}\u0000${[...(inheritedSize?.fields ?? [])].join(',')}`;
    const known = this.fragmentMemo.get(key);
    if (known) return known;
    const definition = this.fragments.get(name);
    // Unknown or cyclic spreads fail validation; they add nothing here.
    if (!definition || this.expanding.has(name)) return ZERO;
    this.expanding.add(name);
    const measures = this.selectionSet(this.schema.getType(definition.typeCondition.name.value), definition.selectionSet, inheritedSize);
    this.expanding.delete(name);
    this.fragmentMemo.set(key, measures);
    return measures;
  }

  private field(parentType: GraphQLNamedType | undefined, node: FieldNode, inheritedSize: InheritedSize | undefined): OperationMeasures {
    const name = node.name.value;
    const definition = this.fieldDefinition(parentType, name);
    const isOfType = name === 'ofType' && parentType?.name === '__Type';
    const aliased = node.alias && node.alias.value !== name ? 1 : 0;
    const namedType = definition ? getNamedType(definition.type) : undefined;
    const key = `${parentType?.name}.${name}`;
    const listSize = this.directives.listSizes.get(key);
    const declared = listSize && definition ? this.declaredSize(listSize, definition, node) : undefined;
    const children = node.selectionSet
      ? this.selectionSet(namedType, node.selectionSet, definition && this.sizeForChildren(definition, node, listSize, declared))
      : ZERO;
    const depth = (isOfType ? 0 : 1) + children.depth;
    const aliases = aliased + children.aliases;
    if (!definition || !namedType) return { depth, aliases, cost: 0 };
    const weight = isOfType ? 0 : (this.directives.weights.get(key) ?? this.directives.weights.get(namedType.name) ?? (isLeafType(namedType) ? 0 : 1));
    const own = weight + children.cost;
    if (own === 0) return { depth, aliases, cost: 0 };
    const fromParent = inheritedSize && (!inheritedSize.fields || inheritedSize.fields.has(name)) ? inheritedSize.size : undefined;
    // Declared: the enclosing field's sizedFields first (as Router does), then the field's own. Guessed: its own argument first.
    const size = listSize ? (fromParent ?? (listSize.sizedFields ? undefined : declared)) : (this.sizeArgument(definition, node) ?? fromParent);
    return { depth, aliases, cost: own * multiplier(definition.type, size) };
  }

  /** What a field hands down to the lists selected directly inside it. */
  private sizeForChildren(
    definition: GraphQLField<unknown, unknown>,
    node: FieldNode,
    listSize: ListSize | undefined,
    declared: number | undefined,
  ): InheritedSize | undefined {
    if (listSize?.sizedFields) return declared === undefined ? undefined : { size: declared, fields: new Set(listSize.sizedFields) };
    if (listSize || isList(definition.type)) return undefined;
    const guessed = this.sizeArgument(definition, node);
    return guessed === undefined ? undefined : { size: guessed };
  }

  /** The size @listSize gives: the largest slicing argument given (or defaulted), else assumedSize. */
  private declaredSize(listSize: ListSize, definition: GraphQLField<unknown, unknown>, node: FieldNode): number | undefined {
    let size: number | undefined;
    for (const argument of definition.args) {
      if (!listSize.slicingArguments?.includes(argument.name)) continue;
      const given = node.arguments?.find((a) => a.name.value === argument.name);
      const value = (given && this.intValue(given.value)) ?? asSize(argument.defaultValue);
      if (value !== undefined) size = Math.max(size ?? 0, value);
    }
    return size ?? listSize.assumedSize;
  }

  /** The guess for a field without @listSize: its largest size argument given (or defaulted); undefined when it has none. */
  private sizeArgument(definition: GraphQLField<unknown, unknown>, node: FieldNode): number | undefined {
    let size: number | undefined;
    for (const argument of definition.args) {
      if (!SIZE_ARGUMENTS.includes(argument.name)) continue;
      const given = node.arguments?.find((a) => a.name.value === argument.name);
      const value = (given && this.intValue(given.value)) ?? asSize(argument.defaultValue) ?? DEFAULT_LIST_SIZE;
      size = Math.max(size ?? 0, value);
    }
    return size;
  }

  private intValue(value: ValueNode): number | undefined {
    if (value.kind === Kind.INT) return asSize(Number(value.value));
    if (value.kind === Kind.VARIABLE) {
      const name = value.name.value;
      const given = this.variables?.[name];
      if (given !== undefined && given !== null) return asSize(given);
      const fallback = this.variableDefaults.get(name);
      return fallback ? this.intValue(fallback) : undefined;
    }
    return undefined;
  }

  private fieldDefinition(parentType: GraphQLNamedType | undefined, name: string): GraphQLField<unknown, unknown> | undefined {
    if (name === '__typename') return TypeNameMetaFieldDef;
    if (parentType && parentType === this.schema.getQueryType()) {
      if (name === '__schema') return SchemaMetaFieldDef;
      if (name === '__type') return TypeMetaFieldDef;
    }
    if (parentType && (isObjectType(parentType) || isInterfaceType(parentType))) return parentType.getFields()[name];
    return undefined;
  }
}

function isList(type: GraphQLOutputType): boolean {
  return isListType(getNullableType(type));
}

/** How many times a field's own cost and selection count: the product of its list sizes, `size` for the outermost. */
function multiplier(type: GraphQLOutputType, size: number | undefined): number {
  let current = getNullableType(type) as GraphQLOutputType;
  let product = 1;
  let outermost = true;
  while (isListType(current)) {
    product *= outermost ? (size ?? DEFAULT_LIST_SIZE) : DEFAULT_LIST_SIZE;
    outermost = false;
    current = getNullableType(current.ofType) as GraphQLOutputType;
  }
  return product;
}

/** A usable list size: a non-negative integer; anything else (strings, NaN) is not one. */
function asSize(value: unknown): number | undefined {
  if (typeof value !== 'number' || Number.isNaN(value)) return undefined;
  return Math.max(0, Math.floor(value));
}
