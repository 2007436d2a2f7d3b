// The YAML rules file: every operator, the combinators, and line-numbered validation errors.
import { describe, expect, it } from 'vitest';
import { tagOfKeyword } from '../../../../src/dicom/dictionary.ts';
import { buildRuleSet } from '../../../../src/transforms/route/rule-set.ts';
import {
  RuleFileError,
  type InstanceView,
  type InstanceVerdict,
  type RuleInputs,
} from '../../../../src/transforms/route/types.ts';

/** An instance from keyword (or 8-digit hex tag) → values ('a\\b' splits; null = present but empty). */
function view(attrs: Record<string, string | null>): InstanceView {
  const m = new Map<number, readonly string[]>();
  for (const [k, v] of Object.entries(attrs)) {
    const tag = /^[0-9A-F]{8}$/.test(k) ? parseInt(k, 16) : tagOfKeyword(k);
    if (tag === undefined) {
      throw new Error(`unknown keyword ${k}`);
    }
    m.set(tag, v === null ? [] : v.split('\\'));
  }
  return { values: (tag) => m.get(tag), sopClassUid: '' };
}

const OFF: RuleInputs['builtin'] = {
  burnedIn: { enabled: false, modalities: [], seriesDescriptions: [] },
  missingIdentifiers: false,
};
const IDENTIFYING = new Set(['PatientName', 'PatientID', 'SeriesDescription'].map((k) => tagOfKeyword(k)));
const identifying = (tag: number): boolean => IDENTIFYING.has(tag);
const BASE = { Modality: 'MR' };

function build(yaml: string): (attrs: Record<string, string | null>) => InstanceVerdict {
  const set = buildRuleSet(
    { protocol: null, rules: { path: 'rules.yaml', text: yaml }, builtin: OFF },
    { identifying },
  );
  return (attrs) => set.evaluate(view({ ...BASE, ...attrs }));
}

/** A rules file with one quarantine rule whose `when:` is the given flow mapping. */
function when(condition: string): (attrs: Record<string, string | null>) => string {
  const evaluate = build(`version: 1\nrules:\n  - name: r\n    when: ${condition}\n    then: quarantine\n`);
  return (attrs) => evaluate(attrs).target;
}

function problems(yaml: string): readonly string[] {
  try {
    buildRuleSet({ protocol: null, rules: { path: 'rules.yaml', text: yaml }, builtin: OFF }, { identifying });
  } catch (err) {
    expect(err).toBeInstanceOf(RuleFileError);
    return (err as RuleFileError).problems;
  }
  throw new Error('expected a RuleFileError');
}

const EXAMPLE = `version: 1
default: hospital
rules:
  - name: aera-localisers
    when:
      attribute: ManufacturerModelName
      equals: Aera
    then: quarantine
    reason: Aera localisers carry the patient name
`;

describe('the documented example', () => {
  it('quarantines the Aera with a reason naming the rule, file, line and value', () => {
    const evaluate = build(EXAMPLE);
    expect(evaluate({ ManufacturerModelName: 'Aera' })).toEqual({
      target: 'quarantine',
      reasons: [
        {
          rule: 'rules:aera-localisers',
          source: 'rules',
          file: 'rules.yaml',
          line: 4,
          attribute: 'ManufacturerModelName',
          values: ['Aera'],
          message: 'Rule aera-localisers sends it to quarantine: Aera localisers carry the patient name',
          instances: 1,
        },
      ],
    });
    expect(evaluate({ ManufacturerModelName: 'Skyra' })).toEqual({
      target: 'hospital',
      reasons: [{ rule: 'default', source: 'default', message: 'No rule sent it to quarantine.', instances: 1 }],
    });
  });
});

