import { describe, expect, it } from 'vitest';
import {
  creditableAmount,
  inflowOfBalances,
  inflowOfTransfers,
  isValidDepositAmount,
  normalizeEthereumTxHash,
  normalizeSolanaSignature,
  refusalOf,
  usdcBaseUnits,
  type ChainCheck,
} from '../src/domain/deposits.ts';
import { chainOfMethod, walletKey } from '../src/domain/wallets.ts';
import { entitlementsOf, isPaidPlan, plans, PriceMap } from '../src/domain/plans.ts';
import { currentSubscription, effectivePlan, mayReplace, statusAfterInvoice, statusFromStripe } from '../src/domain/subscriptions.ts';
import { base58 } from './solana-chain.ts';

const GB = 1024 ** 3;

describe('plans', () => {
  it('match the contract: prices and limits, null unlimited, analytics only on PRO and STUDIO', () => {
    expect(plans.map((p) => [p.id, p.priceCents])).toEqual([
      ['FREE', 0],
      ['CREATOR', 999],
      ['PRO', 2999],
      ['STUDIO', 9999],
    ]);
    expect(entitlementsOf('FREE')).toEqual([
      { key: 'uploads.monthly', limit: 3 },
      { key: 'storage.bytes', limit: GB },
      { key: 'stream.maxBitrateKbps', limit: 128 },
      { key: 'analytics', limit: 0 },
    ]);
    expect(entitlementsOf('CREATOR').map((e) => e.limit)).toEqual([50, 10 * GB, 256, 0]);
    expect(entitlementsOf('PRO').map((e) => e.limit)).toEqual([200, 100 * GB, 320, null]);
    expect(entitlementsOf('STUDIO').map((e) => e.limit)).toEqual([1000, null, 320, null]);
  });

  it('only CREATOR, PRO and STUDIO are paid; prices map both ways', () => {
    expect(['FREE', 'CREATOR', 'PRO', 'STUDIO', 'GOLD', ''].map(isPaidPlan)).toEqual([false, true, true, true, false, false]);
    const prices = new PriceMap({ CREATOR: 'price_c', PRO: 'price_p', STUDIO: undefined });
    expect(prices.priceOf('PRO')).toBe('price_p');
    expect(prices.priceOf('STUDIO')).toBeUndefined();
    expect(prices.planOf('price_c')).toBe('CREATOR');
    expect(prices.planOf('price_x')).toBeUndefined();
    expect(prices.planOf(null)).toBeUndefined();
  });
});

describe('subscriptions', () => {
  const at = (s: number) => new Date(s * 1000);

  it('maps every Stripe status', () => {
    expect(['active', 'trialing', 'past_due', 'canceled', 'incomplete', 'incomplete_expired', 'unpaid', 'paused'].map(statusFromStripe)).toEqual([
      'ACTIVE',
      'TRIALING',
      'PAST_DUE',
      'CANCELED',
      'INCOMPLETE',
      'CANCELED',
      'UNPAID',
      'UNPAID',
    ]);
    expect(() => statusFromStripe('weird')).toThrow();
  });

  it('keeps the plan while active, trialing or past due; otherwise FREE', () => {
    expect(effectivePlan([])).toBe('FREE');
    expect(effectivePlan([{ planId: 'PRO', status: 'PAST_DUE', createdAt: at(1) }])).toBe('PRO');
    expect(effectivePlan([{ planId: 'PRO', status: 'TRIALING', createdAt: at(1) }])).toBe('PRO');
    for (const status of ['CANCELED', 'INCOMPLETE', 'UNPAID'] as const) expect(effectivePlan([{ planId: 'PRO', status, createdAt: at(1) }])).toBe('FREE');
  });

  it('an entitled subscription speaks for the user over a newer ended one; else the newest', () => {
    const old = { planId: 'CREATOR' as const, status: 'ACTIVE' as const, createdAt: at(1) };
    const ended = { planId: 'STUDIO' as const, status: 'CANCELED' as const, createdAt: at(2) };
    expect(currentSubscription([ended, old])).toBe(old);
    const endedToo = { ...old, status: 'CANCELED' as const };
    expect(currentSubscription([endedToo, ended])).toBe(ended);
    expect(currentSubscription([])).toBeNull();
  });

  it('never applies an older view; within one second never moves the status back', () => {
    expect(mayReplace(null, { version: 5, status: 'INCOMPLETE' })).toBe(true);
    expect(mayReplace({ version: 5, status: 'ACTIVE' }, { version: 6, status: 'INCOMPLETE' })).toBe(true);
    expect(mayReplace({ version: 5, status: 'ACTIVE' }, { version: 4, status: 'CANCELED' })).toBe(false);
    expect(mayReplace({ version: 5, status: 'ACTIVE' }, { version: 5, status: 'INCOMPLETE' })).toBe(false);
    expect(mayReplace({ version: 5, status: 'ACTIVE' }, { version: 5, status: 'PAST_DUE' })).toBe(true);
    expect(mayReplace({ version: 5, status: 'PAST_DUE' }, { version: 5, status: 'ACTIVE' })).toBe(true);
    expect(mayReplace({ version: 5, status: 'ACTIVE' }, { version: 5, status: 'ACTIVE' })).toBe(true);
    expect(mayReplace({ version: 5, status: 'CANCELED' }, { version: 5, status: 'ACTIVE' })).toBe(false);
  });

  it('invoices move the status: failure to PAST_DUE, payment back to ACTIVE', () => {
    expect(statusAfterInvoice('ACTIVE', 'payment_failed')).toBe('PAST_DUE');
    expect(statusAfterInvoice('TRIALING', 'payment_failed')).toBe('PAST_DUE');
    expect(statusAfterInvoice('INCOMPLETE', 'payment_failed')).toBeNull();
    expect(statusAfterInvoice('CANCELED', 'payment_failed')).toBeNull();
    expect(statusAfterInvoice('PAST_DUE', 'paid')).toBe('ACTIVE');
    expect(statusAfterInvoice('UNPAID', 'paid')).toBe('ACTIVE');
    expect(statusAfterInvoice('ACTIVE', 'paid')).toBeNull();
    expect(statusAfterInvoice('CANCELED', 'paid')).toBeNull();
  });
});

