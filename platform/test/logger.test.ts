import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, createLogger, logFormat, withRequestId } from '@vibestream/platform';

/** Collects what a logger writes; `isTTY` plays a terminal. */
function capture(isTTY = false) {
  const lines: string[] = [];
  let pending = '';
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        pending += chunk.toString();
        const parts = pending.split('\n');
        pending = parts.pop()!;
        lines.push(...parts);
        done();
      },
    }),
    { isTTY },
  );
  return { stream, lines };
}

/** The keys that appear more than once in one JSON object of `text` (JSON.parse would keep the last silently). */
function duplicateKeys(text: string): string[] {
  const duplicates: string[] = [];
  const stack: { keys: Set<string> | null; expectKey: boolean }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const top = stack.at(-1);
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.keys.has(key)) duplicates.push(key);
        top.keys.add(key);
        top.expectKey = false;
      }
      i = end;
    } else if (c === '{') stack.push({ keys: new Set(), expectKey: true });
    else if (c === '[') stack.push({ keys: null, expectKey: false });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',' && top?.keys) top.expectKey = true;
  }
  return duplicates;
}

describe('createLogger', () => {
  it('writes each key once, whatever children bind and lines repeat', () => {
    const { stream, lines } = capture();
    const log = createLogger('vibestream', 'debug', { format: 'json', destination: stream });
    const catalog = log.child({ subgraph: 'catalog' });
    catalog.info({ subgraph: 'catalog', port: 4002 }, 'subgraph listening');
    catalog
      .child({ subgraph: 'catalog', consumer: 'catalog' })
      .child({ consumer: 'catalog', group: 'g' })
      .warn({ group: 'g', err: new Error('boom') }, 'handler failed');
    catalog.child({ subgraph: 'rewards' }).info('rebound');
    catalog.info({ subgraph: 'ownership' }, 'replaced on the line');
    log.info({ name: 'media-signing' }, 'a field named like the logger');
    withRequestId('req-1', () => catalog.child({ requestId: 'req-1' }).error({ requestId: 'req-1' }, 'in a request'));

    expect(lines).toHaveLength(6);
    for (const line of lines) expect(duplicateKeys(line), line).toEqual([]);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed[0]).toMatchObject({ name: 'vibestream', subgraph: 'catalog', port: 4002, msg: 'subgraph listening' });
    expect(parsed[1]).toMatchObject({ subgraph: 'catalog', consumer: 'catalog', group: 'g', err: { message: 'boom' } });
    expect(parsed[2]).toMatchObject({ subgraph: 'rewards', msg: 'rebound' });
    expect(parsed[3]).toMatchObject({ subgraph: 'ownership', msg: 'replaced on the line' });
    expect(parsed[4]).toMatchObject({ name: 'media-signing' });
    expect(parsed[5]).toMatchObject({ requestId: 'req-1', level: 50 });
  });

  it('keeps the child level and redaction when it rebinds a key', () => {
    const { stream, lines } = capture();
    const log = createLogger('vibestream', 'warn', { format: 'json', destination: stream });
    const child = log.child({ subgraph: 'identity' });
    child.info({ subgraph: 'other' }, 'below the level');
    child.warn({ subgraph: 'other', password: 'hunter2' }, 'rebound and redacted');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ subgraph: 'other', password: '[redacted]' });
  });

  it('writes readable lines when asked (or on a terminal), JSON otherwise', () => {
    const pretty = capture(false);
    const log = createLogger('vibestream', 'info', { format: 'pretty', destination: pretty.stream });
    log.child({ subgraph: 'catalog' }).info({ port: 4002 }, 'subgraph listening');
    expect(pretty.lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(vibestream\): \[catalog\] subgraph listening$/);
    expect(pretty.lines[1]).toMatch(/^\s+port: 4002$/);
    expect(pretty.lines.join('\n')).not.toContain('"level"');

    expect(logFormat({}, { isTTY: true })).toBe('pretty');
    expect(logFormat({}, { isTTY: false })).toBe('json');
    expect(logFormat({ LOG_FORMAT: 'json' }, { isTTY: true })).toBe('json');
    expect(logFormat({ LOG_FORMAT: 'pretty' }, { isTTY: false })).toBe('pretty');
    expect(logFormat({ LOG_FORMAT: '' }, { isTTY: false })).toBe('json');
  });

  it('answers a bad LOG_LEVEL or LOG_FORMAT with a configuration error naming it', () => {
    expect(() => createLogger('x', 'verbose')).toThrow(ConfigError);
    expect(() => createLogger('x', 'verbose')).toThrow(/LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent/);
    expect(() => logFormat({ LOG_FORMAT: 'colour' })).toThrow(/LOG_FORMAT: /);
  });
});

describe('duplicateKeys', () => {
  it('finds a key repeated in one object, at any depth, and not across objects or arrays', () => {
    expect(duplicateKeys('{"a":1,"a":2}')).toEqual(['a']);
    expect(duplicateKeys('{"a":{"b":1,"b":"x,\\"b\\""},"c":[{"b":1},{"b":2}]}')).toEqual(['b']);
    expect(duplicateKeys('{"a":[1,2,"a"],"b":{"a":1}}')).toEqual([]);
  });
});
