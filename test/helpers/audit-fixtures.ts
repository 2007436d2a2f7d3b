//! Fixtures for the ten classes of holes of the PS3.15 audit (issue 19), built by the test factory:
//! the unit tests of each class and the dciodvfy comparison use the same instances.
import type { Element as Spec, InstanceOptions } from './dicom-factory.ts';

const latin1 = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const uid = (s: string): Uint8Array => Buffer.from(s.length % 2 ? `${s}\0` : s, 'latin1');
const cs = (tag: number, value: string): Spec => ({ tag, vr: 'CS', value });
const code = (value: string, scheme: string, meaning: string): Spec[] => [
  { tag: 0x00080100, vr: 'SH', value },
  { tag: 0x00080102, vr: 'SH', value: scheme },
  { tag: 0x00080104, vr: 'LO', value: meaning },
];

/** Class 1: SOP, study, series and frame of reference UIDs, a name and free text, all stored as UN. */
export const UN_UIDS = {
  sop: '1.2.826.0.1.3680043.8.498.1011',
  study: '1.2.826.0.1.3680043.8.498.1012',
  series: '1.2.826.0.1.3680043.8.498.1013',
} as const;
export const UN_ENCODED: InstanceOptions = {
  sopInstanceUid: UN_UIDS.sop,
  studyInstanceUid: UN_UIDS.study,
  seriesInstanceUid: UN_UIDS.series,
  patientName: 'Smith^John',
  patientId: 'MRN1001',
  extraElements: [
    { tag: 0x00080018, vr: 'UN', value: uid(UN_UIDS.sop) },
    { tag: 0x0020000d, vr: 'UN', value: uid(UN_UIDS.study) },
    { tag: 0x0020000e, vr: 'UN', value: uid(UN_UIDS.series) },
    { tag: 0x00200052, vr: 'UN', value: uid('1.2.826.0.1.3680043.8.498.1014') },
    { tag: 0x00100010, vr: 'UN', value: latin1('Smith^John') },
    { tag: 0x00283003, vr: 'UN', value: latin1('LUT Smith John') },
  ],
};
/** Class 1: a Content Sequence stored as UN whose value is no items. */
export const UN_UNREADABLE: InstanceOptions = {
  extraElements: [{ tag: 0x0040a730, vr: 'UN', value: latin1('not items at all') }],
};

const textItem = (value: string): Spec[] => [
  cs(0x0040a010, 'CONTAINS'),
  cs(0x0040a040, 'TEXT'),
  { tag: 0x0040a043, vr: 'SQ', items: [code('121071', 'DCM', 'Finding')] },
  { tag: 0x0040a160, vr: 'UT', value },
];
const container = (items: Spec[][]): Spec[] => [
  cs(0x0040a010, 'CONTAINS'),
  cs(0x0040a040, 'CONTAINER'),
  { tag: 0x0040a730, vr: 'SQ', items },
];

/** Class 2: an SR with free-text PHI in TEXT items (one three containers down), a graphic annotation, observers and codes naming people. */
export const SR_WITH_PHI: InstanceOptions = {
  sopClassUid: '1.2.840.10008.5.1.4.1.1.88.33',
  modality: 'SR',
  patientName: 'Smith^John',
  patientId: 'MRN2002',
  extraElements: [
    {
      tag: 0x0040a730,
      vr: 'SQ',
      items: [
        [
          ...textItem('DOB 12/04/1961, 10 Downing St, tel 07700 900123, NHS 943 476 5919'),
          { tag: 0x00080082, vr: 'SQ', items: [code('HOSP7', '99LOCAL', 'St Elsewhere Hospital')] },
        ],
        container([container([textItem('Referred by Dr Harold Shipman')])]),
        [cs(0x0040a010, 'CONTAINS'), cs(0x0040a040, 'PNAME'), { tag: 0x0040a123, vr: 'PN', value: 'Shipman^Harold' }],
        [cs(0x0040a010, 'CONTAINS'), cs(0x0040a040, 'DATE'), { tag: 0x0040a121, vr: 'DA', value: '20240305' }],
      ],
    },
    {
      tag: 0x00700001,
      vr: 'SQ',
      items: [
        [
          cs(0x00700002, 'L1'),
          { tag: 0x00700008, vr: 'SQ', items: [[{ tag: 0x00700006, vr: 'ST', value: 'John Smith 1961-04-12' }]] },
        ],
      ],
    },
    {
      tag: 0x0040a073,
      vr: 'SQ',
      items: [
        [
          { tag: 0x0040a027, vr: 'LO', value: 'St Elsewhere' },
          { tag: 0x0040a030, vr: 'DT', value: '20240305101010' },
          { tag: 0x0040a075, vr: 'PN', value: 'Verifier^Vera' },
          { tag: 0x0040a088, vr: 'SQ', items: [code('EMP42', '99HOSP', 'Vera Verifier')] },
        ],
      ],
    },
    { tag: 0x00401101, vr: 'SQ', items: [code('EMP77', '99HOSP', 'Dr Harold Shipman')] },
  ],
};

