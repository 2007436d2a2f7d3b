//! The ingest benches' data sets: CT 512×512 slices (~526 KB) in four parts, and 64×64 instances (~9 KB).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSeries } from '../../test/helpers/dicom-factory.ts';

export interface InstanceSet {
  /** Push this directory recursively for one association. */
  readonly dir: string;
  /** Or these, one association each (the CT set's four parts; the small set has one). */
  readonly parts: readonly string[];
  readonly count: number;
  /** Size of one file, in bytes (every file of a set has the same size). */
  readonly fileBytes: number;
  readonly label: string;
}

/** `count` CT slices of one series, written as four parts of (about) a quarter each. */
export async function ctSet(work: string, count: number): Promise<InstanceSet> {
  const dir = join(work, 'ct');
  const quarter = Math.ceil(count / 4);
  const parts = [0, 1, 2, 3].map((k) => join(dir, `part${String(k)}`));
  const sizes = await Promise.all(
    parts.map((d, k) =>
      writeSeries(d, { count: Math.max(0, Math.min(quarter, count - k * quarter)), rows: 512, columns: 512 }),
    ),
  );
  const first = sizes[0]?.[0] ?? '';
  return { dir, parts, count, fileBytes: readFileSync(first).length, label: 'CT 512×512' };
}

/** `count` 64×64 instances of one series. */
export async function smallSet(work: string, count: number): Promise<InstanceSet> {
  const dir = join(work, 'small');
  const files = await writeSeries(dir, { count, rows: 64, columns: 64 });
  return { dir, parts: [dir], count, fileBytes: readFileSync(files[0] ?? '').length, label: '64×64' };
}
