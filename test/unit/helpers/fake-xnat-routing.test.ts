//! The fake XNAT's mapping rules: ContainedAssignmentExtractor, label truncation, precedence, dest parsing.
import { describe, expect, it } from 'vitest';
import type { Header } from '../../helpers/fake-xnat/dicom.ts';
import {
  containedAssignment,
  explicitTarget,
  headerProject,
  headerSession,
  headerSubject,
  parseDest,
  resolveTarget,
  truncateLabel,
} from '../../helpers/fake-xnat/routing.ts';

const header = (o: Partial<Header> = {}): Header => ({
  sopClassUid: '1.2',
  sopInstanceUid: '1.3',
  studyUid: '1.4',
  seriesUid: '1.5',
  seriesNumber: '1',
  seriesDescription: null,
  modality: 'CT',
  patientName: 'Doe^Jane',
  patientId: 'PID-1',
  patientComments: null,
  studyComments: null,
  additionalPatientHistory: null,
  studyDescription: null,
  accessionNumber: null,
  ...o,
});
const projects = new Set(['HOSPITAL', 'QUARANTINE']);
const usable = (p: string): boolean => projects.has(p);

describe('containedAssignment', () => {
  it('reads KEY: value pairs separated by whitespace, commas or semicolons, with any key case', () => {
    expect(containedAssignment('Project: P1 Subject: S1 Session: E1', 'Subject')).toBe('S1');
    expect(containedAssignment('project:P1;subject : S-1,session:E_1', 'Session')).toBe('E_1');
    expect(containedAssignment('PROJECT: P2', 'Project')).toBe('P2');
  });

  it("takes the last occurrence, as the greedy prefix of XNAT's pattern does", () => {
    expect(containedAssignment('Project: A Project: B', 'Project')).toBe('B');
  });

  it('matches nothing when the value runs into a character outside [\\w-] (Matcher.matches)', () => {
    expect(containedAssignment('Project: P.1', 'Project')).toBeNull();
    expect(containedAssignment('Subject: Doe^Jane', 'Subject')).toBeNull();
    expect(containedAssignment('Project:', 'Project')).toBeNull();
    expect(containedAssignment('MyProject: P', 'Project')).toBeNull();
  });
});

describe('header rules', () => {
  it('truncates PatientName and PatientID at the first illegal character', () => {
    expect(truncateLabel('Doe^Jane')).toBe('Doe');
    expect(truncateLabel('^x')).toBeNull();
    expect([headerSubject(header()), headerSession(header({ patientId: 'AB 12' }))]).toEqual(['Doe', 'AB']);
  });

  it('falls back to dicom_upload for the session label', () => {
    expect(headerSession(header({ patientId: null }))).toBe('dicom_upload');
  });

  it('tries Patient Comments, Study Comments, Additional Patient History, Study Description, Accession Number', () => {
    expect(headerProject(header({ studyComments: 'Project: QUARANTINE', studyDescription: 'HOSPITAL' }), usable)).toBe(
      'QUARANTINE',
    );
    expect(
      headerProject(header({ additionalPatientHistory: 'Project: NOPE', studyDescription: 'HOSPITAL' }), usable),
    ).toBe('HOSPITAL');
    expect(headerProject(header({ accessionNumber: 'QUARANTINE' }), usable)).toBe('QUARANTINE');
    expect(headerProject(header({ studyDescription: 'HOSPITAL study' }), usable)).toBeNull();
  });

  it('takes subject and session from the first comment field that names them', () => {
    const h = header({ patientComments: 'Subject: S1', studyComments: 'Subject: S2 Session: E2' });
    expect([headerSubject(h), headerSession(h)]).toEqual(['S1', 'E2']);
  });
});

describe('explicit targets', () => {
  it('uses an explicit project only when it is usable, and explicit labels verbatim', () => {
    const h = header({ studyDescription: 'HOSPITAL' });
    expect(resolveTarget(h, { project: 'QUARANTINE', subject: 'a b', autoArchive: false }, usable)).toEqual({
      project: 'QUARANTINE',
      subject: 'a b',
      label: 'PID-1',
      autoArchive: false,
    });
    expect(resolveTarget(h, { project: 'LOCKED', autoArchive: false }, usable).project).toBe('HOSPITAL');
    expect(resolveTarget(header({ patientComments: 'AA: true' }), { autoArchive: false }, usable)).toMatchObject({
      project: null,
      autoArchive: true,
    });
  });

  it('gives DICOM-zip lower-case parameters precedence over dest, and dest over PROJECT_ID', () => {
    const dest = parseDest('/archive/projects/D/subjects/S/experiments/E') ?? undefined;
    expect(explicitTarget({ PROJECT_ID: 'P', project: 'L' }, true, dest)).toEqual({
      project: 'L',
      subject: 'S',
      label: 'E',
      autoArchive: true,
    });
    expect(explicitTarget({ PROJECT_ID: 'P' }, true, dest).project).toBe('D');
    expect(explicitTarget({ project: 'L', PROJECT_ID: 'P', AA: 'true' }, false, undefined)).toEqual({
      project: 'P',
      subject: undefined,
      label: undefined,
      autoArchive: true,
    });
    expect(explicitTarget({ AA: 'true' }, true, parseDest('/prearchive') ?? undefined).autoArchive).toBe(false);
  });

  it('parses the dest forms XNAT accepts and refuses others', () => {
    expect(parseDest(undefined)).toBeUndefined();
    expect(parseDest('/prearchive/projects/P')).toEqual({ archive: false, project: 'P' });
    expect(parseDest('/data/archive/projects/P/')).toEqual({ archive: true, project: 'P' });
    expect(parseDest('/archive/P')).toBeNull();
  });
});
