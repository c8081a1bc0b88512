import { BlockList, isIP } from 'node:net';

/** The peers whose X-Forwarded-For a server believes (a Set of exact addresses also fits). */
export interface TrustedProxies {
  has(address: string): boolean;
}

interface AddressRange {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** `10.0.0.7`, `172.16.0.0/12`, `::1` or `fd00::/8` as a range; null for anything else. */
function parseAddressRange(entry: string): AddressRange | null {
  const [address = '', prefixText, ...rest] = entry.trim().split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return null;
  const bits = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return null;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** Where the gateway reaches the subgraphs under `npm start`: the subgraphs' default trusted proxies. */
export const LOOPBACK_RANGES: readonly string[] = ['127.0.0.0/8', '::1'];

export const isAddressRange = (entry: string): boolean => parseAddressRange(entry) !== null;

/** The proxies a TRUSTED_PROXIES list names: IP addresses and CIDR ranges, IPv4 and IPv6. */
export function parseTrustedProxies(entries: readonly string[]): TrustedProxies {
  const ranges = new BlockList();
  for (const entry of entries) {
    const range = parseAddressRange(entry);
    if (!range) throw new Error(`${JSON.stringify(entry)} is not an IP address or CIDR range`);
    ranges.addSubnet(range.address, range.prefix, range.family);
  }
  // Answers are remembered (a check builds a SocketAddress); addresses from X-Forwarded-For are
  // the caller's to choose, so the memory is bounded.
  const known = new Map<string, boolean>();
  return {
    has: (address) => {
      let trusted = known.get(address);
      if (trusted === undefined) {
        const version = isIP(address);
        trusted = version !== 0 && ranges.check(address, version === 4 ? 'ipv4' : 'ipv6');
        if (known.size >= 1024) known.clear();
        known.set(address, trusted);
      }
      return trusted;
    },
  };
}
