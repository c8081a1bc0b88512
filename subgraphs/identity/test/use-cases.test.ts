// identity's wallet-linking use cases on identity's own schema: no gateway, no HTTP. The service is
// called as the resolvers call it, with the Principal a verified token gives; "me lists it" reads
// the wallets as User.wallets loads them. What needs the HTTP layer (no or a bad token, the User
// entity's privacy at the gateway and the subgraph) stays in identity.e2e.test.ts, with sign-in,
// sessions and tokens; login limits and client addresses have their own e2e files.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Wallet as EthWallet } from 'ethers';
import { Keypair } from '@solana/web3.js';
import nacl from 'tweetnacl';
import bs58 from 'bs58';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFailureLimiter, generateSigningKeys, readCostDirectives, type Principal } from '@vibestream/platform';
import { openContext, type ContextHarness } from '@vibestream/testkit';
import { WalletLinked } from '@vibestream/contracts/identity';
import { loadIdentityConfig } from '../src/config.ts';
import { MAX_WALLETS_PER_USER } from '../src/domain/wallet.ts';
import { identitySubgraph } from '../src/index.ts';
import { migrations } from '../src/migrations.ts';
import type { IdentityService } from '../src/service.ts';
import * as store from '../src/store.ts';
import { identityServiceOf, insertAccount } from './helpers.ts';

type Chain = 'ETHEREUM' | 'SOLANA';

let h: ContextHarness;
let db: pg.Client;
let service: IdentityService;

beforeAll(async () => {
  h = await openContext({ name: 'identity', migrations });
  const config = loadIdentityConfig({ DATABASE_URL: h.database.url, JWT_PRIVATE_KEY: generateSigningKeys().privateKeyPem });
  service = await identityServiceOf(h, config, { limiter: createFailureLimiter(null, 'identity-use-cases:', config.LOGIN_FAILURE_WINDOW_SECONDS) });
  db = new pg.Client({ connectionString: h.database.url });
  await db.connect();
});

afterAll(async () => {
  await db?.end();
  await h?.close();
});

/** A refusal as the API answers it: its code and message. */
async function refusal(promise: Promise<unknown>): Promise<{ code: string | undefined; message: string } | null> {
  const error = (await promise.then(
    () => null,
    (e: unknown) => e,
  )) as { extensions?: { code?: string }; message: string } | null;
  return error && { code: error.extensions?.code, message: error.message };
}
const codeOf = async (promise: Promise<unknown>) => (await refusal(promise))?.code;

/** An account, written as registration writes it, and the Principal its access token gives. */
const newAccount = (): Promise<Principal> => insertAccount(h, 'wallet-user');

const challenge = (account: Principal, chain: Chain, address: string) => service.walletChallenge(account, chain, address);
const link = (account: Principal, chain: Chain, address: string, signature: string) => service.linkWallet(account, chain, address, signature);
/** The account's wallets as `me { wallets }` lists them. */
const myWallets = (account: Principal) => store.walletsOfUsers(h.db.reader(), [account.userId]);

function solanaSign(keypair: Keypair, message: string): string {
  return bs58.encode(nacl.sign.detached(new TextEncoder().encode(message), keypair.secretKey));
}

/** The `Nonce:` line of a challenge message. */
function nonceOf(message: string): string {
  const match = /^Nonce: (\S+)$/m.exec(message);
  expect(match).not.toBeNull();
  return match![1]!;
}

