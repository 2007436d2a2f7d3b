//! Implementation of the `folder` sink: atomic, idempotent copies into a directory tree.
// Each file is copied to a temp name in <root>/.partial/, fsynced, then renamed over its final
// name; the directory is fsynced before 'delivered' is reported. A re-delivery therefore replaces
// a file in one step and a reader never sees a half-written instance. Temp files live in one
// folder of their own so that what a killed attempt left behind is removed at start-up in one go
// (`recover`), without walking the whole outbox.
import { randomUUID } from 'node:crypto';
import { chmod, copyFile, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DaemonError, ErrorCode } from '../../errors.ts';
import type { ComponentContext, Delivery, JobContext, SeriesSnapshot, Sink } from '../../contracts/component.ts';
import { sinkLifecycle } from '../../contracts/sink-lifecycle.ts';

const FILE_MODE = 0o640;
const DIR_MODE = 0o750;
// DICOM UIDs (PS3.5 §9): digits and dots, at most 64 characters. Anything else could escape the tree.
const UID = /^[0-9]+(\.[0-9]+)*$/;
const LABEL = /^[A-Za-z0-9_-]{1,64}$/;
// Conditions that may clear by themselves (space freed, device back): worth a later attempt.
const TRANSIENT = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EAGAIN', 'EBUSY', 'ETIMEDOUT', 'EMFILE', 'ENFILE']);
/** Temp files of copies in progress, directly under the root. */
export const PARTIAL_DIR = '.partial';
/** The healthcheck's probe file in the root (removed at once; `recover` sweeps a killed one). */
const PROBE_PREFIX = '.healthcheck-';

function isUid(s: string): boolean {
  return s.length <= 64 && UID.test(s);
}

