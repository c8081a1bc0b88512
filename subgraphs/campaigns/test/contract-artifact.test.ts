import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ARTIFACT_PATH, compileCollection, serialiseArtifact } from '../scripts/build-contracts.ts';

describe('the committed CampaignCollection artifact', () => {
  it('is what solc-js compiles from contracts/CampaignCollection.sol (run npm run build:contracts -w subgraphs/campaigns)', async () => {
    const committed = await readFile(ARTIFACT_PATH, 'utf8');
    expect(committed).toBe(serialiseArtifact(await compileCollection()));
  });
});