describe('operators', () => {
  it('equals compares text exactly, or case-insensitively with ignoreCase', () => {
    expect(when('{ attribute: ManufacturerModelName, equals: Aera }')({ ManufacturerModelName: 'aera' })).toBe(
      'hospital',
    );
    expect(
      when('{ attribute: ManufacturerModelName, equals: Aera, ignoreCase: true }')({ ManufacturerModelName: 'AERA' }),
    ).toBe('quarantine');
    expect(
      when('{ attribute: ManufacturerModelName, equals: Aera, ignoreCase: false }')({ ManufacturerModelName: 'AERA' }),
    ).toBe('hospital');
  });

  it('equals with a YAML number compares numerically; quoted, as text', () => {
    const n = when('{ attribute: SeriesNumber, equals: 5 }');
    expect(n({ SeriesNumber: '5' })).toBe('quarantine');
    expect(n({ SeriesNumber: '05' })).toBe('quarantine');
    expect(n({ SeriesNumber: '5.0' })).toBe('quarantine');
    expect(n({ SeriesNumber: '6' })).toBe('hospital');
    expect(when('{ attribute: SeriesNumber, equals: "05" }')({ SeriesNumber: '5' })).toBe('hospital');
  });

  it('oneOf matches any listed value', () => {
    const t = when('{ attribute: Modality, oneOf: [CT, PT, 4] }');
    expect(t({ Modality: 'PT' })).toBe('quarantine');
    expect(t({ Modality: 'MR' })).toBe('hospital');
    expect(t({ Modality: '4' })).toBe('quarantine');
    expect(when('{ attribute: Modality, oneOf: [ct], ignoreCase: true }')({ Modality: 'CT' })).toBe('quarantine');
  });

  it('regex searches each value, with u and optional i', () => {
    const t = when('{ attribute: StudyDescription, regex: "^head\\\\b" }');
    expect(t({ StudyDescription: 'head scan' })).toBe('quarantine');
    expect(t({ StudyDescription: 'Head scan' })).toBe('hospital');
    expect(t({ StudyDescription: 'forehead' })).toBe('hospital');
    expect(
      when("{ attribute: StudyDescription, regex: '^head', ignoreCase: true }")({ StudyDescription: 'HEAD' }),
    ).toBe('quarantine');
    expect(when("{ attribute: StudyDescription, regex: '\\p{Lu}{3}' }")({ StudyDescription: 'ÉÀÜ' })).toBe(
      'quarantine',
    );
  });

  it('present needs a non-empty value; missing is absent or empty', () => {
    const present = when('{ attribute: ConversionType, present: true }');
    const missing = when('{ attribute: ConversionType, missing: true }');
    expect([present({ ConversionType: 'WSD' }), missing({ ConversionType: 'WSD' })]).toEqual([
      'quarantine',
      'hospital',
    ]);
    expect([present({ ConversionType: null }), missing({ ConversionType: null })]).toEqual(['hospital', 'quarantine']);
    expect([present({ ConversionType: ' \\ ' }), missing({ ConversionType: ' \\ ' })]).toEqual([
      'hospital',
      'quarantine',
    ]);
    expect([present({}), missing({})]).toEqual(['hospital', 'quarantine']);
  });

  it.each([
    ['lt', '2.5', ['quarantine', 'hospital', 'hospital']],
    ['le', '2.5', ['quarantine', 'quarantine', 'hospital']],
    ['gt', '2.5', ['hospital', 'hospital', 'quarantine']],
    ['ge', '2.5', ['hospital', 'quarantine', 'quarantine']],
  ])('%s %s compares numbers (1, 2.5, 3e0); non-numbers never match', (op, limit, expected) => {
    const t = when(`{ attribute: SliceThickness, ${op}: ${limit} }`);
    expect([t({ SliceThickness: '1' }), t({ SliceThickness: '2.50' }), t({ SliceThickness: '3e0' })]).toEqual(expected);
    for (const junk of ['', 'thin', '0x1', 'NaN', '-']) {
      expect(t({ SliceThickness: junk }), junk).toBe('hospital');
    }
  });

  it('matches a multi-valued attribute when any value matches', () => {
    const t = when('{ attribute: ImageType, equals: LOCALIZER }');
    expect(t({ ImageType: 'ORIGINAL\\PRIMARY\\LOCALIZER' })).toBe('quarantine');
    expect(t({ ImageType: 'ORIGINAL\\PRIMARY\\AXIAL' })).toBe('hospital');
  });

  it('addresses an attribute by "gggg,eeee", private tags included', () => {
    expect(when('{ attribute: "0008,1090", equals: Aera }')({ ManufacturerModelName: 'Aera' })).toBe('quarantine');
    const evaluate = build(
      'version: 1\nrules:\n  - name: p\n    when: { attribute: "0029,1010", present: true }\n    then: quarantine\n',
    );
    const v = evaluate({ '00291010': 'x' });
    expect(v.reasons[0]).toMatchObject({ attribute: '(0029,1010)', values: ['x'] });
  });
});

describe('all, any, not', () => {
  const t = when(`
      all:
        - { attribute: Modality, equals: CT }
        - any:
            - { attribute: ManufacturerModelName, equals: Aera }
            - not: { attribute: BodyPartExamined, oneOf: [CHEST, ABDOMEN] }`);

  it.each([
    [{ Modality: 'CT', ManufacturerModelName: 'Aera', BodyPartExamined: 'CHEST' }, 'quarantine'],
    [{ Modality: 'CT', ManufacturerModelName: 'Skyra', BodyPartExamined: 'HEAD' }, 'quarantine'],
    [{ Modality: 'CT', ManufacturerModelName: 'Skyra' }, 'quarantine'],
    [{ Modality: 'CT', ManufacturerModelName: 'Skyra', BodyPartExamined: 'CHEST' }, 'hospital'],
    [{ Modality: 'MR', ManufacturerModelName: 'Aera', BodyPartExamined: 'HEAD' }, 'hospital'],
  ])('%j → %s', (attrs, expected) => {
    expect(t(attrs)).toBe(expected);
  });

  it('names the first leaf that matched; a not names none', () => {
    const evaluate = build(
      'version: 1\nrules:\n  - name: r\n    when: { any: [ { not: { attribute: Modality, equals: MR } }, { attribute: Modality, equals: MR } ] }\n    then: quarantine\n',
    );
    expect(evaluate({ Modality: 'MR' }).reasons[0]).toMatchObject({ attribute: 'Modality', values: ['MR'] });
    expect(evaluate({ Modality: 'CT' }).reasons[0]).not.toHaveProperty('attribute');
  });
});