function errno(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** fsync a directory so that the entries created or renamed in it survive power loss. */
async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Creates `dir` (and parents) owner/group-only, fsyncing each parent whose entries changed. */
async function ensureDir(root: string, parts: readonly string[]): Promise<string> {
  let dir = root;
  await mkdir(root, { recursive: true, mode: DIR_MODE });
  for (const p of parts) {
    const child = join(dir, p);
    const created = await mkdir(child, { recursive: true, mode: DIR_MODE });
    if (created !== undefined) {
      await fsyncDir(dir);
    }
    dir = child;
  }
  return dir;
}

/** Copies `src` to `dest` atomically: temp file under `partial` (same file system), fsync, rename. */
async function copyAtomic(src: string, partial: string, dest: string): Promise<void> {
  const tmp = join(partial, `${randomUUID()}.tmp`);
  try {
    // copyFile streams in the kernel (copy_file_range / sendfile); nothing is read into memory.
    await copyFile(src, tmp);
    await chmod(tmp, FILE_MODE);
    const fh = await open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Builds the folder sink writing under `config.path`. */
export function create(config: { path: string }, ctx: ComponentContext): Sink {
  const root = config.path;
  const partial = join(root, PARTIAL_DIR);

  async function deliver(series: SeriesSnapshot, job: JobContext): Promise<Delivery> {
    const bad = [
      series.studyInstanceUid,
      series.seriesInstanceUid,
      ...series.instances.map((i) => i.sopInstanceUid),
    ].find((u) => !isUid(u));
    if (bad !== undefined) {
      // Never put the value in the reason: it may be a pre-anonymisation identifier.
      return {
        outcome: 'rejected',
        code: ErrorCode.SINK_INVALID_UID,
        reason: 'A UID is not a valid path component (digits and dots, at most 64 characters).',
      };
    }
    try {
      // Check every source first, so a series with a lost file leaves nothing half-delivered.
      let bytes = 0;
      for (const inst of series.instances) {
        const size = await stat(inst.path).then(
          (st) => st.size,
          (err: unknown) => {
            if (errno(err) === 'ENOENT') {
              return null;
            }
            throw err;
          },
        );
        if (size === null) {
          return {
            outcome: 'rejected',
            code: ErrorCode.SERIES_MISSING_FILE,
            reason: `Spool file of instance ${String(inst.instanceId)} is missing.`,
          };
        }
        bytes += size;
      }
      // The copies' space is taken before the first byte (the outbox is usually on the data disk).
      if (job.reserveSpace && !job.reserveSpace(root, bytes)) {
        return {
          outcome: 'retry',
          code: ErrorCode.SPOOL_FULL,
          reason: `Not enough free space above the watermark for the ${String(bytes)} B copy of this series in the outbox.`,
        };
      }
      // De-identified series are filed the way XNAT will hold them; labels are XNAT-safe ([A-Za-z0-9_-]).
      const l = series.labels;
      const parts =
        l && [l.project, l.subject, l.session].every((p) => LABEL.test(p))
          ? [l.project, l.subject, l.session, series.seriesInstanceUid]
          : [series.studyInstanceUid, series.seriesInstanceUid];
      const dir = await ensureDir(root, parts);
      await mkdir(partial, { recursive: true, mode: DIR_MODE });
      for (const inst of series.instances) {
        if (job.signal.aborted) {
          return { outcome: 'retry', reason: 'Delivery was interrupted.' };
        }
        await copyAtomic(inst.path, partial, join(dir, `${inst.sopInstanceUid}.dcm`));
      }
      await fsyncDir(dir);
    } catch (err) {
      const code = errno(err);
      if (code !== undefined && TRANSIENT.has(code)) {
        return { outcome: 'retry', reason: `Writing to the folder failed (${code}).` };
      }
      // Permissions, read-only mounts and the like: thrown, so retried until attempts run out.
      throw new DaemonError(ErrorCode.SINK_WRITE, `Writing to the folder failed (${code ?? 'unknown'}).`, {
        stage: 'sending',
        retryable: true,
        cause: err,
      });
    }
    job.log.debug({ instances: series.instances.length }, 'Series written to folder.');
    return { outcome: 'delivered', receipt: `folder:${String(series.instances.length)} instances` };
  }

  return sinkLifecycle(
    {
      type: 'folder',
      id: 'folder',
      describe: () => ({ path: root }),

      async healthcheck(signal: AbortSignal) {
        signal.throwIfAborted();
        try {
          await mkdir(root, { recursive: true, mode: DIR_MODE });
          // A real write, not access(W_OK): that one is wrong on some network file systems and for root.
          const probe = join(root, `${PROBE_PREFIX}${randomUUID()}.tmp`);
          try {
            const fh = await open(probe, 'wx', FILE_MODE);
            await fh.close();
          } finally {
            await rm(probe, { force: true });
          }
        } catch (err) {
          throw new DaemonError(
            ErrorCode.SINK_WRITE,
            `Folder sink path is not a writable directory (${errno(err) ?? 'unknown'}).`,
            { stage: 'starting', retryable: false, cause: err },
          );
        }
        ctx.log.debug({ path: root }, 'Folder sink is writable.');
      },

      deliver,

      async recover() {
        // Only our temp files live here; a copy killed mid-way (SIGKILL, power loss) left its own.
        const list = (dir: string): Promise<string[]> =>
          readdir(dir).catch((err: unknown) => {
            if (errno(err) === 'ENOENT') {
              return [];
            }
            throw err;
          });
        const left = [
          ...(await list(partial)).map((n) => join(partial, n)),
          ...(await list(root))
            .filter((n) => n.startsWith(PROBE_PREFIX) && n.endsWith('.tmp'))
            .map((n) => join(root, n)),
        ];
        for (const path of left) {
          await rm(path, { recursive: true, force: true });
        }
        if (left.length) {
          ctx.log.info({ files: left.length }, 'Removed temp files a killed delivery left in the outbox.');
        }
        return left.length;
      },
    },
    ctx,
  );
}
