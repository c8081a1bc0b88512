import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson, type HttpRoute, type Logger, type Persistence } from '@vibestream/platform';
import { SEGMENT_NAME, checkGrant, grantQuery, masterPlaylist, renditionKey, signedMediaPlaylist, type StreamGrant } from './domain/streaming.ts';
import { isUuid } from './service.ts';
import * as store from './store.ts';
import type { StreamJob } from './store.ts';
import type { MediaStorage } from './storage/storage.ts';

const PLAYLIST = 'application/vnd.apple.mpegurl';

/**
 * The HLS files of a stream session (`songStream`), all under `/media/hls/<songId>/` and all signed
 * with the session's grant: `master.m3u8` (the renditions the grant allows), `<kbps>/index.m3u8`,
 * `<kbps>/segNNN.ts` and `<kbps>/key` (the rendition's AES-128 key). A rendition above the grant's limit, a
 * signature of another session or song, or an expired one is 403.
 */
export function hlsRoutes(deps: { db: Persistence; storage: MediaStorage; signingSecret: string; log: Logger }): HttpRoute[] {
  const { db, storage, signingSecret, log } = deps;
  // A READY job's output never changes (a new attempt cannot finish it): its row, its stored
  // playlists and its key are kept here once read, so a segment costs no database round trip.
  const ready = new Bounded<StreamJob>(10_000);
  const playlists = new Bounded<string>(10_000);
  const keys = new Bounded<Buffer>(10_000);

  async function readyJob(songId: string): Promise<StreamJob | undefined> {
    const known = ready.get(songId);
    if (known) return known;
    const [job] = await store.streamJobsBySongs(db.reader(), [songId]);
    if (job?.status === 'READY') ready.set(songId, job);
    return job;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://media');
    const [songId = '', ...rest] = url.pathname.slice('/media/hls/'.length).split('/');
    if (!isUuid(songId)) return sendJson(res, 404, { error: 'Unknown stream' });
    const check = checkGrant(signingSecret, songId, url.searchParams, Date.now() / 1000);
    if (!check.ok) return sendJson(res, 403, { error: check.reason === 'expired' ? 'This stream session has expired' : 'Invalid stream signature' });
    const { grant } = check;
    const job = await readyJob(songId);
    if (job?.status !== 'READY' || !job.outputPrefix || !job.renditions) return sendJson(res, 404, { error: 'No stream for this song' });
    const query = grantQuery(signingSecret, grant);
    const private_ = { 'cache-control': `private, max-age=${Math.max(0, grant.exp - Math.floor(Date.now() / 1000))}` };

    if (rest.length === 1 && rest[0] === 'master.m3u8') {
      const body = masterPlaylist(
        songId,
        job.renditions.map((r) => r.bitrateKbps),
        grant.maxKbps,
        query,
      );
      return send(req, res, 200, { ...private_, 'content-type': PLAYLIST }, body);
    }
    if (rest.length === 2 && /^\d{2,3}$/.test(rest[0]!)) {
      const kbps = Number(rest[0]);
      const file = rest[1]!;
      if (!allowed(job, grant, kbps)) return sendJson(res, 403, { error: `This stream session is limited to ${grant.maxKbps} kbps` });
      if (file === 'key') {
        const songKey = keys.get(songId) ?? (await store.streamEncryptionKey(db.reader(), songId));
        if (!songKey) return sendJson(res, 404, { error: 'No key for this stream' });
        keys.set(songId, songKey);
        return send(req, res, 200, { 'cache-control': 'private, no-store', 'content-type': 'application/octet-stream' }, renditionKey(songKey, kbps));
      }
      if (file === 'index.m3u8') {
        const path = `${job.outputPrefix}/${kbps}/index.m3u8`;
        const stored = playlists.get(path) ?? (await readText(storage, path));
        playlists.set(path, stored);
        return send(req, res, 200, { ...private_, 'content-type': PLAYLIST }, signedMediaPlaylist(stored, songId, kbps, query));
      }
      if (SEGMENT_NAME.test(file)) {
        const key = `${job.outputPrefix}/${kbps}/${file}`;
        const size = await storage.size(key);
        if (size === null) return sendJson(res, 404, { error: 'No such segment' });
        res.writeHead(200, { ...private_, 'content-type': 'video/mp2t', 'content-length': size });
        if (req.method === 'HEAD') return void res.end();
        const body = await storage.read(key);
        body.on('error', (error) => {
          log.warn({ err: error, songId }, 'segment stream failed');
          res.destroy(error);
        });
        res.on('close', () => body.destroy());
        body.pipe(res);
        return;
      }
    }
    sendJson(res, 404, { error: 'No such stream file' });
  }

  return [
    { method: 'GET', path: '/media/hls/', handle },
    { method: 'HEAD', path: '/media/hls/', handle },
  ];
}

/** A rendition the job made and the grant allows; one it did not make is not found, one above the limit forbidden. */
function allowed(job: StreamJob, grant: StreamGrant, kbps: number): boolean {
  return kbps <= grant.maxKbps && (job.renditions ?? []).some((r) => r.bitrateKbps === kbps);
}

async function readText(storage: MediaStorage, key: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of await storage.read(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { ...headers, 'content-length': bytes.length });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

/** A map that forgets its oldest entries beyond `max`. */
class Bounded<T> {
  private readonly map = new Map<string, T>();
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  get(key: string): T | undefined {
    return this.map.get(key);
  }
  set(key: string, value: T): void {
    if (this.map.has(key)) return;
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, value);
  }
}
