import { readFile } from 'node:fs/promises';
import { Wallet, parseUnits, type Contract } from 'ethers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compileSolidity, deployContract, startTestChain, type CompiledContract, type TestChain } from '@vibestream/testkit';
import { Erc20Payer, PayoutFailedError, type PayoutRecord, type PayoutStore } from '../src/payout/erc20-payer.ts';

/** Test-only store: the real one is PostgreSQL. Follows the contract documented on {@link PayoutStore}. */
class MemoryPayoutStore implements PayoutStore {
  readonly records = new Map<string, PayoutRecord & { reason?: string }>();
  readonly saveSignedCalls = new Map<string, number>();

  create(claimId: string, recipient: string, amount: bigint): void {
    this.records.set(claimId, { claimId, recipient, amount, rawTx: null, txHash: null, nonce: null, status: 'PENDING' });
  }

  record(claimId: string) {
    const record = this.records.get(claimId);
    if (!record) throw new Error(`no record ${claimId}`);
    return record;
  }

  async get(claimId: string): Promise<PayoutRecord | null> {
    await tick();
    const record = this.records.get(claimId);
    return record ? { ...record } : null;
  }

  async saveSigned(claimId: string, signed: { rawTx: string; txHash: string; nonce: number }): Promise<void> {
    await tick();
    const record = this.record(claimId);
    if (record.rawTx !== null || record.txHash !== null || record.status !== 'PENDING') {
      throw new Error(`claim ${claimId} already has a signed transaction`);
    }
    Object.assign(record, signed, { status: 'SENT' });
    this.saveSignedCalls.set(claimId, (this.saveSignedCalls.get(claimId) ?? 0) + 1);
  }

  async markPaid(claimId: string, txHash: string): Promise<void> {
    await tick();
    const record = this.record(claimId);
    if (record.txHash !== txHash) throw new Error(`claim ${claimId} was signed as ${record.txHash}, not ${txHash}`);
    record.status = 'PAID';
  }

  async markFailed(claimId: string, reason: string): Promise<void> {
    await tick();
    const record = this.record(claimId);
    if (record.status === 'PAID') throw new Error(`claim ${claimId} is already PAID`);
    record.status = 'FAILED';
    record.reason = reason;
  }
}

/** Shares a store's records, but "crashes" the process right after saveSigned has committed. */
class CrashAfterSaveStore implements PayoutStore {
  private crashed: Array<(error: Error) => void> = [];
  private readonly inner: MemoryPayoutStore;
  constructor(inner: MemoryPayoutStore) {
    this.inner = inner;
    frozen.push(this);
  }
  get(claimId: string) {
    return this.inner.get(claimId);
  }
  async saveSigned(claimId: string, signed: { rawTx: string; txHash: string; nonce: number }): Promise<void> {
    await this.inner.saveSigned(claimId, signed);
    // The process dies here: nothing after this line runs until the test lets the zombie continue.
    await new Promise<void>((_resolve, reject) => this.crashed.push(reject));
  }
  markPaid(claimId: string, txHash: string) {
    return this.inner.markPaid(claimId, txHash);
  }
  markFailed(claimId: string, reason: string) {
    return this.inner.markFailed(claimId, reason);
  }
  /** Lets the frozen pay() continue, as if saveSigned had reported an error. */
  wake(): void {
    for (const reject of this.crashed.splice(0)) reject(new Error('connection lost'));
  }
}

/** Crashed stores, woken after each test so that no pay() is left hanging. */
const frozen: CrashAfterSaveStore[] = [];
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const units = (n: string) => parseUnits(n, 18);
const newRecipient = () => Wallet.createRandom().address;

let chain: TestChain;
let compiled: CompiledContract;
let token: Contract;
let treasury: Wallet;
const payers: Erc20Payer[] = [];
const logged: string[] = [];
const log = {
  info: (_obj: object, msg?: string) => void logged.push(`info: ${msg}`),
  warn: (_obj: object, msg?: string) => void logged.push(`warn: ${msg}`),
  error: (_obj: object, msg?: string) => void logged.push(`error: ${msg}`),
};

