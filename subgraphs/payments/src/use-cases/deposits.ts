import { randomUUID } from 'node:crypto';
import { badInput, conflict, forbidden, isUniqueViolation, isUuid, notFound, requireAuth, type Principal, type Tx } from '@vibestream/platform';
import { WalletLinked } from '@vibestream/contracts/identity';
import {
  creditableAmount,
  isCryptoMethod,
  isValidDepositAmount,
  MAX_DEPOSIT_CENTS,
  MIN_DEPOSIT_CENTS,
  normalizeEthereumTxHash,
  normalizeSolanaSignature,
  refusalOf,
  usdcBaseUnits,
  type PaymentMethod,
} from '../domain/deposits.ts';
import { chainOfMethod, linkedWalletsKey, type WalletChain } from '../domain/wallets.ts';
import { DepositSucceeded } from '../events.ts';
import * as store from '../store.ts';
import type { PaymentRow } from '../store.ts';
import { customerOf } from './checkout.ts';
import { requireStripe, type PaymentsDeps } from './deps.ts';

/** Deposits to the trading account: by card (a Stripe PaymentIntent) or in USDC on Ethereum or Solana. */

/** A deposit as the API shows it; the client secret only in createDeposit's answer (it is not stored). */
export type DepositModel = PaymentRow & { client_secret?: string | null };

function chainName(chain: WalletChain): string {
  return chain === 'ETHEREUM' ? 'Ethereum' : 'Solana';
}

function inserted(row: PaymentRow | undefined): PaymentRow {
  if (!row) throw new Error('insert into payments returned no row');
  return row;
}

export async function createDeposit(deps: PaymentsDeps, principal: Principal | null, amountCents: number, method: PaymentMethod): Promise<DepositModel> {
  const { userId } = requireAuth(principal);
  if (!isValidDepositAmount(amountCents))
    throw badInput(`amountCents must be a whole number between ${MIN_DEPOSIT_CENTS} and ${MAX_DEPOSIT_CENTS}`, 'amountCents');
  const id = randomUUID();
  if (!isCryptoMethod(method)) {
    const stripe = requireStripe(deps, 'method');
    const customer = await customerOf(deps, userId);
    const intent = await stripe.paymentIntents.create(
      {
        amount: amountCents,
        currency: 'usd',
        customer,
        description: 'VibeStream trading account deposit',
        metadata: { depositId: id, userId },
        automatic_payment_methods: { enabled: true },
      },
      { idempotencyKey: `deposit-${id}` },
    );
    const row = await deps.db.useCase((tx) => store.insertCardDeposit(tx, { id, userId, amountCents, intentId: intent.id }));
    return { ...inserted(row), client_secret: intent.client_secret };
  }
  const chain = deps.chains[method];
  if (!chain) throw badInput(`${method} deposits are not available on this server (the chain is not configured)`, 'method');
  // Only a transfer from one of the user's linked wallets can fund the deposit: without one,
  // USDC sent to the shared address could never be credited to them. A wallet identity has just
  // linked may not be projected here yet: wait for it, bounded, before refusing.
  const walletChain = chainOfMethod(method);
  const reader = deps.db.reader();
  const linked = await deps.projections.find(WalletLinked, linkedWalletsKey(userId, walletChain), async () =>
    (await store.linkedWallets(reader, userId, walletChain)).size > 0 ? true : undefined,
  );
  if (!linked) {
    throw badInput(`${method} deposits are funded from a wallet linked to your account: link your ${chainName(walletChain)} wallet first`, 'method');
  }
  const row = await deps.db.useCase((tx) =>
    store.insertCryptoDeposit(tx, { id, userId, method, amountCents, depositAddress: chain.depositAddress, expectedBaseUnits: usdcBaseUnits(amountCents) }),
  );
  return inserted(row);
}

export async function confirmCryptoDeposit(deps: PaymentsDeps, principal: Principal | null, depositId: string, txHash: string): Promise<DepositModel> {
  const { userId } = requireAuth(principal);
  const reader = deps.db.reader();
  const deposit = isUuid(depositId) ? await store.depositById(reader, depositId) : undefined;
  if (!deposit) throw notFound('Deposit');
  if (deposit.user_id !== userId) throw forbidden('Only its owner may confirm this deposit');
  const method = deposit.method;
  if (!isCryptoMethod(method)) throw badInput('A card deposit is confirmed by Stripe, not with a transaction', 'depositId');
  const hash = method === 'USDC_ETHEREUM' ? normalizeEthereumTxHash(txHash) : normalizeSolanaSignature(txHash);
  if (!hash)
    throw badInput(method === 'USDC_ETHEREUM' ? 'txHash is not an Ethereum transaction hash' : 'txHash is not a Solana transaction signature', 'txHash');
  if (deposit.status === 'SUCCEEDED') {
    if (deposit.tx_hash === hash) return deposit;
    throw conflict('This deposit is already funded by another transaction');
  }
  if (await store.isTransactionUsed(reader, method, hash, deposit.id)) throw conflict('This transaction already funded another deposit');

  const chain = deps.chains[method];
  if (!chain) throw badInput(`${method} deposits are not available on this server (the chain is not configured)`, 'depositId');
  // A crypto deposit always has its expected amount (a check constraint says so).
  if (deposit.expected_base_units === null) throw new Error(`crypto deposit ${deposit.id} has no expected amount`);
  const check = await chain.check(hash);
  // The shared deposit address tells no payer from another: the transfer counts for this
  // deposit only when it comes from a wallet its owner proved control of (else anyone could
  // claim a transfer seen on the public chain).
  const linked = await store.linkedWallets(reader, deposit.user_id, chainOfMethod(method));
  const refusal = refusalOf(check, BigInt(deposit.expected_base_units), linked);
  if (refusal) throw badInput(refusal, 'txHash');
  const received = check.kind === 'received' ? creditableAmount(check, linked) : 0n;

  return deps.db.useCase(async (tx) => {
    const locked = await store.lockPayment(tx, deposit.id);
    if (!locked) throw notFound('Deposit');
    if (locked.status === 'SUCCEEDED') {
      if (locked.tx_hash === hash) return locked;
      throw conflict('This deposit is already funded by another transaction');
    }
    let row: PaymentRow | undefined;
    try {
      row = await store.markCryptoDepositSucceeded(tx, deposit.id, hash, received);
    } catch (error) {
      if (isUniqueViolation(error, 'payments_tx_hash_key')) throw conflict('This transaction already funded another deposit');
      throw error;
    }
    if (!row) throw notFound('Deposit');
    recordDepositSucceeded(tx, row);
    return row;
  });
}

/** payments.deposit.succeeded.v1, in the transaction that marked the deposit succeeded. */
export function recordDepositSucceeded(tx: Tx, row: PaymentRow): void {
  tx.outbox.record(DepositSucceeded, {
    depositId: row.id,
    userId: row.user_id,
    amountCents: Number(row.amount_cents),
    method: row.method,
    succeededAt: new Date().toISOString(),
  });
}
