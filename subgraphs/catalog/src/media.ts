import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { fileTypeFromBuffer } from 'file-type';
import { discardRequestBody, sendJson, type HttpRoute, type Logger, type Persistence } from '@vibestream/platform';
import { UploadStored } from './events.ts';
import { parseRange, sniffedMatches } from './domain/media.ts';
import { checkMediaSignature } from './domain/signed-url.ts';
import { isUuid } from './service.ts';
import * as store from './store.ts';
import type { MediaStorage } from './storage/storage.ts';

const SNIFF_BYTES = 4100;

class UploadTooLarge extends Error {}

/** The catalog's media endpoints; the gateway forwards `/media/*` here with bodies streamed both ways. */
export function mediaRoutes(deps: { db: Persistence; storage: MediaStorage; signingSecret: string; log: Logger }): HttpRoute[] {
  const { db, storage, signingSecret, log } = deps;

  async function upload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://media');
    const ticketId = url.pathname.slice('/media/upload/'.length);
    const signature = isUuid(ticketId)
      ? checkMediaSignature(signingSecret, 'upload', ticketId, url.searchParams.get('exp'), url.searchParams.get('sig'), Date.now() / 1000)
      : 'invalid';
    if (signature !== 'valid') return refuse(req, res, 403, signature === 'expired' ? 'This upload URL has expired' : 'Invalid upload signature');

    const ticket = await store.ticketById(db.reader(), ticketId);
    if (!ticket) return refuse(req, res, 404, 'Unknown upload');
    const maxBytes = ticket.maxBytes;
    const declaredLength = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declaredLength) && declaredLength > maxBytes) {
      return refuse(req, res, 413, `The body is larger than the ${maxBytes} bytes requested for this upload`);
    }
    // Single use: the first request to claim the ticket wins; later ones are refused.
    const claimed = await db.useCase((tx) => store.claimTicket(tx, ticketId));
    if (!claimed) {
      return refuse(req, res, ticket.usedAt ? 410 : 403, ticket.usedAt ? 'This upload URL was already used' : 'This upload URL has expired');
    }

    const head = await readHead(req, SNIFF_BYTES);
    const sniffed = await fileTypeFromBuffer(head.bytes);
    if (!sniffedMatches(ticket.contentType, sniffed?.mime)) {
      return refuse(req, res, 415, `The bytes are not ${ticket.contentType} audio${sniffed ? ` (they look like ${sniffed.mime})` : ''}`);
    }

    let received = 0;
    const body = Readable.from(
      (async function* () {
        received += head.bytes.length;
        if (received > maxBytes) throw new UploadTooLarge();
        yield head.bytes;
        for await (const chunk of head.iterator) {
          received += (chunk as Buffer).length;
          if (received > maxBytes) throw new UploadTooLarge();
          yield chunk as Buffer;
        }
      })(),
    );
    const key = `songs/${ticket.songId}/${randomUUID()}`;
    let stored;
    try {
      stored = await storage.put(key, body, ticket.contentType);
    } catch (error) {
      await storage.remove(key).catch(() => undefined);
      if (error instanceof UploadTooLarge) return refuse(req, res, 413, `The body is larger than the ${maxBytes} bytes requested for this upload`);
      throw error;
    }

    const previousKey = await db.useCase(async (tx) => {
      const song = await store.lockSongMedia(tx, ticket.songId);
      if (!song || song.status !== 'DRAFT') return { rejected: true as const };
      await store.setSongMedia(tx, ticket.songId, { key, contentType: ticket.contentType, bytes: stored.bytes, etag: stored.etag });
      await store.markTicketStored(tx, ticketId, stored.bytes);
      tx.outbox.record(UploadStored, {
        uploadId: ticketId,
        userId: ticket.userId,
        songId: ticket.songId,
        bytes: stored.bytes,
        storedAt: new Date().toISOString(),
      });
      return { rejected: false as const, key: song.media_key };
    });
    if (previousKey.rejected) {
      await storage.remove(key).catch(() => undefined);
      return refuse(req, res, 409, 'The song was published meanwhile; its audio cannot be replaced');
    }
    if (previousKey.key) await storage.remove(previousKey.key).catch((error: unknown) => log.warn({ err: error }, 'could not remove replaced media'));
    sendJson(res, 201, { songId: ticket.songId, bytes: stored.bytes, contentType: ticket.contentType });
  }

  async function stream(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://media');
    const songId = url.pathname.slice('/media/stream/'.length);
    const signature = isUuid(songId)
      ? checkMediaSignature(signingSecret, 'stream', songId, url.searchParams.get('exp'), url.searchParams.get('sig'), Date.now() / 1000)
      : 'invalid';
    if (signature !== 'valid') return sendJson(res, 403, { error: signature === 'expired' ? 'This stream URL has expired' : 'Invalid stream signature' });

    const media = await store.songMedia(db.reader(), songId);
    if (!media?.media_key) return sendJson(res, 404, { error: 'No audio for this song' });
    const size = Number(media.media_bytes);
    const etag = `"${media.media_etag}"`;
    const common = { 'accept-ranges': 'bytes', etag, 'cache-control': 'private, max-age=3600' };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, common);
      return void res.end();
    }
    const ifRange = req.headers['if-range'];
    const range = ifRange && ifRange !== etag ? null : parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...common, 'content-range': `bytes */${size}` });
      return void res.end();
    }
    const headers = { ...common, 'content-type': media.media_content_type ?? 'application/octet-stream' };
    if (range) {
      res.writeHead(206, { ...headers, 'content-range': `bytes ${range.start}-${range.end}/${size}`, 'content-length': range.end - range.start + 1 });
    } else {
      res.writeHead(200, { ...headers, 'content-length': size });
    }
    if (req.method === 'HEAD') return void res.end();
    const body = await storage.read(media.media_key, range ?? undefined);
    body.on('error', (error) => {
      log.warn({ err: error, songId }, 'media stream failed');
      res.destroy(error);
    });
    res.on('close', () => body.destroy());
    body.pipe(res);
  }

  return [
    { method: 'PUT', path: '/media/upload/', handle: upload },
    { method: 'GET', path: '/media/stream/', handle: stream },
    { method: 'HEAD', path: '/media/stream/', handle: stream },
  ];
}

/** Answers without waiting for a body the client may still be sending; the rest is discarded. */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, error: string): void {
  sendJson(res, status, { error });
  void discardRequestBody(req);
}

/** Reads at least `bytes` bytes (or the whole body if shorter) and hands back the iterator for the rest. */
async function readHead(req: IncomingMessage, bytes: number) {
  const iterator = req[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let length = 0;
  while (length < bytes) {
    const next = await iterator.next();
    if (next.done) break;
    chunks.push(next.value as Buffer);
    length += (next.value as Buffer).length;
  }
  return { bytes: Buffer.concat(chunks), iterator: { [Symbol.asyncIterator]: () => iterator } as AsyncIterable<unknown> };
}
