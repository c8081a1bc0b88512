/**
 * `npm run bench:gateway`: our gateway against a stock ApolloServer + ApolloGateway.
 *
 *   --ops=me                       the `me` query on the identity subgraph alone (me.ts: targets a, b, c, b0)
 *   --ops=Song,SongDetails,...     (the default: all four) the web client's operations on all 7
 *                                  subgraphs, ours with the entity cache on and off against stock,
 *                                  1 and 10 users, read-only and a 90/10 read/write mix (operations.ts)
 *
 * BENCH_OPS does the same as --ops. The options of each are in the header of its file and in
 * bench/README.md.
 */
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { ops: { type: 'string' } }, strict: false });
const ops = (typeof values.ops === 'string' ? values.ops : undefined) ?? process.env.BENCH_OPS ?? '';
await import(ops === 'me' ? './me.ts' : './operations.ts');
