import {
  Contract,
  ContractFactory,
  Interface,
  JsonRpcProvider,
  Transaction,
  Wallet,
  ZeroAddress,
  getAddress,
  getCreateAddress,
  isError,
  type TransactionReceipt,
} from 'ethers';
import type { CollectionArtifact } from './artifact.ts';

type LogFn = (obj: Record<string, unknown>, msg?: string) => void;
export interface ChainLog {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

export interface CampaignChainOptions {
  rpcUrl: string;
  /** The deployer: owns every collection it deploys and is the only account that mints. */
  privateKey: string;
  artifact: CollectionArtifact;
  confirmations?: number;
  receiptTimeoutMs?: number;
  pollingIntervalMs?: number;
  /**
   * Runs a send (nonce read, signature, broadcast) exclusively across every process that shares the
   * deployer key (campaigns uses a PostgreSQL advisory lock); sends within this process are also queued.
   */
  exclusive?: <T>(send: () => Promise<T>) => Promise<T>;
  log?: ChainLog;
}

export interface MintRequest {
  contractAddress: string;
  to: string;
  tokenId: number;
  /** The last transaction sent for this edition, if any (a retry looks at it before sending again). */
  sentTxHash: string | null;
  /** Persist the hash of a signed mint before it is broadcast. */
  onSigned: (txHash: string) => Promise<void>;
}

interface SignedTransaction {
  txHash: string;
  nonce: number;
  rawTx: string;
}

/** A signed collection deployment: the contract's address follows from the deployer and the nonce. */
export interface SignedDeployment {
  txHash: string;
  nonce: number;
  contractAddress: string;
  /** The signed transaction, so that the same deployment can be broadcast again. */
  rawTx: string;
}

export interface DeployRequest {
  name: string;
  symbol: string;
  editionSize: number;
  baseTokenUri: string;
  /** The deployment signed before for this collection, if any: a retry finishes it instead of sending another. */
  sent: SignedDeployment | null;
  /** Persist a signed deployment before it is broadcast; throwing keeps it from being broadcast. */
  onSigned: (deployment: SignedDeployment) => Promise<void>;
}

/** The deployment was mined but reverted: no collection exists at its address. */
export class DeploymentRevertedError extends Error {
  readonly txHash: string;
  constructor(txHash: string) {
    super(`deployment ${txHash} reverted`);
    this.txHash = txHash;
    this.name = 'DeploymentRevertedError';
  }
}

/** The receipt did not arrive in time: the transaction may still be mined; retry later. */
export class ReceiptTimeoutError extends Error {
  constructor(txHash: string, ms: number) {
    super(`${txHash} not confirmed within ${ms} ms`);
    this.name = 'ReceiptTimeoutError';
  }
}

const silent: ChainLog = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * Deploys campaigns' ERC-721 collections and mints their editions, from one deployer account.
 *
 * Mints are idempotent per (collection, token id): the contract refuses a second mint of an edition,
 * and before sending, a retry checks the previous transaction and `ownerOf`, so an edition is minted
 * once whatever is retried. Transactions are sent one at a time with explicit nonces (a queue in this
 * process, plus `exclusive` across processes), so concurrent claims never collide on a nonce.
 */
export class CampaignChain {
  readonly address: string;
  private readonly provider: JsonRpcProvider;
  private readonly wallet: Wallet;
  private readonly artifact: CollectionArtifact;
  private readonly iface: Interface;
  private readonly confirmations: number;
  private readonly receiptTimeoutMs: number;
  private readonly pollingIntervalMs: number;
  private readonly exclusive: <T>(send: () => Promise<T>) => Promise<T>;
  private readonly log: ChainLog;
  private lane: Promise<unknown> = Promise.resolve();
  private nextNonce = 0;

