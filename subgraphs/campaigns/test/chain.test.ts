import { Contract, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestChain, type TestChain } from '@vibestream/platform/testing';
import { loadCollectionArtifact } from '../src/chain/artifact.ts';
import { CampaignChain } from '../src/chain/collections.ts';

const artifact = loadCollectionArtifact();
let chain: TestChain;
let campaigns: CampaignChain;
let collection: string;

beforeAll(async () => {
  chain = await startTestChain();
  campaigns = new CampaignChain({ rpcUrl: chain.url, privateKey: chain.accounts[3]!, artifact, receiptTimeoutMs: 10_000, pollingIntervalMs: 50 });
  ({ contractAddress: collection } = await campaigns.deployCollection({ name: 'Test Drop', symbol: 'TD', editionSize: 12, baseTokenUri: 'https://vibe.example/nft/c/', sent: null, onSigned: async () => {} }));
}, 120_000);

afterAll(async () => {
  await campaigns?.close();
  await chain?.close();
});

const read = () => new Contract(collection, artifact.abi, chain.provider);
const noop = async () => {};

describe('CampaignChain', () => {
  it('deploys a collection owned by the deployer, with the drop and its base URI', async () => {
    const nft = read();
    expect(await nft.getFunction('owner')()).toBe(campaigns.address);
    expect(await nft.getFunction('editionSize')()).toBe(12n);
    expect(await nft.getFunction('name')()).toBe('Test Drop');
  });

  it('sends ten mints at once from one key without a nonce collision', async () => {
    const wallets = Array.from({ length: 10 }, () => Wallet.createRandom().address);
    const signed: string[] = [];
    const results = await Promise.all(
      wallets.map((to, i) => campaigns.mint({ contractAddress: collection, to, tokenId: i + 1, sentTxHash: null, onSigned: async (h) => void signed.push(h) })),
    );
    expect(new Set(results.map((r) => r.txHash)).size).toBe(10);
    expect(signed.sort()).toEqual(results.map((r) => r.txHash).sort());
    const nft = read();
    for (const [i, to] of wallets.entries()) expect(await nft.getFunction('ownerOf')(BigInt(i + 1))).toBe(to);
    expect(await nft.getFunction('tokenURI')(3n)).toBe('https://vibe.example/nft/c/3');
  });

  it('a retry of a minted edition answers the minting transaction and sends nothing', async () => {
    const to = Wallet.createRandom().address;
    const first = await campaigns.mint({ contractAddress: collection, to, tokenId: 11, sentTxHash: null, onSigned: noop });
    const nonce = await chain.provider.getTransactionCount(campaigns.address);
    let signedAgain = false;
    const again = await campaigns.mint({ contractAddress: collection, to, tokenId: 11, sentTxHash: null, onSigned: async () => void (signedAgain = true) });
    expect(again.txHash).toBe(first.txHash);
    expect(signedAgain).toBe(false);
    expect(await chain.provider.getTransactionCount(campaigns.address)).toBe(nonce);
  });

  it('refuses an edition held by another wallet, and one beyond the drop, before sending', async () => {
    const nonce = await chain.provider.getTransactionCount(campaigns.address);
    await expect(campaigns.mint({ contractAddress: collection, to: Wallet.createRandom().address, tokenId: 1, sentTxHash: null, onSigned: noop })).rejects.toThrow(/owned by/);
    await expect(campaigns.mint({ contractAddress: collection, to: Wallet.createRandom().address, tokenId: 13, sentTxHash: null, onSigned: noop })).rejects.toThrow();
    expect(await chain.provider.getTransactionCount(campaigns.address)).toBe(nonce);
    // The queue is not stuck after a refusal.
    const to = Wallet.createRandom().address;
    await campaigns.mint({ contractAddress: collection, to, tokenId: 12, sentTxHash: null, onSigned: noop });
    expect(await read().getFunction('ownerOf')(12n)).toBe(to);
  });

  it('only the deployer can mint on chain', async () => {
    const outsider = new Wallet(chain.accounts[4]!, chain.provider);
    const nft = new Contract(collection, artifact.abi, outsider);
    await expect(nft.getFunction('mint')(outsider.address, 5n)).rejects.toThrow();
  });
});