describe('deposits', () => {
  it('amounts: 500..1000000 whole cents; USDC base units are cents x 10^4', () => {
    expect([499, 500, 1_000_000, 1_000_001, 500.5, Number.NaN].map(isValidDepositAmount)).toEqual([false, true, true, false, false, false]);
    expect(usdcBaseUnits(500)).toBe(5_000_000n);
    expect(usdcBaseUnits(1_000_000)).toBe(10_000_000_000n);
  });

  it('normalizes transaction ids', () => {
    const hash = '0x' + 'Ab'.repeat(32);
    expect(normalizeEthereumTxHash(` ${hash} `)).toBe(hash.toLowerCase());
    expect(normalizeEthereumTxHash('0x1234')).toBeNull();
    const signature = base58(new Uint8Array(64).map((_, i) => i + 1));
    expect(normalizeSolanaSignature(signature)).toBe(signature);
    expect(normalizeSolanaSignature(base58(new Uint8Array(32).fill(7)))).toBeNull();
    expect(normalizeSolanaSignature('0OIl' + signature.slice(4))).toBeNull();
  });

  const token = '0x' + 'aa'.repeat(20);
  const other = '0x' + 'bb'.repeat(20);
  const deposit = '0x' + 'cc'.repeat(20);
  const alice = '0x' + 'a1'.repeat(20);
  const mallory = '0x' + 'ee'.repeat(20);
  const eth = (address: string) => walletKey('ETHEREUM', address)!;

  it('sums the token transfers to the deposit address per sender', () => {
    const inflow = inflowOfTransfers(
      [
        { token, from: alice.toUpperCase().replace('0X', '0x'), to: deposit.toUpperCase().replace('0X', '0x'), value: 3n },
        { token, from: alice, to: deposit, value: 4n },
        { token, from: mallory, to: deposit, value: 5n },
        { token: other, from: alice, to: deposit, value: 100n },
        { token, from: alice, to: other, value: 100n },
      ],
      token,
      deposit,
      eth,
    );
    expect(inflow).toEqual({
      received: 12n,
      senders: [
        { wallet: alice, amount: 7n },
        { wallet: mallory, amount: 5n },
      ],
    });
  });

  it("takes the deposit owner's rise of the mint and every owner whose balance of it fell as a sender", () => {
    const pre = [
      { accountIndex: 1, mint: 'M', owner: 'O', amount: '10' },
      { accountIndex: 2, mint: 'X', owner: 'O', amount: '0' },
      { accountIndex: 5, mint: 'M', owner: 'A', amount: '100' },
      { accountIndex: 6, mint: 'M', owner: 'B', amount: '50' },
      { accountIndex: 7, mint: 'X', owner: 'C', amount: '50' },
      { accountIndex: 8, mint: 'M', owner: 'D', amount: '1' },
    ];
    const post = [
      { accountIndex: 1, mint: 'M', owner: 'O', amount: '25' },
      { accountIndex: 2, mint: 'X', owner: 'O', amount: '99' },
      { accountIndex: 3, mint: 'M', owner: 'O', amount: '5' },
      { accountIndex: 4, mint: 'M', owner: 'P', amount: '1000' },
      { accountIndex: 5, mint: 'M', owner: 'A', amount: '88' },
      { accountIndex: 6, mint: 'M', owner: 'B', amount: '42' },
      { accountIndex: 7, mint: 'X', owner: 'C', amount: '0' },
      { accountIndex: 8, mint: 'M', owner: 'D', amount: '2' },
    ];
    expect(inflowOfBalances(pre, post, 'O', 'M')).toEqual({
      received: 20n,
      senders: [
        { wallet: 'A', amount: 12n },
        { wallet: 'B', amount: 8n },
      ],
    });
    expect(inflowOfBalances(pre, post, 'Q', 'M').received).toBe(0n);
  });

  it('credits only what came from the linked wallets, and never more than the deposit address received', () => {
    const inflow = {
      received: 20n,
      senders: [
        { wallet: 'A', amount: 12n },
        { wallet: 'B', amount: 30n },
      ],
    };
    expect(creditableAmount(inflow, new Set(['A']))).toBe(12n);
    expect(creditableAmount(inflow, new Set(['B']))).toBe(20n);
    expect(creditableAmount(inflow, new Set(['A', 'B']))).toBe(20n);
    expect(creditableAmount(inflow, new Set(['C']))).toBe(0n);
    expect(creditableAmount(inflow, new Set())).toBe(0n);
  });

  it('refuses unknown, failed, unfinished, misdirected, unlinked and short transactions', () => {
    const linked = new Set([alice]);
    const received = (...senders: [string, bigint][]): ChainCheck => ({
      kind: 'received',
      received: senders.reduce((sum, [, amount]) => sum + amount, 0n),
      senders: senders.map(([wallet, amount]) => ({ wallet, amount })),
    });
    expect(refusalOf({ kind: 'unknown' }, 5n, linked)).toMatch(/No such transaction/);
    expect(refusalOf({ kind: 'failed' }, 5n, linked)).toMatch(/failed/);
    expect(refusalOf({ kind: 'not-final', confirmations: 1, required: 3 }, 5n, linked)).toMatch(/1 of 3/);
    expect(refusalOf(received(), 5n, linked)).toMatch(/no USDC/);
    expect(refusalOf(received([alice, 4n]), 5n, linked)).toMatch(/sends 4 .* needs 5/);
    expect(refusalOf(received([alice, 5n]), 5n, linked)).toBeNull();
    expect(refusalOf(received([alice, 6n]), 5n, linked)).toBeNull();
    // From someone else's wallet: refused whatever the amount, naming the sender.
    const unlinked = refusalOf(received([mallory, 500n]), 5n, linked);
    expect(unlinked).toMatch(/^The transfer must come from a wallet linked to your account/);
    expect(unlinked).toContain(mallory);
    expect(refusalOf(received([mallory, 5n]), 5n, new Set())).toMatch(/must come from a wallet linked to your account/);
    // Minted straight to the deposit address: nobody's wallet paid.
    expect(refusalOf({ kind: 'received', received: 5n, senders: [] }, 5n, linked)).toMatch(/must come from a wallet linked to your account/);
    // Only the linked part of a transaction counts toward the amount.
    expect(refusalOf(received([alice, 3n], [mallory, 3n]), 5n, linked)).toMatch(/sends 3 USDC base units from wallets linked to your account .* needs 5/);
  });
});

