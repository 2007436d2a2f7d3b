//! A one-line progress bar for terminals; silent when the stream is not a TTY (logs, CI, pipes).
import type { WriteStream } from 'node:tty';

export interface ProgressBar {
  update(done: number, total: number, note: string): void;
  /** Erases the bar (before another line is written to the same stream); the next update redraws it. */
  clear(): void;
  done(): void;
}

const WIDTH = 30;
/** Redraw at most this often: a 40,000-file import must not spend its time painting. */
const REDRAW_MS = 100;

export function createProgressBar(stream: NodeJS.WritableStream & Partial<Pick<WriteStream, 'isTTY'>>): ProgressBar {
  if (!stream.isTTY) {
    return { update: () => undefined, clear: () => undefined, done: () => undefined };
  }
  let last = 0;
  let drawn = false;
  return {
    update(done, total, note) {
      const now = Date.now();
      if (now - last < REDRAW_MS && done < total) {
        return;
      }
      last = now;
      const filled = total ? Math.round((done / total) * WIDTH) : 0;
      stream.write(
        `\r[${'#'.repeat(filled)}${' '.repeat(WIDTH - filled)}] ${String(done)}/${String(total)} files, ${note}\u001b[K`,
      );
      drawn = true;
    },
    clear() {
      if (!drawn) {
        return;
      }
      stream.write('\r\u001b[K');
      drawn = false;
      last = 0;
    },
    done() {
      if (drawn) {
        stream.write('\n');
      }
    },
  };
}
