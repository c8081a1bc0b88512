import { randomBytes } from 'node:crypto';
import { artifacts, poseidon1, poseidon2 } from '@vibestream/circuits';
import { makeWav, newArtist, publishedSong, signUp, type Gateway } from '@vibestream/catalog/testing';

export { newArtist, signUp };

const snarkjs = (await import('snarkjs')) as unknown as {
  groth16: { fullProve: (input: object, wasm: string, zkey: string) => Promise<{ proof: Record<string, unknown>; publicSignals: string[] }> };
};

/** A random field element below 2^248 (well inside the BN254 field). */
export function randomField(): bigint {
  return BigInt(`0x${randomBytes(31).toString('hex')}`);
}

/** The voucher secrets a client keeps: commitment = Poseidon(nullifier, secret). */
export function newVoucherSecrets() {
  const nullifier = randomField();
  const secret = randomField();
  return { nullifier, secret, commitment: poseidon2(nullifier, secret), nullifierHash: poseidon1(nullifier) };
}

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

/** Makes a real Groth16 proof from the committed wasm and zkey. */
export async function prove(
  stack: Gateway,
  secrets: { nullifier: bigint; secret: bigint },
  voucher: { epoch: number; leafIndex: number },
  recipient: string,
  request = stack.gql,
) {
  const path = await request<{ rewardMerklePath: { root: string; pathElements: string[]; pathIndices: number[] } }>(PATH, voucher);
  if (!path.data) throw new Error(JSON.stringify(path.errors));
  const { root, pathElements, pathIndices } = path.data.rewardMerklePath;
  return snarkjs.groth16.fullProve(
    { nullifier: secrets.nullifier, secret: secrets.secret, pathElements, pathIndices, root, recipient: BigInt(recipient) },
    artifacts.wasm,
    artifacts.zkey,
  );
}

export async function terminateSnarkjs() {
  await (globalThis as { curve_bn128?: { terminate?: () => Promise<void> } }).curve_bn128?.terminate?.();
}
