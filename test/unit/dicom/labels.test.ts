// XNAT label hygiene and the (0010,4000) PatientComments routing field.
import { describe, expect, it } from 'vitest';
import {
  formatPatientComments,
  isXnatSafeLabel,
  parsePatientComments,
  xnatSafeLabel,
} from '../../../src/dicom/labels.ts';

describe('xnatSafeLabel', () => {
  it.each([
    ['DOE^JOHN', 'DOE_JOHN'],
    ['DOE^JOHN^^^', 'DOE_JOHN'],
    ['  Study 1.2 ', 'Study_1_2'],
    ['a  b', 'a_b'],
    ['__x__y__', 'x_y'],
    ['Müller-Lüdenscheidt', 'M_ller-L_denscheidt'],
    ['患者', 'dicom_upload'],
    ['P01_000001', 'P01_000001'],
    ['a-b', 'a-b'],
  ])('maps %j to %j', (input, expected) => {
    expect(xnatSafeLabel(input)).toBe(expected);
  });

  it('keeps only [A-Za-z0-9_-] for every printable ASCII character', () => {
    let all = '';
    for (let c = 0x20; c < 0x7f; c++) {
      all += `x${String.fromCharCode(c)}`;
    }
    const out = xnatSafeLabel(all);
    expect(out).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(isXnatSafeLabel(out)).toBe(out.length <= 64);
  });

  it('caps the length at 64 and does not end on an underscore after the cut', () => {
    expect(xnatSafeLabel('a'.repeat(100))).toHaveLength(64);
    expect(xnatSafeLabel(`${'a'.repeat(63)} b`)).toBe('a'.repeat(63));
  });

  it('returns the fallback when nothing is left', () => {
    expect(xnatSafeLabel('^^^ ...')).toBe('dicom_upload');
    expect(xnatSafeLabel('', 'unknown')).toBe('unknown');
  });
});

describe('isXnatSafeLabel', () => {
  it('accepts 1 to 64 characters of [A-Za-z0-9_-] only', () => {
    expect(isXnatSafeLabel('S_01-a')).toBe(true);
    expect(isXnatSafeLabel('')).toBe(false);
    expect(isXnatSafeLabel('a b')).toBe(false);
    expect(isXnatSafeLabel('a.b')).toBe(false);
    expect(isXnatSafeLabel('é')).toBe(false);
    expect(isXnatSafeLabel('a'.repeat(64))).toBe(true);
    expect(isXnatSafeLabel('a'.repeat(65))).toBe(false);
  });
});

describe('PatientComments', () => {
  it('formats exactly "Project: P Subject: S Session: E"', () => {
    expect(formatPatientComments('PROJ', 'PROJ_000001', 'PROJ_000001_01')).toBe(
      'Project: PROJ Subject: PROJ_000001 Session: PROJ_000001_01',
    );
  });

  it('refuses a label XNAT would ignore, without repeating the value', () => {
    expect(() => formatPatientComments('PROJ', 'DOE^JOHN', 'S1')).toThrow(/subject label is not XNAT-safe/);
    expect(() => formatPatientComments('PROJ', 'DOE^JOHN', 'S1')).not.toThrow(/DOE/);
    expect(() => formatPatientComments('', 'S', 'E')).toThrow(/project label/);
  });

  it('round-trips through the parser', () => {
    expect(parsePatientComments(formatPatientComments('P-1', 'S_2', 'E3'))).toEqual({
      project: 'P-1',
      subject: 'S_2',
      session: 'E3',
    });
  });

  it('reads keys case-insensitively, separated by spaces, commas or semicolons, as XNAT does', () => {
    expect(parsePatientComments('project:A;subject : B, SESSION:C')).toEqual({
      project: 'A',
      subject: 'B',
      session: 'C',
    });
    expect(parsePatientComments('Notes here Project: A')).toEqual({ project: 'A' });
    expect(parsePatientComments('Project: A\n')).toEqual({ project: 'A' });
  });

  it('treats a value with other characters, or an empty one, as absent', () => {
    expect(parsePatientComments('Project: A Subject: DOE^JOHN Session: E')).toEqual({ project: 'A', session: 'E' });
    expect(parsePatientComments('Project: Subject: S')).toEqual({ subject: 'S' });
    expect(parsePatientComments('SubProject: A')).toEqual({});
    expect(parsePatientComments('')).toEqual({});
  });

  it("takes the last of repeated keys (XNAT's leading .* is greedy)", () => {
    expect(parsePatientComments('Project: A Project: B')).toEqual({ project: 'B' });
  });
});
