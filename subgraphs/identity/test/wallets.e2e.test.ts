import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { Wallet as EthWallet } from 'ethers';
import { Keypair } from '@solana/web3.js';
import nacl from 'tweetnacl';
import bs58 from 'bs58';
import { errorCode, mintToken, startTestStack, type GraphQLResult, type TestStack } from '@vibestream/testkit';
import { readCostDirectives } from '@vibestream/platform';
import { identitySubgraph } from '../src/index.ts';
import { MAX_WALLETS_PER_USER } from '../src/domain/wallet.ts';

const REGISTER = `mutation Register($input: RegisterInput!) {
  register(input: $input) { accessToken user { id } }
}`;
const ME = `query Me { me { id wallets { chain address linkedAt } } }`;
const CHALLENGE = `mutation WalletChallenge($chain: Chain!, $address: String!) {
  walletChallenge(chain: $chain, address: $address) { message expiresAt }
}`;
const LINK = `mutation LinkWallet($chain: Chain!, $address: String!, $signature: String!) {
  linkWallet(chain: $chain, address: $address, signature: $signature) { chain address linkedAt }
}`;

type Chain = 'ETHEREUM' | 'SOLANA';
type LinkedWallet = { chain: Chain; address: string; linkedAt: string };
type Account = { token: string; userId: string };

let stack: TestStack;
let db: pg.Client;

beforeAll(async () => {
  stack = await startTestStack('identity-wallets', [identitySubgraph]);
  db = stack.db;
});
afterAll(async () => {
  await stack?.stop();
});

let accounts = 0;
async function newAccount(): Promise<Account> {
  const email = `wallet-user-${++accounts}@example.com`;
  const res = await stack.gql<{ register: { accessToken: string; user: { id: string } } }>(REGISTER, {
    input: { email, password: 'a-long-password', displayName: `User ${accounts}` },
  });
  expect(res.errors).toBeUndefined();
  return { token: res.data!.register.accessToken, userId: res.data!.register.user.id };
}

async function challenge(account: Account, chain: Chain, address: string) {
  const res = await stack.gql<{ walletChallenge: { message: string; expiresAt: string } }>(CHALLENGE, { chain, address }, { token: account.token });
  expect(res.errors).toBeUndefined();
  return res.data!.walletChallenge;
}

function link(account: Account | null, chain: Chain, address: string, signature: string): Promise<GraphQLResult<{ linkWallet: LinkedWallet }>> {
  return stack.gql<{ linkWallet: LinkedWallet }>(LINK, { chain, address, signature }, account ? { token: account.token } : {});
}

async function myWallets(account: Account): Promise<LinkedWallet[]> {
  const res = await stack.gql<{ me: { wallets: LinkedWallet[] } }>(ME, {}, { token: account.token });
  expect(res.errors).toBeUndefined();
  return res.data!.me.wallets;
}

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

  it('is UNAUTHENTICATED without an access token', async () => {
    const eth = EthWallet.createRandom();
    expect(errorCode(await stack.gql(CHALLENGE, { chain: 'ETHEREUM', address: eth.address }))).toBe('UNAUTHENTICATED');
  });

  it('is UNAUTHENTICATED for a valid token whose account does not exist (was INTERNAL_SERVER_ERROR: the challenge row broke its foreign key)', async () => {
    const token = await mintToken(stack.keys, { userId: randomUUID() });
    const res = await stack.gql(CHALLENGE, { chain: 'ETHEREUM', address: EthWallet.createRandom().address }, { token });
    expect(errorCode(res)).toBe('UNAUTHENTICATED');
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
      const res = await stack.gql(CHALLENGE, { chain, address }, { token: account.token });
      expect(errorCode(res), `${chain} ${address}`).toBe('BAD_USER_INPUT');
    }
  });
});

