import { runSubgraphMain } from '@vibestream/platform';
import { loyaltySubgraph } from './app.ts';

await runSubgraphMain(loyaltySubgraph);
