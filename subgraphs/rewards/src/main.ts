import { runSubgraphMain } from '@vibestream/platform';
import { rewardsSubgraph } from './app.ts';

await runSubgraphMain(rewardsSubgraph);
