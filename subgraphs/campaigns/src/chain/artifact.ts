import { readFileSync } from 'node:fs';
import type { JsonFragment } from 'ethers';

/** The committed compiler output for contracts/CampaignCollection.sol (scripts/build-contracts.ts writes it). */
export interface CollectionArtifact {
  contractName: 'CampaignCollection';
  compiler: { solc: string; evmVersion: string; optimizerRuns: number };
  abi: JsonFragment[];
  /** 0x-prefixed creation bytecode. */
  bytecode: string;
}

export const collectionArtifactUrl = new URL('../../contracts/CampaignCollection.json', import.meta.url);

export function loadCollectionArtifact(): CollectionArtifact {
  return JSON.parse(readFileSync(collectionArtifactUrl, 'utf8')) as CollectionArtifact;
}
