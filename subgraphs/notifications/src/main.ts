import { runSubgraphMain } from '@vibestream/platform';
import { notificationsSubgraph } from './app.ts';

await runSubgraphMain(notificationsSubgraph);
