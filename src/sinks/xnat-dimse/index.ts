//! Implementation of the `xnat-dimse` sink: C-STORE of each series to XNAT's DICOM receiver on one association.
// XNAT files what it receives by the routing the anonymise transform wrote into every file
// (PatientComments "Project: P Subject: S Session: E", reference/xnat.md §2a); this sink sends the
// stored bytes unchanged. Re-delivery is safe: XNAT overwrites an instance re-sent with the same
// SOP Instance UID in the same session, so a series interrupted by a crash or a retry is simply
// sent again whole.
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION } from '../../dicom/part10.ts';
import { HeaderError } from '../../dicom/elements.ts';
import { TS } from '../../dicom/transfer-syntax.ts';
import { DaemonError, ErrorCode } from '../../errors.ts';
import type { ComponentContext, Delivery, JobContext, SeriesSnapshot, Sink } from '../../contracts/component.ts';
import { missingFile, verifiedDelivery } from '../../xnat/verified-delivery.ts';
import type { VerifySession } from '../../xnat/verify-types.ts';
import { associate, type Association, type AssociationOptions } from '../../dicom/association/store-scu.ts';
import { DimseError } from '../../dicom/association/failure.ts';
import {
  associationFailure,
  createTally,
  describeCounts,
  describeStatus,
  record,
  seriesFailure,
  statusCounts,
  type Tally,
} from './classify.ts';
import { VERIFICATION_SOP_CLASS } from './command.ts';
import type { XnatDimseSinkConfig } from './config.ts';
import { chooseContext, planContexts, type ContextPlan } from './contexts.ts';
import { createChunkRing, echo, store, type StoreItem } from './scu.ts';
import { sinkLifecycle } from '../../contracts/sink-lifecycle.ts';

/** Optional collaborators: `verify` checks, after a clean release, what XNAT built from the series. */
export interface XnatDimseDeps {
  readonly verify?: VerifySession;
}

