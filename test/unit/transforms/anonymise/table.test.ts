// The generated PS3.15 tables and the rules that read them. Expected values are the Standard's
// (checked against innolitics' rev2024b JSON and the 2023b DocBook XML), not our preferences.
import { describe, expect, it } from 'vitest';
import e11 from '../../../../src/transforms/anonymise/standard/e1_1.json' with { type: 'json' };
import { attributeType, resolveCombined } from '../../../../src/transforms/anonymise/combined-codes.ts';
import {
  isSafePrivate,
  SAFE_PRIVATE_EDITION,
  SAFE_PRIVATE_ROWS,
} from '../../../../src/transforms/anonymise/safe-private.ts';
import { loadTables, type AttributeType } from '../../../../src/transforms/anonymise/table-load.ts';
import {
  actionFor,
  EDITION,
  profileRow,
  TABLE_ROWS,
  type ActionCode,
  type ProfileOptions,
} from '../../../../src/transforms/anonymise/table.ts';

const BASIC: ProfileOptions = {
  retainLongitudinal: 'off',
  retainPatientCharacteristics: false,
  retainDeviceIdentity: false,
  retainInstitutionIdentity: false,
  retainUids: false,
  cleanDescriptors: false,
  retainSafePrivate: false,
  cleanStructuredContent: false,
  cleanGraphics: false,
};
const opts = (o: Partial<ProfileOptions>): ProfileOptions => ({ ...BASIC, ...o });
const CT = '1.2.840.10008.5.1.4.1.1.2';

describe('Table E.1-1 as generated', () => {
  it('has every row of the 2024b edition, the private row included, each with one of the 11 codes', () => {
    expect(EDITION).toBe('2024b');
    expect(TABLE_ROWS).toBe(621);
    const codes = new Set<string>(['D', 'Z', 'X', 'K', 'C', 'U', 'Z/D', 'X/Z', 'X/D', 'X/Z/D', 'X/Z/U*']);
    for (const r of e11.rows) {
      expect(codes.has(r.basic), `${r.tag} ${r.basic}`).toBe(true);
    }
    const counts: Record<string, number> = {};
    for (const r of e11.rows) {
      counts[r.basic] = (counts[r.basic] ?? 0) + 1;
    }
    expect(counts).toEqual({ X: 384, D: 92, U: 54, Z: 42, 'X/D': 22, 'X/Z': 11, 'X/Z/D': 8, 'Z/D': 6, 'X/Z/U*': 2 });
    expect(e11.rows.filter((r) => 'private' in r).map((r) => r.tag)).toEqual(['ggggeeee']);
  });

  it.each<[string, number, ActionCode]>([
    ['PatientName', 0x00100010, 'Z'],
    ['PatientID (Z/D since 2024: Z in 2023b)', 0x00100020, 'Z/D'],
    ['StudyInstanceUID', 0x0020000d, 'U'],
    ['SOPInstanceUID', 0x00080018, 'U'],
    ['PatientBirthDate', 0x00100030, 'Z'],
    ['AccessionNumber', 0x00080050, 'Z'],
    ['InstitutionName', 0x00080080, 'X/Z/D'],
    ['ReferencedImageSequence', 0x00081140, 'X/Z/U*'],
    ['SourceImageSequence', 0x00082112, 'X/Z/U*'],
    ['StudyDate', 0x00080020, 'Z'],
    ['StudyDescription', 0x00081030, 'X'],
    ['DeviceSerialNumber', 0x00181000, 'X/Z/D'],
  ])('basic profile: %s', (_name, tag, code) => {
    expect(actionFor(tag, BASIC)).toBe(code);
  });

  it('applies an option column only when that option is on', () => {
    expect(actionFor(0x00080020, opts({ retainLongitudinal: 'full' }))).toBe('K');
    expect(actionFor(0x00080020, opts({ retainLongitudinal: 'modified' }))).toBe('C');
    expect(actionFor(0x00100040, BASIC)).toBe('Z');
    expect(actionFor(0x00100040, opts({ retainPatientCharacteristics: true }))).toBe('K');
    expect(actionFor(0x00181000, opts({ retainDeviceIdentity: true }))).toBe('K');
    expect(actionFor(0x00081030, opts({ cleanDescriptors: true }))).toBe('C');
    expect(actionFor(0x00080080, opts({ retainInstitutionIdentity: true }))).toBe('K');
    expect(actionFor(0x0020000d, opts({ retainUids: true }))).toBe('K');
    // An option with an empty cell leaves the basic code alone.
    expect(actionFor(0x00100010, opts({ retainPatientCharacteristics: true, cleanDescriptors: true }))).toBe('Z');
  });

  it('answers by the option values, also when one options object is changed between calls (answers are memoised)', () => {
    const o = opts({});
    expect(actionFor(0x00100040, o)).toBe('Z');
    o.retainPatientCharacteristics = true;
    expect(actionFor(0x00100040, o)).toBe('K');
    o.retainPatientCharacteristics = false;
    o.retainLongitudinal = 'full';
    expect(actionFor(0x00100040, o)).toBe('Z');
    expect(actionFor(0x00080020, o)).toBe('K');
    expect(attributeType(CT, 0x00080080)).toBe(attributeType(`${CT}\0`, 0x00080080));
  });

  it('lets the temporal option decide a date another option keeps, and otherwise the most retentive option', () => {
    const dateOfLastCalibration = 0x00181200;
    expect(actionFor(dateOfLastCalibration, BASIC)).toBe('X');
    expect(actionFor(dateOfLastCalibration, opts({ retainDeviceIdentity: true }))).toBe('K');
    expect(actionFor(dateOfLastCalibration, opts({ retainDeviceIdentity: true, retainLongitudinal: 'modified' }))).toBe(
      'C',
    );
    expect(actionFor(dateOfLastCalibration, opts({ retainDeviceIdentity: true, retainLongitudinal: 'full' }))).toBe(
      'K',
    );
    const deviceUid = 0x00181002; // Retain UIDs K and Retain Device Identity K
    expect(actionFor(deviceUid, opts({ retainUids: true, retainDeviceIdentity: true }))).toBe('K');
    expect(actionFor(0x00102110, opts({ retainPatientCharacteristics: true, cleanDescriptors: true }))).toBe('C'); // Allergies
  });

  it('matches the repeating overlay and curve rows only in the even groups PS3.5 allows', () => {
    expect(profileRow(0x60023000)?.tag).toBe('60xx3000');
    expect(actionFor(0x60023000, BASIC)).toBe('X');
    expect(actionFor(0x60023000, opts({ cleanGraphics: true }))).toBe('C');
    expect(actionFor(0x601e4000, BASIC)).toBe('X');
    expect(profileRow(0x60203000)).toBeNull(); // beyond 601E
    expect(profileRow(0x60010010)).toBeNull(); // odd group: private, not an overlay
    expect(profileRow(0x50000010)?.tag).toBe('50xxxxxx');
    expect(profileRow(0x60020010)).toBeNull(); // overlay rows name only 3000 and 4000
  });

  it('answers null for a tag the table does not list and for private tags', () => {
    expect(actionFor(0x00080016, BASIC)).toBeNull(); // SOP Class UID
    expect(actionFor(0x00280010, BASIC)).toBeNull(); // Rows
    expect(actionFor(0x00091001, opts({ retainSafePrivate: true }))).toBeNull();
  });
});

