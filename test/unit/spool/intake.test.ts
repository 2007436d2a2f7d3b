import { createHash } from 'node:crypto';
import fs, { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parsePart10Header } from '../../../src/dicom/part10.ts';
import { ErrorCode } from '../../../src/errors.ts';
import { createEvents, type DaemonEventMap } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import { createAssociationStore } from '../../../src/store/sqlite/associations.ts';
import type { AssociationStore } from '../../../src/store/associations.ts';
import { openDb, type Db } from '../../../src/store/sqlite/db.ts';
import { createInstanceStore } from '../../../src/store/sqlite/instances.ts';
import { type RecordOutcome } from '../../../src/store/instances.ts';
import { createIntake } from '../../../src/spool/intake.ts';
import { layoutFor, type Layout } from '../../../src/spool/layout.ts';
import { createSlotPool, type SlotPool } from '../../../src/spool/slots.ts';
import type { Admission, IncomingInstance, IncomingMeta, IngestResult } from '../../../src/contracts/intake.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-clock.ts';

const PYDICOM_DIR = '/usr/lib/python3/dist-packages/pydicom/data/test_files';

/** A pydicom test file split into what a C-STORE carries: the command's UIDs and the dataset bytes. */
interface Sample {
  readonly meta: { sopClassUid: string; sopInstanceUid: string; transferSyntaxUid: string };
  readonly dataset: Buffer;
}

// rtplan.dcm's File Meta names another SOP Instance UID than its dataset (pydicom shows both); a
// sender such as storescu puts the dataset's in the C-STORE request.
const DATASET_SOP_INSTANCE_UID: Record<string, string> = { 'rtplan.dcm': '1.2.777.777.77.7.7777.7777.20030903150023' };

function sample(name: string): Sample {
  const file = readFileSync(join(PYDICOM_DIR, name));
  const m = parsePart10Header(file);
  if (!m?.sopClassUid || !m.sopInstanceUid) {
    throw new Error(`${name} has no usable File Meta.`);
  }
  return {
    meta: {
      sopClassUid: m.sopClassUid,
      sopInstanceUid: DATASET_SOP_INSTANCE_UID[name] ?? m.sopInstanceUid,
      transferSyntaxUid: m.transferSyntaxUid,
    },
    dataset: Buffer.from(file.subarray(m.datasetOffset)),
  };
}

/** The same instance with different bytes: the last pixel byte flipped. */
function altered(s: Sample): Sample {
  const dataset = Buffer.from(s.dataset);
  dataset[dataset.length - 1] = (dataset[dataset.length - 1] ?? 0) ^ 0xff;
  return { ...s, dataset };
}

/**
 * Every file under `dir`, recursively, relative to it, with its size. The slot pool creates and
 * removes files in the background, so one listed may be gone by its stat: it is no longer there.
 */