function errno(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** A failure of our own while an association is open (file gone, cannot transcode), as a Delivery; null: unforeseen. */
function localFailure(err: unknown, where: string): Delivery | null {
  if (err instanceof DaemonError && !err.retryable) {
    return { outcome: 'rejected', code: err.code, reason: err.message };
  }
  if (errno(err) === 'ENOENT') {
    return {
      outcome: 'rejected',
      code: ErrorCode.SERIES_MISSING_FILE,
      reason: 'A spool file of the series disappeared during delivery.',
    };
  }
  if (err instanceof HeaderError) {
    return {
      outcome: 'rejected',
      code: ErrorCode.DIMSE_TRANSFER_SYNTAX,
      reason: `${where} needs Explicit VR Little Endian, and an instance cannot be transcoded: ${err.message}`,
    };
  }
  return null;
}

/** Builds the sink sending to `config.host:config.port`. */
export function create(config: XnatDimseSinkConfig, ctx: ComponentContext, deps: XnatDimseDeps = {}): Sink {
  const where = `${config.calledAe}@${config.host}:${String(config.port)}`;
  const base: Omit<AssociationOptions, 'contexts' | 'signal'> = {
    host: config.host,
    port: config.port,
    calledAe: config.calledAe,
    callingAe: config.callingAe,
    maxPduLength: config.maxPduLength,
    connectTimeoutMs: config.connectTimeoutMs,
    responseTimeoutMs: config.responseTimeoutMs,
    implementationClassUid: IMPLEMENTATION_CLASS_UID,
    implementationVersion: IMPLEMENTATION_VERSION,
  };

  /** Sends the instances of one plan on one association; a Delivery when it ends the series early. */
  async function sendPlan(
    series: SeriesSnapshot,
    plan: ContextPlan,
    job: JobContext,
    tally: Tally,
  ): Promise<Delivery | null> {
    let a: Association;
    try {
      a = await associate({ ...base, contexts: plan.contexts, signal: job.signal });
    } catch (err) {
      if (err instanceof DimseError) {
        return associationFailure(err, where, tally);
      }
      throw err;
    }
    job.log.debug(
      { contexts: plan.contexts.length, accepted: a.accepted.size, maxFragment: a.maxFragment },
      'Association to XNAT accepted.',
    );
    const items: StoreItem[] = [];
    for (const index of plan.instances) {
      const inst = series.instances[index];
      if (!inst) {
        continue;
      }
      const c = chooseContext(plan, a.accepted, a.results, inst);
      if (!c.ok) {
        // Known before anything is sent: refuse the series whole rather than deliver part of it.
        // The verdict is already known; a release that fails changes nothing about it.
        await a.release().catch((err: unknown) => {
          job.log.debug({ err }, 'Release after a refused context failed.');
        });
        const code = c.problem === 'sop-class' ? ErrorCode.DIMSE_ASSOCIATION : ErrorCode.DIMSE_TRANSFER_SYNTAX;
        return {
          outcome: 'rejected',
          code,
          reason: `${where}: ${c.message.replace(/\.$/, '')}; instance ${String(index + 1)} of ${String(series.instances.length)} cannot be sent.`,
          detail: { message: c.message },
        };
      }
      items.push({ ...inst, contextId: c.contextId, transcode: c.transcode });
    }
    const ring = createChunkRing(a.maxFragment);
    let messageId = 0;
    try {
      for (const [k, item] of items.entries()) {
        messageId = (messageId % 0xffff) + 1;
        const rsp = await store(a, ring, item, messageId);
        const verdict = record(tally, plan.instances[k] ?? k, rsp);
        if (verdict !== 'success') {
          job.log.debug(
            {
              sopInstanceUid: item.sopInstanceUid,
              status: describeStatus(rsp.status),
              errorComment: rsp.errorComment,
              verdict,
            },
            'XNAT did not simply accept an instance.',
          );
        }
        // The receiver is short of something: stop now, the whole series goes again later.
        if (verdict === 'retry') {
          break;
        }
      }
      await a.release();
    } catch (err) {
      a.abort(new DimseError('interrupted', 'delivery stopped by a local failure'));
      if (err instanceof DimseError) {
        return associationFailure(err, where, tally);
      }
      const local = localFailure(err, where);
      if (local) {
        return local;
      }
      throw err;
    }
    return null;
  }

  async function deliver(series: SeriesSnapshot, job: JobContext): Promise<Delivery> {
    if (!series.labels) {
      return {
        outcome: 'rejected',
        code: ErrorCode.CONFIG_INVALID,
        reason: 'The series has no XNAT labels: the anonymise transform must run before the xnat-dimse sink.',
      };
    }
    // Check every file first, so a series with a lost file is not half-delivered.
    const missing = await missingFile(series);
    if (missing) {
      return missing;
    }
    const tally = createTally(series.instances.length);
    for (const plan of planContexts(series.instances)) {
      const ended = await sendPlan(series, plan, job, tally);
      if (ended) {
        return ended;
      }
      if (tally.retry) {
        break;
      }
    }
    const failed = seriesFailure(tally, where);
    if (failed) {
      return failed;
    }
    const n = series.instances.length;
    job.log.debug({ instances: n, statuses: statusCounts(tally), labels: series.labels }, 'Series stored in XNAT.');
    const receipt = `dicom://${where}: ${String(n)} instances (${n === 0 ? 'none sent' : describeCounts(tally)})`;
    return verifiedDelivery(deps.verify, series, receipt, { sent: n, statuses: statusCounts(tally) }, job);
  }

  async function healthcheck(signal: AbortSignal): Promise<void> {
    const failed = (message: string, code: ErrorCode, cause?: unknown): DaemonError =>
      new DaemonError(code, `C-ECHO to ${where} failed: ${message}.`, {
        stage: 'starting',
        retryable: code !== ErrorCode.DIMSE_ASSOCIATION,
        cause,
      });
    let a: Association | null = null;
    try {
      a = await associate({
        ...base,
        contexts: [{ id: 1, abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [TS.ExplicitLE, TS.ImplicitLE] }],
        signal,
      });
      if (!a.accepted.has(1)) {
        await a.release();
        throw failed('the receiver does not accept the Verification SOP class', ErrorCode.DIMSE_ASSOCIATION);
      }
      const rsp = await echo(a, 1, 1);
      await a.release();
      if (rsp.status !== 0) {
        throw failed(`it answered ${describeStatus(rsp.status)}`, ErrorCode.DIMSE_REJECTED);
      }
    } catch (err) {
      if (!(err instanceof DimseError)) {
        throw err;
      }
      a?.abort(err);
      const permanent = err.kind === 'rejected' && err.reject?.result === 1;
      throw failed(err.message, permanent ? ErrorCode.DIMSE_ASSOCIATION : ErrorCode.DIMSE_RETRY, err);
    }
    ctx.log.debug({ peer: where }, 'C-ECHO to XNAT succeeded.');
  }

  return sinkLifecycle(
    {
      type: 'xnat-dimse',
      id: 'xnat-dimse',
      describe: () => ({ peer: where, callingAe: config.callingAe, verifies: deps.verify !== undefined }),
      healthcheck,
      deliver,
    },
    ctx,
  );
}
