//! The `anonymise` transform: each completed series becomes a verified, de-identified copy before delivery.
// Output goes to the job's work directory; the spool is never edited. Same input + same key give
// the same bytes, so a crashed job is simply re-run. A series that cannot be verified, or whose
// patient has no pseudonym in lookup mode, is held with its reason and never delivered.
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { DaemonError, ErrorCode } from '../../errors.ts';
import { HeaderError } from '../../dicom/elements.ts';
import { ScriptRuntimeError } from './dicomedit/errors.ts';
import { parsePart10Header } from '../../dicom/part10.ts';
import type { ComponentContext, JobContext, SeriesSnapshot, Transform } from '../../contracts/component.ts';
import type { PseudonymLedger } from '../../contracts/pseudonyms.ts';
import { createIoThreads } from '../../dicom/io-thread.ts';
import { settingsFor, type AnonymiseConfig } from './config.ts';
import { loadOrCreateKey, type ProjectKey } from './keys.ts';
import type { UnitOfWork } from '../../contracts/unit-of-work.ts';
import { anonymiseSeries } from './series.ts';
import { InstanceReadError, type ScriptRunner, type SeriesInput } from './series-types.ts';

export interface AnonymiseDeps {
  readonly ledger: PseudonymLedger;
  /** The ledger's unit of work: a series' labels are assigned in one. */
  readonly uow: UnitOfWork;
  readonly keysDir: string;
  /** Loads (and caches) the DicomEdit 6 script of a file; scripts are validated at config load. */
  readonly script: (file: string) => ScriptRunner;
  /** The project of a series that carries none (the hospital project, route.hospitalProject). */
  readonly defaultProject: string;
}

/** A spool file's dataset offset and syntax, from its File Meta Information. */
async function spoolInput(path: string, size: number): Promise<SeriesInput> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const meta = parsePart10Header(head.subarray(0, bytesRead));
    if (!meta) {
      throw new HeaderError('Spool file has no File Meta Information.');
    }
    return {
      path,
      datasetOffset: meta.datasetOffset,
      transferSyntaxUid: meta.transferSyntaxUid,
      size,
      sopInstanceUid: meta.sopInstanceUid,
      sopClassUid: meta.sopClassUid,
    };
  } finally {
    await fh.close();
  }
}

export function create(cfg: AnonymiseConfig, ctx: ComponentContext, deps: AnonymiseDeps): Transform {
  const keys = new Map<string, Promise<ProjectKey>>();
  // Files are read and written on threads of the transform's own (a thread per series in progress).
  const io = createIoThreads();
  const keyFor = (project: string): Promise<ProjectKey> => {
    let k = keys.get(project);
    if (!k) {
      k = loadOrCreateKey(deps.keysDir, project).then(({ key, created }) => {
        if (created) {
          ctx.log.warn(
            { project, keyId: key.keyId },
            'Generated a new project key; back up the keys directory with the database.',
          );
        }
        return key;
      });
      k.catch(() => keys.delete(project));
      keys.set(project, k);
    }
    return k;
  };

  return {
    type: 'anonymise',
    id: 'anonymise',
    // Keys are read (or created) per project at first use; there is nothing to acquire up front.
    start: () => Promise.resolve(),
    // The file threads of series in progress; the worker has stopped before this runs.
    stop: () => io.close(),
    ready: () => ({ ready: true }),
    describe: () => ({
      profile: cfg.profile,
      projects: Object.keys(cfg.projects).length,
      keysDir: deps.keysDir,
    }),
    async apply(series: SeriesSnapshot, job: JobContext): Promise<SeriesSnapshot> {
      const started = ctx.clock.now();
      const project = series.project ?? deps.defaultProject;
      const settings = settingsFor(cfg, project);
      let key: ProjectKey;
      try {
        key = await keyFor(project);
      } catch (err) {
        throw new DaemonError(
          ErrorCode.ANON_KEY,
          `The key of project ${project} cannot be read or created (${(err as Error).message}).`,
          { stage: 'transforming', retryable: true, cause: err },
        );
      }
      const outDir = join(job.workDir, 'anonymised');
      await mkdir(outDir, { recursive: true, mode: 0o700 });
      let outcome;
      try {
        const inputs = await Promise.all(series.instances.map((i) => spoolInput(i.path, i.size)));
        outcome = await anonymiseSeries(
          inputs,
          outDir,
          {
            settings,
            key,
            ledger: deps.ledger,
            uow: deps.uow,
            now: () => ctx.clock.now(),
            sessionStudyUid: series.sessionStudyUid,
            script: settings.script ? deps.script(settings.script) : null,
            io,
          },
          job.signal,
        );
      } catch (err) {
        if (err instanceof ScriptRuntimeError) {
          throw new DaemonError(
            ErrorCode.ANON_SCRIPT,
            `The DicomEdit script of project ${project} failed at ${err.message}; the series is held.`,
            { stage: 'transforming', retryable: false, cause: err },
          );
        }
        if (err instanceof HeaderError) {
          const which =
            err instanceof InstanceReadError
              ? ` (instance id ${String(series.instances[err.index]?.instanceId ?? '?')}, ${String(err.index + 1)} of ${String(series.instances.length)})`
              : '';
          throw new DaemonError(
            ErrorCode.ANON_UNREADABLE,
            `An instance${which} could not be parsed for de-identification (${err.message}); the series is held.`,
            { stage: 'transforming', retryable: false, cause: err },
          );
        }
        throw err;
      }
      if (outcome.kind === 'held') {
        throw new DaemonError(
          outcome.cause === 'identity' ? ErrorCode.ANON_IDENTITY : ErrorCode.ANON_HELD,
          outcome.reason,
          { stage: 'transforming', retryable: false },
        );
      }
      if (outcome.kind === 'failed') {
        throw new DaemonError(
          ErrorCode.ANON_VERIFY,
          `${outcome.reason} The series is held and nothing was delivered.`,
          { stage: 'transforming', retryable: false },
        );
      }
      const r = outcome.report;
      ctx.events.emit('series.anonymised', {
        seriesId: series.seriesId,
        project,
        profile: r.profile,
        edition: r.edition,
        keyId: r.keyId,
        instances: r.instances,
        uidsMapped: r.uidsMapped,
        invalidDates: r.invalidDates,
        durationMs: ctx.clock.now() - started,
      });
      job.log.debug({ counts: r.counts }, 'Series de-identified.');
      return Object.freeze({
        ...series,
        studyInstanceUid: outcome.studyUid,
        seriesInstanceUid: outcome.seriesUid,
        project,
        labels: outcome.labels,
        instances: Object.freeze(
          series.instances.map((inst, i) => {
            const o = outcome.instances[i];
            if (!o) {
              throw new DaemonError(ErrorCode.JOB_UNEXPECTED, 'De-identified series lost an instance.', {
                stage: 'transforming',
                retryable: false,
              });
            }
            return Object.freeze({
              ...inst,
              path: o.path,
              size: o.size,
              sopInstanceUid: o.sopInstanceUid,
              sopClassUid: o.sopClassUid,
            });
          }),
        ),
      });
    },
  };
}
