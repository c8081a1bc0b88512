/**
 * Persisted documents (GraphQL-over-HTTP, Appendix A) for the gateway.
 *
 * `npm run codegen` writes clients/generated/persisted-documents.json: `"sha256:<hex>"` → the
 * normalised document text, the hex being the sha256 of that text. Each generated DocumentNode
 * carries the same id as `__meta__.hash`, so a client can send `{ documentId, variables }`
 * instead of the query text.
 *
 * The gateway resolves ids here, before Apollo sees the request:
 * - `documentId` (`"sha256:<hex>"` or bare `"<hex>"`), or Apollo APQ's
 *   `extensions.persistedQuery.sha256Hash`, is replaced by the stored `query`; an unknown id with
 *   no query text is refused with PERSISTED_QUERY_NOT_FOUND (HTTP 400). APQ ids are read but never
 *   registered: `extensions.persistedQuery` is always removed, so Apollo's own APQ cache never
 *   learns a document from a client.
 * - With `onlyKnown` (recommended in production), raw query text is accepted only when its sha256
 *   is a known document; anything else (including introspection) is refused with FORBIDDEN
 *   (HTTP 403). FORBIDDEN rather than PERSISTED_QUERY_NOT_SUPPORTED on purpose: Apollo Client's
 *   persisted-query link reacts to NOT_SUPPORTED by turning persisted queries off for good and
 *   sending text, which this mode refuses; FORBIDDEN says what happened (refused by policy).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { projectRoot } from '@vibestream/platform';

/** Document id as the manifest spells it → document text. */
export type PersistedDocumentStore = ReadonlyMap<string, string>;

export const DEFAULT_PERSISTED_DOCUMENTS_PATH = 'clients/generated/persisted-documents.json';

export interface PersistedDocumentOptions {
  /** Refuse query text that is not a known document (production). */
  onlyKnown: boolean;
}

export interface PersistedDocumentError {
  status: number;
  code: 'PERSISTED_QUERY_NOT_FOUND' | 'FORBIDDEN' | 'BAD_REQUEST';
  message: string;
}

export type PersistedDocumentResolution = { body: unknown } | { error: PersistedDocumentError };

const SHA256_PREFIX = 'sha256:';
const HEX_SHA256 = /^[0-9a-f]{64}$/i;

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Reads a manifest written by the client preset (relative paths are from the project root).
 * Throws when the file is not an object of strings, or when a sha256 id does not hash its text.
 */
export function loadPersistedDocuments(path: string = DEFAULT_PERSISTED_DOCUMENTS_PATH): Map<string, string> {
  const file = resolve(projectRoot, path);
  const manifest: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!isRecord(manifest)) throw new Error(`${file}: a persisted documents manifest is a JSON object of id → document`);
  const store = new Map<string, string>();
  for (const [id, query] of Object.entries(manifest)) {
    if (typeof query !== 'string') throw new Error(`${file}: persisted document ${id} is not a string`);
    const hex = sha256Of(id);
    if (hex !== undefined && hex !== sha256Hex(query)) throw new Error(`${file}: persisted document ${id} does not match its sha256`);
    store.set(id, query);
  }
  return store;
}

/** The stored document for an id in either spelling (`sha256:<hex>` or `<hex>`). */
export function findPersistedDocument(store: PersistedDocumentStore, id: string): string | undefined {
  const direct = store.get(id);
  if (direct !== undefined) return direct;
  const hex = sha256Of(id);
  if (hex === undefined) return undefined;
  return store.get(`${SHA256_PREFIX}${hex}`) ?? store.get(hex);
}

/**
 * Resolves the persisted document of a GraphQL-over-HTTP request: a parsed POST JSON body (an
 * object, or an array when batching) or the GET parameters as an object (`extensions` then being
 * a JSON string). Returns the body to hand to Apollo, or the error to answer with.
 */