describe('walletChallenge', () => {
  it('names the address, the chain, a single-use nonce and an expiry of at most 10 minutes', async () => {
    const account = await newAccount();
    const eth = EthWallet.createRandom();
    const before = Date.now();
    const first = await challenge(account, 'ETHEREUM', eth.address);
    const second = await challenge(account, 'ETHEREUM', eth.address);

    expect(first.message).toContain(eth.address);
    expect(first.message).toMatch(/Ethereum/);
    expect(first.message).toMatch(/^Chain ID: 1$/m);
    const nonce = nonceOf(first.message);
    expect(nonce.length).toBeGreaterThanOrEqual(8);
    expect(nonceOf(second.message)).not.toBe(nonce);

    const expiresAt = new Date(first.expiresAt).getTime();
    expect(expiresAt).toBeGreaterThan(before);
    expect(expiresAt - before).toBeLessThanOrEqual(10 * 60 * 1000 + 5_000);
    const expirationLine = /^Expiration Time: (\S+)$/m.exec(first.message);
    expect(expirationLine).not.toBeNull();
    expect(new Date(expirationLine![1]!).getTime()).toBe(expiresAt);
    const issuedLine = /^Issued At: (\S+)$/m.exec(first.message);
    expect(issuedLine).not.toBeNull();
    expect(expiresAt - new Date(issuedLine![1]!).getTime()).toBeLessThanOrEqual(10 * 60 * 1000);

    const sol = Keypair.generate();
    const solChallenge = await challenge(account, 'SOLANA', sol.publicKey.toBase58());
    expect(solChallenge.message).toContain(sol.publicKey.toBase58());
    expect(solChallenge.message).toMatch(/Solana/);
    expect(solChallenge.message).toMatch(/^Chain ID: solana:/m);
    expect(new Date(solChallenge.expiresAt).getTime() - before).toBeLessThanOrEqual(10 * 60 * 1000 + 5_000);
  });

  it('is UNAUTHENTICATED for a valid token whose account does not exist (was INTERNAL_SERVER_ERROR: the challenge row broke its foreign key)', async () => {
    const ghost: Principal = { userId: randomUUID(), roles: ['FAN'], sessionId: randomUUID(), expiresAt: Date.now() / 1000 + 900 };
    expect(await codeOf(challenge(ghost, 'ETHEREUM', EthWallet.createRandom().address))).toBe('UNAUTHENTICATED');
  });

  it('refuses a malformed address with BAD_USER_INPUT', async () => {
    const account = await newAccount();
    const eth = EthWallet.createRandom().address;
    const cases: [Chain, string][] = [
      ['ETHEREUM', 'not-an-address'],
      ['ETHEREUM', '0x1234'],
      ['ETHEREUM', ''],
      ['ETHEREUM', `${eth}00`],
      // The EIP-55 vector 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed with its last letter's case flipped: a wrong checksum.
      ['ETHEREUM', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD'],
      ['ETHEREUM', Keypair.generate().publicKey.toBase58()],
      ['SOLANA', 'not base58 0OIl'],
      ['SOLANA', eth],
      ['SOLANA', ''],
    ];
    for (const [chain, address] of cases) {
      expect(await codeOf(challenge(account, chain, address)), `${chain} ${address}`).toBe('BAD_USER_INPUT');
    }
  });
});

describe('linkWallet', () => {
  it('links an Ethereum wallet with a real EIP-191 signature, and me lists it', async () => {
    const account = await newAccount();
    const eth = EthWallet.createRandom();
    const { message } = await challenge(account, 'ETHEREUM', eth.address);
    const before = Date.now();
    const linked = await link(account, 'ETHEREUM', eth.address, await eth.signMessage(message));
    expect(linked).toMatchObject({ chain: 'ETHEREUM', address: eth.address });
    expect(new Date(linked.linkedAt).getTime()).toBeGreaterThanOrEqual(before - 5_000);
    expect(await myWallets(account)).toEqual([linked]);
    // The link is announced once, in the same transaction.
    expect((await h.recorded(WalletLinked.type)).filter((e) => e.payload.userId === account.userId).map((e) => e.payload)).toEqual([
      { userId: account.userId, chain: 'ETHEREUM', address: eth.address },
    ]);
  });

  it('links a Solana wallet with a real ed25519 signature, and me lists both chains', async () => {
    const account = await newAccount();
    const eth = EthWallet.createRandom();
    const sol = Keypair.generate();
    const solAddress = sol.publicKey.toBase58();

    const ethChallenge = await challenge(account, 'ETHEREUM', eth.address);
    await link(account, 'ETHEREUM', eth.address, await eth.signMessage(ethChallenge.message));
    const solChallenge = await challenge(account, 'SOLANA', solAddress);
    const linked = await link(account, 'SOLANA', solAddress, solanaSign(sol, solChallenge.message));
    expect(linked).toMatchObject({ chain: 'SOLANA', address: solAddress });

    const wallets = await myWallets(account);
    expect(wallets).toHaveLength(2);
    expect(wallets).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ chain: 'ETHEREUM', address: eth.address }),
        expect.objectContaining({ chain: 'SOLANA', address: solAddress }),
      ]),
    );
    for (const w of wallets) expect(Number.isNaN(new Date(w.linkedAt).getTime())).toBe(false);
  });

  it('treats an Ethereum address case-insensitively: lowercase input links the checksummed address', async () => {
    const account = await newAccount();
    const eth = EthWallet.createRandom();
    const lower = eth.address.toLowerCase();
    const { message } = await challenge(account, 'ETHEREUM', lower);
    // The challenge names the canonical (EIP-55) form, whatever the input's case.
    expect(message).toContain(eth.address);
    expect((await link(account, 'ETHEREUM', lower, await eth.signMessage(message))).address).toBe(eth.address);

    // An uppercase-hex spelling of the same wallet is the same wallet: linking it again is not a second row.
    const upper = `0x${eth.address.slice(2).toUpperCase()}`;
    const again = await challenge(account, 'ETHEREUM', upper);
    expect((await link(account, 'ETHEREUM', upper, await eth.signMessage(again.message))).address).toBe(eth.address);
    expect(await myWallets(account)).toEqual([expect.objectContaining({ chain: 'ETHEREUM', address: eth.address })]);
  });

  it('refuses a signature by another key, or garbage, with BAD_USER_INPUT', async () => {
    const account = await newAccount();
    const eth = EthWallet.createRandom();
    const otherEth = EthWallet.createRandom();
    const sol = Keypair.generate();
    const otherSol = Keypair.generate();
    const solAddress = sol.publicKey.toBase58();
    const ethMessage = (await challenge(account, 'ETHEREUM', eth.address)).message;
    const solMessage = (await challenge(account, 'SOLANA', solAddress)).message;

    const ethValid = await eth.signMessage(ethMessage);
    const ethBad = [
      await otherEth.signMessage(ethMessage), // another key
      await eth.signMessage(`${ethMessage} `), // the right key, another message
      `${ethValid.slice(0, -4)}${ethValid.slice(-4) === 'ffff' ? '0000' : 'ffff'}`, // tampered
      '0xdeadbeef',
      'garbage',
      '',
      solanaSign(sol, ethMessage), // wrong signature scheme
    ];
    for (const signature of ethBad) {
      expect(await codeOf(link(account, 'ETHEREUM', eth.address, signature)), signature).toBe('BAD_USER_INPUT');
    }

    const solValid = solanaSign(sol, solMessage);
    const solBad = [
      solanaSign(otherSol, solMessage), // another key
      solanaSign(sol, `${solMessage} `), // the right key, another message
      bs58.encode(nacl.sign.detached(new TextEncoder().encode(solMessage), sol.secretKey).map((b, i) => (i === 0 ? b ^ 1 : b))), // tampered
      bs58.encode(new Uint8Array(64)),
      bs58.encode(new Uint8Array(32)),
      'garbage-0OIl',
      '',
      ethValid, // wrong signature scheme
    ];
    for (const signature of solBad) {
      expect(await codeOf(link(account, 'SOLANA', solAddress, signature)), signature).toBe('BAD_USER_INPUT');
    }

    expect(await myWallets(account)).toEqual([]);
    // Failed attempts do not burn the challenge: the genuine signatures still link.
    await link(account, 'ETHEREUM', eth.address, ethValid);
    await link(account, 'SOLANA', solAddress, solValid);
    expect(await myWallets(account)).toHaveLength(2);
  });

  it('refuses a valid signature when no challenge was issued to the caller for that wallet', async () => {
    const account = await newAccount();
    const eth = EthWallet.createRandom();
    // A well-formed message in the challenge's shape, but never issued by the service.
    const forgedMessage = `localhost:4000 wants you to sign in with your Ethereum account:\n${eth.address}\n\nNonce: 0123456789abcdef`;
    expect(await codeOf(link(account, 'ETHEREUM', eth.address, await eth.signMessage(forgedMessage)))).toBe('BAD_USER_INPUT');
    expect(await myWallets(account)).toEqual([]);
  });

  it('refuses a replayed challenge: BAD_USER_INPUT for the same account, and for another account replaying it', async () => {
    const alice = await newAccount();
    const bob = await newAccount();
    for (const chain of ['ETHEREUM', 'SOLANA'] as const) {
      const eth = EthWallet.createRandom();
      const sol = Keypair.generate();
      const address = chain === 'ETHEREUM' ? eth.address : sol.publicKey.toBase58();
      const sign = (message: string) => (chain === 'ETHEREUM' ? eth.signMessage(message) : Promise.resolve(solanaSign(sol, message)));

      const { message } = await challenge(alice, chain, address);
      const signature = await sign(message);
      await link(alice, chain, address, signature);

      // The same challenge again, by its owner: the challenge is single-use (reused challenge).
      expect(await codeOf(link(alice, chain, address, signature)), `${chain} replay by owner`).toBe('BAD_USER_INPUT');

      // Bob requested his own challenge for that wallet, then replays Alice's signature. It does not
      // sign Bob's challenge, so it proves nothing for Bob: a bad signature / reused challenge, not
      // CONFLICT (which would also tell a caller who has not proven control who owns the wallet).
      await challenge(bob, chain, address);
      expect(await codeOf(link(bob, chain, address, signature)), `${chain} replay by another account`).toBe('BAD_USER_INPUT');

      // Even once Alice's wallet is linked, her challenge cannot be replayed.
      expect(await codeOf(link(alice, chain, address, signature)), `${chain} replay by owner again`).toBe('BAD_USER_INPUT');
    }
    expect(await myWallets(bob)).toEqual([]);
    expect(await myWallets(alice)).toHaveLength(2);
  });

  it('refuses an expired challenge with BAD_USER_INPUT', async () => {
    const account = await newAccount();
    const eth = EthWallet.createRandom();
    const sol = Keypair.generate();
    const solAddress = sol.publicKey.toBase58();
    const ethMessage = (await challenge(account, 'ETHEREUM', eth.address)).message;
    const solMessage = (await challenge(account, 'SOLANA', solAddress)).message;

    const expired = await db.query(`update identity.wallet_challenges set expires_at = now() - interval '1 second' where nonce = any($1) returning id`, [
      [nonceOf(ethMessage), nonceOf(solMessage)],
    ]);
    expect(expired.rowCount).toBe(2);

    expect(await codeOf(link(account, 'ETHEREUM', eth.address, await eth.signMessage(ethMessage)))).toBe('BAD_USER_INPUT');
    expect(await codeOf(link(account, 'SOLANA', solAddress, solanaSign(sol, solMessage)))).toBe('BAD_USER_INPUT');
    expect(await myWallets(account)).toEqual([]);

    // A fresh challenge works.
    const fresh = (await challenge(account, 'ETHEREUM', eth.address)).message;
    expect(await link(account, 'ETHEREUM', eth.address, await eth.signMessage(fresh))).toMatchObject({ address: eth.address });
  });

  it('refuses a malformed address with BAD_USER_INPUT', async () => {
    const account = await newAccount();
    const eth = EthWallet.createRandom();
    const { message } = await challenge(account, 'ETHEREUM', eth.address);
    const signature = await eth.signMessage(message);
    expect(await codeOf(link(account, 'ETHEREUM', 'not-an-address', signature))).toBe('BAD_USER_INPUT');
    expect(await codeOf(link(account, 'ETHEREUM', eth.address.slice(0, 40), signature))).toBe('BAD_USER_INPUT');
    expect(await codeOf(link(account, 'SOLANA', eth.address, signature))).toBe('BAD_USER_INPUT');
    expect(await codeOf(link(account, 'SOLANA', 'I0Ol-not-base58', bs58.encode(new Uint8Array(64))))).toBe('BAD_USER_INPUT');
    expect(await myWallets(account)).toEqual([]);
  });

  it('a wallet belongs to one account: another account proving control gets CONFLICT', async () => {
    const alice = await newAccount();
    const bob = await newAccount();
    for (const chain of ['ETHEREUM', 'SOLANA'] as const) {
      const eth = EthWallet.createRandom();
      const sol = Keypair.generate();
      const address = chain === 'ETHEREUM' ? eth.address : sol.publicKey.toBase58();
      const sign = (message: string) => (chain === 'ETHEREUM' ? eth.signMessage(message) : Promise.resolve(solanaSign(sol, message)));

      await link(alice, chain, address, await sign((await challenge(alice, chain, address)).message));
      // Bob holds the key too and signs his own, fresh challenge: the signature is valid, but the
      // wallet is linked to Alice.
      const bobChallenge = await challenge(bob, chain, address);
      expect(await codeOf(link(bob, chain, address, await sign(bobChallenge.message))), chain).toBe('CONFLICT');
    }
    expect(await myWallets(bob)).toEqual([]);
    expect(await myWallets(alice)).toHaveLength(2);

    // Lowercase spelling of Alice's Ethereum wallet is the same wallet for Bob too.
    const eth = EthWallet.createRandom();
    await link(alice, 'ETHEREUM', eth.address, await eth.signMessage((await challenge(alice, 'ETHEREUM', eth.address)).message));
    const lower = eth.address.toLowerCase();
    expect(await codeOf(link(bob, 'ETHEREUM', lower, await eth.signMessage((await challenge(bob, 'ETHEREUM', lower)).message)))).toBe('CONFLICT');
  });

  it('when two accounts race to link one wallet, exactly one wins and the other gets CONFLICT', async () => {
    const racers = await Promise.all(Array.from({ length: 4 }, () => newAccount()));
    const eth = EthWallet.createRandom();
    const signed = await Promise.all(
      racers.map(async (account) => ({ account, signature: await eth.signMessage((await challenge(account, 'ETHEREUM', eth.address)).message) })),
    );
    const results = await Promise.all(signed.map(({ account, signature }) => refusal(link(account, 'ETHEREUM', eth.address, signature))));
    expect(results.filter((r) => r === null).length).toBe(1);
    expect(results.filter((r) => r?.code === 'CONFLICT').length).toBe(racers.length - 1);
    const owners = (await Promise.all(racers.map(myWallets))).filter((w) => w.length > 0);
    expect(owners).toHaveLength(1);
  });
});

