//! Whole-file reads and writes for the de-identifier, on libuv's thread pool or on a thread of their own.
// De-identifying a CT slice is one read, one create, two writes and a close. On libuv's pool each
// is a round trip that wakes an idle pool thread and then the loop; on a VM a wake-up is an
// interrupt to another virtual CPU, and V8's profile of a 1,000-slice series put 0.35 s of the main
// thread's ~1 s in submitting those calls. An I/O thread of our own takes a whole file per
// message, works through its queue without sleeping while instances are in flight, and reads into
// SharedArrayBuffers the main thread parses in place. The main thread never blocks on the disk.
import { Worker } from 'node:worker_threads';
import { fdClose, fdOpen, fdReadFully, fdWriteAll } from './fd-io.ts';
import { closeSync, openSync } from 'node:fs';

/** Reads a whole small file into a buffer and writes one out. */
export interface FileIo {
  /** Reads should land in views of a SharedArrayBuffer (the other thread writes into them). */
  readonly shared: boolean;
  /**
   * Reads `path` from its start into `into` until it is full or the file ends; `expected` (the
   * recorded size) ends it early. Returns the bytes read.
   */
  readInto(path: string, into: Buffer, expected?: number): Promise<number>;
  /** Creates `path` with `mode` holding `head` then `rest` (each in its own call); removes it on failure. */
  createFile(path: string, mode: number, head: readonly Buffer[], rest: readonly Buffer[]): Promise<number>;
}

/** On libuv's thread pool: open and close of a read inline (microseconds on a spool file), the rest on the pool. */
export const poolIo: FileIo = {
  shared: false,
  async readInto(path, into, expected) {
    const fd = openSync(path, 'r');
    try {
      return await fdReadFully(fd, into, 0, expected);
    } finally {
      closeSync(fd);
    }
  },
  async createFile(path, mode, head, rest) {
    const fd = await fdOpen(path, 'w', mode);
    try {
      const n = await fdWriteAll(fd, head);
      return rest.length ? n + (await fdWriteAll(fd, rest)) : n;
    } finally {
      await fdClose(fd);
    }
  },
};

type Reply =
  { readonly id: number; readonly value: number } | { readonly id: number; readonly error: Record<string, unknown> };

interface Pending {
  resolve(n: number): void;
  reject(err: Error): void;
}

/** An errno error as the thread saw it (code, syscall and path kept, so callers can tell ENOENT from EACCES). */
function rebuild(e: Record<string, unknown>): Error {
  return Object.assign(new Error(String(e['message'])), {
    code: e['code'],
    errno: e['errno'],
    syscall: e['syscall'],
    path: e['path'],
  });
}

/** The thread's code, plain JavaScript beside this module (in src/ and, copied, in dist/). */
const WORKER_URL = new URL('./io-thread-worker.js', import.meta.url);

/**
 * One worker thread serving one series. A second thread, taking requests when the first one's
 * queue built up, did no better in alternating runs (disk and tmpfs) and costs ~25 MB more.
 */
class IoThread implements FileIo {
  readonly shared = true;
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Set once the thread failed, exited or was stopped: nothing more is sent. */
  broken: Error | null = null;

  constructor() {
    // Its own small heap: the daemon's --max-semi-space-size is for the main thread's parsing.
    this.worker = new Worker(WORKER_URL, {
      execArgv: [],
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
    });
    // Idle, the thread must not keep the process alive; with requests in flight it must.
    this.worker.unref();
    this.worker.on('message', (r: Reply) => {
      const p = this.pending.get(r.id);
      if (!p) {
        return;
      }
      this.pending.delete(r.id);
      if (this.pending.size === 0) {
        this.worker.unref();
      }
      if ('error' in r) {
        p.reject(rebuild(r.error));
      } else {
        p.resolve(r.value);
      }
    });
    this.worker.on('error', (err: unknown) => {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    });
    this.worker.on('exit', (code) => {
      this.fail(new Error(`The I/O thread exited (code ${String(code)}).`));
    });
  }

  private fail(err: Error): void {
    this.broken ??= err;
    for (const p of this.pending.values()) {
      p.reject(this.broken);
    }
    this.pending.clear();
  }

  private send(message: Record<string, unknown>): Promise<number> {
    if (this.broken) {
      return Promise.reject(this.broken);
    }
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) {
        this.worker.ref();
      }
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id });
    });
  }

  readInto(path: string, into: Buffer, expected?: number): Promise<number> {
    if (!(into.buffer instanceof SharedArrayBuffer)) {
      return Promise.reject(new TypeError('The I/O thread reads only into shared buffers.'));
    }
    return this.send({ op: 'read', path, into, expected: expected ?? -1 });
  }

  createFile(path: string, mode: number, head: readonly Buffer[], rest: readonly Buffer[]): Promise<number> {
    return this.send({ op: 'write', path, mode, head, rest });
  }

  get busy(): boolean {
    return this.pending.size > 0;
  }

  async terminate(): Promise<void> {
    this.fail(new Error('The I/O thread was stopped.'));
    // Referenced again, or the process could exit before the thread has (an unsettled await).
    this.worker.ref();
    await this.worker.terminate();
  }
}

/** I/O threads owned by one component: one per series in progress, kept a while for the next. */
export interface IoThreads {
  /** Runs `fn` with a thread of its own (an idle one, or a new one). */
  use<T>(fn: (io: FileIo) => Promise<T>): Promise<T>;
  /** Stops every thread; later calls start new ones. */
  close(): Promise<void>;
}

/**
 * A thread costs ~30 ms to start, so one that finished a series stays for `idleMs` for the next
 * (idle threads do not keep the process alive). Series run in parallel get a thread each, so a
 * slow read of one never holds up another.
 */
export function createIoThreads(o: { idleMs?: number } = {}): IoThreads {
  const idleMs = o.idleMs ?? 30_000;
  const idle: { thread: IoThread; timer: NodeJS.Timeout }[] = [];
  const all = new Set<IoThread>();
  const retire = (t: IoThread): void => {
    all.delete(t);
    void t.terminate();
  };
  return {
    async use(fn) {
      const reused = idle.pop();
      let thread: IoThread;
      if (reused) {
        clearTimeout(reused.timer);
        thread = reused.thread;
      } else {
        thread = new IoThread();
        all.add(thread);
      }
      try {
        return await fn(thread);
      } finally {
        // A thread with requests still in flight (the caller gave up early) or a failed one is not reused.
        if (thread.broken || thread.busy) {
          retire(thread);
        } else {
          const timer = setTimeout(() => {
            const i = idle.findIndex((x) => x.thread === thread);
            if (i >= 0) {
              idle.splice(i, 1);
            }
            retire(thread);
          }, idleMs);
          timer.unref();
          idle.push({ thread, timer });
        }
      }
    },
    async close() {
      for (const x of idle.splice(0)) {
        clearTimeout(x.timer);
      }
      const threads = [...all];
      all.clear();
      await Promise.all(threads.map((t) => t.terminate()));
    },
  };
}
