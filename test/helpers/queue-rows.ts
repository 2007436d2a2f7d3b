//! Test helper: a fresh migrated SQLite file in a tmp dir, plus terse row inserters using plain SQL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/store/sqlite/db.ts';
import type { Clock } from '../../src/clock.ts';

/** Opens a new database under its own tmp dir; `close()` closes it and removes the dir. */
export function tmpDb(): { db: Db; close: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'xg-status-'));
  const db = openDb(join(dir, 'gateway.db'));
  return {
    db,
    close: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A clock whose time only moves when the test says so. */
export function fakeClock(start = 1_700_000_000_000): Clock & { set(ms: number): void; advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    setTimeout: () => ({ cancel: () => undefined }),
    set: (ms) => (now = ms),
    advance: (ms) => (now += ms),
  };
}

type Row = Record<string, string | number | null>;

function insert(db: Db, table: string, row: Row): number {
  const cols = Object.keys(row);
  const sql = `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((c) => '@' + c).join(', ')})`;
  return Number(db.prepare(sql).run(row).lastInsertRowid);
}

let seq = 0;
const uid = (p: string): string => `1.2.826.0.1.3680043.8.498.${p}.${String(++seq)}`;

export function addAssociation(db: Db, row: Row = {}): number {
  return insert(db, 'associations', {
    uid: uid('9'),
    source: 'dimse',
    calling_ae: 'MODALITY',
    called_ae: 'GATEWAY',
    peer_ip: '10.0.0.5',
    opened_at: 1_000,
    closed_at: 2_000,
    outcome: 'released',
    ...row,
  });
}

export function addSeries(db: Db, row: Row = {}): number {
  return insert(db, 'series', {
    study_uid: uid('1'),
    series_uid: uid('2'),
    state: 'receiving',
    modality: 'MR',
    instance_count: 0,
    byte_count: 0,
    first_instance_at: 1_000,
    last_instance_at: 1_000,
    ...row,
  });
}

export function linkSeries(db: Db, seriesId: number, associationId: number): void {
  insert(db, 'series_associations', { series_id: seriesId, association_id: associationId });
}

export function addInstance(db: Db, seriesId: number, row: Row = {}): number {
  return insert(db, 'instances', {
    series_id: seriesId,
    sop_instance_uid: uid('3'),
    sop_class_uid: '1.2.840.10008.5.1.4.1.1.4',
    transfer_syntax_uid: '1.2.840.10008.1.2.1',
    path: `x/${String(seq)}.dcm`,
    size: 100,
    dataset_sha256: 'ab',
    source: 'dimse',
    calling_ae: 'MODALITY',
    called_ae: 'GATEWAY',
    peer_ip: '10.0.0.5',
    received_at: 1_000,
    ...row,
  });
}

export function addJob(db: Db, seriesId: number, row: Row = {}): number {
  return insert(db, 'jobs', {
    kind: 'deliver',
    series_id: seriesId,
    sink: 'xnat',
    max_attempts: 5,
    run_at: 1_000,
    created_at: 1_000,
    updated_at: 1_000,
    ...row,
  });
}

export function addAttempt(db: Db, jobId: number, row: Row = {}): number {
  return insert(db, 'job_attempts', {
    job_id: jobId,
    attempt: 1,
    started_at: 1_000,
    finished_at: 1_100,
    outcome: 'delivered',
    ...row,
  });
}

export function addEvent(db: Db, row: Row = {}): number {
  return insert(db, 'events', { at: 1_000, kind: 'series.created', detail: '{}', ...row });
}
