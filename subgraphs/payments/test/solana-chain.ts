import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLocalServer, type LocalServer } from '@vibestream/platform';
import { LiteSVM } from 'litesvm';
import { Keypair, PublicKey, SystemProgram, Transaction, type TransactionInstruction } from '@solana/web3.js';
import {
  AccountLayout,
  ACCOUNT_SIZE,
  MINT_SIZE,
  MintLayout,
  TOKEN_PROGRAM_ID,
  createAssociatedTokenAccountIdempotentInstruction,
  createInitializeMint2Instruction,
  createMintToInstruction,
  createTransferCheckedInstruction,
  getAssociatedTokenAddressSync,
} from '@solana/spl-token';

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

export function base58(bytes: Uint8Array): string {
  let value = 0n;
  for (const b of bytes) value = value * 256n + BigInt(b);
  let out = '';
  while (value > 0n) {
    out = BASE58[Number(value % 58n)] + out;
    value /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = '1' + out;
  }
  return out;
}

interface TokenBalance {
  accountIndex: number;
  mint: string;
  owner: string;
  programId: string;
  uiTokenAmount: { amount: string; decimals: number; uiAmount: number; uiAmountString: string };
}

interface TxRecord {
  slot: number;
  finalized: boolean;
  blockTime: number;
  result: unknown;
}

/**
 * A Solana cluster for tests: litesvm executes the transactions; a JSON-RPC endpoint answers
 * `getTransaction` with `jsonParsed` encoding the way a validator does (annotated account keys,
 * pre/post token balances with owner and mint), so @solana/web3.js's real Connection reads it.
 * Transactions stay "confirmed" until finalize() makes them visible at `finalized` commitment.
 */
export class LocalSolana {
  readonly svm = new LiteSVM();
  readonly payer = Keypair.generate();
  private readonly records = new Map<string, TxRecord>();
  private slot = 1;
  private server: LocalServer | null = null;
  url = '';

  constructor() {
    this.svm.airdrop(this.payer.publicKey.toBase58() as never, 100_000_000_000n as never);
  }

  async start(): Promise<string> {
    this.server = await startLocalServer((req, res) => this.handle(req, res));
    this.url = this.server.url;
    return this.url;
  }

  async stop(): Promise<void> {
    await this.server?.stop();
  }

  /** Every transaction so far becomes final. */
  finalize(): void {
    for (const record of this.records.values()) record.finalized = true;
  }

  /** A 6-decimal mint (like USDC) whose authority is the payer. */
  createMint(decimals = 6): PublicKey {
    const mint = Keypair.generate();
    const rent = Number(this.svm.minimumBalanceForRentExemption(BigInt(MINT_SIZE)));
    this.send(
      [
        SystemProgram.createAccount({
          fromPubkey: this.payer.publicKey,
          newAccountPubkey: mint.publicKey,
          lamports: rent,
          space: MINT_SIZE,
          programId: TOKEN_PROGRAM_ID,
        }),
        createInitializeMint2Instruction(mint.publicKey, decimals, this.payer.publicKey, null),
      ],
      [mint],
    );
    return mint.publicKey;
  }

  /** The owner's associated token account of the mint, created if needed. */
  tokenAccount(mint: PublicKey, owner: PublicKey): PublicKey {
    const ata = getAssociatedTokenAddressSync(mint, owner, true);
    this.send([createAssociatedTokenAccountIdempotentInstruction(this.payer.publicKey, ata, owner, mint)]);
    return ata;
  }

  mintTo(mint: PublicKey, owner: PublicKey, amount: bigint): void {
    const ata = this.tokenAccount(mint, owner);
    this.send([createMintToInstruction(mint, ata, this.payer.publicKey, amount)]);
  }

  /** A transferChecked from the sender's token account to the recipient's; answers the signature (also of a failed one). */
  transfer(mint: PublicKey, from: Keypair, to: PublicKey, amount: bigint, decimals = 6): string {
    const source = getAssociatedTokenAddressSync(mint, from.publicKey, true);
    const destination = this.tokenAccount(mint, to);
    return this.send([createTransferCheckedInstruction(source, mint, destination, from.publicKey, amount, decimals)], [from]);
  }

  fund(owner: PublicKey): void {
    this.svm.airdrop(owner.toBase58() as never, 1_000_000_000n as never);
  }