describe('identifying attributes', () => {
  it('never shows the values of an identifying attribute, but names it', () => {
    const evaluate = build(
      'version: 1\nrules:\n  - name: vip\n    when: { attribute: PatientName, regex: "^SMITH" }\n    then: quarantine\n',
    );
    const v = evaluate({ PatientName: 'SMITH^JOHN' });
    expect(v.reasons).toEqual([
      {
        rule: 'rules:vip',
        source: 'rules',
        file: 'rules.yaml',
        line: 3,
        attribute: 'PatientName',
        message: 'Rule vip sends it to quarantine.',
        instances: 1,
      },
    ]);
    expect(JSON.stringify(v)).not.toContain('SMITH');
  });

  it('shows at most 5 distinct values, each cut to 64 characters', () => {
    const evaluate = build(
      'version: 1\nrules:\n  - name: long\n    when: { attribute: ImageType, present: true }\n    then: quarantine\n',
    );
    const long = 'X'.repeat(100);
    const v = evaluate({ ImageType: ['A', 'B', 'A', 'C', 'D', 'E', 'F', long].join('\\') });
    expect(v.reasons[0]?.values).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(evaluate({ ImageType: long }).reasons[0]?.values).toEqual(['X'.repeat(64)]);
  });
});

describe('validation', () => {
  it('reports every problem with its line', () => {
    const yaml = [
      'version: 1', // 1
      'rules:', // 2
      '  - name: ok', // 3
      '    when: { attribute: Modality, equals: CT }', // 4
      '    then: quarantine', // 5
      '  - name: ok', // 6 duplicate
      '    when:', // 7
      '      attribute: PatientsName', // 8 unknown keyword
      '      equals: X', // 9
      '    then: hospital', // 10
      '  - name: Bad_Name', // 11 bad name
      '    when:', // 12
      '      attribute: Modality', // 13
      '      equals: CT', // 14
      '      oneOf: [MR]', // 15 second operator
      '    then: elsewhere', // 16 bad target
      '    colour: red', // 17 unknown key
      '  - name: regex', // 18
      '    when: { attribute: Modality, regex: "(" }', // 19 invalid regex
      '    then: quarantine', // 20
      '  - name: types', // 21
      '    when:', // 22
      '      all:', // 23
      '        - { attribute: SliceThickness, lt: thin }', // 24 lt needs a number
      '        - { attribute: Modality, present: false }', // 25 present: true only
      '        - { attribute: Modality, equals: [CT] }', // 26 equals: string|number
      '        - { attribute: Modality, equals: CT, size: 1 }', // 27 unknown key in a leaf
      '        - { attribute: 12, equals: CT }', // 28 attribute not text
      '        - { attribute: Modality, lt: 1, ignoreCase: true }', // 29 ignoreCase on lt
      '        - { attribute: Modality }', // 30 no operator
      '        - { any: [] }', // 31 empty any
      '        - { not: { equals: CT } }', // 32 no attribute
      '        - { all: [], attribute: Modality }', // 33 combinator not alone
    ].join('\n');
    expect(problems(yaml)).toEqual([
      'rules.yaml line 6: duplicate rule name "ok" (first on line 3)',
      'rules.yaml line 8: unknown attribute keyword "PatientsName" (a DICOM keyword such as ManufacturerModelName, or "gggg,eeee")',
      'rules.yaml line 17: unknown key "colour" in a rule (expected name, when, then, reason)',
      'rules.yaml line 11: name must be lower-case letters, digits and "-", starting with a letter or digit',
      'rules.yaml line 15: a condition takes one operator, found equals and oneOf',
      'rules.yaml line 16: then must be hospital or quarantine',
      'rules.yaml line 19: invalid regular expression: Invalid regular expression: /(/u: Unterminated group',
      'rules.yaml line 24: lt takes a finite number',
      'rules.yaml line 25: present takes only true (use missing: true for the opposite)',
      'rules.yaml line 26: equals takes a string or a number',
      'rules.yaml line 27: unknown key "size" in a condition (expected attribute, ignoreCase, one of equals, oneOf, regex, present, missing, lt, le, gt, ge, or all, any, not)',
      'rules.yaml line 28: attribute must be a DICOM keyword or "gggg,eeee"',
      'rules.yaml line 29: ignoreCase applies only to equals, oneOf, regex',
      'rules.yaml line 30: a condition needs one operator: equals, oneOf, regex, present, missing, lt, le, gt, ge',
      'rules.yaml line 31: "any" takes a non-empty list of conditions',
      'rules.yaml line 32: a condition needs "attribute" (a DICOM keyword or "gggg,eeee"), or one of all, any, not',
      'rules.yaml line 33: "all" must be the only key of its condition',
      'rules.yaml line 21: a rule needs "then: hospital" or "then: quarantine"',
    ]);
  });

  it.each([
    ['', 'rules.yaml line 1: the rules file must be a mapping with version: 1 and rules: [...]'],
    ['rules: []\n', 'rules.yaml line 1: missing "version: 1"'],
    ['version: 2\nrules: []\n', 'rules.yaml line 1: version must be 1'],
    ['version: 1\n', 'rules.yaml line 1: missing "rules:" (a list, possibly empty: rules: [])'],
    ['version: 1\nrules:\n', 'rules.yaml line 2: rules must be a list'],
    ['version: 1\ndefault: maybe\nrules: []\n', 'rules.yaml line 2: default must be hospital or quarantine'],
    [
      'version: 1\nrules: []\nextra: 1\n',
      'rules.yaml line 3: unknown key "extra" at the top level (expected version, default, rules)',
    ],
    [
      'version: 1\nrules:\n  - name: a\n    then: quarantine\n',
      'rules.yaml line 3: a rule needs "when" (its condition)',
    ],
    [
      'version: 1\nrules:\n  - name: a\n    when: { attribute: Modality, present: true }\n',
      'rules.yaml line 3: a rule needs "then: hospital" or "then: quarantine"',
    ],
    [
      'version: 1\nrules:\n  - when: { attribute: Modality, present: true }\n    then: hospital\n',
      'rules.yaml line 3: a rule needs "name"',
    ],
    [
      'version: 1\nrules:\n  - name: a\n    when: { attribute: Modality, present: true }\n    then: hospital\n    reason: ""\n',
      'rules.yaml line 6: reason must be non-empty text',
    ],
    [
      'version: 1\nrules:\n  - just text\n',
      'rules.yaml line 3: a rule must be a mapping with name, when, then and optionally reason',
    ],
    [
      'version: 1\nrules:\n  - name: a\n    when: [x]\n    then: hospital\n',
      'rules.yaml line 4: a condition must be a mapping: {attribute, <operator>}, {all: [...]}, {any: [...]} or {not: ...}',
    ],
    [
      'version: 1\nx: &c { attribute: Modality, present: true }\nrules: [ { name: a, when: *c, then: hospital } ]\n',
      'rules.yaml line 3: aliases (*name) and other YAML node types are not supported in the rules file',
    ],
    [
      'version: 1\nrules:\n  - name: a\n    when: { attribute: Modality, equals: [CT\n',
      'rules.yaml line 5: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
    [
      'version: 1\nrules:\n  - name: a\n    when: { attribute: Modality, equals: CT, ignoreCase: "yes" }\n    then: hospital\n',
      'rules.yaml line 4: ignoreCase takes true or false',
    ],
    [
      'version: 1\nrules:\n  - name: a\n    when: { attribute: Modality, oneOf: [CT, [MR]] }\n    then: hospital\n',
      'rules.yaml line 4: oneOf items must be strings or numbers',
    ],
    [
      'version: 1\nrules:\n  - name: a\n    when: { attribute: Modality, oneOf: [] }\n    then: hospital\n',
      'rules.yaml line 4: oneOf takes a non-empty list of strings or numbers',
    ],
    [
      'version: 1\nrules:\n  - name: a\n    when: { attribute: Modality, regex: 1 }\n    then: hospital\n',
      'rules.yaml line 4: regex takes a string',
    ],
    [
      'version: 1\nrules:\n  - name: a\n    when: { attribute: Modality, missing: false }\n    then: hospital\n',
      'rules.yaml line 4: missing takes only true (use present: true for the opposite)',
    ],
    [
      'version: 1\nrules:\n  - name: a\n    when: { not: [] }\n    then: hospital\n',
      'rules.yaml line 4: a condition must be a mapping: {attribute, <operator>}, {all: [...]}, {any: [...]} or {not: ...}',
    ],
    ['version: 1\nversion: 1\nrules: []\n', 'rules.yaml line 2: invalid YAML: Map keys must be unique'],
  ])('rejects %j', (yaml, problem) => {
    expect(problems(yaml)).toContain(problem);
  });

  it('accepts an empty rule list and an omitted default (hospital)', () => {
    expect(build('version: 1\nrules: []\n')({}).target).toBe('hospital');
  });
});
