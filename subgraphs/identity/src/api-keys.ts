import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  BodyTooLargeError,
  badInput,
  isUniqueViolation,
  notFound,
  readBody,
  sendJson,
  type HttpRoute,
  type Logger,
  type Persistence,
  type Principal,
} from '@vibestream/platform';
import { apiKeyLookupPrefix, apiKeyMatches, internalTokenMatches, newApiKey, normalizeApiKeyName } from './domain/api-keys.ts';
import { isUuid } from './service.ts';
import * as store from './store.ts';
import type { ApiKey } from './store.ts';

/** Where the gateway checks a partner's `x-api-key`; only callers with the internal token may ask. */
export const API_KEY_VERIFY_PATH = '/internal/api-keys/verify';
/** The header carrying INTERNAL_API_TOKEN on internal routes. */
export const INTERNAL_TOKEN_HEADER = 'x-internal-token';

export type ApiKeyVerdict = { valid: true; keyId: string; name: string } | { valid: false };

/** Partner API keys: created and revoked by ADMINs, checked by the gateway. */
export class ApiKeyService {
  private readonly db: Persistence;
  private readonly log: Logger;

  constructor(deps: { db: Persistence; log: Logger }) {
    this.db = deps.db;
    this.log = deps.log;
  }

  async create(principal: Principal, rawName: string): Promise<{ apiKey: ApiKey; key: string }> {
    const name = normalizeApiKeyName(rawName);
    if (!name) throw badInput('name must be 1 to 100 characters', 'name');
    // The lookup prefix is 48 random bits: a clash is all but impossible, and answered by another draw.
    for (let attempt = 0; ; attempt++) {
      const generated = newApiKey();
      try {
        const apiKey = await this.db.useCase((tx) =>
          store.insertApiKey(tx, {
            id: randomUUID(),
            name,
            prefix: generated.prefix,
            keyHash: generated.hash,
            createdBy: principal.userId,
            createdAt: new Date(),
          }),
        );
        if (!apiKey) throw new Error('insert into api_keys returned no row');
        this.log.info({ apiKeyId: apiKey.id, prefix: apiKey.prefix, by: principal.userId }, 'api key created');
        return { apiKey, key: generated.key };
      } catch (error) {
        if (attempt < 3 && isUniqueViolation(error, 'api_keys_key_prefix_key')) continue;
        throw error;
      }
    }
  }

  async revoke(principal: Principal, id: string): Promise<ApiKey> {
    if (!isUuid(id)) throw notFound('API key');
    const apiKey = await this.db.useCase(async (tx) => {
      await store.revokeApiKey(tx, id);
      return store.apiKeyById(tx, id);
    });
    if (!apiKey) throw notFound('API key');
    this.log.info({ apiKeyId: id, by: principal.userId }, 'api key revoked');
    return apiKey;
  }

  /** The newest `limit` keys, newest first. */
  list(limit: number): Promise<ApiKey[]> {
    return store.apiKeys(this.db.reader(), limit);
  }

  /** Whether a presented key is a live one; records its use at most once a minute. */
  async verify(key: string): Promise<ApiKeyVerdict> {
    const prefix = apiKeyLookupPrefix(key);
    if (!prefix) return { valid: false };
    const apiKey = await store.apiKeyByPrefix(this.db.reader(), prefix);
    if (!apiKey || !apiKeyMatches(key, apiKey.keyHash) || apiKey.revokedAt) return { valid: false };
    await this.db.useCase((tx) => store.touchApiKey(tx, apiKey.id));
    return { valid: true, keyId: apiKey.id, name: apiKey.name };
  }

  /**
   * `POST /internal/api-keys/verify` with `{ "key": "vsk_…" }` → `{ valid, keyId?, name? }`.
   * Only for the gateway: the `x-internal-token` header must carry INTERNAL_API_TOKEN (401 otherwise).
   */
  verifyRoute(internalToken: string): HttpRoute {
    return {
      method: 'POST',
      path: API_KEY_VERIFY_PATH,
      handle: (req, res) => this.serveVerify(req, res, internalToken),
    };
  }

  private async serveVerify(req: IncomingMessage, res: ServerResponse, internalToken: string): Promise<void> {
    const presented = req.headers[INTERNAL_TOKEN_HEADER];
    if (!internalTokenMatches(typeof presented === 'string' ? presented : undefined, internalToken)) {
      return sendJson(res, 401, { error: 'unauthorized' });
    }
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req, 4096));
    } catch (error) {
      if (error instanceof BodyTooLargeError) return sendJson(res, 413, { error: 'body too large' });
      return sendJson(res, 400, { error: 'expected a JSON body { "key": string }' });
    }
    const key = (body as { key?: unknown } | null)?.key;
    if (typeof key !== 'string') return sendJson(res, 400, { error: 'expected a JSON body { "key": string }' });
    sendJson(res, 200, await this.verify(key), { 'cache-control': 'no-store' });
  }
}