function newPayer(store: PayoutStore, privateKey = treasury.privateKey) {
  const payer = new Erc20Payer({
    rpcUrl: chain.url,
    tokenAddress: token.target as string,
    privateKey,
    store,
    pollingIntervalMs: 50,
    receiptTimeoutMs: 20_000,
    log,
  });
  payers.push(payer);
  return payer;
}

const balanceOf = async (address: string): Promise<bigint> => (await token.balanceOf!(address)) as bigint;
const nonceOf = (address: string) => chain.provider.getTransactionCount(address, 'latest');

beforeAll(async () => {
  chain = await startTestChain();
  const source = await readFile(new URL('./contracts/RewardToken.sol', import.meta.url), 'utf8');
  compiled = await compileSolidity({ 'RewardToken.sol': source }, 'RewardToken');
  const deployer = new Wallet(chain.accounts[0]!, chain.provider);
  token = await deployContract(deployer, compiled, ['Vibe Reward', 'VIBE']);
  treasury = new Wallet(chain.accounts[1]!, chain.provider);
  await (await token.mint!(treasury.address, units('1000000'))).wait();
});

afterEach(async () => {
  logged.length = 0;
  for (const store of frozen.splice(0)) store.wake();
  await Promise.all(payers.splice(0).map((payer) => payer.close()));
});

afterAll(async () => {
  await chain?.close();
});

