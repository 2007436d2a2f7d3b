// The de-identifier's file I/O: the same reads and writes on libuv's pool and on an I/O thread,
// errors that keep their errno code, threads reused for the next series and never keeping the
// process alive.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createIoThreads, poolIo, type FileIo, type IoThreads } from '../../../src/dicom/io-thread.ts';

const dir = mkdtempSync(join(tmpdir(), 'xnatgw-iothread-'));
const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 253));
const file = join(dir, 'in.bin');
writeFileSync(file, bytes);

const threads = createIoThreads();
afterAll(async () => {
  await threads.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The thread a series would get (returned to the idle ones when this resolves). */
function threadOf(t: IoThreads): Promise<FileIo> {
  return t.use((io) => Promise.resolve(io));
}

function sharedBuffer(n: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(n));
}

const kinds: [string, (fn: (io: FileIo) => Promise<void>) => Promise<void>][] = [
  ['libuv pool', (fn) => fn(poolIo)],
  ['I/O thread', (fn) => threads.use(fn)],
];

describe.each(kinds)('file I/O on the %s', (kind, withIo) => {
  const tag = kind.replace(/\W/g, '');

  it('reads a whole file into the buffer and reports its length', async () => {
    await withIo(async (io) => {
      const into = sharedBuffer(bytes.length + 4096);
      const n = await io.readInto(file, into);
      expect(n).toBe(bytes.length);
      expect(into.subarray(0, n).equals(bytes)).toBe(true);
    });
  });

  it('stops at the end of the buffer when the file is longer', async () => {
    await withIo(async (io) => {
      const into = sharedBuffer(1000);
      expect(await io.readInto(file, into, bytes.length)).toBe(1000);
      expect(into.equals(bytes.subarray(0, 1000))).toBe(true);
    });
  });

  it('a missing file rejects with ENOENT and its path', async () => {
    await withIo(async (io) => {
      const missing = join(dir, 'missing.bin');
      await expect(io.readInto(missing, sharedBuffer(10))).rejects.toMatchObject({
        code: 'ENOENT',
        syscall: 'open',
        path: missing,
      });
    });
  });

  it('creates a file with the mode, holding head then rest', async () => {
    await withIo(async (io) => {
      const out = join(dir, `out-${tag}.bin`);
      const head = [Buffer.from('HEAD'), Buffer.alloc(0), Buffer.from('ER')];
      // A view of a shared buffer, as the pixel data is when it was read on the thread.
      const rest = [sharedBuffer(bytes.length).fill(bytes), Buffer.from('TAIL')];
      const n = await io.createFile(out, 0o640, head, rest);
      expect(n).toBe(6 + bytes.length + 4);
      expect(readFileSync(out).equals(Buffer.concat([...head, ...rest]))).toBe(true);
      // Owner read/write, nothing for others (the umask may take more from the group).
      expect(statSync(out).mode & 0o607).toBe(0o600);
    });
  });

  it('replaces an existing file and accepts an empty rest', async () => {
    await withIo(async (io) => {
      const out = join(dir, `again-${tag}.bin`);
      writeFileSync(out, 'a much longer previous content');
      expect(await io.createFile(out, 0o600, [Buffer.from('new')], [])).toBe(3);
      expect(readFileSync(out, 'latin1')).toBe('new');
    });
  });

  it('a file in a missing folder rejects with ENOENT', async () => {
    await withIo(async (io) => {
      await expect(
        io.createFile(join(dir, 'no', 'such', 'x.bin'), 0o640, [Buffer.from('x')], []),
      ).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open' });
    });
  });
});

describe('I/O threads', () => {
  it('read only into shared buffers (the thread writes into them in place)', async () => {
    await threads.use(async (io) => {
      await expect(io.readInto(file, Buffer.alloc(10))).rejects.toThrow(/shared buffers/);
    });
  });

  it("give a finished series' thread to the next one, and parallel series threads of their own", async () => {
    const first = await threadOf(threads);
    expect(await threadOf(threads)).toBe(first);
    const seen: FileIo[] = [];
    let release = (): void => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const a = threads.use(async (io) => {
      seen.push(io);
      await gate;
    });
    const b = threads.use(async (io) => {
      seen.push(io);
      await gate;
    });
    await new Promise((r) => setImmediate(r));
    release();
    await Promise.all([a, b]);
    expect(seen).toHaveLength(2);
    expect(seen[0]).not.toBe(seen[1]);
  });

  it('retire a thread left idle, and start a new one afterwards', async () => {
    const own = createIoThreads({ idleMs: 20 });
    try {
      const first = await threadOf(own);
      await new Promise((r) => setTimeout(r, 200));
      await own.use(async (io) => {
        expect(io).not.toBe(first);
        expect(await io.readInto(file, sharedBuffer(10))).toBe(10);
      });
    } finally {
      await own.close();
    }
  });

  it('do not reuse a thread left with requests in flight', async () => {
    let first: FileIo | undefined;
    let late: Promise<number> | undefined;
    await threads.use((io) => {
      first = io;
      // The caller gives up without waiting (an aborted series).
      late = io.readInto(file, sharedBuffer(bytes.length));
      late.catch(() => {});
      return Promise.resolve();
    });
    expect(await threadOf(threads)).not.toBe(first);
    // The abandoned request is either finished or rejected because the thread was stopped.
    await late?.then(
      (n) => {
        expect(n).toBe(bytes.length);
      },
      (err: unknown) => {
        expect(String(err)).toMatch(/stopped/);
      },
    );
  });

  it('close() stops them; later series start new ones', async () => {
    const own = createIoThreads();
    const first = await threadOf(own);
    await own.close();
    await expect(first.readInto(file, sharedBuffer(10))).rejects.toThrow(/stopped/);
    await own.use(async (io) => {
      expect(await io.readInto(file, sharedBuffer(10))).toBe(10);
    });
    await own.close();
  });

  it('an idle thread does not keep the process alive', () => {
    const moduleUrl = new URL('../../../src/dicom/io-thread.ts', import.meta.url).href;
    const script = `
      const { createIoThreads } = await import(${JSON.stringify(moduleUrl)});
      const io = createIoThreads({ idleMs: 600000 });
      const n = await io.use((t) => t.readInto(${JSON.stringify(file)}, Buffer.from(new SharedArrayBuffer(16))));
      console.log('read', n);
    `;
    // The idle time is ten minutes; a process kept alive by the thread would hit the timeout.
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
      cwd: fileURLToPath(new URL('.', import.meta.url)),
    });
    expect(out.trim()).toBe('read 16');
  });
});
