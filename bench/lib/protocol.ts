/**
 * Messages between a benchmark's run.ts (the parent, children.ts) and its server child
 * processes (child.ts). Roles are the benchmark's own names for its servers.
 */
export interface StartMessage<R extends string = string> {
  type: 'start';
  role: R;
  env: NodeJS.ProcessEnv;
  supergraphSdl?: string;
  /** Port to listen on; absent or 0 picks a free one. */
  port?: number;
}

/** A role-specific request (e.g. "read the SQL statement counter"), answered with a `reply` of the same id. */
export interface CallMessage {
  type: 'call';
  id: number;
  name: string;
  arg?: unknown;
}

export type ParentMessage<R extends string = string> = StartMessage<R> | CallMessage | { type: 'stop' };

export interface ServerTarget<R extends string = string> {
  role: R;
  url: string;
  pid: number;
}

export type ChildMessage<R extends string = string> =
  ({ type: 'ready' } & ServerTarget<R>) | { type: 'failed'; error: string } | { type: 'reply'; id: number; value?: unknown; error?: string };
