// DASHER's protocol.txt as the route transform reads it: the real files unchanged, and the cases
// where DASHER's substring match and our exact-token match disagree (reference/xnat.md §1.8).
import { describe, expect, it } from 'vitest';
import { tagOfKeyword } from '../../../../src/dicom/dictionary.ts';
import { buildRuleSet } from '../../../../src/transforms/route/rule-set.ts';
import { RuleFileError, type InstanceVerdict, type RuleInputs } from '../../../../src/transforms/route/types.ts';
import { view } from '../../../helpers/instance-view.ts';

const OFF: RuleInputs['builtin'] = {
  burnedIn: { enabled: false, modalities: [], seriesDescriptions: [] },
  missingIdentifiers: false,
};
const identifying = (tag: number): boolean => tag === tagOfKeyword('PatientName') || tag === tagOfKeyword('PatientID');

function verdict(protocol: string, attrs: Record<string, string | null>): InstanceVerdict {
  const rules = buildRuleSet(
    { protocol: { path: 'protocol.txt', text: protocol }, rules: null, builtin: OFF },
    { identifying },
  );
  return rules.evaluate(view(attrs));
}
const target = (protocol: string, attrs: Record<string, string | null>): string => verdict(protocol, attrs).target;

function problems(protocol: string): readonly string[] {
  try {
    buildRuleSet({ protocol: { path: 'p.txt', text: protocol }, rules: null, builtin: OFF }, { identifying });
  } catch (err) {
    expect(err).toBeInstanceOf(RuleFileError);
    return (err as RuleFileError).problems;
  }
  throw new Error('expected a RuleFileError');
}

const EXAMPLE_1 = '0008,0060   Modality                  ALL\n0008,1090   ManufacturersModelName    ALLOW ALL\n';
const EXAMPLE_2 = '0008,0060   Modality                ALL\n0008,1090   ManufacturersModelName  Aera\n';
const EXAMPLE_3 =
  '0008,0060 \tModality   ALL,CT,RTSTRUCT, MR, RTDOSE,RTPLAN,PET\n0008,1090   ManufacturersModelName    ALL\n';
const include = (list: string, models = 'ALLOW ALL'): string =>
  `0008,0060 Modality ${list}\n0008,1090 ManufacturersModelName ${models}\n`;
const exclude = (list: string): string => `0008,0060 Modality ALL\n0008,1090 ManufacturersModelName ${list}\n`;

describe("DASHER's own protocol files", () => {
  it.each(['MR', 'CT', 'US', 'OT', 'SR'])('example 1 (ALL / ALLOW ALL) quarantines nothing: %s', (modality) => {
    expect(target(EXAMPLE_1, { Modality: modality, ManufacturerModelName: 'Aera' })).toBe('hospital');
  });

  it('example 2 quarantines the Aera, and only the Aera', () => {
    expect(verdict(EXAMPLE_2, { Modality: 'MR', ManufacturerModelName: 'Aera' })).toEqual({
      target: 'quarantine',
      reasons: [
        {
          rule: 'protocol:model',
          source: 'protocol',
          file: 'protocol.txt',
          line: 2,
          attribute: 'ManufacturerModelName',
          message: "ManufacturerModelName is on the protocol's exclude list (line 2).",
          values: ['Aera'],
          instances: 1,
        },
      ],
    });
    expect(target(EXAMPLE_2, { Modality: 'MR', ManufacturerModelName: 'Skyra' })).toBe('hospital');
  });

  it.each(['MR', 'CT', 'US', 'XA', 'OT'])(
    'example 3 (shipped default, tab, ALL among names) quarantines nothing: %s',
    (modality) => {
      expect(target(EXAMPLE_3, { Modality: modality, ManufacturerModelName: 'Aera' })).toBe('hospital');
    },
  );
});

