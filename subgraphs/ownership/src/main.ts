import { runSubgraphMain } from '@vibestream/platform';
import { ownershipSubgraph } from './app.ts';

await runSubgraphMain(ownershipSubgraph);
