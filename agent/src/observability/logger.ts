// Structured JSON logs. Every line about a volume carries volume, node, role and epoch, so a
// takeover can be followed across three agents' logs by grepping one volume name.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(node: string, level: string): Logger {
  return pino({ level, base: { node }, timestamp: pino.stdTimeFunctions.isoTime });
}

export function volumeLogger(logger: Logger, fields: { volume: string; role: string; epoch: number }): Logger {
  return logger.child(fields);
}
