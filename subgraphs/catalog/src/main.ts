import { runSubgraphMain } from '@vibestream/platform';
import { catalogSubgraph } from './app.ts';

await runSubgraphMain(catalogSubgraph);