  /** Runs a transaction in litesvm and records it as a validator would (failed ones too). */
  send(instructions: TransactionInstruction[], signers: Keypair[] = []): string {
    const tx = new Transaction().add(...instructions);
    tx.feePayer = this.payer.publicKey;
    tx.recentBlockhash = this.svm.latestBlockhash();
    tx.sign(this.payer, ...signers);
    const message = tx.compileMessage();
    const keys = message.accountKeys.map((k) => k.toBase58());
    const before = this.snapshot(keys);
    const signatures: Record<string, Uint8Array> = {};
    for (const s of tx.signatures) signatures[s.publicKey.toBase58()] = s.signature!;
    const outcome = this.svm.sendTransaction({ messageBytes: tx.serializeMessage(), signatures } as never);
    this.svm.expireBlockhash();
    const failed = 'err' in outcome && typeof outcome.err === 'function';
    const meta = failed
      ? (outcome as unknown as { meta(): { logs(): string[]; computeUnitsConsumed(): bigint } }).meta()
      : (outcome as unknown as { logs(): string[]; computeUnitsConsumed(): bigint });
    const after = failed ? before : this.snapshot(keys);
    const signature = base58(tx.signature!);
    const slot = ++this.slot;
    this.records.set(signature, {
      slot,
      finalized: false,
      blockTime: Math.floor(Date.now() / 1000),
      result: {
        slot,
        blockTime: Math.floor(Date.now() / 1000),
        version: 'legacy',
        transaction: {
          signatures: tx.signatures.map((s) => base58(s.signature!)),
          message: {
            accountKeys: keys.map((pubkey, i) => ({
              pubkey,
              signer: message.isAccountSigner(i),
              writable: message.isAccountWritable(i),
              source: 'transaction',
            })),
            instructions: message.instructions.map((ix) => ({ programId: keys[ix.programIdIndex], accounts: ix.accounts.map((a) => keys[a]), data: ix.data })),
            recentBlockhash: message.recentBlockhash,
          },
        },
        meta: {
          err: failed ? { InstructionError: [0, String((outcome as unknown as { toString(): string }).toString())] } : null,
          status: failed ? { Err: 'failed' } : { Ok: null },
          fee: 5000 * tx.signatures.length,
          preBalances: before.lamports,
          postBalances: after.lamports,
          innerInstructions: [],
          logMessages: meta.logs(),
          preTokenBalances: before.tokens,
          postTokenBalances: after.tokens,
          loadedAddresses: { writable: [], readonly: [] },
          computeUnitsConsumed: Number(meta.computeUnitsConsumed()),
          rewards: [],
        },
      },
    });
    return signature;
  }

  private snapshot(keys: string[]): { lamports: number[]; tokens: TokenBalance[] } {
    const lamports: number[] = [];
    const tokens: TokenBalance[] = [];
    keys.forEach((key, accountIndex) => {
      const account = this.svm.getAccount(key as never) as { exists: boolean; lamports?: bigint; programAddress?: string; data?: Uint8Array };
      lamports.push(account.exists ? Number(account.lamports) : 0);
      if (!account.exists || account.programAddress !== TOKEN_PROGRAM_ID.toBase58() || account.data!.length !== ACCOUNT_SIZE) return;
      const decoded = AccountLayout.decode(Buffer.from(account.data!));
      const mintAccount = this.svm.getAccount(decoded.mint.toBase58() as never) as { exists: boolean; data?: Uint8Array };
      const decimals = mintAccount.exists ? MintLayout.decode(Buffer.from(mintAccount.data!)).decimals : 0;
      const amount = decoded.amount.toString();
      const ui = Number(decoded.amount) / 10 ** decimals;
      tokens.push({
        accountIndex,
        mint: decoded.mint.toBase58(),
        owner: decoded.owner.toBase58(),
        programId: TOKEN_PROGRAM_ID.toBase58(),
        uiTokenAmount: { amount, decimals, uiAmount: ui, uiAmountString: String(ui) },
      });
    });
    return { lamports, tokens };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: unknown; method: string; params?: unknown[] };
    const reply = (body: Record<string, unknown>) => {
      const text = JSON.stringify({ jsonrpc: '2.0', id: request.id, ...body });
      res.writeHead(200, { 'content-type': 'application/json' }).end(text);
    };
    if (request.method !== 'getTransaction') return reply({ error: { code: -32601, message: `Method not found: ${request.method}` } });
    const [signature, config] = (request.params ?? []) as [string, { encoding?: string; commitment?: string; maxSupportedTransactionVersion?: number }];
    if (config?.encoding !== 'jsonParsed') return reply({ error: { code: -32602, message: 'this test endpoint serves jsonParsed only' } });
    const record = this.records.get(signature);
    const visible = record && (record.finalized || config.commitment !== 'finalized');
    return reply({ result: visible ? record.result : null });
  }
}

export { PublicKey, Keypair };
