import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientAddress } from '@vibestream/platform';

const request = (remote: string, forwarded?: string) =>
  ({ socket: { remoteAddress: remote }, headers: forwarded ? { 'x-forwarded-for': forwarded } : {} }) as unknown as IncomingMessage;

describe('clientAddress', () => {
  it('ignores X-Forwarded-For from an untrusted peer, so a client cannot choose its address', () => {
    expect(clientAddress(request('203.0.113.9', '1.2.3.4'))).toBe('203.0.113.9');
    expect(clientAddress(request('::ffff:203.0.113.9'))).toBe('203.0.113.9');
  });

  it('takes the nearest untrusted hop behind trusted proxies', () => {
    const proxies = new Set(['10.0.0.1', '10.0.0.2']);
    expect(clientAddress(request('10.0.0.1', 'spoofed, 198.51.100.7, 10.0.0.2'), proxies)).toBe('198.51.100.7');
    expect(clientAddress(request('10.0.0.1'), proxies)).toBe('10.0.0.1');
  });

  it("believes the gateway's header inside the graph", () => {
    expect(clientAddress(request('127.0.0.1', '198.51.100.7'), 'all')).toBe('198.51.100.7');
  });
});
