/**
 * The discovery subgraph of bench:discovery in a process of its own, started by run.ts through
 * bench/lib's protocol (protocol.ts; serveChild in child.ts): what the bench measures at the
 * subgraph runs without the bench's generated history on its heap or its event loop.
 */
import { serveChild } from '../lib/child.ts';
import type { StartMessage } from '../lib/protocol.ts';
import { startSubgraphRole } from '../lib/roles.ts';

export type Role = 'discovery';

serveChild<Role>((message: StartMessage<Role>) => startSubgraphRole('discovery', { env: message.env }));
