import { posix } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRequestPath, type RequestPath } from '../src/request-path.ts';
import { forwardDecision } from '../src/forwarded-routes.ts';

const accepted = (target: string): RequestPath => {
  const result = parseRequestPath(target);
  if ('error' in result) throw new Error(`${target} refused: ${result.error}`);
  return result;
};

/** Every reading a server might give a path: decoded 0..n times, backslashes as slashes or not. */
function readingsOf(path: string): string[] {
  const readings: string[] = [];
  let current = path;
  for (let round = 0; round < 5; round++) {
    readings.push(current, current.replaceAll('\\', '/'), current.replace(/;[^/]*/g, ''));
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      next = current.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    }
    if (next === current) break;
    current = next;
  }
  return readings;
}

const UUID = '0b6c7e1a-54e4-4c1d-9a55-3f1e2b8f9c10';

describe('parseRequestPath', () => {
  it.each([
    ['/media/..', 'dot-segment'],
    ['/media/../graphql', 'dot-segment'],
    ['/media/./stream', 'dot-segment'],
    ['/media/%2e%2e/graphql', 'dot-segment'],
    ['/media/%2E%2E/graphql', 'dot-segment'],
    ['/media/.%2e/graphql', 'dot-segment'],
    ['/media/%2e./graphql', 'dot-segment'],
    ['/media/%252e%252e/graphql', 'dot-segment'],
    ['/media/%25252e%25252E/metrics', 'dot-segment'],
    ['/media/%2e', 'dot-segment'],
    ['/media/..;x/graphql', 'dot-segment'],
    ['/media/%2e%2e%3bx/graphql', 'dot-segment'],
    ['/media/..%3f/graphql', 'encoded ? or #'],
    ['/media/..%23/graphql', 'encoded ? or #'],
    ['/media/..%2fgraphql', 'slash'],
    ['/media/%2F..%2Fgraphql', 'slash'],
    ['/media/stream%252fx', 'slash'],
    ['/media/..%5cgraphql', 'backslash'],
    ['/media/..%5Cgraphql', 'backslash'],
    ['/media/..\\graphql', 'backslash'],
    ['/media/%255c', 'backslash'],
    ['/media/%00/graphql', 'control character'],
    ['/media/a%0d%0aX-Injected:1', 'control character'],
    ['/media/%7f', 'control character'],
    ['/media/%c0%ae%c0%ae/graphql', 'not UTF-8'],
    ['/media/%ff', 'not UTF-8'],
    ['/media//graphql', 'empty segment'],
    ['//evil.example/graphql', 'empty segment'],
    ['http://catalog:4002/graphql', 'must be a path'],
    ['*', 'must be a path'],
    ['/media/a b', 'characters'],
    ['/media/stream/x#frag', 'characters'],
    ['/media/\u00e9', 'characters'],
  ])('refuses %s (%s)', (target, reason) => {
    const result = parseRequestPath(target);
    expect(result).toHaveProperty('error');
    expect((result as { error: string }).error).toContain(reason);
  });

  it('decodes each segment and keeps the query string as sent', () => {
    expect(accepted('/')).toEqual({ segments: [''], path: '/', search: '' });
    expect(accepted('/graphql?query=%7B__typename%7D')).toEqual({ segments: ['graphql'], path: '/graphql', search: '?query=%7B__typename%7D' });
    expect(accepted('/%67raphql').path).toBe('/graphql');
    expect(accepted('/songs/caf%C3%A9/').segments).toEqual(['songs', 'café', '']);
    // A query string may hold anything a URL may: it never changes the path.
    expect(accepted('/media/stream/x?a=../..%2f&b=%2e%2e').search).toBe('?a=../..%2f&b=%2e%2e');
  });

  it('property: no accepted path, read after any number of decodings, has a dot-segment or leaves its prefix', () => {
    const piece = fc.constantFrom(
      '.',
      '..',
      '%2e',
      '%2E',
      '%252e',
      '%25',
      '2e',
      '%2f',
      '%2F',
      '%5c',
      '%5C',
      '%252f',
      '/',
      '\\',
      'a',
      'graphql',
      '%',
      'e',
      'f',
      '5c',
      '%00',
      '%c0%ae',
      ';',
      '?',
      '%3f',
    );
    fc.assert(
      fc.property(fc.constantFrom('/media/', '/media/stream/', '/nft/', '/webhooks/stripe/'), fc.array(piece, { maxLength: 12 }), (prefix, pieces) => {
        const target = prefix + pieces.join('');
        const result = parseRequestPath(target);
        if ('error' in result) return;
        expect(result.segments).not.toContain('.');
        expect(result.segments).not.toContain('..');
        const rawPath = target.split('?')[0]!;
        for (const reading of readingsOf(rawPath)) {
          expect(reading.split('/')).not.toContain('..');
          expect(posix.normalize(reading).startsWith(prefix)).toBe(true);
          expect(new URL(reading, 'http://upstream').pathname.startsWith(prefix.replace(/\/$/, ''))).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('property: a path of identifier segments, percent-encoded or not, is accepted as those segments', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/);
    const encodeSome = (text: string, mask: boolean[]) =>
      [...text].map((c, i) => (mask[i % mask.length] ? `%${c.charCodeAt(0).toString(16).padStart(2, '0')}` : c)).join('');
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), (segments, mask) => {
        const result = accepted(`/${segments.map((s) => encodeSome(s, mask)).join('/')}`);
        expect(result.segments).toEqual(segments);
      }),
    );
  });
});

describe('forwardDecision', () => {
  const decide = (method: string, target: string) => forwardDecision(method, accepted(target));

  it('forwards only the routes the subgraphs register, with their methods, rebuilt from the decoded path', () => {
    expect(decide('PUT', `/media/upload/${UUID}?exp=1&sig=abc`)).toEqual({
      forward: true,
      subgraph: 'catalog',
      label: '/media/',
      target: `/media/upload/${UUID}?exp=1&sig=abc`,
    });
    expect(decide('GET', `/media/stream/${UUID}`)).toMatchObject({ forward: true, subgraph: 'catalog', target: `/media/stream/${UUID}` });
    expect(decide('HEAD', `/media/stream/${UUID}`)).toMatchObject({ forward: true, subgraph: 'catalog' });
    expect(decide('POST', '/webhooks/stripe')).toMatchObject({ forward: true, subgraph: 'payments', target: '/webhooks/stripe' });
    expect(decide('GET', `/nft/${UUID}/7`)).toMatchObject({ forward: true, subgraph: 'campaigns', target: `/nft/${UUID}/7` });
    // Decoded once, sent in its one canonical spelling.
    expect(decide('GET', '/%6Eft/%41bc/%37')).toMatchObject({ forward: true, target: '/nft/Abc/7' });
  });

  it('forwards exactly /email/unsubscribe (POST one-click, GET to the web page) to notifications, and nothing else under /email/', () => {
    expect(decide('POST', '/email/unsubscribe?token=a.b.c')).toEqual({
      forward: true,
      subgraph: 'notifications',
      label: '/email/unsubscribe',
      target: '/email/unsubscribe?token=a.b.c',
    });
    expect(decide('GET', '/email/%75nsubscribe?token=x')).toMatchObject({ forward: true, subgraph: 'notifications', target: '/email/unsubscribe?token=x' });
    expect(decide('PUT', '/email/unsubscribe')).toMatchObject({ forward: false, status: 405 });
    for (const target of ['/email/graphql', '/email/metrics', '/email/unsubscribe/x', '/email/x/unsubscribe', '/email/readyz']) {
      expect(decide('POST', target)).toMatchObject({ forward: false, status: 404 });
    }
    for (const target of ['/email/unsubscribe/../../graphql', '/email/%2e%2e/graphql', '/email/unsubscribe%2f..%2fgraphql']) {
      expect('error' in parseRequestPath(target)).toBe(true);
    }
  });

  it("forwards exactly POST /oidc/form-post (a form_post OpenID provider's answer) to identity, and nothing else under /oidc/", () => {
    expect(decide('POST', '/oidc/form-post')).toEqual({ forward: true, subgraph: 'identity', label: '/oidc/form-post', target: '/oidc/form-post' });
    expect(decide('GET', '/oidc/form-post')).toMatchObject({ forward: false, status: 405, allow: 'POST' });
    for (const target of ['/oidc/graphql', '/oidc/metrics', '/oidc/form-post/x', '/oidc/readyz', '/oidc/']) {
      expect(decide('POST', target)).toMatchObject({ forward: false, status: 404 });
    }
  });

  it('answers 405 for a route with another method and 404 for anything else under a forwarded prefix', () => {
    expect(decide('GET', `/media/upload/${UUID}`)).toEqual({ forward: false, label: '/media/', status: 405, allow: 'PUT' });
    expect(decide('DELETE', `/media/stream/${UUID}`)).toMatchObject({ status: 405, allow: 'GET, HEAD' });
    expect(decide('GET', '/webhooks/stripe')).toMatchObject({ status: 405, allow: 'POST' });
    for (const target of [
      '/media/graphql',
      '/media/metrics',
      '/media/',
      `/media/stream/${UUID}/x`,
      '/media/stream/a.b',
      '/nft/abc',
      `/nft/${UUID}/7/`,
      '/webhooks/stripe/',
      '/webhooks/graphql',
      '/media/stream/caf%C3%A9',
    ]) {
      expect(decide('GET', target), target).toMatchObject({ forward: false, status: 404 });
    }
  });

  it('leaves every other path to the gateway', () => {
    for (const target of ['/graphql', '/metrics', '/', '/songs/1', '/mediax/stream/1', '/Media/stream/1']) expect(decide('GET', target)).toBeNull();
  });
});
