import { ConfigError, collectConfigErrors, isConfigError, loadConfig, processConfigShape } from './config.ts';
import { createLogger, type Logger } from './logger.ts';

/**
 * The logger of a process's entry point (`npm start`, a subgraph or the gateway run alone), from
 * LOG_LEVEL and LOG_FORMAT. A bad value ends the process with its configuration error.
 */
export function processLogger(name: string, env: NodeJS.ProcessEnv = process.env, failure = `${name} failed to start`): Logger {
  try {
    const { LOG_LEVEL, LOG_FORMAT } = loadConfig({ LOG_LEVEL: processConfigShape.LOG_LEVEL, LOG_FORMAT: processConfigShape.LOG_FORMAT }, env);
    return createLogger(name, LOG_LEVEL, LOG_FORMAT ? { format: LOG_FORMAT } : {});
  } catch (error) {
    return exitOnStartFailure(null, error, failure);
  }
}

/**
 * Ends a process that could not start, with exit code 1. A configuration error is written as it
 * is, one line per bad variable and no stack (it is the operator's to fix); anything else is
 * logged as fatal with its stack.
 */
export function exitOnStartFailure(log: Logger | null, error: unknown, what: string): never {
  if (isConfigError(error) || !log) {
    process.stderr.write(`${what}: ${error instanceof Error ? error.message : String(error)}\n`);
  } else {
    log.fatal({ err: error }, what);
  }
  process.exit(1);
}

/** Variables the development runtime fills in when they are unset (embedded PostgreSQL, generated keys), outside production. */
export const developmentFilledVariables = ['DATABASE_URL', 'JWT_PRIVATE_KEY', 'JWT_PUBLIC_KEY'] as const;

/**
 * Runs every config check (each a loader) over the environment before anything starts, and
 * throws one ConfigError with all their problems, except "not set" for what the development
 * runtime fills in (see {@link developmentFilledVariables}).
 */
export function checkConfigBeforeStart(checks: (() => unknown)[], env: NodeJS.ProcessEnv): void {
  const production = env.NODE_ENV === 'production';
  const filledLater = (variable: string) => !production && (developmentFilledVariables as readonly string[]).includes(variable) && !env[variable];
  try {
    collectConfigErrors(checks);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const issues = error.issues.filter((issue) => !filledLater(issue.variable));
    if (issues.length > 0) throw new ConfigError(issues);
  }
}
