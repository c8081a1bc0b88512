/** Audio formats accepted for upload, with the content types sniffing may report for each. */
const formats: Record<string, string[]> = {
  'audio/mpeg': ['audio/mpeg'],
  'audio/ogg': ['audio/ogg', 'audio/opus', 'audio/ogg; codecs=opus'],
  'audio/flac': ['audio/flac', 'audio/x-flac'],
  'audio/wav': ['audio/wav', 'audio/vnd.wave', 'audio/x-wav', 'audio/wave'],
  'audio/mp4': ['audio/mp4', 'audio/x-m4a', 'audio/m4a', 'audio/aac', 'video/mp4'],
};

const aliases: Record<string, string> = {
  'audio/mp3': 'audio/mpeg',
  'audio/x-mp3': 'audio/mpeg',
  'audio/x-wav': 'audio/wav',
  'audio/wave': 'audio/wav',
  'audio/vnd.wave': 'audio/wav',
  'audio/x-flac': 'audio/flac',
  'audio/x-m4a': 'audio/mp4',
  'audio/m4a': 'audio/mp4',
  'audio/opus': 'audio/ogg',
};

export const ACCEPTED_CONTENT_TYPES = Object.keys(formats);

/** The canonical accepted content type for a declared one, or null when it is not accepted. */
export function canonicalContentType(declared: string): string | null {
  const base = declared.split(';')[0]!.trim().toLowerCase();
  const canonical = aliases[base] ?? base;
  return canonical in formats ? canonical : null;
}

/** True when the sniffed type of the bytes is the declared (canonical) format. */
export function sniffedMatches(canonical: string, sniffedMime: string | undefined): boolean {
  return !!sniffedMime && (formats[canonical] ?? []).includes(sniffedMime.toLowerCase());
}

export type ByteRange = { start: number; end: number };

/**
 * Parses an HTTP Range header against a resource of `size` bytes (RFC 9110 §14): a single
 * byte range, open-ended or suffix. null means "ignore it and send everything";
 * 'unsatisfiable' means 416.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
  if (!header) return null;
  const match = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header.trim());
  // Malformed or multi-range: serve the whole resource.
  if (!match) return null;
  const [, startText, endText] = match;
  if (startText === '' && endText === '') return null;
  if (startText === '') {
    const suffix = Number(endText);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(startText);
  if (start >= size) return 'unsatisfiable';
  const end = endText === '' ? size - 1 : Math.min(Number(endText), size - 1);
  if (end < start) return null;
  return { start, end };
}
