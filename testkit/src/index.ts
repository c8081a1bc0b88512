export * from './database.ts';
export * from './tokens.ts';
export * from './client.ts';
export * from './stack.ts';
export * from './chain.ts';
export * from './events.ts';
export * from './probe.ts';
export * from './context.ts';
