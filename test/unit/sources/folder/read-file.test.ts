// One file of a drop into the intake: recognised, checked whole, streamed, and compared with the
// stable scan before and after. File-system failures are injected through a mock of open().
import {
  appendFileSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../../../src/errors.ts';
import {
  ioProblem,
  readInstanceFile,
  WHOLE_READ_BYTES,
  type FileResult,
  type FileToRead,
} from '../../../../src/sources/folder/read-file.ts';
import { TransferSyntax, encodeInstance, writeInstance } from '../../../helpers/dicom-factory.ts';
import { createFakeIntake, type FakeIntake } from './fake-intake.ts';

// open() of a path can be made to fail with an errno, or to hand back a handle whose read stream
// fails; `beforeOpen` sees every open of every path (n counts the opens of that path from 1).
const hooks = vi.hoisted(() => ({
  openError: new Map<string, string>(),
  streamError: new Map<string, string>(),
  opens: new Map<string, number>(),
  beforeOpen: null as ((path: string, n: number) => void) | null,
  /** Sees the handle of every open (to wrap its methods). */
  onOpen: null as ((path: string, n: number, fh: import('node:fs/promises').FileHandle) => void) | null,
}));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const errno = (code: string, path: string): Error =>
    Object.assign(new Error(`${code}: simulated, open '${path}'`), { code, path });
  return {
    ...real,
    open: async (...args: Parameters<typeof real.open>) => {
      const path = String(args[0]);
      const n = (hooks.opens.get(path) ?? 0) + 1;
      hooks.opens.set(path, n);
      hooks.beforeOpen?.(path, n);
      const code = hooks.openError.get(path);
      if (code !== undefined) {
        hooks.openError.delete(path);
        throw errno(code, path);
      }
      const fh = await real.open(...args);
      const streamCode = hooks.streamError.get(path);
      if (streamCode !== undefined) {
        hooks.streamError.delete(path);
        const createReadStream = fh.createReadStream.bind(fh);
        fh.createReadStream = (o) => {
          const s = createReadStream(o);
          process.nextTick(() => s.destroy(errno(streamCode, path)));
          return s;
        };
      }
      hooks.onOpen?.(path, n, fh);
      return fh;
    },
  };
});

const PYDICOM = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
const DICOMDIR = `${PYDICOM}/dicomdirtests/DICOMDIR`;

// Files up to WHOLE_READ_BYTES are read into memory in one go; bigger ones are streamed (and
// sniffed and checked from the file). Both paths are covered: `small` and `large` instances.
const SMALL = { rows: 16, columns: 16 };
/** Pixel data alone above WHOLE_READ_BYTES: 1500 × 1500 × 2 bytes. */
const LARGE = { rows: 1500, columns: 1500 };
const sizes = [
  ['small (read whole)', SMALL],
  ['large (streamed)', LARGE],
] as const;

/** Where the dataset starts in a Part 10 file our factory wrote: after (0002,0000)'s value. */
const datasetOffsetOf = (bytes: Buffer): number => 144 + bytes.readUInt32LE(140);