describe('resolveCombined (Table E.1-1a)', () => {
  const types: (AttributeType | null)[] = ['1', '1C', '2', '2C', '3', null];
  it.each<[ActionCode & ('Z/D' | 'X/Z' | 'X/D' | 'X/Z/D' | 'X/Z/U*'), string[]]>([
    ['Z/D', ['D', 'D', 'Z', 'Z', 'Z', 'D']],
    ['X/Z', ['Z', 'Z', 'Z', 'Z', 'X', 'Z']],
    ['X/D', ['D', 'D', 'D', 'D', 'X', 'D']],
    ['X/Z/D', ['D', 'D', 'Z', 'Z', 'X', 'D']],
    ['X/Z/U*', ['U', 'U', 'U', 'U', 'U', 'U']],
  ])('%s for Types 1, 1C, 2, 2C, 3, unknown', (code, expected) => {
    expect(types.map((t) => resolveCombined(code, t))).toEqual(expected);
  });

  it('passes simple codes through', () => {
    for (const c of ['D', 'Z', 'X', 'U'] as const) {
      expect(resolveCombined(c, '1')).toBe(c);
    }
  });
});

describe('attributeType', () => {
  it('uses the IOD of the SOP Class, then the strongest Type in any IOD, then null', () => {
    expect(attributeType(CT, 0x00080080)).toBe('3'); // Institution Name, General Equipment
    expect(attributeType(CT, 0x00080023)).toBe('2C'); // Content Date, General Image
    expect(attributeType(`${CT}\0`, 0x00100020)).toBe('2'); // padded UID; Patient ID
    expect(attributeType('1.2.840.10008.5.1.4.1.1.481.5', 0x300a0006)).toBe('2'); // RT Plan Date
    expect(attributeType('1.2.3.4.unknown', 0x00181000)).toBe('1'); // Type 1 in Enhanced General Equipment
    expect(attributeType(null, 0x00081140)).toBe('1C');
    expect(attributeType(CT, 0x00100010)).toBeNull(); // not a combined-code tag: not tabulated
  });
});

describe('Table E.3.10-1 safe private attributes', () => {
  it('has the 2023b rows', () => {
    expect(SAFE_PRIVATE_EDITION).toBe('2023b');
    expect(SAFE_PRIVATE_ROWS).toBe(479);
  });

  it('keeps only listed (creator, group, element, VR) entries', () => {
    expect(isSafePrivate('SIEMENS MR HEADER', 0x0019, 0x0c, 'IS')).toBe(true); // B Value
    expect(isSafePrivate('SIEMENS MR HEADER ', 0x0019, 0x100c, 'IS')).toBe(true); // LO padding, whole element
    expect(isSafePrivate('SIEMENS MR HEADER', 0x0019, 0x0c, 'UN')).toBe(true); // implicit VR
    expect(isSafePrivate('SIEMENS MR HEADER', 0x0019, 0x0c, 'LO')).toBe(false); // wrong VR
    expect(isSafePrivate('SIEMENS MR HEADER', 0x0019, 0x0b, 'IS')).toBe(false); // element not listed
    expect(isSafePrivate('SIEMENS CSA HEADER', 0x0029, 0x10, 'OB')).toBe(false); // creator not listed
    expect(isSafePrivate('siemens mr header', 0x0019, 0x0c, 'IS')).toBe(false); // creators are case-sensitive
    expect(isSafePrivate('Philips Imaging DD 001', 0x2001, 0x7d, 'OW')).toBe(true); // "OB/OW" row
    expect(isSafePrivate('SIEMENS Ultrasound SC2000', 0x0129, 0x03, 'FD')).toBe(true); // row without a VR
  });
});

describe('loadTables', () => {
  it('refuses a malformed table instead of keeping what it cannot read', () => {
    const bad = { ...e11, rows: [{ ...e11.rows[0], basic: 'Q' }], rowCount: 1 };
    expect(() => loadTables(bad)).toThrow(/unknown action code/);
    expect(() => loadTables({ ...e11, rowCount: 3 })).toThrow(/rowCount/);
  });
});
