import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApolloServer, HeaderMap } from '@apollo/server';
import { Kind, parse, print, visit, type ASTNode, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '@vibestream/platform';
import {
  DEFAULT_PERSISTED_DOCUMENTS_PATH,
  findPersistedDocument,
  loadPersistedDocuments,
  persistedDocumentsTransform,
  resolvePersistedDocument,
  resolvePersistedRequest,
  sha256Hex,
  type PersistedDocumentResolution,
} from '../src/persisted-documents.ts';

const songQuery = 'query Song($id: ID!) { song(id: $id) { id title } }';
const songId = `sha256:${sha256Hex(songQuery)}`;
const helloQuery = 'query Hello { hello }';
const helloId = `sha256:${sha256Hex(helloQuery)}`;
const store = new Map([
  [songId, songQuery],
  [helloId, helloQuery],
]);
const unknownHex = 'f'.repeat(64);

const open = { onlyKnown: false };
const strict = { onlyKnown: true };

function bodyOf(result: PersistedDocumentResolution): Record<string, unknown> {
  if ('error' in result) throw new Error(`expected a body, got ${result.error.code}: ${result.error.message}`);
  return result.body as Record<string, unknown>;
}

describe('resolvePersistedDocument', () => {
  it('replaces a known documentId by its query and keeps the rest of the request', () => {
    const body = bodyOf(resolvePersistedDocument({ documentId: songId, variables: { id: '1' }, operationName: 'Song' }, store, open));
    expect(body).toEqual({ query: songQuery, variables: { id: '1' }, operationName: 'Song' });
  });

  it('accepts the bare hex form of a sha256 id, in any case', () => {
    const hex = songId.slice('sha256:'.length);
    expect(bodyOf(resolvePersistedDocument({ documentId: hex }, store, open)).query).toBe(songQuery);
    expect(bodyOf(resolvePersistedDocument({ documentId: hex.toUpperCase() }, store, open)).query).toBe(songQuery);
  });

  it('refuses an unknown documentId with PERSISTED_QUERY_NOT_FOUND naming the id', () => {
    for (const options of [open, strict]) {
      const result = resolvePersistedDocument({ documentId: `sha256:${unknownHex}` }, store, options);
      expect(result).toEqual({
        error: { status: 400, code: 'PERSISTED_QUERY_NOT_FOUND', message: `Persisted document sha256:${unknownHex} is not known` },
      });
    }
  });

  it('refuses an unknown persisted document id when only known documents are accepted, even with query text', () => {
    const result = resolvePersistedDocument({ documentId: `sha256:${unknownHex}`, query: '{ __typename }' }, store, strict);
    expect('error' in result && result.error.code).toBe('FORBIDDEN');
  });

  it('refuses a documentId that is not a string', () => {
    const result = resolvePersistedDocument({ documentId: 42 }, store, open);
    expect('error' in result && result.error).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
  });

  it('refuses a known documentId sent with different query text', () => {
    const result = resolvePersistedDocument({ documentId: songId, query: '{ __typename }' }, store, open);
    expect('error' in result && result.error).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
  });

  it('passes raw query text through untouched unless only known documents are accepted', () => {
    const request = { query: '{ __typename }', variables: {} };
    expect(resolvePersistedDocument(request, store, open)).toEqual({ body: request });
  });

  it('with onlyKnown, refuses raw query text that is not a known document (introspection included)', () => {
    for (const query of ['{ __typename }', '{ __schema { types { name } } }', `${songQuery} `]) {
      const result = resolvePersistedDocument({ query }, store, strict);
      expect('error' in result && result.error).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    }
  });

  it('with onlyKnown, accepts raw query text identical to a known document', () => {
    const request = { query: songQuery, variables: { id: '1' } };
    expect(bodyOf(resolvePersistedDocument(request, store, strict))).toEqual(request);
  });

  it('with onlyKnown, refuses a non-string query rather than letting it through', () => {
    const result = resolvePersistedDocument({ query: { kind: 'Document' } }, store, strict);
    expect('error' in result && result.error.code).toBe('FORBIDDEN');
  });

  it('with onlyKnown, leaves a request without query or id for Apollo to refuse', () => {
    expect(resolvePersistedDocument({ variables: {} }, store, strict)).toEqual({ body: { variables: {} } });
  });

  describe('Apollo APQ extension', () => {
    const apq = (hash: string, others: Record<string, unknown> = {}) => ({
      ...others,
      persistedQuery: { version: 1, sha256Hash: hash },
    });

    it('reads a known sha256Hash and removes the extension so Apollo never caches it', () => {
      const hex = helloId.slice('sha256:'.length);
      const body = bodyOf(resolvePersistedDocument({ extensions: apq(hex) }, store, strict));
      expect(body).toEqual({ query: helloQuery });
      const withOthers = bodyOf(resolvePersistedDocument({ extensions: apq(hex, { trace: true }) }, store, open));
      expect(withOthers).toEqual({ query: helloQuery, extensions: { trace: true } });
    });

    it('answers PERSISTED_QUERY_NOT_FOUND for an unknown hash without text', () => {
      const result = resolvePersistedDocument({ extensions: apq(unknownHex) }, store, open);
      expect('error' in result && result.error).toMatchObject({ status: 400, code: 'PERSISTED_QUERY_NOT_FOUND' });
    });

    it('does not register an unknown hash sent with its text: plain text when open, refused when onlyKnown', () => {
      const query = '{ __typename }';
      const request = { query, extensions: apq(sha256Hex(query)) };
      expect(bodyOf(resolvePersistedDocument(request, store, open))).toEqual({ query });
      expect(store.has(`sha256:${sha256Hex(query)}`)).toBe(false);
      const again = resolvePersistedDocument({ extensions: apq(sha256Hex(query)) }, store, open);
      expect('error' in again && again.error.code).toBe('PERSISTED_QUERY_NOT_FOUND');
      const refused = resolvePersistedDocument(request, store, strict);
      expect('error' in refused && refused.error.code).toBe('FORBIDDEN');
    });

    it('refuses a persistedQuery extension without a string sha256Hash', () => {
      const result = resolvePersistedDocument({ extensions: { persistedQuery: { version: 1 } } }, store, open);
      expect('error' in result && result.error.code).toBe('BAD_REQUEST');
    });
  });

  it('resolves every request of a batch, and refuses the batch when one is refused', () => {
    const batch = bodyOf(resolvePersistedDocument([{ documentId: songId }, { documentId: helloId }], store, strict)) as unknown as unknown[];
    expect(batch).toEqual([{ query: songQuery }, { query: helloQuery }]);
    const refused = resolvePersistedDocument([{ documentId: songId }, { query: '{ __typename }' }], store, strict);
    expect('error' in refused && refused.error.code).toBe('FORBIDDEN');
  });
});

describe('resolvePersistedRequest (GET parameters)', () => {
  const get = (params: Record<string, string>) => ({ method: 'GET', search: `?${new URLSearchParams(params)}`, body: undefined });
  const paramsOf = (result: ReturnType<typeof resolvePersistedRequest>) => {
    if ('error' in result) throw new Error(result.error.message);
    return Object.fromEntries(new URLSearchParams(result.search));
  };

  it('turns documentId into query and keeps variables', () => {
    const result = resolvePersistedRequest(get({ documentId: songId, variables: '{"id":"1"}' }), store, strict);
    expect(paramsOf(result)).toEqual({ query: songQuery, variables: '{"id":"1"}' });
  });

  it('reads an APQ hash from the JSON-encoded extensions parameter', () => {
    const extensions = JSON.stringify({ persistedQuery: { version: 1, sha256Hash: helloId.slice(7) }, trace: 1 });
    expect(paramsOf(resolvePersistedRequest(get({ extensions }), store, open))).toEqual({ query: helloQuery, extensions: '{"trace":1}' });
  });

  it('refuses unknown ids and, with onlyKnown, unknown text', () => {
    const notFound = resolvePersistedRequest(get({ documentId: unknownHex }), store, open);
    expect('error' in notFound && notFound.error.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    const forbidden = resolvePersistedRequest(get({ query: '{ __typename }' }), store, strict);
    expect('error' in forbidden && forbidden.error.code).toBe('FORBIDDEN');
    expect(paramsOf(resolvePersistedRequest(get({ query: songQuery }), store, strict))).toEqual({ query: songQuery });
  });

  it('refuses a repeated parameter, so the text checked is the text Apollo runs', () => {
    const search = `?query=${encodeURIComponent(songQuery)}&query=${encodeURIComponent('{ __typename }')}`;
    const result = resolvePersistedRequest({ method: 'GET', search, body: undefined }, store, strict);
    expect('error' in result && result.error.code).toBe('BAD_REQUEST');
  });

  it('leaves a GET without persisted-document parameters untouched when open', () => {
    const request = { method: 'GET', search: '?query=%7B__typename%7D&x=1&x=2', body: undefined };
    expect(resolvePersistedRequest(request, store, open)).toEqual({ search: request.search, body: undefined });
  });
});

describe('persistedDocumentsTransform in front of Apollo Server', () => {
  let apollo: ApolloServer;
  const transform = persistedDocumentsTransform(store, strict);

  beforeAll(async () => {
    apollo = new ApolloServer({ typeDefs: 'type Query { hello: String }', resolvers: { Query: { hello: () => 'world' } } });
    await apollo.start();
  });
  afterAll(() => apollo.stop());

  async function post(body: unknown): Promise<{ status: number; json: { data?: unknown; errors?: { extensions?: { code?: string } }[] } }> {
    const resolved = transform({ method: 'POST', search: '', body });
    if ('error' in resolved) return { status: resolved.error.status, json: { errors: [{ extensions: { code: resolved.error.code } }] } };
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: 'POST', headers: new HeaderMap([['content-type', 'application/json']]), search: resolved.search, body: resolved.body },
      context: async () => ({}),
    });
    if (response.body.kind !== 'complete') throw new Error('expected a complete response');
    return { status: response.status ?? 200, json: JSON.parse(response.body.string) };
  }

  it('executes { documentId } and refuses an unknown id', async () => {
    expect(await post({ documentId: helloId })).toEqual({ status: 200, json: { data: { hello: 'world' } } });
    const unknown = await post({ documentId: `sha256:${unknownHex}` });
    expect(unknown.status).toBe(400);
    expect(unknown.json.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    const raw = await post({ query: '{ hello }' });
    expect(raw.status).toBe(403);
    expect(raw.json.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('loadPersistedDocuments', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'persisted-documents-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, content: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };

  it('reads a manifest and finds documents by either id spelling', () => {
    const loaded = loadPersistedDocuments(write('ok.json', { [songId]: songQuery }));
    expect([...loaded]).toEqual([[songId, songQuery]]);
    expect(findPersistedDocument(loaded, songId.slice(7))).toBe(songQuery);
    expect(findPersistedDocument(loaded, `sha256:${unknownHex}`)).toBeUndefined();
  });

  it('refuses a manifest whose id does not hash its document', () => {
    expect(() => loadPersistedDocuments(write('tampered.json', { [songId]: '{ __schema { types { name } } }' }))).toThrow(/does not match/);
  });

  it('refuses a manifest that is not an object of strings', () => {
    expect(() => loadPersistedDocuments(write('array.json', [songQuery]))).toThrow(/JSON object/);
    expect(() => loadPersistedDocuments(write('number.json', { [songId]: 1 }))).toThrow(/not a string/);
  });
});

/** A document with selections, arguments and variables in a fixed order, to compare by content. */
function canonical(document: DocumentNode): string {
  const byText = (a: ASTNode, b: ASTNode) => print(a).localeCompare(print(b));
  const sorted = visit(document, {
    leave(node) {
      if (node.kind === Kind.SELECTION_SET) return { ...node, selections: [...node.selections].sort(byText) };
      if ((node.kind === Kind.FIELD || node.kind === Kind.DIRECTIVE) && node.arguments) return { ...node, arguments: [...node.arguments].sort(byText) };
      if (node.kind === Kind.OPERATION_DEFINITION && node.variableDefinitions) {
        return { ...node, variableDefinitions: [...node.variableDefinitions].sort(byText) };
      }
      return undefined;
    },
  });
  return print(sorted);
}

describe('the generated manifest (clients/generated/persisted-documents.json)', () => {
  const manifest = loadPersistedDocuments(DEFAULT_PERSISTED_DOCUMENTS_PATH);
  const operationsDir = join(projectRoot, 'clients/operations');
  const operations = readdirSync(operationsDir)
    .filter((file) => file.endsWith('.graphql'))
    .flatMap((file) => parse(readFileSync(join(operationsDir, file), 'utf8')).definitions)
    .filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const manifestByName = new Map(
    [...manifest].map(([id, text]) => {
      const definition = parse(text).definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
      return [definition?.name?.value, { id, text }] as const;
    }),
  );

  it('holds exactly the client operations', () => {
    expect(operations.length).toBeGreaterThan(0);
    expect(new Set(manifestByName.keys())).toEqual(new Set(operations.map((o) => o.name?.value)));
    expect(manifest.size).toBe(operations.length);
  });

  it('names every client operation by the sha256 of its document text', () => {
    for (const operation of operations) {
      const name = operation.name?.value;
      const entry = manifestByName.get(name);
      expect(entry, `${name} is missing from the manifest: run npm run codegen`).toBeDefined();
      expect(entry!.id).toBe(`sha256:${sha256Hex(entry!.text)}`);
      const source: DocumentNode = { kind: Kind.DOCUMENT, definitions: [operation] };
      expect(canonical(parse(entry!.text)), `${name} in the manifest is stale: run npm run codegen`).toBe(canonical(source));
    }
  });

  it('gives each generated DocumentNode the manifest id as __meta__.hash (the documentId clients send)', () => {
    const generated = readFileSync(join(projectRoot, 'clients/generated/graphql.ts'), 'utf8');
    const hashes = new Map([...generated.matchAll(/export const (\w+)Document = \{"__meta__":\{"hash":"([^"]+)"\}/g)].map((m) => [m[1], m[2]]));
    expect(hashes.size).toBe(operations.length);
    for (const operation of operations) {
      const name = operation.name!.value;
      expect(hashes.get(name), name).toBe(manifestByName.get(name)?.id);
    }
  });
});