describe('exact tokens where DASHER matches substrings of the line', () => {
  it.each(['Name', 'Model', 'a', 'Aer', 'ModelName', '0008'])(
    'model %s is not quarantined by a list holding Aera',
    (model) => {
      expect(target(EXAMPLE_2, { Modality: 'MR', ManufacturerModelName: model })).toBe('hospital');
    },
  );

  it('a model named SMALLVIEW neither matches Aera nor switches the filter off', () => {
    expect(target(EXAMPLE_2, { Modality: 'MR', ManufacturerModelName: 'SMALLVIEW' })).toBe('hospital');
    expect(target(exclude('SMALLVIEW, Aera'), { Modality: 'MR', ManufacturerModelName: 'Aera' })).toBe('quarantine');
    expect(target(exclude('SMALLVIEW, Aera'), { Modality: 'MR', ManufacturerModelName: 'SMALLVIEW' })).toBe(
      'quarantine',
    );
    expect(target(exclude('SMALLVIEW, Aera'), { Modality: 'MR', ManufacturerModelName: 'Skyra' })).toBe('hospital');
  });

  it('matches the model exactly and case-sensitively: MAGNETOM Aera is not Aera', () => {
    expect(target(EXAMPLE_2, { Modality: 'MR', ManufacturerModelName: 'MAGNETOM Aera' })).toBe('hospital');
    expect(target(EXAMPLE_2, { Modality: 'MR', ManufacturerModelName: 'aera' })).toBe('hospital');
    expect(target(EXAMPLE_2, { Modality: 'MR', ManufacturerModelName: ' Aera ' })).toBe('quarantine');
    // Unquoted, "MAGNETOM Aera" is two values; quoted, one.
    expect(target(exclude('MAGNETOM Aera'), { Modality: 'MR', ManufacturerModelName: 'MAGNETOM Aera' })).toBe(
      'hospital',
    );
    expect(target(exclude('MAGNETOM Aera'), { Modality: 'MR', ManufacturerModelName: 'Aera' })).toBe('quarantine');
    expect(target(exclude('"MAGNETOM Aera"'), { Modality: 'MR', ManufacturerModelName: 'MAGNETOM Aera' })).toBe(
      'quarantine',
    );
    expect(target(exclude('"MAGNETOM Aera"'), { Modality: 'MR', ManufacturerModelName: 'Aera' })).toBe('hospital');
  });

  it('lists a model with spaces and signs in double quotes', () => {
    const p = exclude('Aera, "SOMATOM Definition AS+" ,Skyra');
    expect(target(p, { Modality: 'CT', ManufacturerModelName: 'SOMATOM Definition AS+' })).toBe('quarantine');
    expect(target(p, { Modality: 'CT', ManufacturerModelName: 'SOMATOM Definition AS' })).toBe('hospital');
    expect(target(p, { Modality: 'MR', ManufacturerModelName: 'Skyra' })).toBe('quarantine');
  });

  it('quarantines CT when the include list says RTSTRUCT, MR (DASHER would find CT inside RTSTRUCT)', () => {
    expect(verdict(include('RTSTRUCT, MR'), { Modality: 'CT' })).toEqual({
      target: 'quarantine',
      reasons: [
        {
          rule: 'protocol:modality',
          source: 'protocol',
          file: 'protocol.txt',
          line: 1,
          attribute: 'Modality',
          message: "Modality CT is not on the protocol's include list (line 1).",
          values: ['CT'],
          instances: 1,
        },
      ],
    });
    expect(target(include('RTSTRUCT, MR'), { Modality: 'RTSTRUCT' })).toBe('hospital');
  });

  it('compares modalities case-insensitively: mr is allowed by MR, and mr in the list allows MR', () => {
    expect(target(include('CT MR'), { Modality: 'mr' })).toBe('hospital');
    expect(target(include('ct,mr'), { Modality: 'MR' })).toBe('hospital');
  });

  it('quarantines US when the list is CT, MR, RTSTRUCT, RTPLAN, RTDOSE, PET', () => {
    expect(target(include('CT, MR, RTSTRUCT, RTPLAN, RTDOSE, PET'), { Modality: 'US' })).toBe('quarantine');
    expect(target(include('CT, MR, RTSTRUCT, RTPLAN, RTDOSE, PET'), { Modality: 'PET' })).toBe('hospital');
  });

  it('passes an instance without ManufacturerModelName: it is not on the exclude list', () => {
    expect(target(EXAMPLE_2, { Modality: 'MR' })).toBe('hospital');
    expect(target(EXAMPLE_2, { Modality: 'MR', ManufacturerModelName: null })).toBe('hospital');
  });

  it('quarantines an instance without Modality unless the include list says ALL', () => {
    const v = verdict(include('CT, MR'), { ManufacturerModelName: 'Aera' });
    expect(v.target).toBe('quarantine');
    expect(v.reasons.map((r) => r.rule)).toEqual(['builtin:missing-modality', 'protocol:modality']);
    expect(v.reasons[1]?.message).toBe("Modality is missing, so it is not on the protocol's include list (line 1).");
    // The built-in missing-Modality rule is always on, so ALL still quarantines, for that reason only.
    expect(verdict(EXAMPLE_1, {}).reasons.map((r) => r.rule)).toEqual(['builtin:missing-modality']);
  });
});

describe('ALL and ALLOW ALL', () => {
  it.each([
    ['ALL', 'quarantines no model'],
    ['ALLOW ALL', 'quarantines no model'],
    ['Aera, ALL', 'ALL wins over listed models'],
    ['all', 'the keyword in any case'],
    ['ALLOW  ALL # with a comment', 'a trailing comment'],
  ])('model list %s: %s', (list) => {
    expect(target(exclude(list), { Modality: 'MR', ManufacturerModelName: 'Aera' })).toBe('hospital');
  });

  it('takes a quoted "ALL" as a literal value', () => {
    expect(target(exclude('"ALL"'), { Modality: 'MR', ManufacturerModelName: 'ALL' })).toBe('quarantine');
    expect(target(exclude('"ALL"'), { Modality: 'MR', ManufacturerModelName: 'Aera' })).toBe('hospital');
  });

  it('allows every modality when ALL appears anywhere in the include list', () => {
    expect(target(include('CT, MR, ALL'), { Modality: 'US' })).toBe('hospital');
    expect(target(include('ALLOW ALL'), { Modality: 'US' })).toBe('hospital');
  });
});

