import { runSubgraphMain } from '@vibestream/platform';
import { campaignsSubgraph } from './app.ts';

await runSubgraphMain(campaignsSubgraph);
