import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { useApolloClient, useMutation, useQuery } from '@apollo/client/react';
import {
  ClaimListenRewardDocument,
  MyListenStatsDocument,
  RewardClaimStatusDocument,
  RewardMerklePathDocument,
  type RewardClaimStatus,
} from '../../../generated/graphql.ts';
import type { AppContext } from '../apollo.ts';
import { useSession } from '../auth/useSession.ts';
import { Field, FormError } from '../components/Form.tsx';
import { errorCodeOf, formErrors, noErrors, type FormErrors } from '../errors.ts';
import { formatTokens } from '../format.ts';
import { proveInWorker, type ProofProgress } from './prover.ts';
import { recipientField } from './secrets.ts';
import { onVaultChange, updateVoucher, vouchersOf, type StoredVoucher } from './vault.ts';

/** Claims travel without the access token: the graph must not link the wallet to the listener. */
const anonymous: AppContext = { anonymous: true };

export function Rewards() {
  const session = useSession();
  const stats = useQuery(MyListenStatsDocument, { fetchPolicy: 'cache-and-network' });
  const [vouchers, setVouchers] = useState<StoredVoucher[] | null>(null);

  const load = useCallback(() => {
    if (session) void vouchersOf(session.userId).then(setVouchers);
  }, [session]);
  useEffect(() => {
    load();
    return onVaultChange(load);
  }, [load]);

  const listenStats = stats.data?.me?.listenStats;
  return (
    <section>
      <h1>Rewards</h1>
      {listenStats && (
        <p className="muted">
          {listenStats.completedListens} completed listens · {listenStats.vouchersIssued} vouchers issued
        </p>
      )}
      <p>
        Each voucher’s secrets are kept only in this browser. Claiming proves in zero knowledge that you hold one, so the wallet you are paid to is never linked
        to your account.
      </p>
      {vouchers === null && <p className="muted">Loading your vouchers…</p>}
      {vouchers?.length === 0 && <p className="muted">No vouchers yet: listen to a whole song to earn one.</p>}
      <ul className="vouchers">
        {vouchers?.map((voucher) => (
          <li key={voucher.commitment} className="card" data-testid="voucher">
            <VoucherCard voucher={voucher} />
          </li>
        ))}
      </ul>
    </section>
  );
}

function VoucherCard({ voucher }: { voucher: StoredVoucher }) {
  const client = useApolloClient();
  const [claim] = useMutation(ClaimListenRewardDocument, { context: anonymous });
  const [recipient, setRecipient] = useState('');
  const [progress, setProgress] = useState<ProofProgress | null>(null);
  const [errors, setErrors] = useState<FormErrors>(noErrors);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const recipientValue = recipientField(recipient);
    if (!recipientValue) return setErrors({ fields: { recipient: 'Enter an Ethereum address: 0x followed by 40 hexadecimal characters.' }, form: null });
    if (voucher.epoch === undefined || voucher.leafIndex === undefined) return;
    setErrors(noErrors);
    try {
      setProgress({ fraction: null, text: 'Fetching your voucher’s Merkle path' });
      const path = await client.query({
        query: RewardMerklePathDocument,
        variables: { epoch: voucher.epoch, leafIndex: voucher.leafIndex },
        fetchPolicy: 'network-only',
        context: anonymous,
      });
      const merkle = path.data?.rewardMerklePath;
      if (!merkle) throw path.error ?? new Error('No Merkle path');
      const { proof, publicSignals } = await proveInWorker(
        {
          nullifier: voucher.nullifier,
          secret: voucher.secret,
          pathElements: merkle.pathElements,
          pathIndices: merkle.pathIndices,
          root: merkle.root,
          recipient: recipientValue,
        },
        setProgress,
      );
      setProgress({ fraction: null, text: 'Sending your claim' });
      const { data } = await claim({ variables: { proof, publicSignals } });
      if (data) await updateVoucher(voucher.commitment, { state: 'claimed', claim: data.claimListenReward });
    } catch (error) {
      // Errors from the graph have a code; anything else came from the prover.
      if (errorCodeOf(error) || !(error instanceof Error)) {
        setErrors(formErrors(error, { fieldFor: { BAD_USER_INPUT: 'recipient' }, messageFor: { CONFLICT: 'This voucher has already been claimed.' } }));
      } else setErrors({ fields: {}, form: `Could not generate the proof: ${error.message}` });
    } finally {
      setProgress(null);
    }
  };

  return (
    <>
      <h3>{voucher.songTitle}</h3>
      <p className="muted">
        {voucher.amount ? formatTokens(voucher.amount) : 'Waiting for the listen to be confirmed'} · earned {new Date(voucher.createdAt).toLocaleString()}
      </p>
      {voucher.claim ? (
        <ClaimStatus claim={voucher.claim} commitment={voucher.commitment} />
      ) : voucher.state === 'issued' ? (
        <form onSubmit={submit} noValidate>
          <Field
            label="Wallet address (Ethereum)"
            placeholder="0x…"
            value={recipient}
            error={errors.fields.recipient}
            onChange={(e) => setRecipient(e.target.value)}
            disabled={progress !== null}
          />
          <FormError message={errors.form} />
          {progress && (
            <div className="progress" role="status" aria-live="polite" data-testid="proof-progress">
              <progress max={1} value={progress.fraction ?? undefined} />
              <span>{progress.text}</span>
            </div>
          )}
          <button type="submit" disabled={progress !== null}>
            {progress ? 'Proving…' : 'Claim reward'}
          </button>
        </form>
      ) : null}
    </>
  );
}

const claimText: Record<RewardClaimStatus, string> = {
  CREDITED: 'Credited to your wallet',
  PENDING: 'Payment on its way (waiting for the chain)',
  PAID: 'Paid on chain',
  FAILED: 'The on-chain payment failed; the claim stays recorded',
};

/** A claim's status; a claim paid on chain is polled until the transfer is mined or fails. */
function ClaimStatus({ claim, commitment }: { claim: NonNullable<StoredVoucher['claim']>; commitment: string }) {
  const pending = claim.status === 'PENDING';
  const status = useQuery(RewardClaimStatusDocument, { variables: { id: claim.id }, context: anonymous, pollInterval: pending ? 3000 : 0, skip: !pending });
  const latest = status.data?.rewardClaim;
  useEffect(() => {
    if (latest && latest.status !== claim.status) void updateVoucher(commitment, { claim: latest });
  }, [latest, claim.status, commitment]);
  const shown = latest ?? claim;
  return (
    <p className="success" data-testid="claim-status">
      Claim {shown.status}: {claimText[shown.status]} · {formatTokens(shown.amount)} to {shown.recipient}
      {shown.txHash && <> · transaction {shown.txHash}</>}
    </p>
  );
}
