import { Contract, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestChain, type TestChain } from '@vibestream/testkit';
import { loadCollectionArtifact } from '../src/chain/artifact.ts';
import { CampaignChain, type SignedDeployment } from '../src/chain/collections.ts';

const artifact = loadCollectionArtifact();
let chain: TestChain;
let campaigns: CampaignChain;
let collection: string;

beforeAll(async () => {
  chain = await startTestChain();
  campaigns = new CampaignChain({ rpcUrl: chain.url, privateKey: chain.accounts[3]!, artifact, receiptTimeoutMs: 10_000, pollingIntervalMs: 50 });
  ({ contractAddress: collection } = await campaigns.deployCollection({
    name: 'Test Drop',
    symbol: 'TD',
    editionSize: 12,
    baseTokenUri: 'https://vibe.example/nft/c/',
    sent: null,
    onSigned: async () => {},
  }));
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
    await expect(
      campaigns.mint({ contractAddress: collection, to: Wallet.createRandom().address, tokenId: 1, sentTxHash: null, onSigned: noop }),
    ).rejects.toThrow(/owned by/);
    await expect(
      campaigns.mint({ contractAddress: collection, to: Wallet.createRandom().address, tokenId: 13, sentTxHash: null, onSigned: noop }),
    ).rejects.toThrow();
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

  describe('a deployment retried with what was recorded of it', () => {
    const drop = { name: 'Retry Drop', symbol: 'RD', editionSize: 3, baseTokenUri: 'https://vibe.example/nft/r/' };
    /** Signs and records a deployment, but keeps it from being broadcast (as a crash right after recording would). */
    async function recordedOnly(): Promise<SignedDeployment> {
      let recorded: SignedDeployment | null = null;
      await expect(
        campaigns.deployCollection({
          ...drop,
          sent: null,
          onSigned: async (d) => {
            recorded = d;
            throw new Error('crashed before broadcasting');
          },
        }),
      ).rejects.toThrow(/crashed/);
      return recorded!;
    }
    const code = (address: string) => chain.provider.getCode(address);

    it('finishes a confirmed deployment without sending anything', async () => {
      let sent: SignedDeployment | null = null;
      const first = await campaigns.deployCollection({ ...drop, sent: null, onSigned: async (d) => void (sent = d) });
      expect(first.contractAddress).toBe(sent!.contractAddress);
      const nonce = await chain.provider.getTransactionCount(campaigns.address);
      let signedAgain = false;
      const again = await campaigns.deployCollection({ ...drop, sent, onSigned: async () => void (signedAgain = true) });
      expect(again).toEqual(first);
      expect(signedAgain).toBe(false);
      expect(await chain.provider.getTransactionCount(campaigns.address)).toBe(nonce);
    });

    it('broadcasts the same signed deployment again when it never reached the chain and its nonce is free', async () => {
      const nonce = await chain.provider.getTransactionCount(campaigns.address);
      const recorded = await recordedOnly();
      expect(recorded.nonce).toBe(nonce);
      expect(await chain.provider.getTransactionCount(campaigns.address, 'pending')).toBe(nonce);
      const finished = await campaigns.deployCollection({ ...drop, sent: recorded, onSigned: async () => expect.fail('must not sign another deployment') });
      expect(finished).toEqual({ txHash: recorded.txHash, contractAddress: recorded.contractAddress });
      expect(await code(recorded.contractAddress)).not.toBe('0x');
      expect(await chain.provider.getTransactionCount(campaigns.address)).toBe(nonce + 1);
    });

    it('deploys anew when the recorded deployment can never be mined, even though another collection now sits at its address', async () => {
      const recorded = await recordedOnly();
      // Another deployment takes the nonce, so it creates a contract at the very address recorded.
      const other = await campaigns.deployCollection({ ...drop, name: 'Other Drop', sent: null, onSigned: noop });
      expect(other.contractAddress).toBe(recorded.contractAddress);
      let replacement: SignedDeployment | null = null;
      const finished = await campaigns.deployCollection({ ...drop, sent: recorded, onSigned: async (d) => void (replacement = d) });
      expect(replacement!.nonce).toBe(recorded.nonce + 1);
      expect(finished).toEqual({ txHash: replacement!.txHash, contractAddress: replacement!.contractAddress });
      expect(finished.contractAddress).not.toBe(recorded.contractAddress);
      expect(await new Contract(finished.contractAddress, artifact.abi, chain.provider).getFunction('name')()).toBe('Retry Drop');
    });
  });
});
