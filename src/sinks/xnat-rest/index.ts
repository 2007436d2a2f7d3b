//! Implementation of the `xnat-rest` sink: one streamed DICOM-zip per series to XNAT's import service.
// The labels chosen by anonymise go in as PROJECT_ID / SUBJECT_ID / EXPT_LABEL, so XNAT files the
// session exactly there and never in "Unassigned". overwrite=append merges later batches of a
// series into its session; a re-send of files XNAT already holds is recognised and verified.
import { DaemonError, ErrorCode } from '../../errors.ts';
import type { ComponentContext, Delivery, JobContext, SeriesSnapshot, Sink } from '../../contracts/component.ts';
import { createXnatClient, XnatAuthError, type XnatClient } from '../../xnat/client.ts';
import { HttpNetworkError } from '../../xnat/http.ts';
import { createVerifier } from '../../xnat/verify.ts';
import { missingFile, verifiedDelivery } from '../../xnat/verified-delivery.ts';
import { attachScan } from './attach-scan.ts';
import { classifyImport } from './classify.ts';
import { discardRefusedRows } from './refused-row.ts';
import { createSessionQueue } from './session-queue.ts';
import type { XnatRestSinkConfig } from './config.ts';
import { zipSeries } from './zip.ts';
import { sinkLifecycle } from '../../contracts/sink-lifecycle.ts';

/** A project found writable is not asked about again for this long. */
const PROJECT_OK_TTL_MS = 60_000;

export interface XnatRestDeps {
  /** The target projects this sink serves, checked by the healthcheck. */
  readonly projects: readonly string[];
  /** A client to use instead of one of its own (shared with the C-STORE sinks' lookups). */
  readonly client?: XnatClient;
}

function networkRetry(err: HttpNetworkError): Delivery {
  if (err.code === 'ABORT_ERR') {
    return { outcome: 'retry', reason: 'Delivery was interrupted.' };
  }
  return {
    outcome: 'retry',
    code: ErrorCode.XNAT_UNAVAILABLE,
    sinkFault: 'unavailable',
    reason: `${err.message} (${err.code})`,
  };
}

/** Credentials refused after a fresh login: the series is held (queued) and the sink's circuit opens. */
function authHold(message: string): Delivery {
  return { outcome: 'retry', code: ErrorCode.XNAT_AUTH, sinkFault: 'auth', reason: message, detail: { message } };
}

/** XNAT would not merge a session of another type (an RT-only upload into its CT's session). */
const MODALITY_CONFLICT = /Invalid modification of session modality/i;

function conflict(message: string, sent: number): Delivery {
  return {
    outcome: 'rejected',
    code: ErrorCode.XNAT_CONFLICT,
    reason: message,
    detail: { xnatStatus: 'CONFLICT', message, sent },
  };
}

