// Random operations built from the API schema: random fields, nesting, aliases, fragments and
// directives, arguments of the right and wrong types (inline or as variables), sometimes a text
// corrupted after the fact; and "amplifying" queries that nest list fields along the schema's
// cycles (Album.songs -> Song.album -> ...), as someone trying to multiply the cost would.
import {
  getNamedType,
  isAbstractType,
  isCompositeType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isUnionType,
  type GraphQLArgument,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
} from 'graphql';
import type { Rng } from './rng.ts';
import { fuzzString, inputValue, literal, wrongValue, type ValueContext } from './values.ts';

export interface GraphQLBody {
  query: string;
  variables: Record<string, unknown>;
  operationName?: string;
}

type AnyField = GraphQLField<unknown, unknown>;

class DocumentBuilder {
  private readonly variableDefs: string[] = [];
  readonly variables: Record<string, unknown> = {};
  readonly fragments: string[] = [];
  private counter = 0;
  private readonly ctx: ValueContext;
  private readonly schema: GraphQLSchema;
  private readonly maxDepth: number;

  constructor(ctx: ValueContext, schema: GraphQLSchema, maxDepth: number) {
    this.ctx = ctx;
    this.schema = schema;
    this.maxDepth = maxDepth;
  }

  get rng(): Rng {
    return this.ctx.rng;
  }

  get variableList(): string {
    return this.variableDefs.length ? `(${this.variableDefs.join(', ')})` : '';
  }

  /** The arguments of a field: required ones always, optional ones sometimes; now and then an unknown one. */
  args(field: AnyField, fuzzy: boolean): string {
    const parts: string[] = [];
    for (const arg of field.args) {
      const required = isNonNullType(arg.type) && arg.defaultValue === undefined;
      if (!required && this.rng.chance(0.6)) continue;
      if (required && fuzzy && this.rng.chance(0.03)) continue;
      parts.push(`${arg.name}: ${this.argValue(arg, argumentHint(field, arg), fuzzy && this.rng.chance(0.4))}`);
    }
    if (fuzzy && this.rng.chance(0.03)) parts.push(`${this.rng.pick(['id', 'first', 'where', 'limit'])}: ${literal(wrongValue(this.rng))}`);
    return parts.length ? `(${parts.join(', ')})` : '';
  }

  private argValue(arg: GraphQLArgument, hint: string, fuzzy: boolean): string {
    const value = inputValue(this.ctx, arg.type, hint, fuzzy);
    if (this.rng.chance(0.7)) return literal(value, arg.type);
    const name = `v${this.counter++}`;
    // Now and then a variable declared with another type than the argument's.
    const declared = fuzzy && this.rng.chance(0.1) ? this.rng.pick(['String', 'Int', 'ID!', '[ID!]!', 'Boolean', 'JSON']) : String(arg.type);
    this.variableDefs.push(`$${name}: ${declared}`);
    if (value !== undefined) this.variables[name] = value;
    return `$${name}`;
  }

  /** A selection set for `type` at `depth`. */
  selection(type: GraphQLCompositeType, depth: number, fuzzy: boolean): string {
    const rng = this.rng;
    if (depth >= this.maxDepth) return '{ __typename }';
    const parts: string[] = [];
    if (isUnionType(type) || (isInterfaceType(type) && rng.chance(0.5))) {
      for (const possible of rng.some(this.schema.getPossibleTypes(type), 2))
        parts.push(`... on ${possible.name} ${this.selection(possible, depth + 1, fuzzy)}`);
    }
    if (!isUnionType(type)) {
      const fields = Object.values(type.getFields()) as AnyField[];
      const chosen = rng.some(
        fields,
        rng.weighted([
          [6, 3],
          [3, 6],
          [1, 12],
        ] as const),
      );
      for (const field of chosen) parts.push(this.field(field, depth, fuzzy));
      if (rng.chance(0.05) && chosen[0]) {
        const name = `F${this.counter++}`;
        this.fragments.push(`fragment ${name} on ${type.name} { ${this.field(chosen[0], depth, fuzzy)} }`);
        parts.push(`...${name}`);
      }
    }
    if (fuzzy && rng.chance(0.03))
      parts.push(rng.pick(['password', 'passwordHash', 'email', 'secret', '_service { sdl }', '_entities(representations: []) { __typename }']));
    if (parts.length === 0 || rng.chance(0.2)) parts.push('__typename');
    return `{ ${parts.join(' ')} }`;
  }

  field(field: AnyField, depth: number, fuzzy: boolean): string {
    const rng = this.rng;
    const alias = rng.chance(0.1) ? `a${this.counter++}: ` : '';
    const directive = rng.chance(0.03)
      ? rng.pick([' @include(if: true)', ' @skip(if: false)', ' @skip(if: $nope)', ' @deprecated', ' @include(if: "yes")'])
      : '';
    const named = getNamedType(field.type);
    const sub = isCompositeType(named) ? ` ${this.selection(named, depth + 1, fuzzy)}` : fuzzy && rng.chance(0.02) ? ' { id }' : '';
    return `${alias}${field.name}${this.args(field, fuzzy)}${directive}${sub}`;
  }
}

/** The name that picks a value for an argument: an `id` argument is named after its field's type (`album(id:)`: albumId). */
export function argumentHint(field: { type: GraphQLOutputType }, arg: { name: string }): string {
  if (arg.name !== 'id') return arg.name;
  const type = getNamedType(field.type).name;
  return `${type.charAt(0).toLowerCase()}${type.slice(1)}Id`;
}