export function resolvePersistedDocument(body: unknown, store: PersistedDocumentStore, options: PersistedDocumentOptions): PersistedDocumentResolution {
  if (Array.isArray(body)) {
    const resolved: unknown[] = [];
    for (const entry of body) {
      const result = resolvePersistedDocument(entry, store, options);
      if ('error' in result) return result;
      resolved.push(result.body);
    }
    return { body: resolved };
  }
  // Anything else that is not a request object is Apollo's to refuse.
  if (!isRecord(body)) return { body };

  const { documentId, ...rest } = body;
  if (documentId !== undefined && typeof documentId !== 'string') return badRequest('documentId must be a string');

  // Malformed extensions are Apollo's to refuse; they still get the onlyKnown check below.
  const parsedExtensions = readExtensions(rest.extensions);
  const extensions = parsedExtensions === 'invalid' ? undefined : parsedExtensions;
  const persistedQuery = extensions?.persistedQuery;
  let apqHash: string | undefined;
  if (persistedQuery !== undefined) {
    const hash = isRecord(persistedQuery) ? persistedQuery.sha256Hash : undefined;
    if (typeof hash !== 'string') return badRequest('extensions.persistedQuery.sha256Hash must be a string');
    apqHash = hash;
  }
  const id = documentId ?? apqHash;
  // A query that is not a string is left for Apollo to refuse ("GraphQL queries must be strings").
  const query = rest.query;

  const rewritten = (text: unknown): Record<string, unknown> => {
    const next: Record<string, unknown> = { ...rest };
    if (text !== undefined) next.query = text;
    if (extensions && persistedQuery !== undefined) {
      const { persistedQuery: _dropped, ...others } = extensions;
      if (Object.keys(others).length === 0) delete next.extensions;
      else next.extensions = typeof rest.extensions === 'string' ? JSON.stringify(others) : others;
    }
    return next;
  };

  if (id !== undefined) {
    const stored = findPersistedDocument(store, id);
    if (stored !== undefined) {
      if (query !== undefined && query !== null && query !== stored) {
        return badRequest(`The query text does not match persisted document ${shown(id)}`);
      }
      return { body: rewritten(stored) };
    }
    if (query === undefined || query === null) {
      return { error: { status: 400, code: 'PERSISTED_QUERY_NOT_FOUND', message: `Persisted document ${shown(id)} is not known` } };
    }
    // An unknown id sent with its text (APQ registration): never registered, judged as plain text.
  }

  if (options.onlyKnown && query !== undefined && query !== null && !(typeof query === 'string' && isKnownText(store, query))) {
    return {
      error: {
        status: 403,
        code: 'FORBIDDEN',
        message: 'Only persisted documents are accepted: this query is not a known document (send its documentId)',
      },
    };
  }
  return { body: id === undefined && persistedQuery === undefined ? body : rewritten(query) };
}

/** The request as `runApolloRequest` hands it to Apollo (`search` is the URL's `?…` part). */
export interface GraphQLHttpRequestParts {
  method: string;
  search: string;
  body: unknown;
}

export type GraphQLRequestTransformResult = { search: string; body: unknown } | { error: PersistedDocumentError };

/** GET parameters Apollo reads; each may appear once (Apollo refuses repeats, and so do we). */
const getParams = ['query', 'operationName', 'variables', 'extensions', 'documentId'] as const;

/**
 * `resolvePersistedDocument` for a whole HTTP request: POST bodies as they are, GET requests
 * through their search parameters (rebuilt from the resolved request).
 */
export function resolvePersistedRequest(
  request: GraphQLHttpRequestParts,
  store: PersistedDocumentStore,
  options: PersistedDocumentOptions,
): GraphQLRequestTransformResult {
  if (request.method !== 'GET') {
    const result = resolvePersistedDocument(request.body, store, options);
    return 'error' in result ? result : { search: request.search, body: result.body };
  }
  const params = new URLSearchParams(request.search);
  const fields: Record<string, string> = {};
  for (const name of getParams) {
    const values = params.getAll(name);
    if (values.length > 1) return badRequest(`The '${name}' search parameter may only be specified once`);
    if (values[0] !== undefined) fields[name] = values[0];
  }
  if (fields.documentId === undefined && fields.extensions === undefined && !options.onlyKnown) {
    return { search: request.search, body: request.body };
  }
  const result = resolvePersistedDocument(fields, store, options);
  if ('error' in result) return result;
  const resolved = result.body as Record<string, unknown>;
  for (const name of getParams) params.delete(name);
  for (const name of getParams) {
    const value = resolved[name];
    if (typeof value === 'string') params.set(name, value);
  }
  const search = params.toString();
  return { search: search ? `?${search}` : '', body: request.body };
}

/** A request transformer for `runApolloRequest` (see the gateway wiring). */
export function persistedDocumentsTransform(store: PersistedDocumentStore, options: PersistedDocumentOptions) {
  return (request: GraphQLHttpRequestParts): GraphQLRequestTransformResult => resolvePersistedRequest(request, store, options);
}

/** An id as error messages show it: a client's string, so never more than 100 characters. */
function shown(id: string): string {
  return id.length > 100 ? `${id.slice(0, 100)}…` : id;
}

function isKnownText(store: PersistedDocumentStore, query: string): boolean {
  return findPersistedDocument(store, sha256Hex(query)) === query;
}

/** The hex digest of a sha256 id (`sha256:<hex>` or `<hex>`), lower-cased; undefined for other ids. */
function sha256Of(id: string): string | undefined {
  const hex = id.startsWith(SHA256_PREFIX) ? id.slice(SHA256_PREFIX.length) : id;
  return HEX_SHA256.test(hex) ? hex.toLowerCase() : undefined;
}

/** `extensions` as an object: POST bodies carry one, GET parameters a JSON string. */
function readExtensions(value: unknown): Record<string, unknown> | undefined | 'invalid' {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') {
    try {
      const parsed: unknown = JSON.parse(value);
      return isRecord(parsed) ? parsed : 'invalid';
    } catch {
      return 'invalid';
    }
  }
  return isRecord(value) ? value : 'invalid';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function badRequest(message: string): { error: PersistedDocumentError } {
  return { error: { status: 400, code: 'BAD_REQUEST', message } };
}