describe('Erc20Payer', () => {
  it('pays the recorded amount once', async () => {
    const store = new MemoryPayoutStore();
    const recipient = newRecipient();
    const amount = units('12.5');
    store.create('claim-1', recipient, amount);
    const treasuryBefore = await balanceOf(treasury.address);

    const { txHash } = await newPayer(store).pay('claim-1');

    expect(await balanceOf(recipient)).toBe(amount);
    expect(await balanceOf(treasury.address)).toBe(treasuryBefore - amount);
    expect(store.record('claim-1')).toMatchObject({ status: 'PAID', txHash });
    const receipt = await chain.provider.getTransactionReceipt(txHash);
    expect(receipt?.status).toBe(1);
    expect(receipt?.from).toBe(treasury.address);

    // Paying a PAID claim again is a no-op.
    const nonce = await nonceOf(treasury.address);
    expect(await newPayer(store).pay('claim-1')).toEqual({ txHash });
    expect(await nonceOf(treasury.address)).toBe(nonce);
    expect(await balanceOf(recipient)).toBe(amount);
  });

  it('pays once when the same claim is paid 10 times concurrently', async () => {
    const store = new MemoryPayoutStore();
    const recipient = newRecipient();
    store.create('claim-same', recipient, units('3'));
    const nonce = await nonceOf(treasury.address);
    const payer = newPayer(store);

    const results = await Promise.all(Array.from({ length: 10 }, () => payer.pay('claim-same')));

    expect(new Set(results.map((r) => r.txHash)).size).toBe(1);
    expect(store.saveSignedCalls.get('claim-same')).toBe(1);
    expect(await balanceOf(recipient)).toBe(units('3'));
    expect(await nonceOf(treasury.address)).toBe(nonce + 1);
  });

  it('pays once when two payer instances race on the same claim', async () => {
    const store = new MemoryPayoutStore();
    const recipient = newRecipient();
    store.create('claim-race', recipient, units('4'));
    const nonce = await nonceOf(treasury.address);
    const [a, b] = [newPayer(store), newPayer(store)];

    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).pay('claim-race')));

    expect(new Set(results.map((r) => r.txHash)).size).toBe(1);
    expect(store.saveSignedCalls.get('claim-race')).toBe(1);
    expect(store.record('claim-race').status).toBe('PAID');
    expect(await balanceOf(recipient)).toBe(units('4'));
    expect(await nonceOf(treasury.address)).toBe(nonce + 1);
  });

  it('pays 5 different claims concurrently with consecutive nonces', async () => {
    const store = new MemoryPayoutStore();
    const claims = Array.from({ length: 5 }, (_, i) => ({ id: `claim-multi-${i}`, recipient: newRecipient(), amount: units(String(i + 1)) }));
    for (const c of claims) store.create(c.id, c.recipient, c.amount);
    const firstNonce = await nonceOf(treasury.address);
    const treasuryBefore = await balanceOf(treasury.address);
    const payer = newPayer(store);

    const results = await Promise.all(claims.map((c) => payer.pay(c.id)));

    expect(new Set(results.map((r) => r.txHash)).size).toBe(5);
    const nonces = claims.map((c) => store.record(c.id).nonce!);
    expect([...nonces].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4].map((i) => firstNonce + i));
    for (const [i, c] of claims.entries()) {
      expect(store.record(c.id).status).toBe('PAID');
      expect(await balanceOf(c.recipient)).toBe(c.amount);
      const tx = await chain.provider.getTransaction(results[i]!.txHash);
      expect(tx?.nonce).toBe(store.record(c.id).nonce);
    }
    expect(await balanceOf(treasury.address)).toBe(treasuryBefore - units('15'));
    expect(await nonceOf(treasury.address)).toBe(firstNonce + 5);
  });

  it('after a crash between saveSigned and broadcast, a new payer sends the same transaction once', async () => {
    const store = new MemoryPayoutStore();
    const recipient = newRecipient();
    store.create('claim-crash', recipient, units('7'));
    const nonce = await nonceOf(treasury.address);

    const crashing = new CrashAfterSaveStore(store);
    const zombie = newPayer(crashing).pay('claim-crash');
    zombie.catch(() => {});
    await until(() => store.record('claim-crash').status === 'SENT');
    const signed = store.record('claim-crash');
    expect(await chain.provider.getTransaction(signed.txHash!)).toBeNull();
    expect(await balanceOf(recipient)).toBe(0n);

    // "Restart": a fresh payer (fresh nonce state) finds the signed transaction and broadcasts it.
    const { txHash } = await newPayer(store).pay('claim-crash');
    expect(txHash).toBe(signed.txHash);
    expect(logged).toContain('warn: payout not mined yet; rebroadcasting the stored transaction');
    expect(store.record('claim-crash')).toMatchObject({ status: 'PAID', rawTx: signed.rawTx });
    expect(store.saveSignedCalls.get('claim-crash')).toBe(1);
    expect(await balanceOf(recipient)).toBe(units('7'));
    expect(await nonceOf(treasury.address)).toBe(nonce + 1);

    // Even the frozen process, when it resumes, does not pay again.
    crashing.wake();
    await expect(zombie).resolves.toEqual({ txHash });
    expect(await balanceOf(recipient)).toBe(units('7'));
    expect(await nonceOf(treasury.address)).toBe(nonce + 1);
  });

  it('after a crash between broadcast and markPaid, a retry only records the payment', async () => {
    const store = new MemoryPayoutStore();
    const recipient = newRecipient();
    store.create('claim-lost-ack', recipient, units('2'));
    const markPaid = store.markPaid.bind(store);
    let failOnce = true;
    store.markPaid = async (claimId, txHash) => {
      if (failOnce) {
        failOnce = false;
        throw new Error('database unavailable');
      }
      return markPaid(claimId, txHash);
    };
    const nonce = await nonceOf(treasury.address);

    await expect(newPayer(store).pay('claim-lost-ack')).rejects.toThrow('database unavailable');
    expect(store.record('claim-lost-ack').status).toBe('SENT');
    expect(await balanceOf(recipient)).toBe(units('2'));

    await newPayer(store).pay('claim-lost-ack');
    expect(store.record('claim-lost-ack').status).toBe('PAID');
    expect(await balanceOf(recipient)).toBe(units('2'));
    expect(await nonceOf(treasury.address)).toBe(nonce + 1);
  });

  it('marks a signed transaction FAILED, without paying, when another transaction took its nonce', async () => {
    const store = new MemoryPayoutStore();
    const [x, y] = [newRecipient(), newRecipient()];
    store.create('claim-x', x, units('5'));
    store.create('claim-y', y, units('6'));

    const crashing = new CrashAfterSaveStore(store);
    const zombie = newPayer(crashing).pay('claim-x');
    zombie.catch(() => {});
    await until(() => store.record('claim-x').status === 'SENT');

    // After the restart another claim is paid first and gets the same nonce from the node.
    const fresh = newPayer(store);
    await fresh.pay('claim-y');
    expect(store.record('claim-y').nonce).toBe(store.record('claim-x').nonce);

    await expect(fresh.pay('claim-x')).rejects.toBeInstanceOf(PayoutFailedError);
    expect(store.record('claim-x')).toMatchObject({ status: 'FAILED', reason: expect.stringContaining('nonce') });
    expect(await balanceOf(x)).toBe(0n);
    expect(await balanceOf(y)).toBe(units('6'));

    crashing.wake();
    await expect(zombie).rejects.toBeInstanceOf(PayoutFailedError);
    expect(await balanceOf(x)).toBe(0n);
  });

  it('marks the claim FAILED and sends nothing when the treasury lacks tokens', async () => {
    const store = new MemoryPayoutStore();
    const recipient = newRecipient();
    const treasuryBalance = await balanceOf(treasury.address);
    store.create('claim-broke', recipient, treasuryBalance + 1n);
    const nonce = await nonceOf(treasury.address);

    const payment = newPayer(store).pay('claim-broke');
    await expect(payment).rejects.toBeInstanceOf(PayoutFailedError);
    await expect(payment).rejects.toThrow(/ERC20InsufficientBalance/);

    expect(store.record('claim-broke')).toMatchObject({ status: 'FAILED', rawTx: null, txHash: null });
    expect(store.saveSignedCalls.get('claim-broke')).toBeUndefined();
    expect(await balanceOf(recipient)).toBe(0n);
    expect(await balanceOf(treasury.address)).toBe(treasuryBalance);
    expect(await nonceOf(treasury.address)).toBe(nonce);
    // And it stays failed: no later attempt signs anything.
    await expect(newPayer(store).pay('claim-broke')).rejects.toBeInstanceOf(PayoutFailedError);
    expect(await nonceOf(treasury.address)).toBe(nonce);
  });

  it('marks a transfer that reverted on chain FAILED', async () => {
    // A second treasury holding 100 tokens; two payouts of 70 each pass estimation against the same
    // block, then are mined together: the second one reverts.
    const second = new Wallet(chain.accounts[2]!, chain.provider);
    await (await token.mint!(second.address, units('100'))).wait();
    const store = new MemoryPayoutStore();
    const [a, b] = [newRecipient(), newRecipient()];
    store.create('claim-a', a, units('70'));
    store.create('claim-b', b, units('70'));
    const payer = newPayer(store, second.privateKey);

    await chain.rpc('evm_setAutomine', [false]);
    let payments: Promise<unknown>[];
    try {
      payments = [payer.pay('claim-a'), payer.pay('claim-b')].map((p) =>
        p.then(
          () => 'paid',
          (e: unknown) => e,
        ),
      );
      await until(() => store.record('claim-a').status === 'SENT' && store.record('claim-b').status === 'SENT');
      await until(async () => (await chain.provider.getTransactionCount(second.address, 'pending')) === 2);
      await chain.rpc('evm_mine');
    } finally {
      await chain.rpc('evm_setAutomine', [true]);
    }
    const [resultA, resultB] = await Promise.all(payments);

    expect(resultA).toBe('paid');
    expect(resultB).toBeInstanceOf(PayoutFailedError);
    expect(store.record('claim-a').status).toBe('PAID');
    expect(store.record('claim-b')).toMatchObject({ status: 'FAILED', reason: expect.stringContaining('reverted in block') });
    expect(await balanceOf(a)).toBe(units('70'));
    expect(await balanceOf(b)).toBe(0n);
    expect(await balanceOf(second.address)).toBe(units('30'));
  });
});
