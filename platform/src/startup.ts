import { isConfigError, loadConfig, processConfigShape } from './config.ts';
import { createLogger, type Logger } from './logger.ts';

/**
 * The logger of a process's entry point (`npm start`, a subgraph or the gateway run alone), from
 * LOG_LEVEL and LOG_FORMAT. A bad value ends the process with its configuration error.
 */
export function processLogger(name: string, env: NodeJS.ProcessEnv = process.env): Logger {
  try {
    const { LOG_LEVEL, LOG_FORMAT } = loadConfig({ LOG_LEVEL: processConfigShape.LOG_LEVEL, LOG_FORMAT: processConfigShape.LOG_FORMAT }, env);
    return createLogger(name, LOG_LEVEL, LOG_FORMAT ? { format: LOG_FORMAT } : {});
  } catch (error) {
    return exitOnStartFailure(null, error, `${name} failed to start`);
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
