import { PoisonEventError, type EventHandler, type Persistence } from '@vibestream/platform';
import { UploadStored } from '@vibestream/contracts/catalog';
import { WalletLinked } from '@vibestream/contracts/identity';
import { linkedWalletsKey, walletKey } from './domain/wallets.ts';
import * as store from './store.ts';

/** payments' projections of other contexts' events, each in the transaction that marks it handled. */
export function paymentsHandlers(db: Persistence): EventHandler[] {
  return [
    // Usage behind entitlements' "used": uploads this month and stored bytes.
    db.on(UploadStored, (tx, upload) => store.recordUpload(tx, upload)),
    // The wallets a user may fund USDC deposits from. Its commit wakes a deposit waiting for the
    // user's wallets on that chain (a createDeposit sent right after identity's linkWallet answered).
    db.on(
      WalletLinked,
      async (tx, wallet, envelope) => {
        const address = walletKey(wallet.chain, wallet.address);
        if (!address) throw new PoisonEventError(`identity.wallet.linked.v1 with a malformed ${wallet.chain} address: ${wallet.address}`);
        const owner = await store.linkWallet(tx, { chain: wallet.chain, address, userId: wallet.userId, linkedAt: envelope.occurredAt });
        // identity links a wallet to one account; a second owner would hand one user's transfers to another.
        if (owner !== wallet.userId) throw new PoisonEventError(`${wallet.chain} wallet ${address} is already linked to another user`);
      },
      { key: (wallet) => linkedWalletsKey(wallet.userId, wallet.chain) },
    ),
  ];
}
