import { describe, expect, it } from 'vitest';
import type { FindResult, FindSession } from '../../../../src/dicom/qr/api.ts';
import type { QrLevel } from '../../../../src/dicom/qr/sop-classes.ts';
import { queryRow } from '../../../../src/sources/pull/query.ts';
import type { RowKey } from '../../../../src/sources/pull/rows.ts';

/** A FIND session answering from a table, recording what was asked. */
function session(
  answer: (level: QrLevel, keys: Record<string, string>) => Record<string, string>[],
): FindSession & { asked: [QrLevel, Record<string, string>][] } {
  const asked: [QrLevel, Record<string, string>][] = [];
  return {
    asked,
    find(level, keys): Promise<FindResult> {
      asked.push([level, { ...keys }]);
      return Promise.resolve({ matches: answer(level, { ...keys }), optionalKeysUnsupported: false });
    },
  };
}

const acc = (a: string, p: string | null = null): RowKey => ({
  accessionNumber: a,
  patientId: p,
  studyDateFrom: null,
  studyDateTo: null,
});

describe('query step', () => {
  it('resolves an exact accession match with series counts from NumberOfSeriesRelatedInstances', async () => {
    const s = session((level) =>
      level === 'STUDY'
        ? [{ StudyInstanceUID: '1.2.3', AccessionNumber: 'A1', PatientID: 'P' }]
        : [
            { SeriesInstanceUID: '1.2.3.1', Modality: 'CT', SeriesNumber: '1', NumberOfSeriesRelatedInstances: '10' },
            { SeriesInstanceUID: '1.2.3.2', Modality: 'CT', SeriesNumber: '2', NumberOfSeriesRelatedInstances: '2' },
          ],
    );
    const out = await queryRow(s, { key: acc('A1'), chosenStudyUid: null });
    expect(out).toEqual({
      kind: 'resolved',
      studyInstanceUid: '1.2.3',
      series: [
        { seriesInstanceUid: '1.2.3.1', modality: 'CT', seriesNumber: '1', expected: 10 },
        { seriesInstanceUid: '1.2.3.2', modality: 'CT', seriesNumber: '2', expected: 2 },
      ],
    });
    expect(s.asked[0]).toEqual(['STUDY', expect.objectContaining({ AccessionNumber: 'A1', StudyInstanceUID: '' })]);
  });

  it('ignores inexact matches a PACS returns (case, prefix, other patient) and says so', async () => {
    const s = session(() => [
      { StudyInstanceUID: '1', AccessionNumber: 'a1' },
      { StudyInstanceUID: '2', AccessionNumber: 'A10' },
      { StudyInstanceUID: '3', AccessionNumber: 'A1', PatientID: 'OTHER' },
    ]);
    expect(await queryRow(s, { key: acc('A1', 'P1'), chosenStudyUid: null })).toEqual({
      kind: 'not-found',
      reason: 'no study matches this accession number and patient ID exactly (the PACS answered 3 inexact matches)',
    });
    expect(
      await queryRow(
        session(() => []),
        { key: acc('A1'), chosenStudyUid: null },
      ),
    ).toEqual({ kind: 'not-found', reason: 'no study matches this accession number' });
  });

  it('returns every distinct study as a candidate when several match', async () => {
    const s = session(() => [
      {
        StudyInstanceUID: '1',
        AccessionNumber: 'A1',
        StudyDate: '20240101',
        StudyDescription: 'CT head',
        ModalitiesInStudy: 'CT',
        NumberOfStudyRelatedInstances: '12',
      },
      { StudyInstanceUID: '1', AccessionNumber: 'A1' },
      { StudyInstanceUID: '2', AccessionNumber: 'A1', StudyDate: '20240105' },
    ]);
    const out = await queryRow(s, { key: acc('A1'), chosenStudyUid: null });
    expect(out).toEqual({
      kind: 'ambiguous',
      candidates: [
        {
          studyInstanceUid: '1',
          studyDate: '20240101',
          studyDescription: 'CT head',
          modalities: 'CT',
          accessionNumber: 'A1',
          patientId: null,
          instances: 12,
        },
        {
          studyInstanceUid: '2',
          studyDate: '20240105',
          studyDescription: null,
          modalities: null,
          accessionNumber: 'A1',
          patientId: null,
          instances: null,
        },
      ],
    });
    expect(s.asked).toHaveLength(1);
  });

  it('matches patient and date range, and checks the dates answered', async () => {
    const key: RowKey = { accessionNumber: null, patientId: 'P1', studyDateFrom: '20240101', studyDateTo: '20240131' };
    const s = session((level) =>
      level === 'STUDY'
        ? [
            { StudyInstanceUID: '9', PatientID: 'P1', StudyDate: '20240201' },
            { StudyInstanceUID: '8', PatientID: 'P1', StudyDate: '20240115' },
          ]
        : [{ SeriesInstanceUID: '8.1', NumberOfSeriesRelatedInstances: '3' }],
    );
    expect(await queryRow(s, { key, chosenStudyUid: null })).toMatchObject({ kind: 'resolved', studyInstanceUid: '8' });
    expect(s.asked[0]?.[1]).toMatchObject({ PatientID: 'P1', StudyDate: '20240101-20240131' });
  });

  it('counts series the PACS does not count with an IMAGE-level C-FIND', async () => {
    const s = session((level, keys) => {
      if (level === 'STUDY') {
        return [{ StudyInstanceUID: '5', AccessionNumber: 'A5' }];
      }
      if (level === 'SERIES') {
        return [{ SeriesInstanceUID: '5.1' }, { SeriesInstanceUID: '5.2', NumberOfSeriesRelatedInstances: '' }];
      }
      return keys.SeriesInstanceUID === '5.1'
        ? [{ SOPInstanceUID: 'a' }, { SOPInstanceUID: 'b' }, { SOPInstanceUID: 'b' }]
        : [{ SOPInstanceUID: 'c' }];
    });
    const out = await queryRow(s, { key: acc('A5'), chosenStudyUid: null });
    expect(out).toMatchObject({
      kind: 'resolved',
      series: [
        { seriesInstanceUid: '5.1', expected: 2 },
        { seriesInstanceUid: '5.2', expected: 1 },
      ],
    });
    expect(s.asked.filter(([l]) => l === 'IMAGE')).toHaveLength(2);
  });

  it('resolves a chosen candidate by its study UID, and reports a study without series', async () => {
    const s = session((level) => (level === 'STUDY' ? [{ StudyInstanceUID: '2', AccessionNumber: 'A1' }] : []));
    expect(await queryRow(s, { key: acc('A1'), chosenStudyUid: '2' })).toEqual({
      kind: 'empty',
      reason: 'the PACS lists the study but no series in it',
    });
    expect(s.asked[0]?.[1]).toMatchObject({ StudyInstanceUID: '2' });
    expect(s.asked[0]?.[1].AccessionNumber).toBe('');
  });
});