describe('wallets', () => {
  it('spells Ethereum addresses in lower case whatever their checksum, Solana addresses as they are', () => {
    const checksummed = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
    expect(walletKey('ETHEREUM', checksummed)).toBe(checksummed.toLowerCase());
    expect(walletKey('ETHEREUM', ` ${checksummed.toLowerCase()} `)).toBe(checksummed.toLowerCase());
    // A wrong checksum is still the same 20 bytes.
    expect(walletKey('ETHEREUM', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD')).toBe(checksummed.toLowerCase());
    expect(walletKey('ETHEREUM', '0x1234')).toBeNull();
    expect(walletKey('ETHEREUM', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v')).toBeNull();
    expect(walletKey('SOLANA', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v')).toBe('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v');
    expect(walletKey('SOLANA', checksummed)).toBeNull();
    expect(walletKey('SOLANA', '0OIl' + 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v'.slice(4))).toBeNull();
    expect([chainOfMethod('USDC_ETHEREUM'), chainOfMethod('USDC_SOLANA')]).toEqual(['ETHEREUM', 'SOLANA']);
  });
});

describe('configuration', () => {
  const base = { DATABASE_URL: 'postgres://localhost/x' };
  it('a chain is configured by its token and deposit address; a shared RPC URL alone is fine', async () => {
    const { loadPaymentsConfig } = await import('../src/config.ts');
    expect(() => loadPaymentsConfig({ ...base, ETH_RPC_URL: 'http://127.0.0.1:8545' })).not.toThrow();
    expect(() => loadPaymentsConfig({ ...base, ETH_USDC_ADDRESS: '0x' + '11'.repeat(20), ETH_DEPOSIT_ADDRESS: '0x' + '22'.repeat(20) })).toThrow(/ETH_RPC_URL/);
    expect(() =>
      loadPaymentsConfig({ ...base, SOLANA_RPC_URL: 'http://127.0.0.1:8899', SOLANA_USDC_MINT: 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v' }),
    ).toThrow(/SOLANA_DEPOSIT_OWNER/);
    expect(() => loadPaymentsConfig({ ...base, ETH_DEPOSIT_ADDRESS: 'nope' })).toThrow(/ETH_DEPOSIT_ADDRESS/);
    expect(loadPaymentsConfig(base).PORT).toBe(4005);
  });
});
