// rewards' claims on rewards' own schema, with catalog's songs injected: vouchers proved with real
// Groth16 proofs and claimed through the service (a claim needs no account, so no Principal),
// credited, or paid on an in-process chain. No gateway, no other context. The anonymous claim
// through the gateway is rewards.e2e.test.ts; sessions and the pool are use-cases.test.ts.
import { readFile } from 'node:fs/promises';
import { Wallet, type Contract } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, openPersistence, type MikroORM } from '@vibestream/platform';
import { compileSolidity, deployContract, startTestChain, type ContextHarness, type TestChain } from '@vibestream/testkit';
import { artifacts } from '@vibestream/circuits';
import { loadRewardsConfig } from '../src/config.ts';
import { migrations } from '../src/migrations.ts';
import { Erc20Payer } from '../src/payout/erc20-payer.ts';
import { claimPayoutStore } from '../src/payout-store.ts';
import type { RewardsService, VoucherRow } from '../src/service.ts';
import { ProofVerifierPool } from '../src/verifier.ts';
import { proveWithPath, terminateSnarkjs } from './proofs.ts';
import { TestClock, as, codeOf, fan, listenAndComplete, openRewards, pastEpoch, publishSong, rewardsService } from './service-harness.ts';

let h: ContextHarness;
let verifier: ProofVerifierPool;
const closing: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  h = await openRewards();
  verifier = new ProofVerifierPool(artifacts.verificationKey, 2);
});

afterAll(async () => {
  for (const close of closing.reverse()) await close();
  await verifier?.close();
  await h?.close();
  await terminateSnarkjs();
});

/** A voucher earned by a fan's listen, and its proof for `recipient` against the tree's root as `service` answers it. */
async function provenVoucher(service: RewardsService, clock: TestClock, songId: string, recipient: string) {
  const { secrets, result } = await listenAndComplete(service, clock, fan(), songId, 1);
  const voucher: VoucherRow = result.voucher!;
  const { proof, publicSignals } = await proveWithPath(secrets, await service.path(voucher.epoch, voucher.leaf_index), recipient);
  return { secrets, voucher, proof, publicSignals };
}

// rewards.e2e.test.ts's settings: 1-second listens earn 5000.
const CREDITED_ENV = { MIN_LISTEN_SECONDS: '1', HEARTBEAT_INTERVAL_SECONDS: '1', HEARTBEAT_TOLERANCE_SECONDS: '0', REWARD_PER_LISTEN: '5000' };

describe('claims credited (no chain configured)', () => {
  const clock = new TestClock(pastEpoch(1));
  let service: RewardsService;
  let songId: string;

  beforeAll(async () => {
    service = rewardsService(h, { clock, verifier, env: CREDITED_ENV });
    songId = await publishSong(h, as(['ARTIST']), 1, 'Song B');
  });

  it('refuses proofs for another recipient, unknown roots and tampered proofs with BAD_USER_INPUT', async () => {
    const wallet = Wallet.createRandom().address;
    const { proof, publicSignals } = await provenVoucher(service, clock, songId, wallet);

    const otherRecipient = [publicSignals[0]!, publicSignals[1]!, BigInt(Wallet.createRandom().address).toString()];
    expect(await codeOf(service.claim(proof, otherRecipient))).toBe('BAD_USER_INPUT');
    const unknownRoot = [publicSignals[0]!, '12345', publicSignals[2]!];
    expect(await codeOf(service.claim(proof, unknownRoot))).toBe('BAD_USER_INPUT');
    const tampered = { ...proof, pi_a: [(proof.pi_a as string[])[1], (proof.pi_a as string[])[0], '1'] };
    expect(await codeOf(service.claim(tampered, publicSignals))).toBe('BAD_USER_INPUT');
    expect(await codeOf(service.claim({ nonsense: true }, publicSignals))).toBe('BAD_USER_INPUT');
    expect(await codeOf(service.claim(proof, publicSignals.slice(0, 2)))).toBe('BAD_USER_INPUT');
    // None of those spent the voucher.
    const ok = await service.claim(proof, publicSignals);
    expect(ok.status).toBe('CREDITED');
  });

  it('keeps trees and roots: an old voucher still claims from a restarted subgraph', async () => {
    const { secrets, result } = await listenAndComplete(service, clock, fan(), songId, 1);
    const voucher = result.voucher!;
    // The restarted process: its own connections (migrating at start as a subgraph does), verifier and service; only the database is shared.
    const orm: MikroORM = await openDatabase({ url: h.database.url, schema: 'rewards', entities: [], migrations, log: h.log });
    closing.push(() => orm.close());
    const restartedVerifier = new ProofVerifierPool(artifacts.verificationKey, 1);
    closing.push(() => restartedVerifier.close());
    const restarted = rewardsService(h, { clock, verifier: restartedVerifier, env: CREDITED_ENV, db: openPersistence(orm, { source: 'rewards' }) });
    const wallet = Wallet.createRandom().address;
    const { proof, publicSignals } = await proveWithPath(secrets, await restarted.path(voucher.epoch, voucher.leaf_index), wallet);
    const claim = await restarted.claim(proof, publicSignals);
    expect(claim.status).toBe('CREDITED');
  });
});