describe('readInstanceFile', () => {
  let dir: string;
  let intake: FakeIntake;
  const ctx = (): { intake: FakeIntake; associationUid: string; origin: string } => ({
    intake,
    associationUid: 'assoc-x',
    origin: 'drop/sub/file.dcm',
  });

  /** What the stable scan saw of `abs` now. */
  const scanned = (abs: string): FileToRead => {
    const st = statSync(abs);
    return { abs, size: st.size, mtimeMs: Math.trunc(st.mtimeMs) };
  };
  const read = (abs: string, f: FileToRead = scanned(abs)): Promise<FileResult> => readInstanceFile(f, ctx());

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-readfile-'));
    intake = createFakeIntake();
    hooks.openError.clear();
    hooks.streamError.clear();
    hooks.opens.clear();
    hooks.beforeOpen = null;
    hooks.onOpen = null;
  });

  it('the large instances used here are above the whole-read limit, the small ones below', () => {
    expect(encodeInstance(LARGE).bytes.length).toBeGreaterThan(WHOLE_READ_BYTES);
    expect(encodeInstance(SMALL).bytes.length).toBeLessThan(WHOLE_READ_BYTES);
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(sizes)(
    "spools a %s Part 10 file: the dataset after the meta, with the meta's UIDs",
    async (_size, geometry) => {
      const abs = join(dir, 'a.dcm');
      const info = await writeInstance(abs, { ...geometry, transferSyntax: TransferSyntax.ImplicitVRLittleEndian });
      const bytes = readFileSync(abs);
      expect(await read(abs)).toEqual({ kind: 'spooled', outcome: 'stored', instanceId: 1 });
      expect(intake.instances).toHaveLength(1);
      const [inst] = intake.instances;
      expect(inst?.meta).toEqual({
        source: 'folder',
        sopClassUid: info.sopClassUid,
        sopInstanceUid: info.sopInstanceUid,
        transferSyntaxUid: TransferSyntax.ImplicitVRLittleEndian,
        callingAe: '',
        calledAe: '',
        peerIp: '',
        associationUid: 'assoc-x',
        origin: 'drop/sub/file.dcm',
      });
      const offset = datasetOffsetOf(bytes);
      expect(offset).toBeGreaterThan(144);
      expect(inst?.bytes().equals(bytes.subarray(offset))).toBe(true);
      expect(inst?.finished).toBe(1);
      expect(inst?.aborted).toBe(0);
      expect(intake.admissions).toBe(1);
    },
  );

  it('streams a large file in several chunks, waiting for drain when asked', async () => {
    const abs = join(dir, 'big.dcm');
    await writeInstance(abs, LARGE);
    const bytes = readFileSync(abs);
    intake.slow = true;
    expect((await read(abs)).kind).toBe('spooled');
    const inst = intake.instances[0];
    expect(inst?.chunks.length).toBeGreaterThan(1);
    expect(intake.drains).toBe(inst?.chunks.length);
    expect(inst?.bytes().equals(bytes.subarray(datasetOffsetOf(bytes)))).toBe(true);
  });

  it('hands a small file over in one write, waiting for drain when asked', async () => {
    const abs = join(dir, 'a.dcm');
    await writeInstance(abs, SMALL);
    intake.slow = true;
    expect((await read(abs)).kind).toBe('spooled');
    expect(intake.instances[0]?.chunks).toHaveLength(1);
    expect(intake.drains).toBe(1);
    // One open: recognised, checked and spooled from the bytes read.
    expect(hooks.opens.get(abs)).toBe(1);
  });

  it('spools a deflated file: checked from the file, handed over still deflated', async () => {
    const abs = join(PYDICOM, 'image_dfl.dcm');
    const bytes = readFileSync(abs);
    const r = await read(abs);
    expect(r.kind).toBe('spooled');
    expect(intake.instances[0]?.meta.transferSyntaxUid).toBe('1.2.840.10008.1.2.1.99');
    expect(intake.instances[0]?.bytes().equals(bytes.subarray(datasetOffsetOf(bytes)))).toBe(true);
  });

  it('spools a bare dataset (no preamble, no meta) from byte 0', async () => {
    const abs = join(dir, 'bare');
    const info = await writeInstance(abs, { omitFileMeta: true });
    const r = await read(abs);
    expect(r).toEqual({ kind: 'spooled', outcome: 'stored', instanceId: 1 });
    expect(intake.instances[0]?.meta).toMatchObject({
      sopInstanceUid: info.sopInstanceUid,
      sopClassUid: info.sopClassUid,
      transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
    });
    expect(intake.instances[0]?.bytes().equals(readFileSync(abs))).toBe(true);
  });

  it("passes the intake's outcome through (duplicate, replaced)", async () => {
    const abs = join(dir, 'a.dcm');
    await writeInstance(abs);
    intake.result = () => ({ ok: true, instanceId: 42, outcome: 'duplicate' });
    expect(await read(abs)).toEqual({ kind: 'spooled', outcome: 'duplicate', instanceId: 42 });
    intake.result = () => ({ ok: true, instanceId: 43, outcome: 'replaced' });
    expect(await read(abs)).toEqual({ kind: 'spooled', outcome: 'replaced', instanceId: 43 });
  });

  it('ignores a DICOMDIR without handing it to the intake', async () => {
    const r = await read(DICOMDIR);
    expect(r.kind).toBe('ignored');
    expect(r).toMatchObject({ reason: expect.stringMatching(/^DICOMDIR/) as string });
    expect(intake.instances).toHaveLength(0);
    expect(intake.admissions).toBe(0);
  });

  it('says how many files a DICOMDIR lists and how many of them are missing (a CD copied in part)', async () => {
    const whole = await read(DICOMDIR);
    expect(whole).toMatchObject({ kind: 'ignored', reason: expect.stringMatching(/listing 31 files \(/) as string });
    // The index alone, without the folders it points into.
    const alone = join(dir, 'cd', 'DICOMDIR');
    mkdirSync(join(dir, 'cd'));
    copyFileSync(DICOMDIR, alone);
    expect(await read(alone)).toMatchObject({
      kind: 'ignored',
      reason: expect.stringMatching(/listing 31 files, 31 of them not in the drop/) as string,
    });
  });

  it('rejects a text file as not DICOM', async () => {
    const abs = join(dir, 'notes.txt');
    writeFileSync(abs, 'scan notes: nothing to see here, this is not a DICOM file at all\n'.repeat(5));
    const r = await read(abs);
    expect(r).toMatchObject({ kind: 'rejected', code: ErrorCode.FOLDER_NOT_DICOM });
    expect(intake.instances).toHaveLength(0);
  });

  it('rejects an empty file as not DICOM', async () => {
    const abs = join(dir, 'empty');
    writeFileSync(abs, '');
    expect(await read(abs)).toMatchObject({ kind: 'rejected', code: ErrorCode.FOLDER_NOT_DICOM });
  });

  it.each(sizes)(
    'rejects a %s file cut inside its pixel data as truncated, without beginning an instance',
    async (_size, geometry) => {
      const abs = join(dir, 'cut.dcm');
      const whole = encodeInstance(geometry).bytes;
      writeFileSync(abs, whole.subarray(0, whole.length - 100));
      const r = await read(abs);
      expect(r).toMatchObject({
        kind: 'rejected',
        code: ErrorCode.FOLDER_TRUNCATED,
        reason: expect.stringMatching(/^truncated DICOM file: /) as string,
      });
      expect(intake.instances).toHaveLength(0);
      expect(intake.admissions).toBe(0);
    },
  );

  it('rejects a file cut inside its File Meta Information (200 bytes) as truncated', async () => {
    const abs = join(dir, 'cut.dcm');
    const whole = encodeInstance().bytes;
    writeFileSync(abs, whole.subarray(0, 200));
    const r = await read(abs);
    expect(r).toMatchObject({ kind: 'rejected', code: ErrorCode.FOLDER_TRUNCATED });
    expect(r).toMatchObject({
      reason: `truncated DICOM file: the file meta information needs ${String(datasetOffsetOf(whole))} bytes, the file has 200`,
    });
    expect(intake.instances).toHaveLength(0);
  });

  it('rejects "DICM" at 128 followed by garbage as unparsable, not as non-DICOM', async () => {
    const abs = join(dir, 'broken.dcm');
    writeFileSync(abs, Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), Buffer.alloc(300, 0x41)]));
    expect(await read(abs)).toMatchObject({ kind: 'rejected', code: ErrorCode.DICOM_UNPARSABLE });
  });

  it('a large truncated file that grew since the stable scan is "changed", not rejected', async () => {
    const abs = join(dir, 'growing.dcm');
    const whole = encodeInstance(LARGE).bytes;
    writeFileSync(abs, whole.subarray(0, whole.length - 4000));
    const f = scanned(abs);
    // The writer appends while the completeness check runs (the third open: read, sniff, check).
    hooks.beforeOpen = (path, n) => {
      if (path === abs && n === 3) {
        appendFileSync(abs, whole.subarray(whole.length - 4000, whole.length - 2000));
      }
    };
    expect(await read(abs, f)).toEqual({ kind: 'changed', reason: 'file changed after the drop looked stable' });
    expect(hooks.opens.get(abs)).toBe(3);
    expect(intake.instances).toHaveLength(0);
  });

  it('a small truncated file that grew after it was read is "changed", not rejected', async () => {
    const abs = join(dir, 'growing.dcm');
    const whole = encodeInstance(SMALL).bytes;
    writeFileSync(abs, whole.subarray(0, whole.length - 100));
    const f = scanned(abs);
    // The writer appends right after our one read of the file.
    hooks.onOpen = (path, _n, fh) => {
      if (path !== abs) {
        return;
      }
      const read0 = fh.read.bind(fh) as (...a: unknown[]) => Promise<{ bytesRead: number; buffer: Buffer }>;
      fh.read = async (...a: unknown[]) => {
        const r = await read0(...a);
        appendFileSync(abs, whole.subarray(whole.length - 100, whole.length - 50));
        return r;
      };
    };
    expect(await read(abs, f)).toEqual({ kind: 'changed', reason: 'file changed after the drop looked stable' });
    expect(intake.instances).toHaveLength(0);
  });

  it('a small file that shrank between its stat and its read is "changed"', async () => {
    const abs = join(dir, 'a.dcm');
    await writeInstance(abs, SMALL);
    hooks.onOpen = (path, _n, fh) => {
      if (path !== abs) {
        return;
      }
      const read0 = fh.read.bind(fh) as (...a: unknown[]) => Promise<{ bytesRead: number; buffer: Buffer }>;
      fh.read = (...a: unknown[]) => {
        truncateSync(abs, 1000);
        return read0(...a);
      };
    };
    expect(await read(abs)).toEqual({ kind: 'changed', reason: 'file changed while being read' });
    expect(intake.instances).toHaveLength(0);
  });

  it.each([
    ['size', (f: FileToRead): FileToRead => ({ ...f, size: f.size + 1 })],
    ['mtime', (f: FileToRead): FileToRead => ({ ...f, mtimeMs: f.mtimeMs - 1 })],
  ])('a file whose %s differs from the stable scan is "changed" and never begun', async (_what, alter) => {
    const abs = join(dir, 'a.dcm');
    await writeInstance(abs);
    expect(await read(abs, alter(scanned(abs)))).toEqual({
      kind: 'changed',
      reason: 'file changed after the drop looked stable',
    });
    expect(intake.instances).toHaveLength(0);
    expect(intake.admissions).toBe(0);
  });

  it.each(sizes)(
    'a %s file appended to while it is handed over is "changed": the instance is aborted, never finished',
    async (_size, geometry) => {
      const abs = join(dir, 'a.dcm');
      await writeInstance(abs, geometry);
      intake.onWrite = (_chunk, _inst, i) => {
        if (i === 0) {
          appendFileSync(abs, Buffer.alloc(64));
        }
      };
      expect(await read(abs)).toEqual({ kind: 'changed', reason: 'file changed while being read' });
      expect(intake.instances).toHaveLength(1);
      expect(intake.instances[0]?.aborted).toBe(1);
      expect(intake.instances[0]?.finished).toBe(0);
    },
  );

  it.each(sizes)(
    'a %s file truncated while it is handed over is "changed": aborted, never finished',
    async (_size, geometry) => {
      const abs = join(dir, 'big.dcm');
      await writeInstance(abs, geometry);
      intake.onWrite = (_chunk, _inst, i) => {
        if (i === 0) {
          truncateSync(abs, 1000);
        }
      };
      expect(await read(abs)).toEqual({ kind: 'changed', reason: 'file changed while being read' });
      expect(intake.instances[0]?.aborted).toBe(1);
      expect(intake.instances[0]?.finished).toBe(0);
    },
  );

  it('a file that vanished before it was opened is "changed"', async () => {
    const abs = join(dir, 'gone.dcm');
    expect(await read(abs, { abs, size: 10, mtimeMs: 1 })).toEqual({
      kind: 'changed',
      reason: 'file vanished while being read',
    });
    expect(intake.instances).toHaveLength(0);
  });

  it('a large file deleted between the open and the sniff is "changed"', async () => {
    const abs = join(dir, 'a.dcm');
    await writeInstance(abs, LARGE);
    hooks.beforeOpen = (path, n) => {
      if (path === abs && n === 2) {
        rmSync(abs);
      }
    };
    expect(await read(abs)).toEqual({ kind: 'changed', reason: 'file vanished while being read' });
    expect(intake.instances).toHaveLength(0);
  });

  it.each([
    ['EACCES', 'unreadable: permission denied (EACCES)'],
    ['EPERM', 'unreadable: permission denied (EPERM)'],
    ['EIO', 'unreadable: I/O error (EIO)'],
    ['EBUSY', 'unreadable: file is locked (EBUSY)'],
    ['EAGAIN', 'unreadable: file is locked (EAGAIN)'],
    ['ENXIO', 'unreadable: ENXIO'],
  ])('%s on open is "unreadable"', async (code, reason) => {
    const abs = join(dir, 'a.dcm');
    await writeInstance(abs);
    hooks.openError.set(abs, code);
    expect(await read(abs)).toEqual({ kind: 'unreadable', reason });
    expect(intake.instances).toHaveLength(0);
    // Only that attempt failed: the next one reads the file.
    expect((await read(abs)).kind).toBe('spooled');
  });

  it('an I/O error reading a small file is "unreadable" and begins nothing', async () => {
    const abs = join(dir, 'a.dcm');
    await writeInstance(abs, SMALL);
    hooks.onOpen = (path, _n, fh) => {
      if (path !== abs) {
        return;
      }
      fh.read = () => Promise.reject(Object.assign(new Error('EIO: simulated'), { code: 'EIO' }));
    };
    expect(await read(abs)).toEqual({ kind: 'unreadable', reason: 'unreadable: I/O error (EIO)' });
    expect(intake.instances).toHaveLength(0);
  });

  it('an I/O error while streaming a large file aborts the instance and is "unreadable"', async () => {
    const abs = join(dir, 'a.dcm');
    await writeInstance(abs, LARGE);
    hooks.streamError.set(abs, 'EIO');
    expect(await read(abs)).toEqual({ kind: 'unreadable', reason: 'unreadable: I/O error (EIO)' });
    expect(intake.instances).toHaveLength(1);
    expect(intake.instances[0]?.aborted).toBe(1);
    expect(intake.instances[0]?.finished).toBe(0);
  });

  it('intake back-pressure is "retry" and begins nothing', async () => {
    const abs = join(dir, 'a.dcm');
    await writeInstance(abs);
    intake.admit = { ok: false, code: ErrorCode.SPOOL_FULL, message: 'spool disk below its watermark' };
    expect(await read(abs)).toEqual({ kind: 'retry', reason: 'spool disk below its watermark' });
    expect(intake.admissions).toBe(1);
    expect(intake.instances).toHaveLength(0);
  });

  it('a retryable intake failure is "retry"', async () => {
    const abs = join(dir, 'a.dcm');
    await writeInstance(abs);
    intake.result = () => ({ ok: false, code: ErrorCode.DB_WRITE, retryable: true, message: 'database busy' });
    expect(await read(abs)).toEqual({ kind: 'retry', reason: 'ERR_DB_WRITE: database busy' });
    expect(intake.instances[0]?.finished).toBe(1);
    expect(intake.instances[0]?.aborted).toBe(0);
  });

  it("a final intake refusal rejects the file with the intake's code", async () => {
    const abs = join(dir, 'a.dcm');
    await writeInstance(abs);
    intake.result = () => ({
      ok: false,
      code: ErrorCode.DICOM_MISSING_UID,
      retryable: false,
      message: 'Study or Series Instance UID missing or invalid.',
    });
    expect(await read(abs)).toEqual({
      kind: 'rejected',
      code: ErrorCode.DICOM_MISSING_UID,
      reason: 'Study or Series Instance UID missing or invalid.',
    });
  });
});

describe('ioProblem', () => {
  it('names vanished files "changed" and everything else "unreadable"', () => {
    for (const code of ['ENOENT', 'ENOTDIR', 'ESTALE']) {
      expect(ioProblem(Object.assign(new Error('x'), { code }))).toEqual({
        kind: 'changed',
        reason: 'file vanished while being read',
      });
    }
    expect(ioProblem(Object.assign(new Error('x'), { code: 'ETXTBSY' }))).toEqual({
      kind: 'unreadable',
      reason: 'unreadable: file is locked (ETXTBSY)',
    });
    expect(ioProblem(new Error('no code here'))).toEqual({ kind: 'unreadable', reason: 'unreadable: no code here' });
    expect(ioProblem('a string')).toEqual({ kind: 'unreadable', reason: 'unreadable: a string' });
  });
});
