import { Interface, JsonRpcProvider, Transaction, Wallet, getAddress, isError, type TransactionReceipt } from 'ethers';

/**
 * One reward payout. Created (status PENDING, no transaction) by whoever approves the claim; the
 * payer fills in the signed transaction (SENT) and the outcome (PAID / FAILED).
 */
export interface PayoutRecord {
  claimId: string;
  recipient: string;
  amount: bigint;
  rawTx: string | null;
  txHash: string | null;
  nonce: number | null;
  status: 'PENDING' | 'SENT' | 'PAID' | 'FAILED';
}

/**
 * Durable payout state. The payer's exactly-once guarantee rests on two rules for implementations:
 * - `saveSigned` must be durable before it resolves (the transaction is broadcast only afterwards), and
 *   must REJECT when the claim already has a signed transaction (e.g. `UPDATE ... WHERE raw_tx IS NULL`
 *   and throw on 0 rows), so that two processes can never both record a transfer for one claim;
 * - `markFailed` must not overwrite a PAID record.
 */
export interface PayoutStore {
  get(claimId: string): Promise<PayoutRecord | null>;
  /** Persist the signed transaction BEFORE broadcasting it. Status becomes SENT. */
  saveSigned(claimId: string, signed: { rawTx: string; txHash: string; nonce: number }): Promise<void>;
  markPaid(claimId: string, txHash: string): Promise<void>;
  markFailed(claimId: string, reason: string): Promise<void>;
}