describe('linkWallet', () => {
  it('links an Ethereum wallet with a real EIP-191 signature, and me lists it', async () => {
    const account = await newAccount();
    const eth = EthWallet.createRandom();
    const { message } = await challenge(account, 'ETHEREUM', eth.address);
    const before = Date.now();
    const res = await link(account, 'ETHEREUM', eth.address, await eth.signMessage(message));
    expect(res.errors).toBeUndefined();
    expect(res.data!.linkWallet).toMatchObject({ chain: 'ETHEREUM', address: eth.address });
    expect(new Date(res.data!.linkWallet.linkedAt).getTime()).toBeGreaterThanOrEqual(before - 5_000);
    expect(await myWallets(account)).toEqual([res.data!.linkWallet]);
  });

  it('links a Solana wallet with a real ed25519 signature, and me lists both chains', async () => {
    const account = await newAccount();
    const eth = EthWallet.createRandom();
    const sol = Keypair.generate();
    const solAddress = sol.publicKey.toBase58();

    const ethChallenge = await challenge(account, 'ETHEREUM', eth.address);
    expect((await link(account, 'ETHEREUM', eth.address, await eth.signMessage(ethChallenge.message))).errors).toBeUndefined();
    const solChallenge = await challenge(account, 'SOLANA', solAddress);
    const res = await link(account, 'SOLANA', solAddress, solanaSign(sol, solChallenge.message));
    expect(res.errors).toBeUndefined();
    expect(res.data!.linkWallet).toMatchObject({ chain: 'SOLANA', address: solAddress });

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
    const res = await link(account, 'ETHEREUM', lower, await eth.signMessage(message));
    expect(res.errors).toBeUndefined();
    expect(res.data!.linkWallet.address).toBe(eth.address);

    // An uppercase-hex spelling of the same wallet is the same wallet: linking it again is not a second row.
    const upper = `0x${eth.address.slice(2).toUpperCase()}`;
    const again = await challenge(account, 'ETHEREUM', upper);
    const relinked = await link(account, 'ETHEREUM', upper, await eth.signMessage(again.message));
    expect(relinked.errors).toBeUndefined();
    expect(relinked.data!.linkWallet.address).toBe(eth.address);
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
      expect(errorCode(await link(account, 'ETHEREUM', eth.address, signature)), signature).toBe('BAD_USER_INPUT');
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
      expect(errorCode(await link(account, 'SOLANA', solAddress, signature)), signature).toBe('BAD_USER_INPUT');
    }

    expect(await myWallets(account)).toEqual([]);
    // Failed attempts do not burn the challenge: the genuine signatures still link.
    expect((await link(account, 'ETHEREUM', eth.address, ethValid)).errors).toBeUndefined();
    expect((await link(account, 'SOLANA', solAddress, solValid)).errors).toBeUndefined();
    expect(await myWallets(account)).toHaveLength(2);
  });

  it('refuses a valid signature when no challenge was issued to the caller for that wallet', async () => {
    const account = await newAccount();
    const eth = EthWallet.createRandom();
    // A well-formed message in the challenge's shape, but never issued by the service.
    const forgedMessage = `localhost:4000 wants you to sign in with your Ethereum account:\n${eth.address}\n\nNonce: 0123456789abcdef`;
    expect(errorCode(await link(account, 'ETHEREUM', eth.address, await eth.signMessage(forgedMessage)))).toBe('BAD_USER_INPUT');
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
      expect((await link(alice, chain, address, signature)).errors).toBeUndefined();

      // The same challenge again, by its owner: the challenge is single-use (reused challenge).
      expect(errorCode(await link(alice, chain, address, signature)), `${chain} replay by owner`).toBe('BAD_USER_INPUT');

      // Bob requested his own challenge for that wallet, then replays Alice's signature. It does not
      // sign Bob's challenge, so it proves nothing for Bob: a bad signature / reused challenge, not
      // CONFLICT (which would also tell a caller who has not proven control who owns the wallet).
      await challenge(bob, chain, address);
      expect(errorCode(await link(bob, chain, address, signature)), `${chain} replay by another account`).toBe('BAD_USER_INPUT');

      // Even once Alice's wallet is linked, her challenge cannot be replayed.
      expect(errorCode(await link(alice, chain, address, signature)), `${chain} replay by owner again`).toBe('BAD_USER_INPUT');
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

    expect(errorCode(await link(account, 'ETHEREUM', eth.address, await eth.signMessage(ethMessage)))).toBe('BAD_USER_INPUT');
    expect(errorCode(await link(account, 'SOLANA', solAddress, solanaSign(sol, solMessage)))).toBe('BAD_USER_INPUT');
    expect(await myWallets(account)).toEqual([]);

    // A fresh challenge works.
    const fresh = (await challenge(account, 'ETHEREUM', eth.address)).message;
    expect((await link(account, 'ETHEREUM', eth.address, await eth.signMessage(fresh))).errors).toBeUndefined();
  });

  it('refuses a malformed address with BAD_USER_INPUT', async () => {
    const account = await newAccount();
    const eth = EthWallet.createRandom();
    const { message } = await challenge(account, 'ETHEREUM', eth.address);
    const signature = await eth.signMessage(message);
    expect(errorCode(await link(account, 'ETHEREUM', 'not-an-address', signature))).toBe('BAD_USER_INPUT');
    expect(errorCode(await link(account, 'ETHEREUM', eth.address.slice(0, 40), signature))).toBe('BAD_USER_INPUT');
    expect(errorCode(await link(account, 'SOLANA', eth.address, signature))).toBe('BAD_USER_INPUT');
    expect(errorCode(await link(account, 'SOLANA', 'I0Ol-not-base58', bs58.encode(new Uint8Array(64))))).toBe('BAD_USER_INPUT');
    expect(await myWallets(account)).toEqual([]);
  });

  it('is UNAUTHENTICATED without an access token, and links nothing', async () => {
    const account = await newAccount();
    const eth = EthWallet.createRandom();
    const { message } = await challenge(account, 'ETHEREUM', eth.address);
    const signature = await eth.signMessage(message);
    const anonymous = await link(null, 'ETHEREUM', eth.address, signature);
    expect(errorCode(anonymous)).toBe('UNAUTHENTICATED');
    expect(errorCode(await link(null, 'SOLANA', Keypair.generate().publicKey.toBase58(), bs58.encode(new Uint8Array(64))))).toBe('UNAUTHENTICATED');
    const forged = await stack.gql(LINK, { chain: 'ETHEREUM', address: eth.address, signature }, { token: 'garbage' });
    expect(errorCode(forged)).toBe('UNAUTHENTICATED');
    // The challenge was not consumed by those attempts.
    expect((await link(account, 'ETHEREUM', eth.address, signature)).errors).toBeUndefined();
  });

  it('a wallet belongs to one account: another account proving control gets CONFLICT', async () => {
    const alice = await newAccount();
    const bob = await newAccount();
    for (const chain of ['ETHEREUM', 'SOLANA'] as const) {
      const eth = EthWallet.createRandom();
      const sol = Keypair.generate();
      const address = chain === 'ETHEREUM' ? eth.address : sol.publicKey.toBase58();
      const sign = (message: string) => (chain === 'ETHEREUM' ? eth.signMessage(message) : Promise.resolve(solanaSign(sol, message)));

      expect((await link(alice, chain, address, await sign((await challenge(alice, chain, address)).message))).errors).toBeUndefined();
      // Bob holds the key too and signs his own, fresh challenge: the signature is valid, but the
      // wallet is linked to Alice.
      const bobChallenge = await challenge(bob, chain, address);
      const res = await link(bob, chain, address, await sign(bobChallenge.message));
      expect(errorCode(res), chain).toBe('CONFLICT');
      expect(res.data?.linkWallet ?? null).toBeNull();
    }
    expect(await myWallets(bob)).toEqual([]);
    expect(await myWallets(alice)).toHaveLength(2);

    // Lowercase spelling of Alice's Ethereum wallet is the same wallet for Bob too.
    const eth = EthWallet.createRandom();
    expect(
      (await link(alice, 'ETHEREUM', eth.address, await eth.signMessage((await challenge(alice, 'ETHEREUM', eth.address)).message))).errors,
    ).toBeUndefined();
    const lower = eth.address.toLowerCase();
    const res = await link(bob, 'ETHEREUM', lower, await eth.signMessage((await challenge(bob, 'ETHEREUM', lower)).message));
    expect(errorCode(res)).toBe('CONFLICT');
  });

  it('when two accounts race to link one wallet, exactly one wins and the other gets CONFLICT', async () => {
    const racers = await Promise.all(Array.from({ length: 4 }, () => newAccount()));
    const eth = EthWallet.createRandom();
    const signed = await Promise.all(
      racers.map(async (account) => ({ account, signature: await eth.signMessage((await challenge(account, 'ETHEREUM', eth.address)).message) })),
    );
    const results = await Promise.all(signed.map(({ account, signature }) => link(account, 'ETHEREUM', eth.address, signature)));
    expect(results.filter((r) => r.data?.linkWallet).length).toBe(1);
    expect(results.filter((r) => errorCode(r) === 'CONFLICT').length).toBe(racers.length - 1);
    const owners = (await Promise.all(racers.map(myWallets))).filter((w) => w.length > 0);
    expect(owners).toHaveLength(1);
  });
});

