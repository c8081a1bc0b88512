import { runSubgraphMain } from '@vibestream/platform';
import { paymentsSubgraph } from './app.ts';

await runSubgraphMain(paymentsSubgraph);
