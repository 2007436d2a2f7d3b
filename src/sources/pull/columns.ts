//! A pull list's columns: the header row found among the first records, and its names (many spellings) mapped to fields.
import { ListError, type ListRecord } from './list.ts';

export type Field =
  'accessionNumber' | 'patientId' | 'studyDate' | 'studyDateFrom' | 'studyDateTo' | 'project' | 'subject' | 'session';

const HEADERS: Readonly<Record<string, Field>> = {
  accessionnumber: 'accessionNumber',
  accession: 'accessionNumber',
  accessionno: 'accessionNumber',
  accno: 'accessionNumber',
  acc: 'accessionNumber',
  patientid: 'patientId',
  patid: 'patientId',
  mrn: 'patientId',
  studydate: 'studyDate',
  date: 'studyDate',
  studydatefrom: 'studyDateFrom',
  datefrom: 'studyDateFrom',
  from: 'studyDateFrom',
  studydateto: 'studyDateTo',
  dateto: 'studyDateTo',
  to: 'studyDateTo',
  project: 'project',
  projectid: 'project',
  xnatproject: 'project',
  subject: 'subject',
  subjectlabel: 'subject',
  xnatsubject: 'subject',
  subjectid: 'subject',
  session: 'session',
  sessionlabel: 'session',
  xnatsession: 'session',
  experiment: 'session',
  experimentlabel: 'session',
};

/** Column names as written in the list, for messages. */
export const SHOWN: Readonly<Record<Field, string>> = {
  accessionNumber: 'AccessionNumber',
  patientId: 'PatientID',
  studyDate: 'StudyDate',
  studyDateFrom: 'StudyDateFrom',
  studyDateTo: 'StudyDateTo',
  project: 'Project',
  subject: 'Subject',
  session: 'Session',
};

const normaliseHeader = (h: string): string =>
  h
    .trim()
    .toLowerCase()
    .replace(/[\s_.\-()#]/g, '');

/** The header record: the first one naming a column we know, within the first ten. */
export function findHeader(records: readonly ListRecord[]): {
  index: number;
  columns: Map<number, Field>;
  ignored: string[];
} {
  for (let i = 0; i < Math.min(records.length, 10); i++) {
    const r = records[i];
    if (!r) {
      continue;
    }
    const columns = new Map<number, Field>();
    const ignored: string[] = [];
    const seen = new Set<Field>();
    r.fields.forEach((h, col) => {
      const f = HEADERS[normaliseHeader(h)];
      if (f && !seen.has(f)) {
        columns.set(col, f);
        seen.add(f);
      } else if (h.trim() !== '') {
        ignored.push(h.trim());
      }
    });
    if (seen.has('accessionNumber') || seen.has('patientId')) {
      return { index: i, columns, ignored };
    }
  }
  throw new ListError(
    'no header row names an AccessionNumber or PatientID column (expected columns: AccessionNumber, or PatientID with StudyDate or StudyDateFrom/StudyDateTo; optional Project, Subject, Session)',
  );
}
