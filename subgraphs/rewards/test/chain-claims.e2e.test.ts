import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Contract } from 'ethers';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSolidity, deployContract, errorCode, graphqlClient, startTestChain, startTestStack, type TestChain, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { rewardsSubgraph } from '../src/index.ts';
import { CLAIM, listenAndComplete, newArtist, prove, publishSong, signUp, terminateSnarkjs } from './helpers.ts';

const REWARD = 7_000_000_000_000_000n;
let chain: TestChain;
let token: Contract;
let stack: TestStack;
let mediaDir: string;
let songId: string;

beforeAll(async () => {
  chain = await startTestChain();
  const compiled = await compileSolidity({ 'RewardToken.sol': await readFile(new URL('./contracts/RewardToken.sol', import.meta.url), 'utf8') }, 'RewardToken');
  const deployer = new Wallet(chain.accounts[0]!, chain.provider);
  token = await deployContract(deployer, compiled, ['Vibe Reward', 'VIBE']);
  const treasury = new Wallet(chain.accounts[1]!, chain.provider);
  await (await (token.connect(deployer) as Contract).getFunction('mint')(treasury.address, 1_000n * REWARD)).wait();

  mediaDir = await mkdtemp(join(tmpdir(), 'vs-chain-'));
  stack = await startTestStack('rewardschain', [identitySubgraph, catalogSubgraph, rewardsSubgraph], {
    MEDIA_DIR: mediaDir,
    MIN_LISTEN_SECONDS: '1',
    REWARD_PER_LISTEN: REWARD.toString(),
    ETH_RPC_URL: chain.url,
    REWARD_TOKEN_ADDRESS: await token.getAddress(),
    PAYOUT_PRIVATE_KEY: chain.accounts[1]!,
  });
  const artist = await newArtist(stack, 'On-chain Artist');
  songId = await publishSong(stack, artist.token, 1, 'Paid Song');
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await chain?.close();
  await rm(mediaDir, { recursive: true, force: true });
  await terminateSnarkjs();
});

type Claim = { claimListenReward: { id: string; status: string; amount: string; recipient: string; txHash: string | null } };
const balanceOf = async (address: string): Promise<bigint> => (await token.getFunction('balanceOf')(address)) as bigint;

describe('claims paid on chain', () => {
  it("raises the wallet's reward-token balance by exactly rewardPerListen, claimed with no token", async () => {
    const fan = await signUp(stack, 'FAN');
    const { secrets, result } = await listenAndComplete(stack, fan.token, songId, 1);
    expect(result.voucher!.amount).toBe(REWARD.toString());
    const wallet = Wallet.createRandom().address;
    const before = await balanceOf(wallet);
    const { proof, publicSignals } = await prove(stack, secrets, result.voucher!, wallet);
    const claim = await graphqlClient(stack.gatewayUrl)<Claim>(CLAIM, { proof, publicSignals });
    expect(claim.errors).toBeUndefined();
    expect(claim.data!.claimListenReward).toMatchObject({
      status: 'PAID',
      amount: REWARD.toString(),
      recipient: wallet,
      txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
    });
    expect((await balanceOf(wallet)) - before).toBe(REWARD);
    const receipt = await chain.provider.getTransactionReceipt(claim.data!.claimListenReward.txHash!);
    expect(receipt?.status).toBe(1);
  });

  it('10 concurrent claims of one voucher pay once', async () => {
    const fan = await signUp(stack, 'FAN');
    const { secrets, result } = await listenAndComplete(stack, fan.token, songId, 1);
    const wallet = Wallet.createRandom().address;
    const { proof, publicSignals } = await prove(stack, secrets, result.voucher!, wallet);
    const anonymous = graphqlClient(stack.gatewayUrl);
    const results = await Promise.all(Array.from({ length: 10 }, () => anonymous<Claim>(CLAIM, { proof, publicSignals })));
    expect(results.filter((r) => r.data?.claimListenReward.status === 'PAID')).toHaveLength(1);
    expect(results.filter((r) => errorCode(r) === 'CONFLICT')).toHaveLength(9);
    expect(await balanceOf(wallet)).toBe(REWARD);
  });
});