type LogFn = (obj: Record<string, unknown>, msg?: string) => void;
export interface PayerLog {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

export interface Erc20PayerOptions {
  rpcUrl: string;
  tokenAddress: string;
  /** Key of the treasury account that holds the reward tokens (and ETH for gas). */
  privateKey: string;
  /** Blocks a receipt needs before the payout counts as PAID (default 1). */
  confirmations?: number;
  store: PayoutStore;
  log?: PayerLog;
  /** How long one pay() waits for a receipt before giving up (the record stays SENT; default 120 s). */
  receiptTimeoutMs?: number;
  /** How often to poll for a receipt (default 1 s). */
  pollingIntervalMs?: number;
}

/** The claim's payout failed for good (reverted, or can never be mined); the record is FAILED. */
export class PayoutFailedError extends Error {
  readonly claimId: string;
  constructor(claimId: string, reason: string) {
    super(`payout for claim ${claimId} failed: ${reason}`);
    this.name = 'PayoutFailedError';
    this.claimId = claimId;
  }
}

const ERC20 = new Interface([
  'function transfer(address to, uint256 amount) returns (bool)',
  'error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed)',
  'error ERC20InvalidSender(address sender)',
  'error ERC20InvalidReceiver(address receiver)',
]);

const silent: PayerLog = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * Pays ERC-20 reward amounts, exactly once per claim id.
 *
 * - A claim's transfer is signed once, with an explicit nonce, and saved through
 *   {@link PayoutStore.saveSigned} before it is broadcast. A later pay() for the same claim (a retry, a
 *   restart after a crash) only looks up the receipt and rebroadcasts the SAME raw transaction; it never
 *   signs a second transfer.
 * - Nonces are handed out one at a time inside this instance (a promise chain): nonce =
 *   max(the node's pending transaction count, the next nonce this instance would use). Use one payer
 *   per treasury key per process.
 * - A transfer that would revert (e.g. the treasury lacks tokens) is not sent: the claim is marked FAILED.
 *   A mined transfer that reverted is marked FAILED as well.
 */
export class Erc20Payer {
  private readonly provider: JsonRpcProvider;
  private readonly wallet: Wallet;
  private readonly tokenAddress: string;
  private readonly confirmations: number;
  private readonly receiptTimeoutMs: number;
  private readonly pollingIntervalMs: number;
  private readonly store: PayoutStore;
  private readonly log: PayerLog;
  private readonly inflight = new Map<string, Promise<{ txHash: string }>>();
  private lane: Promise<unknown> = Promise.resolve();
  private nextNonce = 0;
  private closed = false;

  constructor(opts: Erc20PayerOptions) {
    this.provider = new JsonRpcProvider(opts.rpcUrl, undefined, {
      staticNetwork: true,
      // ethers otherwise answers identical calls made within 250 ms from a shared result: a stale
      // pending nonce or a stale "no receipt yet" must never drive a decision here.
      cacheTimeout: -1,
    });
    this.wallet = new Wallet(opts.privateKey, this.provider);
    this.tokenAddress = getAddress(opts.tokenAddress);
    this.confirmations = opts.confirmations ?? 1;
    this.receiptTimeoutMs = opts.receiptTimeoutMs ?? 120_000;
    this.pollingIntervalMs = opts.pollingIntervalMs ?? 1000;
    this.store = opts.store;
    this.log = opts.log ?? silent;
  }

  /** The treasury address transfers are sent from. */
  get address(): string {
    return this.wallet.address;
  }

  /**
   * Pays the claim's recorded amount to its recipient; resolves once the transfer is mined (and has the
   * configured confirmations) and the claim is PAID. Safe to call any number of times, concurrently too.
   * Rejects with {@link PayoutFailedError} when the payout failed for good; any other rejection leaves
   * the claim retryable.
   */
  pay(claimId: string): Promise<{ txHash: string }> {
    if (this.closed) return Promise.reject(new Error('Erc20Payer is closed'));
    const running = this.inflight.get(claimId);
    if (running) return running;
    const payment = this.payOnce(claimId).finally(() => this.inflight.delete(claimId));
    this.inflight.set(claimId, payment);
    return payment;
  }

  /** Waits for payments in progress, then releases the RPC connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inflight.values()]);
    this.provider.destroy();
  }

  private async payOnce(claimId: string): Promise<{ txHash: string }> {
    const record = await this.store.get(claimId);
    if (!record) throw new Error(`no payout record for claim ${claimId}`);
    switch (record.status) {
      case 'PAID':
        if (record.txHash) return { txHash: record.txHash };
        throw new Error(`claim ${claimId} is PAID but has no transaction hash`);
      case 'FAILED':
        throw new PayoutFailedError(claimId, 'the payout is marked FAILED');
    }
    if (record.rawTx !== null || record.txHash !== null) return this.resume(record);
    return this.sendNew(record);
  }

  /** First attempt: estimate, sign with the next nonce, persist, broadcast, await the receipt. */
  private async sendNew(record: PayoutRecord): Promise<{ txHash: string }> {
    const { claimId } = record;
    let recipient: string;
    try {
      recipient = getAddress(record.recipient);
    } catch {
      return this.fail(claimId, `invalid recipient address ${record.recipient}`);
    }
    if (typeof record.amount !== 'bigint' || record.amount <= 0n) {
      return this.fail(claimId, `invalid amount ${String(record.amount)}`);
    }
    const data = ERC20.encodeFunctionData('transfer', [recipient, record.amount]);

    // A transfer that would revert is never sent: it would only burn gas.
    let gasEstimate: bigint;
    try {
      gasEstimate = await this.provider.estimateGas({ from: this.wallet.address, to: this.tokenAddress, data });
    } catch (error) {
      if (!isError(error, 'CALL_EXCEPTION')) throw error;
      // Another process may have signed this claim in the meantime (then its transfer is what failed to estimate).
      const latest = await this.store.get(claimId);
      if (latest && (latest.rawTx !== null || latest.txHash !== null || latest.status === 'PAID' || latest.status === 'FAILED')) {
        return this.payOnce(claimId);
      }
      return this.fail(claimId, `transfer would revert: ${revertReason(error)}`);
    }
    const gasLimit = (gasEstimate * 125n) / 100n;
    const [feeData, network] = await Promise.all([this.provider.getFeeData(), this.provider.getNetwork()]);

    const outcome = await this.serialised(async () => {
      const pending = await this.provider.getTransactionCount(this.wallet.address, 'pending');
      const nonce = Math.max(pending, this.nextNonce);
      const tx = Transaction.from({
        type: feeData.maxFeePerGas !== null ? 2 : 0,
        chainId: network.chainId,
        to: this.tokenAddress,
        data,
        value: 0n,
        nonce,
        gasLimit,
        ...(feeData.maxFeePerGas !== null
          ? { maxFeePerGas: feeData.maxFeePerGas, maxPriorityFeePerGas: feeData.maxPriorityFeePerGas ?? 0n }
          : { gasPrice: feeData.gasPrice }),
      });
      const rawTx = await this.wallet.signTransaction(tx);
      const txHash = Transaction.from(rawTx).hash!;

      try {
        await this.store.saveSigned(claimId, { rawTx, txHash, nonce });
      } catch (error) {
        // Nothing was broadcast, so the nonce is still free; the store may have refused because another
        // process signed this claim first.
        const latest = await this.store.get(claimId);
        if (latest && (latest.rawTx !== null || latest.txHash !== null)) return { taken: true as const };
        throw error;
      }
      this.log.info({ claimId, txHash, nonce, recipient, amount: record.amount.toString() }, 'payout signed');

      const sent = await this.broadcast(claimId, rawTx, txHash);
      if (sent) this.nextNonce = Math.max(this.nextNonce, nonce + 1);
      return { taken: false as const, txHash, nonce, sent };
    });
    if (outcome.taken) return this.payOnce(claimId);
    if (!outcome.sent) return this.failNonceUsed(claimId, outcome.nonce, outcome.txHash);
    return this.settle(claimId, outcome.txHash);
  }

  /** The claim already has a signed transaction: find out what became of it, never sign another. */
  private async resume(record: PayoutRecord): Promise<{ txHash: string }> {
    const { claimId } = record;
    const txHash = record.txHash ?? Transaction.from(record.rawTx!).hash!;
    if (record.rawTx !== null && Transaction.from(record.rawTx).hash !== txHash) {
      throw new Error(`claim ${claimId}: stored raw transaction does not hash to ${txHash}`);
    }
    if (await this.provider.getTransactionReceipt(txHash)) return this.settle(claimId, txHash);
    if (record.rawTx === null) {
      // Only the hash is known: nothing to rebroadcast, so wait for it.
      this.log.warn({ claimId, txHash }, 'payout has no stored raw transaction; waiting for its receipt');
      return this.settle(claimId, txHash);
    }
    const rawTx = record.rawTx;
    const nonce = Transaction.from(rawTx).nonce;
    this.log.warn({ claimId, txHash, nonce }, 'payout not mined yet; rebroadcasting the stored transaction');
    const sent = await this.serialised(async () => {
      const ok = await this.broadcast(claimId, rawTx, txHash);
      if (ok) this.nextNonce = Math.max(this.nextNonce, nonce + 1);
      return ok;
    });
    if (!sent) return this.failNonceUsed(claimId, nonce, txHash);
    return this.settle(claimId, txHash);
  }

  /**
   * Sends the signed transaction. Resolves true once the node has it (sent now, already known, or
   * already mined), false when its nonce was used by a different transaction, so it can never be mined.
   */
  private async broadcast(claimId: string, rawTx: string, txHash: string): Promise<boolean> {
    try {
      await this.provider.broadcastTransaction(rawTx);
      return true;
    } catch (error) {
      if (/already known|known transaction|already imported/i.test(errorText(error))) return true;
      if (isError(error, 'NONCE_EXPIRED')) {
        return (await this.provider.getTransaction(txHash)) !== null || (await this.provider.getTransactionReceipt(txHash)) !== null;
      }
      this.log.error({ claimId, txHash, err: errorText(error) }, 'payout broadcast failed; the signed transaction is kept for a retry');
      throw error;
    }
  }

  private failNonceUsed(claimId: string, nonce: number, txHash: string): Promise<never> {
    return this.fail(claimId, `nonce ${nonce} was used by another transaction, so ${txHash} can never be mined (nothing was paid)`);
  }

  private async settle(claimId: string, txHash: string): Promise<{ txHash: string }> {
    const receipt = await this.waitForReceipt(claimId, txHash);
    if (receipt.status === 1) {
      await this.store.markPaid(claimId, txHash);
      this.log.info({ claimId, txHash, blockNumber: receipt.blockNumber }, 'payout paid');
      return { txHash };
    }
    return this.fail(claimId, `transaction ${txHash} reverted in block ${receipt.blockNumber}`);
  }

  /**
   * Polls for the receipt and the configured confirmations. (ethers' waitForTransaction can miss a block
   * mined while its block subscription is starting, and then waits for the next block.)
   */
  private async waitForReceipt(claimId: string, txHash: string): Promise<TransactionReceipt> {
    const deadline = Date.now() + this.receiptTimeoutMs;
    for (;;) {
      const receipt = await this.provider.getTransactionReceipt(txHash);
      if (receipt) {
        const head = await this.provider.getBlockNumber();
        if (head - receipt.blockNumber + 1 >= this.confirmations) return receipt;
      }
      if (Date.now() >= deadline) {
        throw new Error(`claim ${claimId}: ${txHash} not ${receipt ? 'confirmed' : 'mined'} within ${this.receiptTimeoutMs} ms; pay() again to retry`);
      }
      await new Promise((resolve) => setTimeout(resolve, this.pollingIntervalMs));
    }
  }

  private async fail(claimId: string, reason: string): Promise<never> {
    await this.store.markFailed(claimId, reason);
    this.log.error({ claimId, reason }, 'payout failed');
    throw new PayoutFailedError(claimId, reason);
  }

  /** Runs `task` after every task queued before it has settled. */
  private serialised<T>(task: () => Promise<T>): Promise<T> {
    const run = this.lane.then(task, task);
    this.lane = run.catch(() => undefined);
    return run;
  }
}

function revertReason(error: unknown): string {
  const e = error as { reason?: string | null; data?: string | null; shortMessage?: string };
  if (e.reason) return e.reason;
  if (typeof e.data === 'string' && e.data.length >= 10) {
    try {
      const parsed = ERC20.parseError(e.data);
      if (parsed) return `${parsed.name}(${parsed.args.map(String).join(', ')})`;
    } catch {
      // not one of the token's known errors
    }
    return `custom error ${e.data.slice(0, 10)}`;
  }
  return e.shortMessage ?? 'execution reverted';
}

function errorText(error: unknown): string {
  const e = error as { message?: string; info?: { error?: { message?: string } }; error?: { message?: string } };
  return [e?.message, e?.info?.error?.message, e?.error?.message].filter(Boolean).join(' | ') || String(error);
}