/** A random query, mutation or (refused over HTTP) subscription against `schema`. */
export function randomOperation(ctx: ValueContext, schema: GraphQLSchema): GraphQLBody {
  const rng = ctx.rng;
  const kind = rng.weighted([
    [6, 'query'],
    [3, 'mutation'],
    [1, 'subscription'],
  ] as const);
  const root = kind === 'query' ? schema.getQueryType() : kind === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
  const maxDepth = rng.weighted([
    [6, rng.int(2, 5)],
    [3, rng.int(6, 10)],
    [1, rng.int(11, 16)],
  ] as const);
  const builder = new DocumentBuilder(ctx, schema, maxDepth);
  const fuzzy = rng.chance(0.5);
  const fields = rng.some(Object.values(root!.getFields()) as AnyField[], kind === 'query' ? 3 : 1);
  const parts = fields.map((f) => builder.field(f, 1, fuzzy));
  if (kind === 'query' && rng.chance(0.04))
    parts.push(
      rng.pick([
        '__schema { types { name fields { name args { name } } } }',
        '__type(name: "User") { fields { name type { name kind ofType { name } } } }',
        '__typename',
      ]),
    );
  if (rng.chance(0.02)) parts.push(Array.from({ length: rng.int(20, 60) }, (_, i) => `x${i}: __typename`).join(' '));
  const name = rng.chance(0.5) ? `Fuzz${rng.int(0, 999)}` : '';
  let query = `${kind} ${name}${builder.variableList} { ${parts.join(' ')} }${builder.fragments.length ? ' ' + builder.fragments.join(' ') : ''}`;
  if (rng.chance(0.05)) query = corrupt(rng, query);
  const body: GraphQLBody = { query, variables: builder.variables };
  if (name && rng.chance(0.3)) body.operationName = rng.chance(0.7) ? name : `Other${rng.int(0, 9)}`;
  return body;
}

/** The text damaged: a piece cut, a brace doubled, a token inserted or the end cut off. */
function corrupt(rng: Rng, text: string): string {
  const at = rng.int(0, text.length);
  return rng.weighted<() => string>([
    [1, () => text.slice(0, at) + text.slice(Math.min(text.length, at + rng.int(1, 8)))],
    [1, () => text.slice(0, at) + rng.pick(['{', '}', '(', ')', '$', '"', '...', '@', '#', '\\u0000', '"""', 'query', ':']) + text.slice(at)],
    [1, () => text.slice(0, at)],
    [1, () => text.slice(0, at) + fuzzString(rng) + text.slice(at)],
  ])();
}

interface Cycle {
  /** The type the cycle starts from, and the fields that lead back to it (the first one a list). */
  from: GraphQLObjectType;
  steps: AnyField[];
}

/** Cycles of the shape A.list -> B ... -> A whose list field has no size argument to cap it. */
export function amplifyingCycles(schema: GraphQLSchema): Cycle[] {
  const cycles: Cycle[] = [];
  const objects = Object.values(schema.getTypeMap()).filter((t): t is GraphQLObjectType => isObjectType(t) && !t.name.startsWith('__'));
  const unsized = (f: AnyField) => isListOf(f.type) && !f.args.some((a) => ['first', 'last', 'limit', 'depth'].includes(a.name));
  for (const a of objects) {
    for (const list of Object.values(a.getFields()) as AnyField[]) {
      const b = getNamedType(list.type);
      if (!unsized(list) || !isObjectType(b)) continue;
      for (const back of Object.values(b.getFields()) as AnyField[]) {
        if (getNamedType(back.type) === a && back.args.every((arg) => !isNonNullType(arg.type))) cycles.push({ from: a, steps: [list, back] });
      }
    }
  }
  return cycles;
}

/** The shortest chain of fields from the Query root to `target`, or null. */
function pathFromQuery(schema: GraphQLSchema, target: GraphQLObjectType): AnyField[] | null {
  const start = schema.getQueryType()!;
  const queue: [GraphQLObjectType, AnyField[]][] = [[start, []]];
  const seen = new Set<string>([start.name]);
  while (queue.length) {
    const [type, path] = queue.shift()!;
    for (const field of Object.values(type.getFields()) as AnyField[]) {
      const named = getNamedType(field.type);
      if (!isObjectType(named) || seen.has(named.name)) continue;
      const next = [...path, field];
      if (named === target) return next;
      seen.add(named.name);
      queue.push([named, next]);
    }
  }
  return null;
}

/** A query that goes round one of the schema's amplifying cycles several times. */
export function amplifyingOperation(ctx: ValueContext, schema: GraphQLSchema, cycles: Cycle[]): GraphQLBody | null {
  if (cycles.length === 0) return null;
  const rng = ctx.rng;
  const cycle = rng.pick(cycles);
  const path = pathFromQuery(schema, cycle.from);
  if (!path) return null;
  const builder = new DocumentBuilder(ctx, schema, 99);
  const laps = rng.int(2, 5);
  const chain = [...path, ...Array.from({ length: laps }, () => cycle.steps).flat()];
  let inner = `{ ${leafOf(getNamedType(chain[chain.length - 1]!.type) as GraphQLCompositeType)} }`;
  for (let i = chain.length - 1; i >= 0; i--) {
    const field = chain[i]!;
    inner = `{ ${field.name}${builder.args(field, false)} ${inner} }`;
  }
  return { query: `query Amplify${builder.variableList} ${inner}`, variables: builder.variables };
}

function leafOf(type: GraphQLCompositeType): string {
  if (isAbstractType(type)) return '__typename';
  const leaf = (Object.values(type.getFields()) as AnyField[]).find((f) => isLeafType(getNamedType(f.type)) && f.args.length === 0);
  return leaf?.name ?? '__typename';
}

function isListOf(type: GraphQLOutputType): boolean {
  return isListType(isNonNullType(type) ? type.ofType : type);
}