describe('the wallet cap', () => {
  it('links at most MAX_WALLETS_PER_USER wallets per user, even when the links race (User.wallets is declared that size)', async () => {
    const account = await newAccount();
    const keypairs = Array.from({ length: MAX_WALLETS_PER_USER + 3 }, () => Keypair.generate());
    const signed = await Promise.all(
      keypairs.map(async (keypair) => {
        const address = keypair.publicKey.toBase58();
        return { address, signature: solanaSign(keypair, (await challenge(account, 'SOLANA', address)).message) };
      }),
    );
    const results = await Promise.all(signed.map(({ address, signature }) => refusal(link(account, 'SOLANA', address, signature))));
    expect(results.filter((r) => r === null)).toHaveLength(MAX_WALLETS_PER_USER);
    const refused = results.filter((r) => r !== null);
    expect(refused.map((r) => r.code)).toEqual(Array.from({ length: 3 }, () => 'CONFLICT'));
    expect(refused[0]!.message).toMatch(/10 wallets/);
    expect(await myWallets(account)).toHaveLength(MAX_WALLETS_PER_USER);
    // Linking a wallet the user already has is no new wallet: still answered.
    const linked = results.findIndex((r) => r === null);
    const { address } = signed[linked]!;
    expect(await link(account, 'SOLANA', address, solanaSign(keypairs[linked]!, (await challenge(account, 'SOLANA', address)).message))).toMatchObject({
      address,
    });
    expect(readCostDirectives(identitySubgraph.sdl).listSizes.get('User.wallets')?.assumedSize).toBe(MAX_WALLETS_PER_USER);
  });
});
