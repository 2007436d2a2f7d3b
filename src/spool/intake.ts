//! The intake: turns arriving dataset bytes into a durable spool file plus a committed row.
// Order (ADR 0013, one fsync on the acknowledgement path): pre-created durable slot → write →
// { fsync of the file ∥ whole-dataset check → COMMIT of the row marked not durable } → ack once
// both have completed → the row marked durable in a later transaction. A crash in between leaves a
// row marked not durable, which start-up reconciliation checks (size, SHA-256) before anything is
// routed. A failure at any step answers a failure status and leaves no half-written file behind.
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { buildPart10Header } from '../dicom/part10.ts';
import { HeaderError } from '../dicom/elements.ts';
import { EndOfData } from '../dicom/byte-source.ts';
import { DaemonError, ErrorCode, describeError } from '../errors.ts';
import type { Layout } from './layout.ts';
import type { SlotPool } from './slots.ts';
import { createGroupCommit } from './group-commit.ts';
import { checkHeader } from './header-check.ts';
import { createSpoolWriter, type ReserveSpace, type SpooledFile } from './spool-writer.ts';
import type { Admission, IncomingInstance, IncomingMeta, IngestResult } from '../contracts/intake.ts';
import { NeedsDurableFile, type InstanceRecord, type InstanceStore, type RecordOutcome } from '../store/instances.ts';
import type { AssociationStore } from '../store/associations.ts';
import type { LookupDigest } from '../store/find-index.ts';
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
  readonly admission: () => Promise<Admission>;
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

/**
 * Creates the `begin` half of the Intake contract (associations are handled by the daemon), and
 * `flushDurable`, which writes the durable marks still waiting for a group commit: called before
 * the database closes, so a batch does not wait for the next start-up to complete.
 */
export function createIntake(d: IntakeDeps): {
  begin: (meta: IncomingMeta) => IncomingInstance;
  flushDurable: () => Promise<void>;
} {
  const { recordGrouped, markLater, markNow } = createGroupCommit(d.instances, d.log);
  // Rows committed whose file's fsync still runs: a duplicate of one is answered only after it.
  const inFlight = new Map<number, Promise<void>>();

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
      const admission = await d.admission();
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
        await spooled.durable.catch(() => undefined);
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

  async function commit(meta: IncomingMeta, spooled: SpooledFile, sha: string, size: number): Promise<IngestResult> {
    const { study, series } = checkHeader(meta, spooled);
    const h = spooled.header;
    const at = d.clock.now();
    const associationId = (await d.associations.idOf(meta.associationUid)) ?? null;
    const n = h.InstanceNumber ? Number.parseInt(h.InstanceNumber, 10) : NaN;
    const rec: InstanceRecord = {
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
      durable: false,
    };
    let outcome: RecordOutcome;
    try {
      try {
        outcome = await recordGrouped(rec);
      } catch (err) {
        if (!(err instanceof NeedsDurableFile)) {
          throw err;
        }
        // An in-place replacement of an acknowledged version: only once this file is durable.
        await spooled.durable;
        outcome = await recordGrouped({ ...rec, durable: true });
      }
    } catch (err) {
      if (err instanceof DaemonError) {
        throw err;
      }
      const fsyncFailed = await spooled.durable.then(
        () => false,
        () => true,
      );
      if (fsyncFailed) {
        throw err;
      }
      throw new DaemonError(ErrorCode.DB_WRITE, 'The instance row could not be committed.', {
        stage: 'receiving',
        retryable: true,
        cause: err,
      });
    }
    if (outcome.kind === 'duplicate') {
      await spooled.durable.catch(() => undefined);
      await rm(spooled.abs, { force: true }); // an identical copy is already held: no second one
      await inFlight.get(outcome.instanceId); // ... answered once that copy is durable itself
    } else {
      const durable = spooled.durable;
      inFlight.set(
        outcome.instanceId,
        durable.catch(() => undefined),
      );
      try {
        await durable;
      } catch (err) {
        // The fsync failed: the row goes (it was never acknowledged), the sender is told to retry.
        try {
          await d.instances.dropNotDurable(outcome.instanceId, d.clock.now());
        } catch (dropErr) {
          // Its batch stays held open (durable = 0); start-up reconciliation removes it.
          d.log.error({ err: dropErr }, 'Removing the row of an instance whose fsync failed failed.');
        }
        const code = (err as NodeJS.ErrnoException).code === 'ENOSPC' ? ErrorCode.SPOOL_FULL : ErrorCode.SPOOL_WRITE;
        throw new DaemonError(code, `The spool file could not be made durable: ${describeError(err)}`, {
          stage: 'receiving',
          retryable: true,
          cause: err,
        });
      } finally {
        inFlight.delete(outcome.instanceId);
      }
      markLater(outcome.instanceId);
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

  return { begin, flushDurable: markNow };
}
