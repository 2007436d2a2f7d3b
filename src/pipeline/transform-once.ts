//! Transforms run once per series batch: their output is written once to a batch work directory that every sink job of the batch reads.
// A series with two sinks has two delivery jobs; de-identifying it twice would double the work and,
// with a script using newUID() or a changing clock, could even give the two sinks different
// copies. The first job of a batch runs the transforms into `series-<id>.tmp-<job>-<attempt>`,
// writes snapshot.json beside the files and renames the folder to `series-<id>-<input>`, so a
// complete folder is the only one anyone reads. <input> is a digest of what the transforms are
// given (target project, session, instances): a batch released from quarantine to another project
// is transformed again, never read from the copy made for the quarantine project. Jobs running at the same time in this process wait for
// that one run. The folder goes when the batch's last job is finished; start-up recovery sweeps
// the work directory, and a job run after that simply transforms again (transforms are
// deterministic for the same input and state).
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { JobContext, SeriesSnapshot, Transform } from '../contracts/component.ts';

const MANIFEST = 'snapshot.json';

export interface TransformOnce {
  /**
   * The transformed snapshot of `snapshot`'s batch: read from its batch folder, or made now by
   * running every transform once. `reserve(bytes)` is asked before the transforms write their copy;
   * 'no-space' when it refuses. `ctx.workDir` is ignored: the transforms write into the batch folder.
   */
  get(
    snapshot: SeriesSnapshot,
    ctx: JobContext,
    reserve?: (bytes: number) => boolean,
  ): Promise<SeriesSnapshot | 'no-space'>;
  /** Removes the batch's folders: its last job is finished (delivered, dead or discarded). */
  discard(seriesId: number): Promise<void>;
  /** How many times the transforms ran (for tests and /metrics-style counting). */
  readonly runs: () => number;
}

/** Paths inside `dir` become relative in the manifest, so the folder can be renamed after writing it. */
function relativise(s: SeriesSnapshot, dir: string): SeriesSnapshot {
  return {
    ...s,
    instances: s.instances.map((i) => (i.path.startsWith(dir + sep) ? { ...i, path: relative(dir, i.path) } : i)),
  };
}

function absolutise(s: SeriesSnapshot, dir: string): SeriesSnapshot {
  return {
    ...s,
    instances: s.instances.map((i) => (i.path.startsWith('/') ? i : { ...i, path: join(dir, i.path) })),
  };
}

export function createTransformOnce(o: { workRoot: string; transforms: readonly Transform[] }): TransformOnce {
  const running = new Map<string, Promise<SeriesSnapshot | 'no-space'>>();
  let runs = 0;
  const prefix = (seriesId: number): string => `series-${String(seriesId)}-`;
  /** The batch folder for this input: the same batch routed elsewhere gets another folder. */
  const dirOf = (s: SeriesSnapshot): string => {
    const input = JSON.stringify([
      s.project ?? null,
      s.sessionStudyUid ?? null,
      s.batch,
      s.instances.map((i) => [i.instanceId, i.size, i.path]),
    ]);
    return join(o.workRoot, prefix(s.seriesId) + createHash('sha256').update(input).digest('hex').slice(0, 16));
  };

  async function readDone(dir: string): Promise<SeriesSnapshot | null> {
    const text = await readFile(join(dir, MANIFEST), 'utf8').catch((err: unknown) => {
      if (err instanceof Error && 'code' in err && err.code === 'ENOENT') {
        return null;
      }
      throw err;
    });
    return text === null ? null : absolutise(JSON.parse(text) as SeriesSnapshot, dir);
  }

  async function make(
    snapshot: SeriesSnapshot,
    ctx: JobContext,
    reserve?: (bytes: number) => boolean,
  ): Promise<SeriesSnapshot | 'no-space'> {
    const dir = dirOf(snapshot);
    const done = await readDone(dir);
    if (done) {
      return done;
    }
    // The copy's space is taken before the first byte, so a job never fills the disk the spool needs.
    const bytes = snapshot.instances.reduce((n, i) => n + i.size, 0);
    if (reserve && !reserve(bytes)) {
      return 'no-space';
    }
    const tmp = `${dir}.tmp-${String(ctx.jobId)}-${String(ctx.attempt)}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    try {
      let out = snapshot;
      const tctx: JobContext = { ...ctx, workDir: tmp };
      runs++;
      for (const t of o.transforms) {
        out = await t.apply(out, tctx);
      }
      await writeFile(join(tmp, MANIFEST), JSON.stringify(relativise(out, tmp)), { mode: 0o600 });
      await rename(tmp, dir);
      return absolutise(relativise(out, tmp), dir);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  return {
    runs: () => runs,
    async get(snapshot, ctx, reserve) {
      if (o.transforms.length === 0) {
        return snapshot;
      }
      const key = dirOf(snapshot);
      const current = running.get(key);
      if (current) {
        return current;
      }
      const p = make(snapshot, ctx, reserve).finally(() => {
        running.delete(key);
      });
      running.set(key, p);
      return p;
    },
    async discard(seriesId) {
      const names = await readdir(o.workRoot).catch(() => [] as string[]);
      for (const n of names.filter((x) => x.startsWith(prefix(seriesId)) && !x.includes('.tmp-'))) {
        await rm(join(o.workRoot, n), { recursive: true, force: true });
      }
    },
  };
}