/** Class 4: an Overlay Plane module (groups 6000 and 6002) with a description naming the patient. */
export const OVERLAY: InstanceOptions = {
  extraElements: [
    { tag: 0x60000010, vr: 'US', value: 16 },
    { tag: 0x60000011, vr: 'US', value: 16 },
    cs(0x60000040, 'G'),
    { tag: 0x60000050, vr: 'SS', value: [1, 1] },
    { tag: 0x60000100, vr: 'US', value: 1 },
    { tag: 0x60000102, vr: 'US', value: 0 },
    { tag: 0x60000022, vr: 'LO', value: 'Smith overlay' },
    { tag: 0x60003000, vr: 'OW', value: new Uint8Array(32) },
    { tag: 0x60020010, vr: 'US', value: 16 },
  ],
};

/** Class 5: UIDs Table E.1-1 codes U whose keywords read like definitions. */
export const U_CODED_ORIGINALS = [
  '1.2.826.0.1.3680043.8.498.5001',
  '1.2.826.0.1.3680043.8.498.5002',
  '1.2.826.0.1.3680043.8.498.5003',
] as const;
export const U_CODED: InstanceOptions = {
  extraElements: [
    { tag: 0x00080014, vr: 'UI', value: U_CODED_ORIGINALS[0] },
    { tag: 0x0018100b, vr: 'UI', value: U_CODED_ORIGINALS[1] },
    { tag: 0x0040db0d, vr: 'UI', value: U_CODED_ORIGINALS[2] },
  ],
};

/** Class 6: a name in a kept descriptor, in UTF-8 (another case), Latin-1, ISO 2022 IR 87 (a kanji run), and short parts. Label, fixture, cleaned value. */
export const NAMES_IN_TEXT: readonly (readonly [string, InstanceOptions, string])[] = [
  [
    'UTF-8, case-folded',
    { patientName: 'Müller^Jürgen', seriesDescription: 'MÜLLER JÜRGEN follow-up' },
    'XXX XXX follow-up',
  ],
  [
    'Latin-1',
    {
      extraElements: [
        cs(0x00080005, 'ISO_IR 100'),
        { tag: 0x00100010, vr: 'PN', value: latin1('Müller^Jürgen') },
        { tag: 0x0008103e, vr: 'LO', value: latin1('müller jürgen follow-up') },
      ],
    },
    'XXX XXX follow-up',
  ],
  [
    'ISO 2022 IR 87 (a kanji name run)',
    {
      extraElements: [
        { tag: 0x00080005, vr: 'CS', value: ['', 'ISO 2022 IR 87'] },
        {
          tag: 0x00100010,
          vr: 'PN',
          value: latin1('Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B'),
        },
        { tag: 0x0008103e, vr: 'LO', value: latin1('\x1b$B;3EDB@O:\x1b(B CT') },
      ],
    },
    'XXX CT',
  ],
  [
    'short name parts, as whole words',
    { patientName: 'Li^Na', seriesDescription: 'Li Na chest, linear' },
    'XXX XXX chest, linear',
  ],
];

/** Class 7: person names Table E.1-1 does not list. */
export const UNLISTED_NAMES: InstanceOptions = {
  extraElements: [
    { tag: 0x00140104, vr: 'PN', value: 'Reviewer^Bob' },
    { tag: 0x00142006, vr: 'PN', value: 'Evaluator^Eve' },
  ],
};

/** Class 8: an ultrasound that says its pixels carry text. */
export const BURNED_IN_US: InstanceOptions = {
  sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1',
  modality: 'US',
  extraElements: [cs(0x00280301, 'YES')],
};

/** Class 9: a date the basic profile shifts (D), and the ethics committee pair. */
export const SHIFTED_DATE: InstanceOptions = {
  extraElements: [{ tag: 0x00189074, vr: 'DT', value: '20240305101010' }],
};
export const ETHICS_PAIR: InstanceOptions = {
  extraElements: [
    { tag: 0x00120081, vr: 'LO', value: 'Ethics Board' },
    { tag: 0x00120082, vr: 'LO', value: 'APP-77' },
  ],
};

/** Every fixture above that de-identifies, for checks over all of them (dciodvfy, repeatability). */
export const AUDIT_FIXTURES: readonly (readonly [string, InstanceOptions])[] = [
  ['un-encoded', UN_ENCODED],
  ['sr-with-phi', SR_WITH_PHI],
  ['overlay', OVERLAY],
  ['u-coded', U_CODED],
  ...NAMES_IN_TEXT.map(([label, f]) => [`names-${label.split(' ')[0] ?? ''}`, f] as const),
  ['unlisted-names', UNLISTED_NAMES],
  ['burned-in-us', BURNED_IN_US],
  ['shifted-date', SHIFTED_DATE],
  ['ethics-pair', ETHICS_PAIR],
];
