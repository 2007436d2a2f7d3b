import { describe, expect, it } from 'vitest';
import { unaccounted } from '../../../src/app/anonymise-offline.ts';

describe('anonymiseOffline: every input file is accounted for', () => {
  it('returns the files neither written, listed nor in a series that was not written', () => {
    const files = ['/in/a.dcm', '/in/b.dcm', '/in/c.txt', '/in/d.dcm', '/in/e.dcm'];
    const written = new Set(['/in/a.dcm']);
    const skipped = [{ path: '/in/c.txt', reason: 'not DICOM', dicom: false }];
    const series = [{ instances: 1, outcome: 'held' as const, detail: 'PatientID is missing', files: ['/in/d.dcm'] }];
    // b and e reached no outcome: a defect the run must show (listed as not processed, exit 65).
    expect(unaccounted(files, written, skipped, series)).toEqual(['/in/b.dcm', '/in/e.dcm']);
    expect(unaccounted(files, new Set([...written, '/in/b.dcm', '/in/e.dcm']), skipped, series)).toEqual([]);
  });
});
