//! The intake: turns arriving dataset bytes into a durable spool file plus a committed row.
// Order (STYLE §3.7): pre-created durable slot → write → fsync → header check → COMMIT → ack.
// A failure at any step answers a failure status and leaves no half-written file behind.
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { buildPart10Header } from '../dicom/part10.ts';
import { HeaderError } from '../dicom/elements.ts';
import { EndOfData } from '../dicom/byte-source.ts';
import { requiresPixelData } from '../dicom/sop-class.ts';
import { DaemonError, ErrorCode, describeError } from '../errors.ts';
import { isSafeUid, type Layout } from './layout.ts';
import type { SlotPool } from './slots.ts';
import { createSpoolWriter, type ReserveSpace, type SpooledFile } from './spool-writer.ts';
import type { Admission, IncomingInstance, IncomingMeta, IngestResult } from '../contracts/intake.ts';
import type { InstanceRecord, InstanceStore, RecordOutcome } from '../store/sqlite/instances.ts';
import type { AssociationStore } from '../store/sqlite/associations.ts';
import type { LookupDigest } from '../store/sqlite/find-index.ts';
import type { Header } from '../dicom/read.ts';
import type { Clock } from '../clock.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';

export interface IntakeDeps {
  readonly layout: Layout;
  readonly slots: SlotPool;
  readonly instances: InstanceStore;
  readonly associations: AssociationStore;
  readonly clock: Clock;
  readonly events: DaemonEvents;
  readonly log: Logger;
  readonly admission: () => Admission;
  /** Bytes beyond which an instance is refused (0xA700) and no longer written to disk. */
  readonly maxInstanceBytes: number;
  /** Keyed digests of the header's PatientID and AccessionNumber, stored for find; none when absent. */
  readonly lookupDigests?: (h: Header) => readonly LookupDigest[];
  /** Takes free space in the spool before an instance is written (absent: no reservations). */
  readonly reserve?: ReserveSpace;
  /** Called after a commit that created a new series batch or stored an instance. */
  readonly onCommitted?: (o: RecordOutcome) => void;
}

const fail = (code: ErrorCode, retryable: boolean, message: string): IngestResult => ({
  ok: false,
  code,
  retryable,
  message,
});