function filesUnder(dir: string): { rel: string; size: number }[] {
  if (!existsSync(dir)) {
    return [];
  }
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .flatMap((abs) => {
      const st = statSync(abs, { throwIfNoEntry: false });
      return st ? [{ rel: relative(dir, abs), size: st.size }] : [];
    });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('intake', () => {
  let dir: string;
  let layout: Layout;
  let db: Db;
  let clock: FakeClock;
  let associations: AssociationStore;
  let admission: Admission;
  let associationUid: string;
  let received: DaemonEventMap['instance.received'][];
  let stateEvents: DaemonEventMap['series.state'][];
  let committed: RecordOutcome[];
  let intake: ReturnType<typeof createIntake>;
  let deps: Parameters<typeof createIntake>[0];
  let slots: SlotPool;
  const maxInstanceBytes = 1024 * 1024;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'xg-intake-'));
    layout = layoutFor(dir);
    db = openDb(layout.dbFile);
    // One batch of 64 slots and no background refill (low-water mark 1): file counts stay exact.
    slots = createSlotPool(layout.spoolDir, { batch: 64, low: 1 });
    await slots.prime();
    clock = createFakeClock();
    associations = createAssociationStore(db);
    admission = { ok: true };
    received = [];
    stateEvents = [];
    committed = [];
    const events = createEvents();
    events.on('instance.received', (e) => received.push(e));
    events.on('series.state', (e) => stateEvents.push(e));
    deps = {
      layout,
      slots,
      instances: createInstanceStore(db),
      associations,
      clock,
      events,
      log: createLogger('silent'),
      admission: () => Promise.resolve(admission),
      maxInstanceBytes,
      onCommitted: (o) => committed.push(o),
    };
    intake = createIntake(deps);
    associationUid = (
      await associations.open({
        source: 'dimse',
        callingAe: 'MODALITY',
        calledAe: 'XNAT',
        peerIp: '10.0.0.5',
        at: clock.now(),
      })
    ).uid;
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const metaOf = (s: Sample, o: Partial<IncomingMeta> = {}): IncomingMeta => ({
    source: 'dimse',
    callingAe: 'MODALITY',
    calledAe: 'XNAT',
    peerIp: '10.0.0.5',
    associationUid,
    ...s.meta,
    ...o,
  });

  /** Writes `bytes` in chunks of varying size, honouring back-pressure. */
  async function writeChunks(inc: IncomingInstance, bytes: Buffer): Promise<void> {
    const sizes = [1, 7, 128, 1000, 4096];
    for (let off = 0, i = 0; off < bytes.length; i++) {
      const n = sizes[i % sizes.length] ?? 1;
      if (!inc.write(bytes.subarray(off, off + n))) {
        await inc.drained();
      }
      off += n;
    }
  }

  async function store(s: Sample, o: Partial<IncomingMeta> = {}): Promise<IngestResult> {
    const inc = intake.begin(metaOf(s, o));
    await writeChunks(inc, s.dataset);
    expect(inc.bytesWritten).toBe(s.dataset.length);
    return inc.finish();
  }

  /** Spool files holding data (empty files are free slots), relative to the spool. */
  const spoolFiles = (): string[] =>
    filesUnder(layout.spoolDir)
      .filter((f) => f.size > 0)
      .map((f) => f.rel)
      .sort();
  const instanceRows = () =>
    db
      .prepare(
        'SELECT id, series_id, sop_instance_uid, path, size, dataset_sha256, association_id FROM instances ORDER BY id',
      )
      .all() as {
      id: number;
      series_id: number;
      sop_instance_uid: string;
      path: string;
      size: number;
      dataset_sha256: string;
      association_id: number | null;
    }[];
  const seriesRows = () =>
    db.prepare('SELECT id, batch, state, instance_count, modality FROM series ORDER BY id').all() as {
      id: number;
      batch: number;
      state: string;
      instance_count: number;
      modality: string | null;
    }[];
  /** Nothing leaked: every spool file is a free slot or the file of an instance row. */
  function expectNoStrayFiles(): void {
    const paths = instanceRows()
      .map((r) => r.path)
      .sort();
    expect(spoolFiles()).toEqual(paths);
    expect(filesUnder(layout.spoolDir)).toHaveLength(slots.ready + paths.length);
  }
  const auditKinds = (): string[] => db.prepare('SELECT kind FROM events ORDER BY id').pluck().all() as string[];

  it('stores an instance durably: file in the spool, owner-only, row committed, nothing stray', async () => {
    const ct = sample('CT_small.dcm');
    const r = await store(ct);
    expect(r).toMatchObject({ ok: true, outcome: 'stored' });
    const [row] = instanceRows();
    expect(row).toBeDefined();
    expect(r.ok && r.instanceId).toBe(row?.id);
    expect(row?.sop_instance_uid).toBe(ct.meta.sopInstanceUid);
    const abs = join(layout.spoolDir, row?.path ?? '');
    expect(spoolFiles()).toEqual([row?.path]);
    expect(statSync(abs).mode & 0o007).toBe(0);
    expect(statSync(abs).size).toBe(row?.size);
    expectNoStrayFiles();
    expect(seriesRows()).toEqual([
      { id: row?.series_id, batch: 1, state: 'receiving', instance_count: 1, modality: 'CT' },
    ]);
  });

  it('writes a Part 10 file whose dataset bytes are exactly the bytes received', async () => {
    const ct = sample('CT_small.dcm');
    await store(ct);
    const [row] = instanceRows();
    const file = readFileSync(join(layout.spoolDir, row?.path ?? ''));
    const meta = parsePart10Header(file);
    expect(meta).toMatchObject(ct.meta);
    expect(file.subarray(meta?.datasetOffset).equals(ct.dataset)).toBe(true);
    expect(row?.dataset_sha256).toBe(sha256(ct.dataset));
  });

  it.each([
    'MR_small_implicit.dcm',
    'MR_small_bigendian.dcm',
    'image_dfl.dcm',
    'JPEG2000.dcm',
    'rtplan.dcm',
    'test-SR.dcm',
  ])('stores %s byte for byte in its own transfer syntax', async (name) => {
    const s = sample(name);
    expect(await store(s)).toMatchObject({ ok: true, outcome: 'stored' });
    const [row] = instanceRows();
    const file = readFileSync(join(layout.spoolDir, row?.path ?? ''));
    const meta = parsePart10Header(file);
    expect(meta?.transferSyntaxUid).toBe(s.meta.transferSyntaxUid);
    expect(file.subarray(meta?.datasetOffset).equals(s.dataset)).toBe(true);
  });

  it('links the instance to its association and reports the commit', async () => {
    const r = await store(sample('CT_small.dcm'));
    const assocId = await associations.idOf(associationUid);
    expect(instanceRows()[0]?.association_id).toBe(assocId);
    expect(db.prepare('SELECT association_id FROM series_associations').pluck().all()).toEqual([assocId]);
    expect(db.prepare('SELECT instances FROM associations WHERE id = ?').pluck().get(assocId)).toBe(1);
    expect(committed).toEqual([expect.objectContaining({ kind: 'stored', batch: 1 })]);
    expect(received).toEqual([
      expect.objectContaining({ source: 'dimse', outcome: 'stored', instanceId: r.ok ? r.instanceId : -1 }),
    ]);
    expect(stateEvents).toEqual([expect.objectContaining({ from: null, to: 'receiving', batch: 1 })]);
  });

  it('answers a re-sent identical instance without a second copy', async () => {
    const ct = sample('CT_small.dcm');
    const first = await store(ct);
    const again = await store(ct);
    expect(again).toEqual({ ok: true, instanceId: first.ok ? first.instanceId : -1, outcome: 'duplicate' });
    expect(instanceRows()).toHaveLength(1);
    expect(spoolFiles()).toHaveLength(1);
    expectNoStrayFiles();
    expect(auditKinds()).toContain('instance.duplicate');
    expect(received.map((e) => e.outcome)).toEqual(['stored', 'duplicate']);
  });

  it('replaces an instance re-sent with different bytes while its batch is receiving, removing the old file', async () => {
    const ct = sample('CT_small.dcm');
    await store(ct);
    const oldPath = instanceRows()[0]?.path ?? '';
    const r = await store(altered(ct));
    expect(r).toMatchObject({ ok: true, outcome: 'replaced' });
    const rows = instanceRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.path).not.toBe(oldPath);
    expect(rows[0]?.dataset_sha256).toBe(sha256(altered(ct).dataset));
    expect(spoolFiles()).toEqual([rows[0]?.path]);
    expect(seriesRows()).toMatchObject([{ batch: 1, instance_count: 1 }]);
    expect(auditKinds()).toContain('instance.replaced');
  });

  it('opens batch 2 for different bytes arriving after the series completed, and audits the late arrival', async () => {
    const ct = sample('CT_small.dcm');
    await store(ct);
    db.prepare(`UPDATE series SET state = 'complete'`).run();
    const r = await store(altered(ct));
    expect(r).toMatchObject({ ok: true, outcome: 'replaced' });
    expect(seriesRows()).toMatchObject([
      { batch: 1, state: 'complete', instance_count: 1 },
      { batch: 2, state: 'receiving', instance_count: 1 },
    ]);
    // The batch-1 file may be being delivered: it stays.
    expect(spoolFiles()).toHaveLength(2);
    const late = db.prepare(`SELECT series_id, detail FROM events WHERE kind = 'series.late-arrival'`).all() as {
      series_id: number;
      detail: string;
    }[];
    expect(late).toHaveLength(1);
    expect(late[0]?.series_id).toBe(seriesRows()[1]?.id);
    expect(JSON.parse(late[0]?.detail ?? '{}')).toEqual({ previousBatch: 1, previousState: 'complete' });
    expect(stateEvents.at(-1)).toMatchObject({ to: 'receiving', batch: 2 });
  });

  it('answers an identical re-send after completion as a duplicate, without a new batch', async () => {
    const ct = sample('CT_small.dcm');
    await store(ct);
    db.prepare(`UPDATE series SET state = 'complete'`).run();
    expect(await store(ct)).toMatchObject({ ok: true, outcome: 'duplicate' });
    expect(seriesRows()).toHaveLength(1);
  });

  it('refuses a dataset whose SOP Instance UID differs from the request and keeps no file', async () => {
    const r = await store(sample('CT_small.dcm'), { sopInstanceUid: '1.2.826.0.1.3680043.8.498.1' });
    expect(r).toMatchObject({ ok: false, code: ErrorCode.DICOM_UID_MISMATCH, retryable: false });
    expect(spoolFiles()).toEqual([]);
    expectNoStrayFiles();
    expect(instanceRows()).toEqual([]);
  });

  it('refuses a dataset whose SOP Class UID differs from the request', async () => {
    const r = await store(sample('CT_small.dcm'), { sopClassUid: '1.2.840.10008.5.1.4.1.1.4' });
    expect(r).toMatchObject({ ok: false, code: ErrorCode.DICOM_UID_MISMATCH });
    expect(spoolFiles()).toEqual([]);
  });

  it('refuses garbage bytes as unparsable and keeps no file', async () => {
    const garbage = {
      meta: sample('CT_small.dcm').meta,
      dataset: Buffer.from('this is not a DICOM dataset, just text.'),
    };
    const r = await store(garbage);
    expect(r).toMatchObject({ ok: false, code: ErrorCode.DICOM_UNPARSABLE, retryable: false });
    expect(spoolFiles()).toEqual([]);
    expectNoStrayFiles();
    expect(instanceRows()).toEqual([]);
  });

  it('refuses garbage sent as a deflated dataset as unparsable, not as a retryable failure', async () => {
    // BUG (src/dicom/byte-source.ts deflatedSource): the zlib error escapes readHeader unwrapped
    // (not HeaderError/EndOfData), so intake.ts answers a retryable ERR_SPOOL_WRITE
    // and the sender retries a hopeless instance forever.
    const dfl = sample('image_dfl.dcm');
    const r = await store({ meta: dfl.meta, dataset: Buffer.from('this is not deflate data, just text.') });
    expect(r).toMatchObject({ ok: false, code: ErrorCode.DICOM_UNPARSABLE, retryable: false });
    expect(spoolFiles()).toEqual([]);
    expectNoStrayFiles();
  });

  it('refuses a dataset without top-level Study/Series UIDs and keeps no file', async () => {
    // UN_sequence.dcm has Study/Series UIDs only inside a sequence.
    const r = await store(sample('UN_sequence.dcm'));
    expect(r).toMatchObject({ ok: false, code: ErrorCode.DICOM_MISSING_UID, retryable: false });
    expect(spoolFiles()).toEqual([]);
    expectNoStrayFiles();
  });

  it('refuses an instance over maxInstanceBytes and keeps no file', async () => {
    const ct = sample('CT_small.dcm');
    const big = { meta: ct.meta, dataset: Buffer.concat([ct.dataset, Buffer.alloc(maxInstanceBytes)]) };
    const r = await store(big);
    expect(r).toMatchObject({ ok: false, code: ErrorCode.INSTANCE_TOO_LARGE, retryable: false });
    expect(spoolFiles()).toEqual([]);
    expectNoStrayFiles();
    expect(instanceRows()).toEqual([]);
  });

  it('refuses with the admission code when admission says no, and keeps no file', async () => {
    admission = { ok: false, code: ErrorCode.SPOOL_FULL, message: 'Disk nearly full.' };
    const r = await store(sample('CT_small.dcm'));
    expect(r).toEqual({ ok: false, code: ErrorCode.SPOOL_FULL, retryable: true, message: 'Disk nearly full.' });
    expect(spoolFiles()).toEqual([]);
    expectNoStrayFiles();
  });

  type FsyncFn = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void;
  /** Runs `fn` with fs.fsync (what the spool's write stream calls on close) replaced. */
  async function withFsync<T>(replace: (real: FsyncFn) => FsyncFn, fn: () => Promise<T>): Promise<T> {
    const real = fs.fsync;
    fs.fsync = replace(real) as typeof fs.fsync;
    try {
      return await fn();
    } finally {
      fs.fsync = real;
    }
  }

  it('commits the row while the file is fsynced, answers once both are done, and marks the row durable after (ADR 0013)', async () => {
    const durableOf = (): number[] => db.prepare('SELECT durable FROM instances ORDER BY id').pluck().all() as number[];
    const order: string[] = [];
    // The file's fsync is held until the row is in the database: the two run side by side.
    const r = await withFsync(
      (real) => (fd, cb) => {
        order.push(`fsync started, rows ${String(instanceRows().length)}`);
        const go = (): void => {
          if (instanceRows().length === 0) {
            setTimeout(go, 1);
            return;
          }
          order.push('fsync released');
          real(fd, cb);
        };
        go();
      },
      () => store(sample('CT_small.dcm')),
    );
    expect(r).toMatchObject({ ok: true, outcome: 'stored' });
    expect(order).toEqual(['fsync started, rows 0', 'fsync released']);
    expect(durableOf()).toEqual([0]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(durableOf()).toEqual([1]);
  });

  it('writes the durable marks still waiting for a group commit when asked to, before the database closes', async () => {
    const r = await store(sample('CT_small.dcm'));
    expect(r).toMatchObject({ ok: true });
    expect(db.prepare('SELECT durable FROM instances').pluck().all()).toEqual([0]);
    await intake.flushDurable();
    expect(db.prepare('SELECT durable FROM instances').pluck().all()).toEqual([1]);
  });

  it("answers a retryable failure and drops the row when the file's fsync fails", async () => {
    const r = await withFsync(
      () => (_fd, cb) => {
        setImmediate(() => {
          cb(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
        });
      },
      () => store(sample('CT_small.dcm')),
    );
    expect(r).toMatchObject({ ok: false, code: ErrorCode.SPOOL_WRITE, retryable: true });
    expect(instanceRows()).toEqual([]);
    expect(seriesRows()).toEqual([]);
    expectNoStrayFiles();
    expect(auditKinds()).toContain('instance.not-durable');
  });

  it('answers ERR_DB_WRITE when the commit fails, leaving no file behind', async () => {
    db.exec(
      `CREATE TRIGGER fail_instance_insert BEFORE INSERT ON instances BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
    );
    const r = await store(sample('CT_small.dcm'));
    expect(r).toMatchObject({ ok: false, code: ErrorCode.DB_WRITE, retryable: true });
    expect(spoolFiles()).toEqual([]);
    expectNoStrayFiles();
    expect(instanceRows()).toEqual([]);
    // The series batch was created in the same transaction and rolled back with it.
    expect(seriesRows()).toEqual([]);
    expect(received).toEqual([]);
  });

  /**
   * Lets queued file-system work finish until `done()`: each turn is one real fs round trip
   * through the thread pool (no timers), bounded so a broken condition still ends the test.
   */
  async function settle(done: () => boolean, turns = 2000): Promise<void> {
    for (let i = 0; i < turns && !done(); i++) {
      await readdir(layout.spoolDir);
    }
  }

  it('commits nothing while an instance streams in, and abort removes what was written', async () => {
    const ct = sample('CT_small.dcm');
    const inc = intake.begin(metaOf(ct));
    await writeChunks(inc, ct.dataset.subarray(0, ct.dataset.length - 100));
    await inc.drained();
    await settle(() => spoolFiles().length > 0);
    expect(spoolFiles()).toHaveLength(1);
    expect(instanceRows()).toEqual([]);
    await inc.abort();
    await inc.abort();
    expect(spoolFiles()).toEqual([]);
    expect(instanceRows()).toEqual([]);
    expectNoStrayFiles();
  });

  it('does not reuse the slot of a failed instance', async () => {
    const ct = sample('CT_small.dcm');
    const before = slots.ready;
    await store(ct, { sopInstanceUid: '1.2.826.0.1.3680043.8.498.1' });
    expect(slots.ready).toBe(before - 1);
    expectNoStrayFiles();
  });

  it('leaves no file behind when aborted before a slot was available', async () => {
    const empty = createSlotPool(layout.spoolDir, { batch: 2, low: 1 });
    const inc = createIntake({ ...deps, slots: empty }).begin(metaOf(sample('CT_small.dcm')));
    inc.write(Buffer.alloc(100));
    // The pool creates its batch of 2; abort resolves once the slot handed to the aborted instance is removed.
    await inc.abort();
    expect(empty.ready).toBe(1);
    expect(spoolFiles()).toEqual([]);
    expect(filesUnder(layout.spoolDir)).toHaveLength(slots.ready + empty.ready);
  });

  it('stores an instance that arrives while the slot pool is still being filled', async () => {
    const empty = createSlotPool(layout.spoolDir, { batch: 2, low: 1 });
    const ct = sample('CT_small.dcm');
    const inc = createIntake({ ...deps, slots: empty }).begin(metaOf(ct));
    await writeChunks(inc, ct.dataset);
    expect(await inc.finish()).toMatchObject({ ok: true, outcome: 'stored' });
    const file = readFileSync(join(layout.spoolDir, instanceRows()[0]?.path ?? ''));
    expect(file.subarray(parsePart10Header(file)?.datasetOffset).equals(ct.dataset)).toBe(true);
  });

  it('refuses to finish an instance twice or after abort', async () => {
    const ct = sample('CT_small.dcm');
    const inc = intake.begin(metaOf(ct));
    await writeChunks(inc, ct.dataset);
    expect((await inc.finish()).ok).toBe(true);
    expect(await inc.finish()).toMatchObject({ ok: false, code: ErrorCode.SPOOL_WRITE });
    const aborted = intake.begin(metaOf(ct));
    await aborted.abort();
    expect(await aborted.finish()).toMatchObject({ ok: false, code: ErrorCode.SPOOL_WRITE });
    expect(instanceRows()).toHaveLength(1);
  });
});
