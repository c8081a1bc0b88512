import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientAddress, loadConfig, parseTrustedProxies, subgraphConfigShape } from '@vibestream/platform';

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

  it("believes a subgraph's gateway, and only it, by address or range", () => {
    const gateway = parseTrustedProxies(['127.0.0.0/8', '::1', '172.30.0.10', 'fd00:30::/64']);
    expect(clientAddress(request('127.0.0.1', '198.51.100.7'), gateway)).toBe('198.51.100.7');
    expect(clientAddress(request('::ffff:127.0.0.2', '198.51.100.7'), gateway)).toBe('198.51.100.7');
    expect(clientAddress(request('::1', '2001:db8::7'), gateway)).toBe('2001:db8::7');
    expect(clientAddress(request('fd00:30::9', '198.51.100.7'), gateway)).toBe('198.51.100.7');
    expect(clientAddress(request('172.30.0.10', '198.51.100.7'), gateway)).toBe('198.51.100.7');
    // Anyone else sending the header is taken at their own address.
    expect(clientAddress(request('172.30.0.11', '198.51.100.7'), gateway)).toBe('172.30.0.11');
    expect(clientAddress(request('fd00:31::9', '198.51.100.7'), gateway)).toBe('fd00:31::9');
  });
});

describe('TRUSTED_PROXIES', () => {
  const load = (value?: string) =>
    loadConfig(subgraphConfigShape(4001), { DATABASE_URL: 'postgres://localhost/x', ...(value === undefined ? {} : { TRUSTED_PROXIES: value }) });

  it('is loopback for a subgraph unless set, and takes addresses, CIDR ranges or none', () => {
    expect(load().TRUSTED_PROXIES).toEqual(['127.0.0.0/8', '::1']);
    expect(load('').TRUSTED_PROXIES).toEqual(['127.0.0.0/8', '::1']);
    expect(load(' 10.0.0.7, 172.16.0.0/12 ,fd00::/8 ').TRUSTED_PROXIES).toEqual(['10.0.0.7', '172.16.0.0/12', 'fd00::/8']);
    expect(load('none').TRUSTED_PROXIES).toEqual([]);
    expect(parseTrustedProxies(load('none').TRUSTED_PROXIES).has('127.0.0.1')).toBe(false);
  });

  it.each(['gateway', '10.0.0.0/33', '10.0.0.1/8/8', '::1/129', '10.0.0.0/x', '300.0.0.1'])('refuses %j with a message naming the variable', (value) => {
    expect(() => load(value)).toThrow(/TRUSTED_PROXIES\b.*IP addresses or CIDR ranges/);
  });
});
