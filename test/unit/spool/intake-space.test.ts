// The intake takes each instance's space above the watermark before its first byte is written
// and as it streams: past the watermark nothing more reaches the disk and the sender gets 0xA700
// (ERR_SPOOL_FULL), whatever a cached reading said a moment ago.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parsePart10Header } from '../../../src/dicom/part10.ts';
import { ErrorCode } from '../../../src/errors.ts';
import { createEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import { createAssociationStore } from '../../../src/store/sqlite/associations.ts';
import { openDb, type Db } from '../../../src/store/sqlite/db.ts';
import { createInstanceStore } from '../../../src/store/sqlite/instances.ts';
import { createDiskSpace, type DiskSpace } from '../../../src/spool/disk-space.ts';
import { createIntake } from '../../../src/spool/intake.ts';
import { layoutFor, type Layout } from '../../../src/spool/layout.ts';
import { createSlotPool } from '../../../src/spool/slots.ts';
import { INSTANCE_OVERHEAD_BYTES } from '../../../src/spool/spool-writer.ts';
import type { IncomingMeta } from '../../../src/contracts/intake.ts';
import { createFakeClock } from '../../helpers/fake-clock.ts';

const CT = '/usr/lib/python3/dist-packages/pydicom/data/test_files/CT_small.dcm';

describe('intake and free space', () => {
  let dir: string;
  let layout: Layout;
  let db: Db;
  let free: number;
  let space: DiskSpace;
  let intake: ReturnType<typeof createIntake>;
  let meta: IncomingMeta;
  let dataset: Buffer;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'xg-intake-space-'));
    layout = layoutFor(dir);
    db = openDb(layout.dbFile);
    const slots = createSlotPool(layout.spoolDir, { batch: 8, low: 1 });
    await slots.prime();
    free = 10 * 1024 * 1024;
    space = createDiskSpace({ minFreeBytes: 1024 * 1024, freeBytes: () => free });
    const associations = createAssociationStore(db);
    intake = createIntake({
      layout,
      slots,
      instances: createInstanceStore(db),
      associations,
      clock: createFakeClock(),
      events: createEvents(),
      log: createLogger('silent'),
      admission: () => Promise.resolve({ ok: true }),
      maxInstanceBytes: 1 << 30,
      reserve: (bytes) => space.reserve(layout.spoolDir, bytes),
    });
    const file = readFileSync(CT);
    const m = parsePart10Header(file);
    if (!m?.sopClassUid || !m.sopInstanceUid) {
      throw new Error('CT_small.dcm has no meta');
    }
    dataset = Buffer.from(file.subarray(m.datasetOffset));
    meta = {
      source: 'dimse',
      callingAe: 'MOD',
      calledAe: 'XNAT',
      peerIp: '10.0.0.1',
      sopClassUid: m.sopClassUid,
      sopInstanceUid: m.sopInstanceUid,
      transferSyntaxUid: m.transferSyntaxUid,
      associationUid: (
        await associations.open({
          source: 'dimse',
          callingAe: 'MOD',
          calledAe: 'XNAT',
          peerIp: '10.0.0.1',
          at: 0,
        })
      ).uid,
    };
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const written = (): number =>
    readdirSync(layout.spoolDir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .reduce((n, e) => n + statSync(join(e.parentPath, e.name)).size, 0);

  it('stores an instance that fits above the watermark and holds no reservation afterwards', async () => {
    const inc = intake.begin(meta);
    inc.write(dataset);
    expect(await inc.finish()).toMatchObject({ ok: true, outcome: 'stored' });
    expect(space.reading(layout.spoolDir).reservedBytes).toBe(0);
  });

  it('refuses with ERR_SPOOL_FULL (0xA700) and writes nothing when the instance cannot start above the watermark', async () => {
    free = 1024 * 1024 + INSTANCE_OVERHEAD_BYTES; // the header and overhead do not fit
    const inc = intake.begin(meta);
    inc.write(dataset);
    expect(await inc.finish()).toMatchObject({ ok: false, code: ErrorCode.SPOOL_FULL, retryable: true });
    expect(written()).toBe(0);
    expect(db.prepare('SELECT count(*) FROM instances').pluck().get()).toBe(0);
    expect(space.reading(layout.spoolDir).reservedBytes).toBe(0);
  });

  it('stops writing at the watermark in the middle of an instance, drains the rest, and keeps no file', async () => {
    // Room for the header and a few KiB: another writer took the rest while this one streamed.
    // (A reservation grows in 256 KiB steps: the refusal comes at the first step past the watermark.)
    const inc = intake.begin(meta);
    inc.write(dataset.subarray(0, 1000));
    free = 1024 * 1024 + 1000;
    const more = Buffer.alloc(2 * 1024 * 1024);
    for (let off = 0; off < more.length; off += 64 * 1024) {
      expect(inc.write(more.subarray(off, off + 64 * 1024))).toBe(true);
    }
    await inc.drained();
    expect(written()).toBeLessThan(300 * 1024);
    expect(await inc.finish()).toMatchObject({ ok: false, code: ErrorCode.SPOOL_FULL });
    expect(written()).toBe(0);
    expect(space.reading(layout.spoolDir).reservedBytes).toBe(0);
  });

  it('counts a second instance in flight against the reservation of the first', async () => {
    free = 1024 * 1024 + 2 * INSTANCE_OVERHEAD_BYTES + 300_000;
    const a = intake.begin(meta);
    a.write(dataset.subarray(0, 2048));
    const b = intake.begin({ ...meta, sopInstanceUid: `${meta.sopInstanceUid}.2` });
    // a grew by a 256 KiB step ahead: b finds too little left for its dataset.
    expect(existsSync(layout.spoolDir)).toBe(true);
    b.write(dataset);
    expect(await b.finish()).toMatchObject({ ok: false, code: ErrorCode.SPOOL_FULL });
    a.write(dataset.subarray(2048));
    expect(await a.finish()).toMatchObject({ ok: true });
  });
});
