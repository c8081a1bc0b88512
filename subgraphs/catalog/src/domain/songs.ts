/** Catalog input rules, as pure functions returning the cleaned value or a problem naming the field. */
export type Checked<T> = { ok: true; value: T } | { ok: false; field: string; message: string };

const fail = (field: string, message: string): { ok: false; field: string; message: string } => ({ ok: false, field, message });

export function checkText(field: string, value: string, max: number): Checked<string> {
  const trimmed = value.trim().replace(/\s+/g, ' ');
  if (!trimmed) return fail(field, `${field} must not be empty`);
  if (trimmed.length > max) return fail(field, `${field} must be at most ${max} characters`);
  return { ok: true, value: trimmed };
}

/** ISRC: CC-XXX-YY-NNNNN (country, registrant, year, designation); hyphens optional, any case. */
export function checkIsrc(value: string | null | undefined): Checked<string | null> {
  if (value === null || value === undefined || value.trim() === '') return { ok: true, value: null };
  const normalized = value.trim().replace(/-/g, '').toUpperCase();
  if (!/^[A-Z]{2}[A-Z0-9]{3}\d{7}$/.test(normalized)) return fail('isrc', 'isrc must look like CC-XXX-YY-NNNNN (12 characters)');
  return { ok: true, value: normalized };
}

/** The most songs one album holds. Album.songs declares it (@listSize(assumedSize: 100)): the gateway prices queries by it. */
export const MAX_ALBUM_SONGS = 100;

export interface SongVisibility {
  status: 'DRAFT' | 'PUBLISHED';
  artistUserId: string;
}

/** Only PUBLISHED songs are visible to anyone but their artist. */
export function canSeeSong(song: SongVisibility, viewerUserId: string | null | undefined): boolean {
  return song.status === 'PUBLISHED' || (!!viewerUserId && viewerUserId === song.artistUserId);
}

/** Search input: trimmed, whitespace collapsed, bounded. */
export function normalizeSearchQuery(query: string): Checked<string> {
  const q = query.trim().replace(/\s+/g, ' ').toLowerCase();
  if (!q) return fail('query', 'query must not be empty');
  if (q.length > 200) return fail('query', 'query must be at most 200 characters');
  return { ok: true, value: q };
}
