export { discoverySubgraph } from './app.ts';
