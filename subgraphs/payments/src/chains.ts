import { Interface, JsonRpcProvider } from 'ethers';
import { Connection, PublicKey } from '@solana/web3.js';
import { inflowOfBalances, inflowOfTransfers, type ChainCheck, type TokenTransfer } from './domain/deposits.ts';
import { walletKey } from './domain/wallets.ts';

/** Reads a transaction from a chain and says how much USDC it moved to the deposit address, and from which wallets. */
export interface DepositChain {
  /** Where payers send USDC. */
  readonly depositAddress: string;
  check(txHash: string): Promise<ChainCheck>;
  close(): void;
}

const erc20 = new Interface(['event Transfer(address indexed from, address indexed to, uint256 value)']);

/** USDC (an ERC-20) on Ethereum, read with ethers: the receipt's Transfer logs of the token contract. */
export class EthereumUsdc implements DepositChain {
  readonly depositAddress: string;
  private readonly token: string;
  private readonly confirmations: number;
  private readonly provider: JsonRpcProvider;

  constructor(options: { rpcUrl: string; token: string; depositAddress: string; confirmations: number }) {
    this.depositAddress = options.depositAddress;
    this.token = options.token;
    this.confirmations = options.confirmations;
    // staticNetwork: the chain is detected once, not re-checked per call (and never polled while the node is down);
    // cacheTimeout -1: a confirmation count read a moment ago must not be answered from cache.
    this.provider = new JsonRpcProvider(options.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
  }

  async check(txHash: string): Promise<ChainCheck> {
    const receipt = await this.provider.getTransactionReceipt(txHash);
    if (!receipt) return { kind: 'unknown' };
    if (receipt.status !== 1) return { kind: 'failed' };
    const confirmations = await receipt.confirmations();
    if (confirmations < this.confirmations) return { kind: 'not-final', confirmations, required: this.confirmations };
    const transfers: TokenTransfer[] = [];
    for (const log of receipt.logs) {
      if (log.address.toLowerCase() !== this.token.toLowerCase()) continue;
      const parsed = erc20.parseLog({ topics: [...log.topics], data: log.data });
      if (parsed?.name !== 'Transfer') continue;
      const [from, to, value] = [parsed.args.getValue('from') as string, parsed.args.getValue('to') as string, parsed.args.getValue('value') as bigint];
      transfers.push({ token: log.address, from, to, value });
    }
    // A log's `from` is the holder whose tokens moved (also when a contract moved them with transferFrom).
    const inflow = inflowOfTransfers(transfers, this.token, this.depositAddress, (address) => walletKey('ETHEREUM', address)!);
    return { kind: 'received', ...inflow };
  }

  close(): void {
    this.provider.destroy();
  }
}

/**
 * USDC (an SPL token) on Solana, read with @solana/web3.js at `finalized` commitment: the change
 * of the deposit owner's balance of the mint between the transaction's pre- and post-token
 * balances, paid by the token account owners whose balance of the mint fell.
 */
export class SolanaUsdc implements DepositChain {
  readonly depositAddress: string;
  private readonly mint: string;
  private readonly connection: Connection;

  constructor(options: { rpcUrl: string; mint: string; depositOwner: string }) {
    this.depositAddress = new PublicKey(options.depositOwner).toBase58();
    this.mint = new PublicKey(options.mint).toBase58();
    this.connection = new Connection(options.rpcUrl, { commitment: 'finalized', disableRetryOnRateLimit: true });
  }

  async check(signature: string): Promise<ChainCheck> {
    const tx = await this.connection.getParsedTransaction(signature, { commitment: 'finalized', maxSupportedTransactionVersion: 0 });
    if (!tx || !tx.meta) return { kind: 'unknown' };
    if (tx.meta.err !== null) return { kind: 'failed' };
    const balances = (list: typeof tx.meta.preTokenBalances) =>
      (list ?? []).map((b) => ({ accountIndex: b.accountIndex, mint: b.mint, owner: b.owner, amount: b.uiTokenAmount.amount }));
    const inflow = inflowOfBalances(balances(tx.meta.preTokenBalances), balances(tx.meta.postTokenBalances), this.depositAddress, this.mint);
    return { kind: 'received', ...inflow };
  }

  close(): void {
    // Connection holds no sockets for HTTP requests.
  }
}
