import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { ConfigError, loadConfig, logLevels, processConfigShape, type LogLevel } from './config.ts';

export type { Logger };

interface RequestScope {
  requestId: string;
}

const requestScope = new AsyncLocalStorage<RequestScope>();

/** Runs `fn` with a request id that every log line written inside it carries. */
export function withRequestId<T>(requestId: string | undefined, fn: () => T): T {
  return requestScope.run({ requestId: requestId || randomUUID() }, fn);
}

/** Runs `fn` outside any request scope (for background work started from a request). */
export function outsideRequest<T>(fn: () => T): T {
  return requestScope.exit(fn);
}

export function currentRequestId(): string | undefined {
  return requestScope.getStore()?.requestId;
}

export const REQUEST_ID_HEADER = 'x-request-id';

/** Paths redacted from every log line: secrets never reach the logs. */
const redact = [
  'password',
  '*.password',
  'token',
  '*.token',
  'refreshToken',
  '*.refreshToken',
  'accessToken',
  '*.accessToken',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  '*.headers.authorization',
  'headers.cookie',
  'secret',
  '*.secret',
];

export type LogFormat = 'pretty' | 'json';

export interface CreateLoggerOptions {
  /** pretty or json; LOG_FORMAT, else pretty when `destination` (stdout) is a terminal. */
  format?: LogFormat;
  /** Where lines go; stdout by default. */
  destination?: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * A process's logger. `level` is validated (a ConfigError names LOG_LEVEL rather than pino's
 * stack); lines are JSON, or readable ones in a terminal (see {@link CreateLoggerOptions.format}).
 * Every key appears once per line: a child's binding, or a logged field, with the name of one
 * already bound is dropped when equal and replaces it when different.
 */
export function createLogger(name: string, level: string = process.env.LOG_LEVEL || 'info', options: CreateLoggerOptions = {}): Logger {
  if (!(logLevels as readonly string[]).includes(level)) {
    throw new ConfigError([{ variable: 'LOG_LEVEL', message: `must be one of ${logLevels.join(', ')}` }]);
  }
  const destination = options.destination ?? process.stdout;
  const format = options.format ?? logFormat(process.env, destination);
  const settings: LoggerOptions = {
    level: level as LogLevel,
    redact: { paths: redact, censor: '[redacted]' },
    mixin(_merge, _level, logger) {
      const scope = requestScope.getStore();
      return scope && !('requestId' in boundFields(logger as Logger)) ? { requestId: scope.requestId } : {};
    },
    hooks: {
      logMethod(args, method) {
        const first: unknown = args[0];
        const split = first && typeof first === 'object' && !(first instanceof Error) ? splitBound(boundFields(this), first as Record<string, unknown>) : null;
        if (!split) return method.apply(this, args);
        const target = split.changed ? rebound(this, split.changed) : this;
        return method.apply(target, [split.kept, ...args.slice(1)] as typeof args);
      },
    },
  };
  const bare =
    format === 'pretty' && level !== 'silent'
      ? pino(settings, prettyStream(destination))
      : destination === process.stdout
        ? pino(settings)
        : pino(settings, destination as DestinationStream);
  const baseChild = bare.child as unknown as (this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) => Logger;
  const childOf = (parent: Logger, bindings: pino.Bindings, childOptions?: pino.ChildLoggerOptions): Logger => baseChild.call(parent, bindings, childOptions);
  /** A logger like `logger` with `changes` replacing some of its bindings: rebuilt from the bare root, so each key is bound once. */
  const rebound = (logger: Logger, changes: Record<string, unknown>): Logger => childOf(bare, { ...boundFields(logger), ...changes }, { level: logger.level });
  // Children inherit this override (pino makes each child with Object.create(parent)).
  bare.child = function child(this: Logger, bindings: pino.Bindings, childOptions?: pino.ChildLoggerOptions) {
    const split = splitBound(boundFields(this), bindings);
    if (split?.changed) return childOf(bare, { ...boundFields(this), ...bindings }, { level: this.level, ...childOptions });
    return childOf(this, split ? split.kept : bindings, childOptions);
  } as unknown as Logger['child'];
  return bare.child({ name });
}

/** LOG_FORMAT when set (validated), otherwise pretty for a terminal and JSON for anything else. */
export function logFormat(env: NodeJS.ProcessEnv, destination: { isTTY?: boolean } = process.stdout): LogFormat {
  const { LOG_FORMAT } = loadConfig({ LOG_FORMAT: processConfigShape.LOG_FORMAT }, env);
  return LOG_FORMAT ?? (destination.isTTY ? 'pretty' : 'json');
}

/** Readable lines, written synchronously (nothing is lost when the process exits right after). */
function prettyStream(destination: NodeJS.WritableStream & { isTTY?: boolean }): DestinationStream {
  const format = prettyFactory({
    colorize: Boolean(destination.isTTY),
    translateTime: 'SYS:HH:MM:ss.l',
    // The context a line comes from leads it: `[catalog] subgraph listening`.
    ignore: 'pid,hostname,subgraph,process',
    messageFormat: '{if subgraph}[{subgraph}] {end}{if process}[{process}] {end}{msg}',
    errorLikeObjectKeys: ['err', 'error'],
  });
  const sync = destination === process.stdout ? pino.destination({ fd: 1, sync: true }) : destination;
  return { write: (line: string) => void sync.write(format(line)) };
}

const boundCache = new WeakMap<object, Record<string, unknown>>();

/** What `logger` binds (its name included), parsed once per logger. */
function boundFields(logger: Logger): Record<string, unknown> {
  let fields = boundCache.get(logger);
  if (!fields) {
    fields = logger.bindings();
    boundCache.set(logger, fields);
  }
  return fields;
}

/**
 * `fields` split against what is bound: `kept` has the keys not bound yet, `changed` those bound
 * to another value; null when no key of `fields` is bound.
 */
function splitBound(bound: Record<string, unknown>, fields: Record<string, unknown>) {
  const keys = Object.keys(fields);
  if (!keys.some((key) => Object.hasOwn(bound, key))) return null;
  const kept: Record<string, unknown> = {};
  let changed: Record<string, unknown> | null = null;
  for (const key of keys) {
    if (!Object.hasOwn(bound, key)) kept[key] = fields[key];
    else if (fields[key] !== undefined && !sameValue(fields[key], bound[key])) (changed ??= {})[key] = fields[key];
  }
  return { kept, changed };
}

/** Whether `value` is logged as `bound` (bindings are kept as parsed JSON). */
function sameValue(value: unknown, bound: unknown): boolean {
  if (value === bound) return true;
  try {
    return isDeepStrictEqual(JSON.parse(JSON.stringify(value) ?? 'null'), bound);
  } catch {
    return false;
  }
}
