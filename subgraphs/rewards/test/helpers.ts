import { makeWav, newArtist, publishedSong, signUp, type Gateway } from '@vibestream/catalog/testing';
import { newVoucherSecrets, proveWithPath, type MerklePathAnswer } from './proofs.ts';

export { newArtist, signUp };
export { newVoucherSecrets, randomField, terminateSnarkjs } from './proofs.ts';

export async function publishSong(stack: Gateway, artistToken: string, seconds: number, title = `Track ${Date.now()}`) {
  return publishedSong(stack, artistToken, { title, genre: 'Test' }, makeWav(seconds, 4000));
}

/** Waits until rewards has projected the published song (it learns songs from catalog events). */
export async function songKnownToRewards(stack: Gateway, token: string, songId: string) {
  for (let i = 0; i < 200; i++) {
    const res = await stack.gql<{ startListenSession: { id: string } }>(START, { songId }, { token });
    if (res.data) return res.data.startListenSession.id;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('rewards never learnt the song');
}

export const START = `mutation StartListenSession($songId: ID!) { startListenSession(songId: $songId) { id startedAt song { id title durationSeconds } } }`;
export const HEARTBEAT = `mutation ListenHeartbeat($sessionId: ID!, $positionSeconds: Int!) { listenHeartbeat(sessionId: $sessionId, positionSeconds: $positionSeconds) { id listenedSeconds } }`;
export const COMPLETE = `mutation CompleteListenSession($sessionId: ID!, $commitment: String!) {
  completeListenSession(sessionId: $sessionId, commitment: $commitment) {
    session { id status listenedSeconds } voucher { epoch leafIndex amount merkleRoot } rejectionReason } }`;
export const PATH = `query RewardMerklePath($epoch: Int!, $leafIndex: Int!) { rewardMerklePath(epoch: $epoch, leafIndex: $leafIndex) { root pathElements pathIndices } }`;
export const CLAIM = `mutation ClaimListenReward($proof: JSON!, $publicSignals: [String!]!) { claimListenReward(proof: $proof, publicSignals: $publicSignals) { id status amount recipient txHash } }`;
export const POOL = `query RewardPool { rewardPool { epoch rewardPerListen totalBudget remaining minListenSeconds heartbeatIntervalSeconds treeDepth } }`;

export type Complete = {
  completeListenSession: {
    session: { id: string; status: string; listenedSeconds: number };
    voucher: { epoch: number; leafIndex: number; amount: string; merkleRoot: string } | null;
    rejectionReason: string | null;
  };
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Listens to a whole short song with a heartbeat at its end, then completes with a fresh commitment. */
export async function listenAndComplete(stack: Gateway, token: string, songId: string, seconds: number, secrets = newVoucherSecrets()) {
  const sessionId = await songKnownToRewards(stack, token, songId);
  await sleep(seconds * 1000 + 150);
  const beat = await stack.gql(HEARTBEAT, { sessionId, positionSeconds: seconds }, { token });
  if (beat.errors) throw new Error(JSON.stringify(beat.errors));
  const done = await stack.gql<Complete>(COMPLETE, { sessionId, commitment: secrets.commitment.toString() }, { token });
  if (!done.data) throw new Error(JSON.stringify(done.errors));
  return { sessionId, secrets, result: done.data.completeListenSession };
}

/** Makes a real Groth16 proof from the committed wasm and zkey, with the voucher's path asked of the graph. */
export async function prove(
  stack: Gateway,
  secrets: { nullifier: bigint; secret: bigint },
  voucher: { epoch: number; leafIndex: number },
  recipient: string,
  request = stack.gql,
) {
  const path = await request<{ rewardMerklePath: MerklePathAnswer }>(PATH, voucher);
  if (!path.data) throw new Error(JSON.stringify(path.errors));
  return proveWithPath(secrets, path.data.rewardMerklePath, recipient);
}