describe('protocol.txt syntax', () => {
  it('ignores comments, blank lines and clinical_trial_names; accepts CRLF, lower-case hex and ManufacturerModelName', () => {
    const p =
      '# quarantine protocol\r\n\r\nclinical_trial_names: TRIAL-1, TRIAL-2\r\n0008,0060 Modality CT MR # not US\r\n   \r\n0008,1090\tManufacturerModelName\t"Aera"\r\n';
    expect(target(p, { Modality: 'MR', ManufacturerModelName: 'Skyra' })).toBe('hospital');
    expect(target(p, { Modality: 'US' })).toBe('quarantine');
    const q = verdict(p, { Modality: 'MR', ManufacturerModelName: 'Aera' });
    expect(q.reasons[0]?.line).toBe(6);
    expect(
      target('0008,0060 Modality ALL\n0008,1090 ManufacturersModelName X#1\n', {
        Modality: 'MR',
        ManufacturerModelName: 'X#1',
      }),
    ).toBe('quarantine');
  });

  it('reads tags in any hex case (0008,10a0 is a tag, just not one protocol.txt routes on)', () => {
    const rest = '0008,0060 Modality CT\n0008,1090 ManufacturersModelName Aera\n';
    expect(problems(`${rest}0008,10a0 X Y\n0008,10A0 X Y\n`)).toEqual([
      'p.txt line 3: unknown tag 0008,10a0: protocol.txt routes only on 0008,0060 Modality and 0008,1090 ManufacturersModelName',
      'p.txt line 4: unknown tag 0008,10A0: protocol.txt routes only on 0008,0060 Modality and 0008,1090 ManufacturersModelName',
    ]);
  });

  it('collects every problem with its line', () => {
    const p = [
      '0008,0060 Modality CT', // 1: fine
      '0008,0060 Modality MR', // 2: duplicate
      '0008,0070 Manufacturer SIEMENS', // 3: unknown tag
      '08,0060 Modality CT', // 4: bad tag
      '0008,1090 Modality Aera', // 5: keyword does not match
      '0008,1090 ManufacturersModelName Aera', // 6: duplicate of the broken line 5
    ].join('\n');
    expect(problems(p)).toEqual([
      'p.txt line 2: a second 0008,0060 Modality line (the first is line 1)',
      'p.txt line 3: unknown tag 0008,0070: protocol.txt routes only on 0008,0060 Modality and 0008,1090 ManufacturersModelName',
      'p.txt line 4: bad tag "08,0060": expected hhhh,hhhh such as 0008,0060',
      'p.txt line 5: keyword "Modality" does not match tag 0008,1090 (expected ManufacturersModelName or ManufacturerModelName)',
      'p.txt line 6: a second 0008,1090 ManufacturersModelName line (the first is line 5)',
    ]);
  });

  it.each([
    ['0008,1090 ManufacturersModelName', 'p.txt line 3: empty list: write ALLOW ALL to exclude no model'],
    ['0008,1090 ManufacturersModelName Aera, "SOMATOM Aera', 'p.txt line 3: unterminated quote: "SOMATOM Aera'],
    ['0008,1090 ManufacturersModelName Aera ""', 'p.txt line 3: an empty quoted value ""'],
    ['0008,1090', 'p.txt line 3: 0008,1090 has no keyword: expected ManufacturersModelName or ManufacturerModelName'],
    [
      '0008,1090 # ManufacturersModelName',
      'p.txt line 3: 0008,1090 has no keyword: expected ManufacturersModelName or ManufacturerModelName',
    ],
  ])('rejects %j', (line, problem) => {
    expect(problems(`# header\n0008,0060 Modality ALL\n${line}\n`)).toEqual([problem]);
  });

  it('needs both lines, as DASHER does', () => {
    expect(problems('0008,1090 ManufacturersModelName ALL\n')).toEqual(['p.txt: no 0008,0060 Modality line']);
    expect(problems('')).toEqual([
      'p.txt: no 0008,0060 Modality line',
      'p.txt: no 0008,1090 ManufacturersModelName line',
    ]);
    expect(problems('0008,0060 Modality # nothing listed\n0008,1090 ManufacturersModelName ALL\n')).toEqual([
      'p.txt line 1: empty list: write ALL to allow every modality',
    ]);
  });
});