export function create(config: XnatRestSinkConfig, ctx: ComponentContext, deps: XnatRestDeps): Sink {
  const client = deps.client ?? createXnatClient(config, ctx.log);
  const verify = createVerifier(client);
  const projectOk = new Map<string, number>();

  async function checkProject(project: string, signal: AbortSignal): Promise<Delivery | null> {
    const at = projectOk.get(project);
    if (at !== undefined && ctx.clock.now() - at < PROJECT_OK_TTL_MS) {
      return null;
    }
    const c = await client.checkProject(project, signal);
    if (!c.ok) {
      return { outcome: 'rejected', code: ErrorCode.XNAT_PROJECT, reason: c.message, detail: { message: c.message } };
    }
    projectOk.set(project, ctx.clock.now());
    return null;
  }

  const verified = (series: SeriesSnapshot, receipt: string, job: JobContext): Promise<Delivery> =>
    verifiedDelivery(
      config.verify ? verify : undefined,
      series,
      receipt,
      { uri: receipt, sent: series.instances.length },
      job,
    );

  /** The series as a new scan of its study's archived session, when XNAT refused to merge it by type. */
  async function attached(series: SeriesSnapshot, xnatMessage: string, job: JobContext): Promise<Delivery> {
    const r = await attachScan(client, series, { uploadTimeoutMs: config.uploadTimeoutMs, signal: job.signal });
    if (r.ok === 'retry') {
      return { outcome: 'retry', code: ErrorCode.XNAT_UNAVAILABLE, sinkFault: 'unavailable', reason: r.message };
    }
    if (!r.ok) {
      return conflict(`${xnatMessage} (${r.message})`, series.instances.length);
    }
    job.log.debug({ uri: r.uri }, 'Series added as a scan of its archived session.');
    // The refused upload's copy would otherwise be archived with the next series of this session.
    if (series.labels) {
      await discardRefusedRows(client, series.labels, series.studyInstanceUid, job.signal, job.log);
    }
    return verified(series, r.uri, job);
  }

  /**
   * XNAT refused to archive the upload for "matching files". Its prearchive keeps the refused copy
   * (CONFLICT) and would file the next upload of this session into it, so the copy is removed
   * either way. When XNAT does not hold the series after all, the copy held a stale file of
   * something already archived (a refused upload of an earlier gateway version, or one this upload
   * joined before it could be removed): the series is sent once more, into a fresh row.
   */
  async function presentOrResent(
    series: SeriesSnapshot,
    message: string,
    job: JobContext,
    resent: boolean,
  ): Promise<Delivery> {
    const d = await verified(series, `${client.origin}: already held (${message})`, job);
    const removed = series.labels
      ? await discardRefusedRows(client, series.labels, series.studyInstanceUid, job.signal, job.log)
      : 0;
    if (d.outcome === 'delivered') {
      return { ...d, receipt: `already in XNAT: ${d.detail?.uri ?? series.labels?.session ?? ''}` };
    }
    if (d.outcome === 'rejected' && removed > 0 && !resent) {
      job.log.info({ removed }, "XNAT's prearchive held a stale copy of this session; the series is sent again.");
      return deliver(series, job, true);
    }
    return d;
  }

  const uploads = createSessionQueue();

  async function deliver(series: SeriesSnapshot, job: JobContext, resent = false): Promise<Delivery> {
    const l = series.labels;
    if (!l) {
      return {
        outcome: 'rejected',
        code: ErrorCode.CONFIG_INVALID,
        reason: 'The series has no XNAT labels: the anonymise transform must run before the xnat-rest sink.',
      };
    }
    const missing = await missingFile(series);
    if (missing) {
      return missing;
    }
    try {
      const refused = await checkProject(l.project, job.signal);
      if (refused) {
        return refused;
      }
      const res = await client.call('data/services/import', job.signal, {
        method: 'POST',
        contentType: 'application/zip',
        idleTimeoutMs: config.uploadTimeoutMs,
        body: () => zipSeries(series),
        query: {
          'import-handler': 'DICOM-zip',
          inbody: 'true',
          PROJECT_ID: l.project,
          SUBJECT_ID: l.subject,
          EXPT_LABEL: l.session,
          overwrite: 'append',
          dest: `/${config.dest}/projects/${l.project}`,
        },
      });
      const o = classifyImport(res);
      job.log.debug({ status: res.status, kind: o.kind }, 'XNAT answered the import.');
      switch (o.kind) {
        case 'ok':
          return await verified(series, o.uris.join(' '), job);
        case 'present':
          return await presentOrResent(series, o.message, job, resent);
        case 'conflict':
          projectOk.delete(l.project);
          if (MODALITY_CONFLICT.test(o.message) && config.dest === 'archive') {
            return await attached(series, o.message, job);
          }
          return conflict(o.message, series.instances.length);
        case 'auth':
          return authHold(o.message);
        case 'rejected':
          return {
            outcome: 'rejected',
            code: ErrorCode.XNAT_REJECTED,
            reason: o.message,
            detail: { message: o.message },
          };
        case 'retry':
          return {
            outcome: 'retry',
            code: ErrorCode.XNAT_UNAVAILABLE,
            sinkFault: 'unavailable',
            reason: o.message,
            ...(o.afterMs === undefined ? {} : { afterMs: o.afterMs }),
          };
      }
    } catch (err) {
      if (err instanceof XnatAuthError) {
        return authHold(err.message);
      }
      if (err instanceof HttpNetworkError) {
        return networkRetry(err);
      }
      throw err;
    }
  }

  return sinkLifecycle(
    {
      type: 'xnat-rest',
      id: 'xnat-rest',
      describe: () => ({ url: client.origin, projects: deps.projects.join(', ') }),
      // `resent` is the sink's own second try, never the worker's. One upload per session at a time.
      deliver: (series: SeriesSnapshot, job: JobContext) =>
        series.labels
          ? uploads.run(`${series.labels.project}/${series.labels.subject}/${series.labels.session}`, () =>
              deliver(series, job),
            )
          : deliver(series, job),
      async healthcheck(signal: AbortSignal) {
        try {
          await client.login(signal);
          for (const p of deps.projects) {
            const c = await client.checkProject(p, signal);
            if (!c.ok) {
              throw new DaemonError(ErrorCode.XNAT_PROJECT, c.message, { stage: 'starting', retryable: false });
            }
          }
        } catch (err) {
          if (err instanceof DaemonError) {
            throw err;
          }
          if (err instanceof XnatAuthError) {
            throw new DaemonError(ErrorCode.XNAT_AUTH, err.message, {
              stage: 'starting',
              retryable: false,
              cause: err,
            });
          }
          const why = err instanceof Error ? err.message : String(err);
          throw new DaemonError(ErrorCode.XNAT_UNAVAILABLE, `XNAT at ${client.origin} is not reachable: ${why}`, {
            stage: 'starting',
            retryable: true,
            cause: err,
          });
        }
        ctx.log.debug({ origin: client.origin, projects: deps.projects }, 'XNAT REST sink is ready.');
      },
    },
    ctx,
  );
}
