//! The single root pino logger: JSON or human lines, ISO times, one-line errors, and the redaction backstop.
import { pino, stdSerializers, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** Paths pino blanks whatever the level: a backstop, not permission to log PHI. */
export const REDACT_PATHS = [
  'PatientName',
  '*.PatientName',
  'PatientID',
  '*.PatientID',
  'PatientBirthDate',
  '*.PatientBirthDate',
  'password',
  '*.password',
  'token',
  '*.token',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** `json`: one JSON object per line (journald, log shippers). `pretty`: one readable line per event. */
export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  /** Default: pretty when the destination is a terminal, JSON otherwise. */
  readonly format?: LogFormat | null | undefined;
}

/** An error as one line: its message, the distinct messages of an AggregateError and the cause chain, and its code. */
export function oneLineError(err: unknown): { type: string; message: string; code?: string } {
  if (!(err instanceof Error)) {
    return { type: typeof err, message: String(err).replace(/\s+/g, ' ') };
  }
  const parts: string[] = [];
  const add = (m: string): void => {
    if (m !== '' && !parts.some((p) => p.includes(m))) {
      parts.push(m);
    }
  };
  // Walk the cause chain; happy eyeballs' "connect ECONNREFUSED ::1:8080" and "… 127.0.0.1:8080"
  // arrive as the errors of one AggregateError, each message once.
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 6; depth++) {
    if (!(e instanceof Error)) {
      add(typeof e === 'string' ? e : JSON.stringify(e));
      break;
    }
    add(e.message);
    if (e instanceof AggregateError) {
      for (const inner of e.errors) {
        add(inner instanceof Error ? inner.message : String(inner));
      }
    }
    e = e.cause;
  }
  const code = (err as { code?: unknown }).code;
  const message = parts.join(': ').replace(/\s+/g, ' ').trim();
  return typeof code === 'string' ? { type: err.name, message, code } : { type: err.name, message };
}

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const COLOURS: Readonly<Record<number, string>> = { 10: '90', 20: '90', 30: '32', 40: '33', 50: '31', 60: '35' };
const HIDDEN = new Set(['level', 'time', 'msg', 'name', 'component', 'pid', 'hostname']);

function fieldValue(v: unknown): string {
  if (typeof v === 'string') {
    return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  }
  if (v !== null && typeof v === 'object' && 'message' in v && 'type' in v) {
    const e = v as { message: unknown; code?: unknown; stack?: unknown };
    const line = JSON.stringify(`${String(e.message)}${typeof e.code === 'string' ? ` (${e.code})` : ''}`);
    return typeof e.stack === 'string' ? `${line}\n${e.stack.split('\n').slice(1).join('\n')}` : line;
  }
  return JSON.stringify(v);
}

/** Formats one pino JSON line for people: `time LEVEL [component] Message. key=value …`. */
export function prettyLine(json: string, colour = false): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const level = typeof o.level === 'number' ? o.level : 30;
  let name = (LEVEL_NAMES[level] ?? String(level)).padEnd(5);
  if (colour) {
    name = `\u001b[${COLOURS[level] ?? '0'}m${name}\u001b[0m`;
  }
  const component = typeof o.component === 'string' ? ` [${o.component}]` : '';
  const fields = Object.entries(o)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${fieldValue(v)}`);
  return `${String(o.time)} ${name}${component} ${typeof o.msg === 'string' ? o.msg : ''}${fields.length ? ` ${fields.join(' ')}` : ''}`;
}

/** A pino destination that writes `prettyLine`s synchronously to `out`. */
export function prettyDestination(out: NodeJS.WritableStream & { isTTY?: boolean }): DestinationStream {
  const colour = out.isTTY === true && !process.env.NO_COLOR;
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) {
        if (line.trim() !== '') {
          out.write(`${prettyLine(line, colour)}\n`);
        }
      }
    },
  };
}

/**
 * Builds the root logger, writing to `destination` (default stdout). Times are ISO 8601 UTC.
 * Errors (`err`) are one line at trace…warn unless the level is debug or trace; error and fatal
 * keep the stack, since a crash needs it.
 */
export function createLogger(
  level: LevelWithSilent,
  destination?: NodeJS.WritableStream & { isTTY?: boolean },
  o: LoggerOptions = {},
): Logger {
  const out = destination ?? process.stdout;
  const format = o.format ?? (out.isTTY === true ? 'pretty' : 'json');
  const verbose = level === 'debug' || level === 'trace';
  const opts = {
    level,
    base: { name: 'xnat-gateway' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      err: (e: unknown) => (verbose ? stdSerializers.err(e as Error) : e instanceof Error ? oneLineError(e) : e),
    },
    hooks: {
      logMethod(this: Logger, args: Parameters<Logger['info']>, method: (...a: unknown[]) => void, lvl: number) {
        const first = args[0];
        if (lvl >= 50 && first !== null && typeof first === 'object' && 'err' in first && first.err instanceof Error) {
          const f = first as { err: Error };
          args[0] = { ...f, err: stdSerializers.err(f.err) };
        }
        method.apply(this, args);
      },
    },
  };
  const dest: DestinationStream =
    format === 'pretty' ? prettyDestination(out) : (destination ?? pino.destination({ fd: 1, sync: true }));
  return pino(opts, dest);
}
