// JSON logs, one object per line. Lines about a volume carry volume, epoch and phase (see
// reconcile.ts), so one volume's history can be followed by grepping its key.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(identity: string, level: string): Logger {
  return pino({ level, base: { component: 'bunker-operator', identity }, timestamp: pino.stdTimeFunctions.isoTime });
}
