import {
  Kind,
  TypeInfo,
  getNamedType,
  isObjectType,
  print,
  visit,
  visitWithTypeInfo,
  type ASTNode,
  type DocumentNode,
  type ExecutionResult,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type VariableDefinitionNode,
} from 'graphql';
import type { LiveField } from './live-fields.ts';
import type { SubscriptionRoot } from './root-field.ts';

export type ExecuteQuery = (document: DocumentNode, variables: Record<string, unknown>) => Promise<ExecutionResult>;

export interface PreparedSubscription {
  /** The query that re-reads one event's object with the subscriber's own selection. */
  document: DocumentNode;
  /** The response key the subscriber expects (the subscription field's alias or name). */
  responseKey: string;
  live: LiveField;
  /** Identical text, variables and principal-or-public: lookups may be shared. */
  shareKey: string;
  variables: Record<string, unknown>;
}

/**
 * Turns `subscription { tradeExecuted(songId: $s) { <selection> } }` into
 * `query ($__id: ID!) { tradeExecuted: trade(id: $__id) { <selection> } }` against the API
 * schema, so each event's payload is resolved through the supergraph like any query.
 */
export function prepareSubscription(
  schema: GraphQLSchema,
  document: DocumentNode,
  root: SubscriptionRoot,
  variables: Record<string, unknown>,
  liveFields: Record<string, LiveField>,
  publicFields: Set<string>,
  principalKey: string,
): PreparedSubscription {
  const live = liveFields[root.name]!;
  const queryType = schema.getQueryType()!;
  const entryField = queryType.getFields()[live.entry.field]!;
  const keyDefinitions: VariableDefinitionNode[] = entryField.args.map((arg) => ({
    kind: Kind.VARIABLE_DEFINITION,
    variable: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: `__${arg.name}` } },
    type: parseTypeNode(String(arg.type)),
  }));
  const entry: FieldNode = {
    kind: Kind.FIELD,
    alias: { kind: Kind.NAME, value: root.responseKey },
    name: { kind: Kind.NAME, value: live.entry.field },
    arguments: entryField.args.map((arg) => ({
      kind: Kind.ARGUMENT,
      name: { kind: Kind.NAME, value: arg.name },
      value: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: `__${arg.name}` } },
    })),
    ...(root.selectionSet ? { selectionSet: root.selectionSet } : {}),
  };
  // Only the fragments and variables the selection itself reads (the root field's own arguments chose the topic).
  const fragments = fragmentsUsedBy(root.selectionSet, document);
  const used = new Set<string>();
  for (const node of [root.selectionSet, ...fragments]) if (node) visit(node, { Variable: (v) => void used.add(v.name.value) });
  const ownDefinitions = (root.operation.variableDefinitions ?? []).filter((d) => used.has(d.variable.name.value));
  const ownVariables = Object.fromEntries(Object.entries(variables).filter(([name]) => used.has(name)));
  const query: DocumentNode = {
    kind: Kind.DOCUMENT,
    definitions: [
      ...fragments,
      {
        kind: Kind.OPERATION_DEFINITION,
        operation: 'query' as never,
        name: { kind: Kind.NAME, value: 'LiveEvent' },
        variableDefinitions: [...ownDefinitions, ...keyDefinitions],
        selectionSet: { kind: Kind.SELECTION_SET, selections: [entry] },
      },
    ],
  };
  const isPublic = !live.personal && selectsOnlyPublicFields(schema, query, publicFields, live.entry.field);
  return {
    document: query,
    responseKey: root.responseKey,
    live,
    variables: ownVariables,
    shareKey: `${print(query)}|${JSON.stringify(ownVariables)}|${isPublic ? 'public' : principalKey}`,
  };
}

/** The fragment definitions `node` spreads, directly or through other fragments. */
function fragmentsUsedBy(node: ASTNode | undefined, document: DocumentNode): FragmentDefinitionNode[] {
  const definitions = new Map(
    document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
  );
  const used = new Map<string, FragmentDefinitionNode>();
  const pending = node ? [node] : [];
  while (pending.length) {
    visit(pending.pop()!, {
      FragmentSpread(spread) {
        const fragment = definitions.get(spread.name.value);
        if (fragment && !used.has(fragment.name.value)) {
          used.set(fragment.name.value, fragment);
          pending.push(fragment);
        }
      },
    });
  }
  return [...used.values()];
}

function parseTypeNode(text: string): VariableDefinitionNode['type'] {
  if (text.endsWith('!')) return { kind: Kind.NON_NULL_TYPE, type: parseTypeNode(text.slice(0, -1)) as never };
  if (text.startsWith('[')) return { kind: Kind.LIST_TYPE, type: parseTypeNode(text.slice(1, -1)) };
  return { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: text } };
}

/** True when every field the query reads is tagged public (the lookup can then be shared by everyone). */
export function selectsOnlyPublicFields(schema: GraphQLSchema, query: DocumentNode, publicFields: Set<string>, entryField: string): boolean {
  const typeInfo = new TypeInfo(schema);
  let allPublic = true;
  visit(
    query,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        if (node.name.value === '__typename') return;
        const parent = typeInfo.getParentType();
        if (!parent) return;
        const name = parent.name === schema.getQueryType()?.name && node.name.value === entryField ? null : `${parent.name}.${node.name.value}`;
        if (name && !publicFields.has(name)) allPublic = false;
        const type = typeInfo.getType();
        if (type && !isObjectType(getNamedType(type)) && node.selectionSet) allPublic = false;
      },
    }),
  );
  return allPublic;
}

/**
 * Shares the lookup of one event among subscribers with the same share key: the first asks the
 * supergraph, the rest wait for that answer. Keyed by the event's payload object, which every
 * local subscriber of a topic receives, so the memory goes with the event.
 */
export class SharedLookups {
  private readonly byEvent = new WeakMap<object, Map<string, Promise<ExecutionResult>>>();
  lookups = 0;

  resolve(event: Record<string, unknown>, prepared: PreparedSubscription, execute: ExecuteQuery): Promise<ExecutionResult> {
    let shared = this.byEvent.get(event);
    if (!shared) this.byEvent.set(event, (shared = new Map()));
    let pending = shared.get(prepared.shareKey);
    if (!pending) {
      this.lookups++;
      const keyArgs = Object.fromEntries(Object.entries(prepared.live.entry.args(event)).map(([k, v]) => [`__${k}`, v]));
      pending = execute(prepared.document, { ...prepared.variables, ...keyArgs });
      shared.set(prepared.shareKey, pending);
    }
    return pending;
  }
}
