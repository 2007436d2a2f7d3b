//! A minimal C-MOVE destination for pull tests: the gateway's own C-STORE SCP over an in-memory intake.
// Until the pull is wired into the daemon, tests need somewhere for retrieved instances to land
// that can say which arrived per study and series; this reuses the real SCP (src/sources/dimse)
// and replaces only the spool with memory. The same store answers C-GET sub-operations.
import { readHeaderPrefix } from '../../src/dicom/read.ts';
import type { IncomingStore, StoreHandler, StoreMeta } from '../../src/dicom/association/incoming-store.ts';
import { createEvents } from '../../src/events.ts';
import { createLogger } from '../../src/log.ts';
import type { IngestResult } from '../../src/contracts/component.ts';
import type { Intake } from '../../src/contracts/source.ts';
import { dimseConfig } from '../../src/sources/dimse/config.ts';
import { create as createDimse } from '../../src/sources/dimse/index.ts';
import type { Arrivals } from '../../src/sources/pull/ports.ts';
import { systemClock } from '../../src/clock.ts';

export interface TestReceiver {
  readonly port: number;
  readonly aeTitle: string;
  /** Distinct instances received, per study → series → SOP Instance UIDs. */
  readonly studies: ReadonlyMap<string, ReadonlyMap<string, ReadonlySet<string>>>;
  /** Every instance received, duplicates included. */
  readonly received: () => number;
  /** How often each SOP Instance UID was received. */
  readonly timesReceived: ReadonlyMap<string, number>;
  readonly arrivals: Arrivals;
  /** For C-GET: the same store. */
  readonly store: StoreHandler;
  /** Associations opened to the C-STORE SCP so far. */
  readonly associations: () => number;
  stop(): Promise<void>;
}

export async function startTestReceiver(
  o: {
    aeTitle?: string;
    /** Each instance takes this long to store (a slow disk). */ delayMs?: number;
    /** Refuse instances (C-STORE 0xA700). */ refuse?: () => boolean;
  } = {},
): Promise<TestReceiver> {
  const aeTitle = o.aeTitle ?? 'GATEWAY';
  const studies = new Map<string, Map<string, Set<string>>>();
  let received = 0;
  let associations = 0;
  const timesReceived = new Map<string, number>();

  function incoming(transferSyntaxUid: string): IncomingStore & { finishIngest: () => Promise<IngestResult> } {
    const parts: Buffer[] = [];
    const finishIngest = async (): Promise<IngestResult> => {
      if (o.delayMs) {
        await new Promise((r) => setTimeout(r, o.delayMs));
      }
      if (o.refuse?.()) {
        return { ok: false, code: 'ERR_SPOOL_FULL', retryable: true, message: 'refused by the test' };
      }
      const h = await readHeaderPrefix(Buffer.concat(parts), transferSyntaxUid, true, [
        'StudyInstanceUID',
        'SeriesInstanceUID',
        'SOPInstanceUID',
      ]);
      const study = h?.StudyInstanceUID;
      const series = h?.SeriesInstanceUID;
      const sop = h?.SOPInstanceUID;
      if (!study || !series || !sop) {
        return { ok: false, code: 'ERR_DICOM_MISSING_UID', retryable: false, message: 'missing UIDs' };
      }
      let byStudy = studies.get(study);
      if (!byStudy) {
        studies.set(study, (byStudy = new Map<string, Set<string>>()));
      }
      let bySeries = byStudy.get(series);
      if (!bySeries) {
        byStudy.set(series, (bySeries = new Set()));
      }
      bySeries.add(sop);
      received++;
      timesReceived.set(sop, (timesReceived.get(sop) ?? 0) + 1);
      return { ok: true, instanceId: received, outcome: 'stored' };
    };
    return {
      write: (c) => {
        parts.push(Buffer.from(c));
        return true;
      },
      drained: () => Promise.resolve(),
      finishIngest,
      finish: async () => {
        const r = await finishIngest();
        return r.ok ? { ok: true } : { ok: false, retryable: r.retryable, message: r.message };
      },
      abort: () => Promise.resolve(),
    };
  }

  const intake: Intake = {
    admission: () => Promise.resolve({ ok: true }),
    openAssociation: () => Promise.resolve(`assoc-${String(++associations)}`),
    closeAssociation: () => undefined,
    begin: (meta) => {
      const i = incoming(meta.transferSyntaxUid);
      return {
        write: (c) => i.write(c),
        drained: () => i.drained(),
        finish: () => i.finishIngest(),
        abort: () => i.abort(),
        get bytesWritten() {
          return 0;
        },
      };
    },
    reserveSpace: () => null,
    space: () => ({ freeBytes: 1e12, reservedBytes: 0, totalBytes: 1e12, availableBytes: 1e12, minFreeBytes: 0 }),
  };
  const source = createDimse(dimseConfig.parse({ host: '127.0.0.1', port: 0, aeTitle }), {
    log: createLogger('silent'),
    clock: systemClock,
    events: createEvents(),
  });
  await source.start(intake);
  const port = source.port() ?? 0;
  return {
    port,
    aeTitle,
    studies,
    timesReceived,
    received: () => received,
    associations: () => associations,
    arrivals: {
      received(studyInstanceUid) {
        const m = new Map<string, number>();
        for (const [series, sops] of studies.get(studyInstanceUid) ?? []) {
          m.set(series, sops.size);
        }
        return Promise.resolve(m);
      },
    },
    store: (meta: StoreMeta) => incoming(meta.transferSyntaxUid),
    stop: () => source.stop(),
  };
}
