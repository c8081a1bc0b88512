/** Messages between run.ts and its server child processes (server.ts). */
export type Role = 'subgraph' | 'gateway' | 'gateway-nomerge' | 'stock';

export interface StartMessage {
  type: 'start';
  role: Role;
  env: NodeJS.ProcessEnv;
  supergraphSdl?: string;
}

export interface ServerTarget {
  role: Role;
  url: string;
  pid: number;
}

export type ChildMessage = ({ type: 'ready' } & ServerTarget) | { type: 'failed'; error: string };
