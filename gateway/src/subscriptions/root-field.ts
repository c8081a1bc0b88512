import {
  GraphQLError,
  Kind,
  getOperationAST,
  specifiedRules,
  SingleFieldSubscriptionsRule,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** The one root field of a subscription, as graphql-js would execute it. */
export interface SubscriptionRoot {
  operation: OperationDefinitionNode;
  /** The field's name on the Subscription type. */
  name: string;
  /** Its alias, or its name: the key the subscriber reads the events under. */
  responseKey: string;
  /** Every node that selects it (one, or several merged through fragments), in document order. */
  fields: FieldNode[];
  /** Their sub-selections merged, as graphql-js merges fields of one response key. */
  selectionSet: SelectionSetNode | undefined;
}

/**
 * graphql-js's rules but its single-root-field rule, which throws instead of reporting when the
 * root is conditional on a variable (graphql 16); subscriptionRoot checks the same and more.
 */
export const subscriptionValidationRules = specifiedRules.filter((rule) => rule !== SingleFieldSubscriptionsRule);

const badInput = (message: string) => new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
const invalid = (message: string) => new GraphQLError(message, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });

/**
 * The operation to run and its one root field, collected through inline fragments and fragment
 * spreads. As the GraphQL spec has it, a subscription selects exactly one root field, not an
 * introspection field, and not conditionally (`@skip`, `@include`). The document has passed
 * the other validation rules.
 */
export function subscriptionRoot(document: DocumentNode, operationName: string | null | undefined): SubscriptionRoot | GraphQLError {
  const operation = getOperationAST(document, operationName);
  if (!operation) return badInput(operationName ? `Unknown operation "${operationName}"` : 'Name the operation to run (operationName)');
  if (operation.operation !== 'subscription') return badInput('Only subscriptions are served over WebSocket; send queries and mutations over HTTP');
  const fragments = new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
  const fields = collectFields(operation.selectionSet, fragments, new Set());
  if (fields === 'conditional') return invalid("A subscription's root field cannot be conditional (@skip, @include)");
  const responseKeys = new Set(fields.map(responseKeyOf));
  if (responseKeys.size !== 1) return invalid('A subscription selects exactly one root field');
  const first = fields[0]!;
  if (first.name.value.startsWith('__')) return invalid("A subscription's root field cannot be an introspection field");
  const selections = fields.flatMap((field) => field.selectionSet?.selections ?? []);
  return {
    operation,
    name: first.name.value,
    responseKey: responseKeyOf(first),
    fields,
    selectionSet: selections.length ? { kind: Kind.SELECTION_SET, selections } : undefined,
  };
}

function collectFields(selectionSet: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, visited: Set<string>): FieldNode[] | 'conditional' {
  const fields: FieldNode[] = [];
  for (const selection of selectionSet.selections) {
    if (selection.directives?.some((d) => d.name.value === 'skip' || d.name.value === 'include')) return 'conditional';
    let inner: FieldNode[] | 'conditional' = [];
    if (selection.kind === Kind.FIELD) inner = [selection];
    else if (selection.kind === Kind.INLINE_FRAGMENT) inner = collectFields(selection.selectionSet, fragments, visited);
    else {
      const fragment = fragments.get(selection.name.value);
      if (!fragment || visited.has(fragment.name.value)) continue;
      visited.add(fragment.name.value);
      inner = collectFields(fragment.selectionSet, fragments, visited);
    }
    if (inner === 'conditional') return inner;
    fields.push(...inner);
  }
  return fields;
}

const responseKeyOf = (field: FieldNode) => field.alias?.value ?? field.name.value;
