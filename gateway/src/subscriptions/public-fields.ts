import { Kind, parse, type DocumentNode } from 'graphql';

/** `Type.field` of every field tagged @tag(name: "public") in the supergraph. */
export function publicFieldsOf(supergraphSdl: string): Set<string> {
  const fields = new Set<string>();
  const document: DocumentNode = parse(supergraphSdl);
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION && definition.kind !== Kind.OBJECT_TYPE_EXTENSION) continue;
    for (const field of definition.fields ?? []) {
      const tagged = field.directives?.some(
        (d) => d.name.value === 'tag' && d.arguments?.some((a) => a.name.value === 'name' && a.value.kind === Kind.STRING && a.value.value === 'public'),
      );
      if (tagged) fields.add(`${definition.name.value}.${field.name.value}`);
    }
  }
  return fields;
}