describe('claims paid on chain', () => {
  const REWARD = 7_000_000_000_000_000n;
  const clock = new TestClock(pastEpoch(2));
  let chain: TestChain;
  let token: Contract;
  let service: RewardsService;
  let songId: string;
  const balanceOf = async (address: string): Promise<bigint> => (await token.getFunction('balanceOf')(address)) as bigint;

  beforeAll(async () => {
    chain = await startTestChain();
    closing.push(() => chain.close());
    const compiled = await compileSolidity(
      { 'RewardToken.sol': await readFile(new URL('./contracts/RewardToken.sol', import.meta.url), 'utf8') },
      'RewardToken',
    );
    const deployer = new Wallet(chain.accounts[0]!, chain.provider);
    token = await deployContract(deployer, compiled, ['Vibe Reward', 'VIBE']);
    const treasury = new Wallet(chain.accounts[1]!, chain.provider);
    await (await (token.connect(deployer) as Contract).getFunction('mint')(treasury.address, 1_000n * REWARD)).wait();

    const env = {
      MIN_LISTEN_SECONDS: '1',
      REWARD_PER_LISTEN: REWARD.toString(),
      ETH_RPC_URL: chain.url,
      REWARD_TOKEN_ADDRESS: await token.getAddress(),
      PAYOUT_PRIVATE_KEY: chain.accounts[1]!,
    };
    // The payer as app.ts builds it from these settings.
    const config = loadRewardsConfig({ DATABASE_URL: h.database.url, ...env });
    const payer = new Erc20Payer({
      rpcUrl: config.ETH_RPC_URL!,
      tokenAddress: config.REWARD_TOKEN_ADDRESS!,
      privateKey: config.PAYOUT_PRIVATE_KEY!,
      confirmations: config.PAYOUT_CONFIRMATIONS,
      store: claimPayoutStore(h.db),
      log: h.log,
    });
    closing.push(() => payer.close());
    service = rewardsService(h, { clock, verifier, payer, env });
    songId = await publishSong(h, as(['ARTIST']), 1, 'Paid Song');
  }, 120_000);

  it("raises the wallet's reward-token balance by exactly rewardPerListen, claimed with no token", async () => {
    const wallet = Wallet.createRandom().address;
    const before = await balanceOf(wallet);
    const { voucher, proof, publicSignals } = await provenVoucher(service, clock, songId, wallet);
    expect(voucher.amount).toBe(REWARD.toString());
    // claim takes no Principal: a claim is tied to nobody.
    const claim = await service.claim(proof, publicSignals);
    expect(claim).toMatchObject({
      status: 'PAID',
      amount: REWARD.toString(),
      recipient: wallet,
      tx_hash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
    });
    expect((await balanceOf(wallet)) - before).toBe(REWARD);
    const receipt = await chain.provider.getTransactionReceipt(claim.tx_hash!);
    expect(receipt?.status).toBe(1);
  });

  it('10 concurrent claims of one voucher pay once', async () => {
    const wallet = Wallet.createRandom().address;
    const { proof, publicSignals } = await provenVoucher(service, clock, songId, wallet);
    // Each claim's status, or the code its error would answer with.
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () =>
        service.claim(proof, publicSignals).then(
          (claim) => claim.status,
          (error: unknown) => codeOf(Promise.reject(error)),
        ),
      ),
    );
    expect(outcomes.filter((o) => o === 'PAID')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'CONFLICT')).toHaveLength(9);
    expect(await balanceOf(wallet)).toBe(REWARD);
  });
});
