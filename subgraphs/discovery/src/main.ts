import { runSubgraphMain } from '@vibestream/platform';
import { discoverySubgraph } from './app.ts';

await runSubgraphMain(discoverySubgraph);
