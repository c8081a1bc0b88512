import { runSubgraphMain } from '@vibestream/platform';
import { identitySubgraph } from './app.ts';

await runSubgraphMain(identitySubgraph);
