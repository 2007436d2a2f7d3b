//! Plain file-descriptor I/O on libuv's thread pool, as promises.
// The de-identifier reads and writes a thousand half-megabyte files per CT series. Blocking calls
// would stall the event loop (C-STORE responses, the status server) for the whole series, and
// fs/promises' FileHandle adds an object with a finalizer per file. These are the callback calls
// wrapped once: each costs one thread-pool round trip, and the kernel work of several instances
// in flight overlaps the JavaScript of the next. A round trip is not free (a pool thread is woken,
// then the loop), so calls that take microseconds on the local spool, such as opening a file to
// read it, are cheaper made inline (see readDicomFile), and the de-identifier of a whole series
// gives its reads and writes to a thread of its own instead (io-thread.ts).
import { close, fstat, open, read, write, writev } from 'node:fs';

function call<T>(start: (done: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    start((err, value) => {
      if (err) {
        reject(err);
      } else {
        resolve(value);
      }
    });
  });
}

export function fdOpen(path: string, flags: string, mode?: number): Promise<number> {
  return call((done) => {
    open(path, flags, mode, done);
  });
}

export function fdClose(fd: number): Promise<void> {
  return call<undefined>((done) => {
    close(fd, (err) => {
      done(err, undefined);
    });
  });
}

export function fdSize(fd: number): Promise<number> {
  return call((done) => {
    fstat(fd, (err, st) => {
      done(err, err ? 0 : st.size);
    });
  });
}

/** One read of up to `length` bytes at `position` into `into` from `offset`; 0 at the end of the file. */
export function fdRead(fd: number, into: Buffer, offset: number, length: number, position: number): Promise<number> {
  return call((done) => {
    read(fd, into, offset, length, position, done);
  });
}

/**
 * Reads from `position` until `into` is full or the file ends; returns the bytes read. With
 * `expected` (the file's recorded size), a read that brings exactly that many bytes is taken as
 * the end: a regular file reads short only at its end, so the read that would return 0 to confirm
 * it is saved (one thread-pool round trip per file). Any other count reads on as without it.
 */
export async function fdReadFully(fd: number, into: Buffer, position: number, expected?: number): Promise<number> {
  let got = 0;
  while (got < into.length) {
    const n = await fdRead(fd, into, got, into.length - got, position + got);
    if (n === 0) {
      break;
    }
    got += n;
    if (got === expected) {
      break;
    }
  }
  return got;
}

/**
 * Appends `parts` at the file position in writev batches (under IOV_MAX); a short write, rare on
 * regular files, is finished with plain writes. Returns the bytes written.
 */
export async function fdWriteAll(fd: number, parts: readonly Buffer[]): Promise<number> {
  let total = 0;
  for (let i = 0; i < parts.length; i += 512) {
    const batch = parts.slice(i, i + 512);
    const want = batch.reduce((n, b) => n + b.length, 0);
    let done = await call<number>((cb) => {
      writev(fd, batch, cb);
    });
    if (done < want) {
      const rest = Buffer.concat(batch).subarray(done);
      for (let off = 0; off < rest.length;) {
        const from = off;
        const n = await call<number>((cb) => {
          write(fd, rest, from, rest.length - from, null, cb);
        });
        if (n === 0) {
          throw new Error('write made no progress');
        }
        off += n;
      }
      done = want;
    }
    total += done;
  }
  return total;
}
