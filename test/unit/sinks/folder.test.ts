import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DaemonError, ErrorCode } from '../../../src/errors.ts';
import { createEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import type { JobContext, SeriesSnapshot } from '../../../src/contracts/component.ts';
import { folderSinkConfig } from '../../../src/sinks/folder/config.ts';
import { create } from '../../../src/sinks/folder/index.ts';
import { createFakeClock } from '../../helpers/fake-clock.ts';

// Lets a test make the next copy fail with a chosen errno; otherwise the real copyFile runs.
const failNextCopy = vi.hoisted(() => ({ code: null as string | null }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    copyFile: (src: string, dest: string) => {
      const code = failNextCopy.code;
      failNextCopy.code = null;
      if (code === null) {
        return real.copyFile(src, dest);
      }
      return Promise.reject(Object.assign(new Error(`${code}: simulated`), { code }));
    },
  };
});

const STUDY = '1.2.826.0.1.1';
const SERIES = '1.2.826.0.1.1.2';

describe('folder sink', () => {
  let dir: string;
  let out: string;
  const base = { log: createLogger('silent'), clock: createFakeClock(), events: createEvents() };
  const ctx = (signal = new AbortController().signal): JobContext => ({
    ...base,
    jobId: 1,
    attempt: 1,
    workDir: join(dir, 'work'),
    signal,
  });

  function snapshot(sops: string[], o: Partial<SeriesSnapshot> = {}): SeriesSnapshot {
    const instances = sops.map((sop, i) => {
      const path = join(dir, 'spool', `${String(i)}.dcm`);
      return {
        instanceId: i + 1,
        sopInstanceUid: sop,
        sopClassUid: '1.2',
        transferSyntaxUid: '1.2.840.10008.1.2.1',
        instanceNumber: i + 1,
        path,
        size: 0,
      };
    });
    return {
      seriesId: 7,
      studyInstanceUid: STUDY,
      seriesInstanceUid: SERIES,
      batch: 1,
      modality: 'MR',
      instances,
      ...o,
    };
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-folder-'));
    out = join(dir, 'out');
    mkdirSync(join(dir, 'spool'));
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(dir, 'spool', `${String(i)}.dcm`), `dicom-${String(i)}`);
    }
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts its config shape and refuses unknown keys', () => {
    expect(folderSinkConfig.parse({ type: 'folder', path: '/x' })).toEqual({ type: 'folder', path: '/x' });
    expect(folderSinkConfig.safeParse({ type: 'folder', extra: 1 }).success).toBe(false);
  });

  it('writes each instance under study and series UIDs, not readable by others', async () => {
    const sink = create({ path: out }, base);
    const d = await sink.deliver(snapshot(['1.5.1', '1.5.2']), ctx());
    expect(d).toEqual({ outcome: 'delivered', receipt: 'folder:2 instances' });
    const seriesDir = join(out, STUDY, SERIES);
    expect(readdirSync(seriesDir).sort()).toEqual(['1.5.1.dcm', '1.5.2.dcm']);
    expect(readFileSync(join(seriesDir, '1.5.2.dcm'), 'utf8')).toBe('dicom-1');
    expect(statSync(join(seriesDir, '1.5.1.dcm')).mode & 0o777).toBe(0o640);
    expect(statSync(seriesDir).mode & 0o007).toBe(0);
    expect(statSync(join(out, STUDY)).mode & 0o007).toBe(0);
  });

  it('overwrites a re-delivered instance in place instead of duplicating it', async () => {
    const sink = create({ path: out }, base);
    await sink.deliver(snapshot(['1.5.1']), ctx());
    writeFileSync(join(dir, 'spool', '0.dcm'), 'replaced');
    expect((await sink.deliver(snapshot(['1.5.1']), ctx())).outcome).toBe('delivered');
    const seriesDir = join(out, STUDY, SERIES);
    expect(readdirSync(seriesDir)).toEqual(['1.5.1.dcm']);
    expect(readFileSync(join(seriesDir, '1.5.1.dcm'), 'utf8')).toBe('replaced');
  });

  it.each([['../../etc'], ['1.2.x'], ['1..2'], ['1'.repeat(65)], ['']])(
    'rejects the UID %j as a path component',
    async (bad) => {
      const sink = create({ path: out }, base);
      const d = await sink.deliver(snapshot(['1.5.1', bad]), ctx());
      expect(d).toMatchObject({ outcome: 'rejected', code: ErrorCode.SINK_INVALID_UID });
      expect(d.outcome === 'rejected' && d.reason).not.toContain(bad || '\0');
      expect(() => readdirSync(out)).toThrow();
    },
  );

  it('rejects a series whose spool file is missing, writing nothing', async () => {
    rmSync(join(dir, 'spool', '1.dcm'));
    const d = await create({ path: out }, base).deliver(snapshot(['1.5.1', '1.5.2']), ctx());
    expect(d).toMatchObject({ outcome: 'rejected', code: ErrorCode.SERIES_MISSING_FILE });
    expect(() => readdirSync(out)).toThrow();
  });

  it.each([['ENOSPC'], ['EIO']])('asks for a retry on %s and leaves no temp file', async (code) => {
    failNextCopy.code = code;
    const d = await create({ path: out }, base).deliver(snapshot(['1.5.1']), ctx());
    expect(d).toMatchObject({ outcome: 'retry' });
    expect(readdirSync(join(out, STUDY, SERIES))).toEqual([]);
  });

  it('throws a retryable sink write error on other I/O failures', async () => {
    failNextCopy.code = 'EACCES';
    const p = create({ path: out }, base).deliver(snapshot(['1.5.1']), ctx());
    await expect(p).rejects.toBeInstanceOf(DaemonError);
    await expect(p).rejects.toMatchObject({ code: ErrorCode.SINK_WRITE, retryable: true, stage: 'sending' });
  });

  it('stops between instances when its signal is aborted', async () => {
    const c = new AbortController();
    c.abort();
    expect((await create({ path: out }, base).deliver(snapshot(['1.5.1']), ctx(c.signal))).outcome).toBe('retry');
  });

  it('passes its healthcheck by creating a missing directory', async () => {
    await create({ path: join(out, 'deep') }, base).healthcheck(new AbortController().signal);
    expect(statSync(join(out, 'deep')).isDirectory()).toBe(true);
    expect(readdirSync(join(out, 'deep'))).toEqual([]);
  });

  it('fails its healthcheck when the path is a file', async () => {
    writeFileSync(join(dir, 'file'), 'x');
    await expect(
      create({ path: join(dir, 'file') }, base).healthcheck(new AbortController().signal),
    ).rejects.toMatchObject({
      code: ErrorCode.SINK_WRITE,
    });
  });
});
