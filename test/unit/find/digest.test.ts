import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFindHasher, LOOKUP_KEY_FILE } from '../../../src/find/digest.ts';
import { loadFindHasher } from '../../../src/find/key.ts';
import type { Db } from '../../../src/store/sqlite/db.ts';
import { createFindIndex } from '../../../src/store/sqlite/find-index.ts';
import { createInstanceStore } from '../../../src/store/sqlite/instances.ts';
import { type InstanceRecord } from '../../../src/store/instances.ts';
import { tmpDb } from '../../helpers/queue-rows.ts';
import { instanceRecord } from '../../helpers/instance-record.ts';

const hasher = createFindHasher(Buffer.alloc(32, 7));

describe('find digests', () => {
  it('match a query for the same ID, trimmed, and only for the same kind', () => {
    const [patient, accession] = hasher.ofInstance({ PatientID: 'MRN777', AccessionNumber: 'ACC42' });
    expect(patient?.kind).toBe('patient');
    expect(hasher.ofQuery('patient', '  MRN777 ')).toContainEqual(patient?.digest);
    expect(hasher.ofQuery('accession', 'ACC42')).toContainEqual(accession?.digest);
    expect(hasher.ofQuery('accession', 'MRN777')).not.toContainEqual(patient?.digest);
    expect(hasher.ofQuery('patient', 'mrn777')).not.toContainEqual(patient?.digest);
  });

  it('gives no digest for absent or blank identifiers', () => {
    expect(hasher.ofInstance({})).toEqual([]);
    expect(hasher.ofInstance({ PatientID: '   ', AccessionNumber: '' })).toEqual([]);
    expect(hasher.ofQuery('patient', ' ')).toEqual([]);
  });

  it('matches a non-ASCII ID stored as Latin-1 or as UTF-8 (the header reader keeps the bytes)', () => {
    const latin1 = hasher.ofInstance({ PatientID: Buffer.from('MÜLLER1', 'latin1').toString('latin1') })[0]?.digest;
    const utf8 = hasher.ofInstance({ PatientID: Buffer.from('MÜLLER1', 'utf8').toString('latin1') })[0]?.digest;
    const query = hasher.ofQuery('patient', 'MÜLLER1');
    expect(query).toContainEqual(latin1);
    expect(query).toContainEqual(utf8);
  });

  it("differ under another key, so a digest cannot be checked without the gateway's key", () => {
    const other = createFindHasher(randomBytes(32));
    expect(other.ofQuery('patient', 'MRN777')).not.toContainEqual(
      hasher.ofInstance({ PatientID: 'MRN777' })[0]?.digest,
    );
  });

  it('refuse a key that is not 32 bytes', () => {
    expect(() => createFindHasher(Buffer.alloc(16))).toThrow('32 bytes');
  });
});

describe('find key and index', () => {
  let db: Db;
  let close: () => void;
  let dir: string;
  beforeEach(() => {
    ({ db, close } = tmpDb());
    dir = mkdtempSync(join(tmpdir(), 'xg-find-'));
  });
  afterEach(() => {
    close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the lookup key 0600 in the keys directory and reuses it', async () => {
    const keys = join(dir, 'keys');
    const a = await loadFindHasher(keys);
    expect(statSync(join(keys, LOOKUP_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(statSync(keys).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(keys, LOOKUP_KEY_FILE), 'latin1').trim()).toMatch(/^[0-9a-f]{64}$/);
    const b = await loadFindHasher(keys);
    expect(b.ofQuery('patient', 'P1')).toEqual(a.ofQuery('patient', 'P1'));
  });

  it('records the digests with the instance and finds the batch by them, never storing the ID', async () => {
    const store = createInstanceStore(db);
    const rec = (sop: string, series: string, PatientID: string, AccessionNumber: string): InstanceRecord =>
      instanceRecord({
        seriesUid: series,
        sopInstanceUid: sop,
        path: `p/${sop}`,
        size: 10,
        datasetSha256: sop.padEnd(64, '0'),
        lookup: hasher.ofInstance({ PatientID, AccessionNumber }),
      });
    const a = await store.record(rec('1.1', '9.1', 'MRN777', 'ACC1'));
    await store.record(rec('1.2', '9.1', 'MRN777', 'ACC1'));
    const b = await store.record(rec('2.1', '9.2', 'MRN777', 'ACC2'));
    await store.record(rec('3.1', '9.3', 'OTHER', 'ACC3'));
    const index = createFindIndex(db);
    expect(await index.match('patient', hasher.ofQuery('patient', 'MRN777'), 10)).toEqual([b.seriesId, a.seriesId]);
    expect(await index.match('accession', hasher.ofQuery('accession', 'ACC1'), 10)).toEqual([a.seriesId]);
    expect(await index.match('patient', hasher.ofQuery('patient', 'NOBODY'), 10)).toEqual([]);
    expect(db.prepare('SELECT count(*) FROM series_lookup').pluck().get()).toBe(6);
    const dump = JSON.stringify(db.prepare('SELECT * FROM series_lookup').all());
    expect(dump).not.toContain('MRN777');
    expect(dump).not.toContain('ACC1');
  });
});