describe("another user's email and wallets", () => {
  const ENTITY = `query User($id: ID!) {
    _entities(representations: [{ __typename: "User", id: $id }]) { ... on User { id displayName email wallets { address } } }
  }`;

  it('are not reachable through the gateway (there is no user(id) query, and _entities is not public)', async () => {
    const alice = await newAccount();
    const bob = await newAccount();
    const res = await stack.gql(ENTITY, { id: alice.userId }, { token: bob.token });
    expect(res.data ?? null).toBeNull();
    expect(errorCode(res)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(JSON.stringify(res)).not.toContain('wallet-user-');
  });

  it('are FORBIDDEN to another user resolving the entity at the subgraph, but readable by the owner', async () => {
    const alice = await newAccount();
    const bob = await newAccount();
    const eth = EthWallet.createRandom();
    expect(
      (await link(alice, 'ETHEREUM', eth.address, await eth.signMessage((await challenge(alice, 'ETHEREUM', eth.address)).message))).errors,
    ).toBeUndefined();

    const direct = stack.subgraph('identity');
    type Entities = { _entities: ({ id: string; displayName: string; email: string | null; wallets: { address: string }[] | null } | null)[] };

    const asBob = await direct<Entities>(ENTITY, { id: alice.userId }, { token: bob.token });
    expect(asBob.errors?.map((e) => e.extensions?.code)).toEqual(expect.arrayContaining(['FORBIDDEN']));
    expect(asBob.errors?.every((e) => e.extensions?.code === 'FORBIDDEN')).toBe(true);
    const seen = asBob.data?._entities?.[0];
    expect(seen?.email ?? null).toBeNull();
    expect(seen?.wallets ?? null).toBeNull();
    expect(JSON.stringify(asBob)).not.toContain(eth.address);
    expect(JSON.stringify(asBob)).not.toMatch(/wallet-user-\d+@example\.com/);

    const anonymous = await direct<Entities>(ENTITY, { id: alice.userId });
    expect(anonymous.errors?.length).toBeGreaterThan(0);
    expect(anonymous.errors?.every((e) => e.extensions?.code === 'UNAUTHENTICATED')).toBe(true);
    expect(JSON.stringify(anonymous)).not.toContain(eth.address);

    const asAlice = await direct<Entities>(ENTITY, { id: alice.userId }, { token: alice.token });
    expect(asAlice.errors).toBeUndefined();
    expect(asAlice.data!._entities[0]).toMatchObject({ id: alice.userId, wallets: [{ address: eth.address }] });
    expect(asAlice.data!._entities[0]!.email).toMatch(/^wallet-user-\d+@example\.com$/);
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
    const results = await Promise.all(signed.map(({ address, signature }) => link(account, 'SOLANA', address, signature)));
    expect(results.filter((r) => r.data?.linkWallet)).toHaveLength(MAX_WALLETS_PER_USER);
    const refused = results.filter((r) => !r.data?.linkWallet);
    expect(refused.map(errorCode)).toEqual(Array.from({ length: 3 }, () => 'CONFLICT'));
    expect(refused[0]!.errors![0]!.message).toMatch(/10 wallets/);
    expect(await myWallets(account)).toHaveLength(MAX_WALLETS_PER_USER);
    // Linking a wallet the user already has is no new wallet: still answered.
    const linked = results.findIndex((r) => r.data?.linkWallet);
    const { address } = signed[linked]!;
    expect(
      (await link(account, 'SOLANA', address, solanaSign(keypairs[linked]!, (await challenge(account, 'SOLANA', address)).message))).errors,
    ).toBeUndefined();
    expect(readCostDirectives(identitySubgraph.sdl).listSizes.get('User.wallets')?.assumedSize).toBe(MAX_WALLETS_PER_USER);
  });
});