/** Creates the `begin` half of the Intake contract (associations are handled by the daemon). */
export function createIntake(d: IntakeDeps): { begin: (meta: IncomingMeta) => IncomingInstance } {
  // Group commit: instances whose files are fsynced while a commit runs wait for the next turn of
  // the event loop and are committed together, one WAL fsync for all (synchronous=FULL still holds
  // for each: nobody is answered before the transaction holding its row has committed).
  const queued: { rec: InstanceRecord; resolve: (o: RecordOutcome) => void; reject: (e: unknown) => void }[] = [];
  let flushScheduled = false;
  const MAX_GROUP = 256;
  function flush(): void {
    flushScheduled = false;
    const group = queued.splice(0, MAX_GROUP);
    if (queued.length) {
      flushScheduled = true;
      setImmediate(flush);
    }
    let results: (RecordOutcome | Error)[];
    try {
      results = d.instances.recordMany(group.map((g) => g.rec));
    } catch (err) {
      for (const g of group) {
        g.reject(err);
      }
      return;
    }
    results.forEach((r, i) => {
      const g = group[i];
      if (!g) {
        return;
      }
      if (r instanceof Error) {
        g.reject(r);
      } else {
        g.resolve(r);
      }
    });
  }
  function recordGrouped(rec: InstanceRecord): Promise<RecordOutcome> {
    return new Promise((resolve, reject) => {
      queued.push({ rec, resolve, reject });
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    });
  }

  function begin(meta: IncomingMeta): IncomingInstance {
    const header = buildPart10Header({
      sopClassUid: meta.sopClassUid,
      sopInstanceUid: meta.sopInstanceUid,
      transferSyntaxUid: meta.transferSyntaxUid,
      sourceAeTitle: meta.callingAe,
    });
    const file = createSpoolWriter(d.slots, header, meta.transferSyntaxUid, d.reserve);
    const hash = createHash('sha256');
    let datasetBytes = 0;
    let tooLarge = false;
    let settled = false;

    async function finish(): Promise<IngestResult> {
      if (settled) {
        return fail(ErrorCode.SPOOL_WRITE, true, 'Instance already finished.');
      }
      settled = true;
      if (tooLarge) {
        await file.discard();
        return fail(ErrorCode.INSTANCE_TOO_LARGE, false, `Instance exceeds ${String(d.maxInstanceBytes)} bytes.`);
      }
      const admission = d.admission();
      if (!admission.ok) {
        await file.discard();
        return fail(admission.code, true, admission.message);
      }
      let spooled: SpooledFile;
      try {
        spooled = await file.close();
      } catch (err) {
        await file.discard();
        if (err instanceof DaemonError) {
          return fail(err.code, err.retryable, err.message);
        }
        if (err instanceof HeaderError || err instanceof EndOfData) {
          return fail(ErrorCode.DICOM_UNPARSABLE, false, `Dataset cannot be parsed: ${err.message}`);
        }
        const code = (err as NodeJS.ErrnoException).code === 'ENOSPC' ? ErrorCode.SPOOL_FULL : ErrorCode.SPOOL_WRITE;
        d.log.error({ err, code }, 'Writing an instance to the spool failed.');
        return fail(code, true, describeError(err));
      }
      try {
        return await commit(meta, spooled, hash.digest('hex'), header.length + datasetBytes);
      } catch (err) {
        await rm(spooled.abs, { force: true });
        if (err instanceof DaemonError) {
          return fail(err.code, err.retryable, err.message);
        }
        d.log.error({ err }, 'Committing an instance failed.');
        return fail(ErrorCode.DB_WRITE, true, describeError(err));
      }
    }

    return {
      write(chunk) {
        if (settled) {
          return true;
        }
        datasetBytes += chunk.length;
        if (datasetBytes > d.maxInstanceBytes) {
          tooLarge = true; // keep draining the network, stop writing to disk
          return true;
        }
        hash.update(chunk);
        return file.write(chunk);
      },
      drained: () => file.drained(),
      finish,
      async abort() {
        if (settled) {
          return;
        }
        settled = true;
        await file.discard();
      },
      get bytesWritten() {
        return datasetBytes;
      },
    };
  }

  function checkHeader(meta: IncomingMeta, spooled: SpooledFile): { study: string; series: string } {
    const h = spooled.header;
    const { StudyInstanceUID: study, SeriesInstanceUID: series } = h;
    if (!study || !series || !isSafeUid(study) || !isSafeUid(series)) {
      throw new DaemonError(ErrorCode.DICOM_MISSING_UID, 'Study or Series Instance UID missing or invalid.', {
        stage: 'receiving',
        retryable: false,
      });
    }
    if (
      (h.SOPInstanceUID && h.SOPInstanceUID !== meta.sopInstanceUid) ||
      (h.SOPClassUID && h.SOPClassUID !== meta.sopClassUid)
    ) {
      // A C-STORE names the instance in its request; a file names it in its File Meta Information.
      const against =
        meta.source === 'dimse'
          ? 'the C-STORE request'
          : "the file's meta information (MediaStorageSOPClassUID/MediaStorageSOPInstanceUID)";
      throw new DaemonError(
        ErrorCode.DICOM_UID_MISMATCH,
        `SOP Class/Instance UID in the dataset differ from ${against}.`,
        { stage: 'receiving', retryable: false },
      );
    }
    if (!spooled.pixelData && requiresPixelData(meta.sopClassUid)) {
      throw new DaemonError(
        ErrorCode.DICOM_NO_PIXEL_DATA,
        'An image of this SOP class without pixel data (cut short at an element boundary?).',
        { stage: 'receiving', retryable: false },
      );
    }
    if (!isSafeUid(meta.sopInstanceUid)) {
      throw new DaemonError(ErrorCode.DICOM_MISSING_UID, 'SOP Instance UID is not a valid UID.', {
        stage: 'receiving',
        retryable: false,
      });
    }
    return { study, series };
  }

  async function commit(meta: IncomingMeta, spooled: SpooledFile, sha: string, size: number): Promise<IngestResult> {
    const { study, series } = checkHeader(meta, spooled);
    const h = spooled.header;
    const at = d.clock.now();
    const associationId = d.associations.idOf(meta.associationUid) ?? null;
    const n = h.InstanceNumber ? Number.parseInt(h.InstanceNumber, 10) : NaN;
    let outcome: RecordOutcome;
    try {
      outcome = await recordGrouped({
        studyUid: study,
        seriesUid: series,
        sopInstanceUid: meta.sopInstanceUid,
        sopClassUid: meta.sopClassUid,
        transferSyntaxUid: meta.transferSyntaxUid,
        instanceNumber: Number.isFinite(n) ? n : null,
        modality: h.Modality ?? null,
        path: spooled.rel,
        size,
        datasetSha256: sha,
        source: meta.source,
        associationId,
        callingAe: meta.callingAe,
        calledAe: meta.calledAe,
        peerIp: meta.peerIp,
        origin: meta.origin ?? null,
        at,
        lookup: d.lookupDigests?.(h),
      });
    } catch (err) {
      throw new DaemonError(ErrorCode.DB_WRITE, 'The instance row could not be committed.', {
        stage: 'receiving',
        retryable: true,
        cause: err,
      });
    }
    if (outcome.kind === 'duplicate') {
      await rm(spooled.abs, { force: true }); // an identical copy is already held: no second one
    } else {
      if (outcome.kind === 'replaced' && outcome.oldPath) {
        await rm(join(d.layout.spoolDir, outcome.oldPath), { force: true });
      }
      if (outcome.newBatch) {
        d.events.emit('series.state', {
          seriesId: outcome.seriesId,
          from: null,
          to: 'receiving',
          batch: outcome.batch,
        });
      }
    }
    d.events.emit('instance.received', {
      source: meta.source,
      seriesId: outcome.seriesId,
      instanceId: outcome.instanceId,
      bytes: outcome.kind === 'duplicate' ? 0 : size,
      outcome: outcome.kind,
    });
    d.onCommitted?.(outcome);
    return { ok: true, instanceId: outcome.instanceId, outcome: outcome.kind };
  }

  return { begin };
}
