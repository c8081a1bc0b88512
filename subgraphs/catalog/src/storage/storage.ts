import type { Readable } from 'node:stream';

export interface StoredObject {
  bytes: number;
  /** A strong validator of the content (sha256, or the store's own ETag). */
  etag: string;
}

/** Where audio bytes live. Keys are opaque to callers. */
export interface MediaStorage {
  readonly kind: 'filesystem' | 's3';
  /** Streams `body` to `key`; the object only becomes visible once complete. */
  put(key: string, body: Readable, contentType: string): Promise<StoredObject>;
  size(key: string): Promise<number | null>;
  /** Streams the object, or the inclusive byte range of it. */
  read(key: string, range?: { start: number; end: number }): Promise<Readable>;
  remove(key: string): Promise<void>;
}