  constructor(opts: CampaignChainOptions) {
    // cacheTimeout -1: a stale pending nonce or a stale "no receipt yet" must never drive a decision.
    this.provider = new JsonRpcProvider(opts.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
    this.wallet = new Wallet(opts.privateKey, this.provider);
    this.address = this.wallet.address;
    this.artifact = opts.artifact;
    this.iface = new Interface(opts.artifact.abi);
    this.confirmations = opts.confirmations ?? 1;
    this.receiptTimeoutMs = opts.receiptTimeoutMs ?? 120_000;
    this.pollingIntervalMs = opts.pollingIntervalMs ?? 250;
    this.exclusive = opts.exclusive ?? ((send) => send());
    this.log = opts.log ?? silent;
  }

  /**
   * Deploys a collection owned by the deployer; resolves with its address once confirmed. With `sent`,
   * finishes that deployment: waits for it if the node knows it, broadcasts the same signed transaction
   * again if it was never broadcast (or dropped) and its nonce is still free, and signs a new one only
   * when that nonce was taken by another transaction (then the old one can never be mined).
   */
  async deployCollection(req: DeployRequest): Promise<{ txHash: string; contractAddress: string }> {
    if (req.sent) {
      const finished = await this.finishDeployment(req.sent);
      if (finished) return finished;
      this.log.warn(
        { txHash: req.sent.txHash, nonce: req.sent.nonce },
        'campaign collection deployment was never mined and its nonce is used; deploying again',
      );
    }
    const factory = new ContractFactory(this.artifact.abi, this.artifact.bytecode);
    const deploy = await factory.getDeployTransaction(req.name, req.symbol, req.editionSize, req.baseTokenUri, this.address);
    const signed = await this.send({ data: deploy.data }, (tx) => req.onSigned(this.asDeployment(tx)));
    const deployed = await this.confirmDeployment(this.asDeployment(signed));
    this.log.info({ ...deployed, symbol: req.symbol }, 'campaign collection deployed');
    return deployed;
  }

  /** Confirms a signed deployment, or answers null when it can never be mined (its nonce went to another transaction). */
  private async finishDeployment(sent: SignedDeployment): Promise<{ txHash: string; contractAddress: string } | null> {
    // The mined nonce is read before the receipt: a nonce used by then with no receipt after is not ours.
    const minedNonce = await this.provider.getTransactionCount(this.address, 'latest');
    const known = (await this.provider.getTransactionReceipt(sent.txHash)) ?? (await this.provider.getTransaction(sent.txHash));
    if (!known) {
      if (minedNonce > sent.nonce) return null;
      await this.provider.broadcastTransaction(sent.rawTx);
    }
    return this.confirmDeployment(sent);
  }

  private asDeployment(tx: SignedTransaction): SignedDeployment {
    return { ...tx, contractAddress: getCreateAddress({ from: this.address, nonce: tx.nonce }) };
  }

  private async confirmDeployment(signed: SignedDeployment): Promise<{ txHash: string; contractAddress: string }> {
    const receipt = await this.waitForReceipt(signed.txHash);
    if (receipt.status !== 1) throw new DeploymentRevertedError(signed.txHash);
    const contractAddress = getAddress(receipt.contractAddress ?? ZeroAddress);
    if (contractAddress !== signed.contractAddress) throw new Error(`deployment ${signed.txHash} created ${contractAddress}, not ${signed.contractAddress}`);
    return { txHash: signed.txHash, contractAddress };
  }

  /** Mints edition `tokenId` to `to` unless it is already theirs; resolves with the minting transaction's hash. */
  async mint(req: MintRequest): Promise<{ txHash: string }> {
    const to = getAddress(req.to);
    if (req.sentTxHash) {
      const receipt = await this.provider.getTransactionReceipt(req.sentTxHash);
      if (receipt?.status === 1) return { txHash: req.sentTxHash };
      if (!receipt && (await this.provider.getTransaction(req.sentTxHash))) {
        const settled = await this.waitForReceipt(req.sentTxHash);
        if (settled.status === 1) return { txHash: req.sentTxHash };
      }
    }
    const already = await this.mintedBy(req.contractAddress, to, req.tokenId);
    if (already) return { txHash: already };

    const data = this.iface.encodeFunctionData('mint', [to, req.tokenId]);
    const { txHash } = await this.send({ to: req.contractAddress, data }, ({ txHash }) => req.onSigned(txHash));
    const receipt = await this.waitForReceipt(txHash);
    if (receipt.status === 1) return { txHash };
    // Reverted: another attempt may have minted it meanwhile (then that transaction is the answer).
    const winner = await this.mintedBy(req.contractAddress, to, req.tokenId);
    if (winner) return { txHash: winner };
    throw new Error(`mint of token ${req.tokenId} reverted in ${txHash}`);
  }

  async close(): Promise<void> {
    await this.lane.catch(() => undefined);
    this.provider.destroy();
  }

  /**
   * The transaction that minted `tokenId` to `to`, or null when the token does not exist yet.
   * Throws when the token belongs to someone else (the database and the chain disagree).
   */
  private async mintedBy(contractAddress: string, to: string, tokenId: number): Promise<string | null> {
    const contract = new Contract(contractAddress, this.iface, this.provider);
    let owner: string;
    try {
      owner = (await contract.getFunction('ownerOf')(tokenId)) as string;
    } catch (error) {
      if (isError(error, 'CALL_EXCEPTION')) return null;
      throw error;
    }
    if (getAddress(owner) !== to) throw new Error(`token ${tokenId} of ${contractAddress} is owned by ${owner}, not ${to}`);
    const logs = await contract.queryFilter(contract.filters.Transfer!(ZeroAddress, to, tokenId));
    const log = logs[0];
    if (!log) throw new Error(`token ${tokenId} of ${contractAddress} has no mint log`);
    return log.transactionHash;
  }

  /** Signs with the next nonce, lets the caller persist it, then broadcasts; one send at a time. */
  private send(tx: { to?: string; data: string }, onSigned: (signed: SignedTransaction) => Promise<void>): Promise<SignedTransaction> {
    const run = async () =>
      this.exclusive(async () => {
        const pending = await this.provider.getTransactionCount(this.address, 'pending');
        const nonce = Math.max(pending, this.nextNonce);
        // populateTransaction estimates gas, so a call that would revert is refused here, before any nonce is used.
        const populated = await this.wallet.populateTransaction({ ...tx, nonce });
        const raw = await this.wallet.signTransaction(populated);
        const txHash = Transaction.from(raw).hash!;
        const signed = { txHash, nonce, rawTx: raw };
        await onSigned(signed);
        try {
          await this.provider.broadcastTransaction(raw);
        } catch (error) {
          this.nextNonce = 0;
          throw error;
        }
        this.nextNonce = nonce + 1;
        return signed;
      });
    const result = this.lane.then(run, run);
    this.lane = result.catch(() => undefined);
    return result;
  }

  /** Polls for the receipt and its confirmations (ethers' own wait can miss a block mined while it subscribes). */
  private async waitForReceipt(txHash: string): Promise<TransactionReceipt> {
    const deadline = Date.now() + this.receiptTimeoutMs;
    for (;;) {
      const receipt = await this.provider.getTransactionReceipt(txHash);
      if (receipt && (await this.provider.getBlockNumber()) - receipt.blockNumber + 1 >= this.confirmations) return receipt;
      if (Date.now() >= deadline) throw new ReceiptTimeoutError(txHash, this.receiptTimeoutMs);
      await new Promise((resolve) => setTimeout(resolve, this.pollingIntervalMs));
    }
  }
}
