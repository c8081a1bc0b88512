// Compiles contracts/CampaignCollection.sol with solc-js and writes the committed artifact
// (contracts/CampaignCollection.json) that the subgraph deploys. Run after editing the source:
//   npm run build:contracts -w subgraphs/campaigns
// test/contract-artifact.test.ts fails while the committed artifact is stale.
// The compiler wrapper is testkit's (`@vibestream/testkit/solidity`, a dev dependency): solc-js and nothing else.
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { compileSolidity } from '@vibestream/testkit/solidity';
import type { CollectionArtifact } from '../src/chain/artifact.ts';

const SOURCE = new URL('../contracts/CampaignCollection.sol', import.meta.url);
export const ARTIFACT_PATH = fileURLToPath(new URL('../contracts/CampaignCollection.json', import.meta.url));

/** Fixed compiler settings: the artifact must be reproducible from the source. */
const EVM_VERSION = 'cancun';
const OPTIMIZER_RUNS = 200;

export async function compileCollection(): Promise<CollectionArtifact> {
  const source = await readFile(SOURCE, 'utf8');
  const compiled = await compileSolidity({ 'CampaignCollection.sol': source }, 'CampaignCollection', { evmVersion: EVM_VERSION, optimizer: OPTIMIZER_RUNS });
  const solc = createRequire(import.meta.url)('solc') as { version(): string };
  return {
    contractName: 'CampaignCollection',
    compiler: { solc: solc.version(), evmVersion: EVM_VERSION, optimizerRuns: OPTIMIZER_RUNS },
    abi: compiled.abi as CollectionArtifact['abi'],
    bytecode: compiled.bytecode,
  };
}

export const serialiseArtifact = (artifact: CollectionArtifact) => `${JSON.stringify(artifact, null, 2)}\n`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const artifact = await compileCollection();
  await writeFile(ARTIFACT_PATH, serialiseArtifact(artifact));
  console.log(`wrote ${ARTIFACT_PATH} (solc ${artifact.compiler.solc}, ${(artifact.bytecode.length - 2) / 2} bytes of creation code)`);
}
