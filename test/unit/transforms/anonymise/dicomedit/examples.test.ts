import { describe, expect, it } from 'vitest';
import { runScript } from '../../../../../src/transforms/anonymise/dicomedit/evaluate.ts';
import { parseScript } from '../../../../../src/transforms/anonymise/dicomedit/parser.ts';
import { fakeHost, fakeTarget } from './fake-target.ts';

// XNAT's default anonymisation script. The three statements are XNAT's own default script
// (META-INF/xnat/defaults/id.das in the XNAT web application, "Default XNAT anonymization
// script"); the version line is the one the XNAT wiki page "DicomEdit" ("Migration to version 6.1
// scripts") says every DicomEdit 6.1+ script must start with. The same four lines are the wiki's
// example project script (see docs/dicomedit.md). Documented effect: Study Description becomes
// the project ID unless the session is still unassigned, Patient's Name the subject label and
// Patient ID the session label.
const XNAT_DEFAULT_SCRIPT = `version "6.1"
project != "Unassigned" ? (0008,1030) := project
(0010,0010) := subject
(0010,0020) := session
`;

const INSTANCE = {
  '(0008,0020)': '20240102',
  '(0008,1030)': 'MRI BRAIN W/O CONTRAST',
  '(0010,0010)': 'Doe^Jane',
  '(0010,0020)': 'MRN123456',
  '(0020,000D)': '1.2.826.0.1.3680043.2.1125.1',
};

describe("XNAT's default anonymisation script", () => {
  const script = parseScript(XNAT_DEFAULT_SCRIPT);

  it('needs project, subject and session from the host', () => {
    expect(script.variables).toEqual(['project', 'subject', 'session']);
  });

  it('relabels the study, patient name and patient ID from the XNAT project, subject and session', () => {
    const target = fakeTarget(INSTANCE);
    const { changed } = runScript(
      script,
      target,
      { project: 'BRAIN01', subject: 'BRAIN01_S001', session: 'BRAIN01_S001_MR1' },
      fakeHost(),
    );
    expect(target.dump()).toEqual({
      ...INSTANCE,
      '(0008,1030)': 'BRAIN01',
      '(0010,0010)': 'BRAIN01_S001',
      '(0010,0020)': 'BRAIN01_S001_MR1',
    });
    expect(changed).toBe(3);
  });

  it('keeps the study description while the session is unassigned', () => {
    const target = fakeTarget(INSTANCE);
    runScript(script, target, { project: 'Unassigned', subject: 'S', session: 'E' }, fakeHost());
    expect(target.dump()['(0008,1030)']).toBe('MRI BRAIN W/O CONTRAST');
  });
});

// A site script in the style of DASHER's DicomEdit 6 script (scripts/anonv62.das: version 6.2,
// removeAllPrivateTags, a referenced-UID map for RT structure sets, a date shift), written for
// these tests. It exercises the statements such scripts rely on, together.
const SITE_SCRIPT = `version "6.2"
// De-identification for the RT trial
describe subject "Trial subject ID"
removeAllPrivateTags
-(50X@,XXXX)
-(60X@,3000)
- * / (0010,1000)
(0020,000D) := hashUID[(0020,000D)]
(0008,0018) := hashUID[(0008,0018)]
mapReferencedUIDs["2.25", "(3006,0010)/(0020,000D)", "(3006,0010)/(3006,0012)/(0008,1155)"]
(0008,0020) ?= shiftDateByIncrement[(0008,0020), -30]
(0008,0021) ?= shiftDateByIncrement[(0008,0021), -30]
(0010,0010) := subject
(0010,0020) := subject
(0012,0063) := format["{0} ({1})", "DicomEdit site script", "v1"]
(0008,0080) ~ "(?i).*hospital.*" ? - (0008,0080) : (0008,0080) := uppercase[(0008,0080)]
`;

describe('a DASHER-style site script', () => {
  it('removes, maps, shifts and relabels as written', () => {
    const target = fakeTarget({
      '(0008,0018)': '1.2.3.100',
      '(0008,0020)': '20240301',
      '(0008,0080)': 'St Elsewhere Hospital',
      '(0009,0010)': 'GEMS_IDEN_01',
      '(0009,1001)': 'private',
      '(0010,0010)': 'Doe^Jane',
      '(0010,1000)': 'OTHER-ID',
      '(0020,000D)': '1.2.3',
      '(3006,0010)[0]/(0020,000D)': '1.2.3',
      '(3006,0010)[0]/(3006,0012)[0]/(0008,1155)': '1.2.3.9',
      '(3006,0010)[0]/(0010,1000)': 'OTHER-ID',
      '(5000,3000)': 'curve',
      '(6000,3000)': 'overlay',
      '(6000,0010)': '512',
    });
    const host = fakeHost();
    runScript(parseScript(SITE_SCRIPT), target, { subject: 'RT-007' }, host);
    const h = (uid: string): string => host.hashUid(uid);
    expect(target.dump()).toEqual({
      '(0008,0018)': h('1.2.3.100'),
      '(0008,0020)': '20240131',
      '(0010,0010)': 'RT-007',
      '(0010,0020)': 'RT-007',
      '(0012,0063)': 'DicomEdit site script (v1)',
      '(0020,000D)': h('1.2.3'),
      '(3006,0010)[0]/(0020,000D)': h('1.2.3'),
      '(3006,0010)[0]/(3006,0012)[0]/(0008,1155)': h('1.2.3.9'),
      '(6000,0010)': '512',
    });
  });
});
