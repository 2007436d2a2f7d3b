// The rule set as a whole: evaluation order, the built-in sets, series merging and the rules hash.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { tagOfKeyword } from '../../../../src/dicom/dictionary.ts';
import { builtinConfig } from '../../../../src/transforms/route/config.ts';
import { buildRuleSet, mergeVerdicts } from '../../../../src/transforms/route/rule-set.ts';
import { RuleFileError, type InstanceVerdict, type RuleInputs } from '../../../../src/transforms/route/types.ts';
import { view } from '../../../helpers/instance-view.ts';

const DEFAULTS: RuleInputs['builtin'] = builtinConfig.parse({});
const IDENTIFYING = new Set(
  ['PatientName', 'PatientID', 'StudyInstanceUID', 'SeriesDescription'].map((k) => tagOfKeyword(k)),
);
const identifying = (tag: number): boolean => IDENTIFYING.has(tag);
const COMPLETE = {
  PatientName: 'DOE^JANE',
  PatientID: 'P1',
  StudyInstanceUID: '1.2.3',
  Modality: 'MR',
  ImageType: 'ORIGINAL\\PRIMARY\\AXIAL',
};
const CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2';
const PROTOCOL = '0008,0060 Modality CT, MR, US, OT\n0008,1090 ManufacturersModelName Aera\n';
const RULES = `version: 1
rules:
  - name: research-scanner
    when: { attribute: StationName, equals: RESEARCH1 }
    then: hospital
    reason: the research scanner writes no burned-in text
  - name: localisers
    when: { attribute: ImageType, equals: LOCALIZER }
    then: quarantine
  - name: any-ct
    when: { attribute: Modality, equals: CT }
    then: quarantine
`;

function ruleSet(o: Partial<RuleInputs> = {}): (attrs: Record<string, string | null>, sop?: string) => InstanceVerdict {
  const set = buildRuleSet({ protocol: null, rules: null, builtin: DEFAULTS, ...o }, { identifying });
  return (attrs, sop = CT_IMAGE) => set.evaluate(view({ ...COMPLETE, ...attrs }, sop));
}
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const rulesOf = (v: InstanceVerdict): string[] =>
  v.reasons.map((r) => (r.attribute ? `${r.rule} ${r.attribute}` : r.rule));

describe('evaluation order', () => {
  const evaluate = ruleSet({
    protocol: { path: 'protocol.txt', text: PROTOCOL },
    rules: { path: 'rules.yaml', text: RULES },
  });

  it('sends a complete, unremarkable instance to the hospital with the default reason', () => {
    expect(evaluate({})).toEqual({
      target: 'hospital',
      reasons: [{ rule: 'default', source: 'default', message: 'No rule sent it to quarantine.', instances: 1 }],
    });
  });

  it('lets a hospital rule override the burned-in checks and protocol.txt', () => {
    const v = evaluate({
      StationName: 'RESEARCH1',
      Modality: 'US',
      ManufacturerModelName: 'Aera',
      BurnedInAnnotation: 'YES',
    });
    expect(v).toEqual({
      target: 'hospital',
      reasons: [
        {
          rule: 'rules:research-scanner',
          source: 'rules',
          file: 'rules.yaml',
          line: 3,
          attribute: 'StationName',
          values: ['RESEARCH1'],
          message:
            'Rule research-scanner sends it to the hospital project: the research scanner writes no burned-in text',
          instances: 1,
        },
      ],
    });
  });

  it('does not let a hospital rule override a missing identifier or Modality', () => {
    const v = evaluate({ StationName: 'RESEARCH1', PatientID: null, BurnedInAnnotation: 'YES' });
    expect(v.target).toBe('quarantine');
    expect(rulesOf(v)).toEqual(['builtin:missing-identifier PatientID']);
    expect(rulesOf(evaluate({ StationName: 'RESEARCH1', Modality: null }))).toEqual([
      'builtin:missing-modality Modality',
    ]);
  });

  it('takes the first matching rule only, and keeps collecting after a quarantine rule', () => {
    const v = evaluate({
      ImageType: 'ORIGINAL\\PRIMARY\\LOCALIZER',
      Modality: 'CT',
      ManufacturerModelName: 'Aera',
      BurnedInAnnotation: 'YES',
    });
    expect(rulesOf(v)).toEqual([
      'rules:localisers ImageType',
      'builtin:burned-in-annotation BurnedInAnnotation',
      'protocol:model ManufacturerModelName',
    ]);
    expect(rulesOf(evaluate({ Modality: 'CT' }))).toEqual(['rules:any-ct Modality']);
  });

  it('orders reasons: missing data, the rule, burned-in checks, protocol.txt', () => {
    const v = evaluate({ PatientName: null, Modality: 'CT', ConversionType: 'WSD', ManufacturerModelName: 'Aera' });
    expect(rulesOf(v)).toEqual([
      'builtin:missing-identifier PatientName',
      'rules:any-ct Modality',
      'builtin:conversion-type ConversionType',
      'protocol:model ManufacturerModelName',
    ]);
  });

  it("quarantines what no rule matched when the file's default is quarantine", () => {
    const strict = ruleSet({
      rules: {
        path: 'r.yaml',
        text: 'version: 1\ndefault: quarantine\nrules:\n  - name: mr\n    when: { attribute: Modality, equals: MR }\n    then: hospital\n',
      },
    });
    expect(strict({}).target).toBe('hospital');
    expect(strict({ Modality: 'CT' })).toEqual({
      target: 'quarantine',
      reasons: [
        {
          rule: 'default',
          source: 'default',
          file: 'r.yaml',
          line: 2,
          message: "No rule matched, and the rules file's default is quarantine.",
          instances: 1,
        },
      ],
    });
    expect(rulesOf(strict({ Modality: 'US' }))).toEqual(['builtin:modality Modality', 'default']);
  });
});

describe('built-in sets', () => {
  const evaluate = ruleSet();

  it.each([['PatientName'], ['PatientID'], ['StudyInstanceUID']])(
    'quarantines a missing or empty %s, one reason each',
    (keyword) => {
      expect(rulesOf(evaluate({ [keyword]: null }))).toEqual([`builtin:missing-identifier ${keyword}`]);
    },
  );

  it('gives one reason per missing identifier and never shows identifying values', () => {
    const v = evaluate({ PatientName: null, PatientID: ' ', StudyInstanceUID: null });
    expect(rulesOf(v)).toEqual([
      'builtin:missing-identifier PatientName',
      'builtin:missing-identifier PatientID',
      'builtin:missing-identifier StudyInstanceUID',
    ]);
    expect(v.reasons[0]?.message).toBe('PatientName is missing or empty; XNAT needs it to file the session.');
  });

  it('always quarantines a missing Modality, even with every switch off', () => {
    const off = ruleSet({
      builtin: { burnedIn: { enabled: false, modalities: [], seriesDescriptions: [] }, missingIdentifiers: false },
    });
    expect(rulesOf(off({ Modality: null, PatientName: null }))).toEqual(['builtin:missing-modality Modality']);
    expect(off({ BurnedInAnnotation: 'YES', Modality: 'OT' }).target).toBe('hospital');
  });

  it.each<[string, Record<string, string | null>, string, string, readonly string[] | undefined]>([
    [
      'BurnedInAnnotation YES',
      { BurnedInAnnotation: 'yes' },
      CT_IMAGE,
      'builtin:burned-in-annotation BurnedInAnnotation',
      ['yes'],
    ],
    [
      'RecognizableVisualFeatures YES',
      { RecognizableVisualFeatures: 'YES' },
      CT_IMAGE,
      'builtin:recognizable-features RecognizableVisualFeatures',
      ['YES'],
    ],
    [
      'ImageType value 2 SECONDARY',
      { ImageType: 'DERIVED\\SECONDARY\\AXIAL' },
      CT_IMAGE,
      'builtin:image-type ImageType',
      ['SECONDARY'],
    ],
    [
      'ImageType SCREEN SAVE',
      { ImageType: 'DERIVED\\PRIMARY\\SCREEN SAVE' },
      CT_IMAGE,
      'builtin:image-type ImageType',
      ['SCREEN SAVE'],
    ],
    [
      'ImageType CSA REPORT',
      { ImageType: 'ORIGINAL\\PRIMARY\\csa report' },
      CT_IMAGE,
      'builtin:image-type ImageType',
      ['CSA REPORT'],
    ],
    [
      'Secondary Capture',
      {},
      '1.2.840.10008.5.1.4.1.1.7',
      'builtin:sop-class SOPClassUID',
      ['1.2.840.10008.5.1.4.1.1.7'],
    ],
    [
      'multi-frame true colour SC',
      {},
      '1.2.840.10008.5.1.4.1.1.7.4',
      'builtin:sop-class SOPClassUID',
      ['1.2.840.10008.5.1.4.1.1.7.4'],
    ],
    [
      'Encapsulated PDF',
      {},
      '1.2.840.10008.5.1.4.1.1.104.1',
      'builtin:sop-class SOPClassUID',
      ['1.2.840.10008.5.1.4.1.1.104.1'],
    ],
    [
      'Encapsulated CDA',
      {},
      '1.2.840.10008.5.1.4.1.1.104.2',
      'builtin:sop-class SOPClassUID',
      ['1.2.840.10008.5.1.4.1.1.104.2'],
    ],
    ['Modality us', { Modality: 'us' }, CT_IMAGE, 'builtin:modality Modality', ['us']],
    [
      'a dose report',
      { SeriesDescription: 'Dose Report' },
      CT_IMAGE,
      'builtin:series-description SeriesDescription',
      undefined,
    ],
    ['ConversionType present', { ConversionType: 'WSD' }, CT_IMAGE, 'builtin:conversion-type ConversionType', ['WSD']],
    [
      'ConversionType present but empty',
      { ConversionType: null },
      CT_IMAGE,
      'builtin:conversion-type ConversionType',
      undefined,
    ],
  ])('quarantines %s', (_, attrs, sop, rule, values) => {
    const v = evaluate(attrs, sop);
    expect(v.target).toBe('quarantine');
    expect(rulesOf(v)).toEqual([rule]);
    expect(v.reasons[0]?.values).toEqual(values);
    expect(v.reasons[0]?.source).toBe('builtin');
  });

  it.each<[string, Record<string, string | null>]>([
    ['BurnedInAnnotation NO', { BurnedInAnnotation: 'NO' }],
    ['ImageType ORIGINAL\\PRIMARY', { ImageType: 'ORIGINAL\\PRIMARY' }],
    ['SECONDARY as value 3', { ImageType: 'ORIGINAL\\PRIMARY\\SECONDARY' }],
    ['an empty value 1 does not shift SECONDARY to value 2', { ImageType: 'ORIGINAL\\\\SECONDARY' }],
    ['a dose-free description', { SeriesDescription: 't1_mprage' }],
  ])('passes %s', (_, attrs) => {
    expect(evaluate(attrs).target).toBe('hospital');
  });

  it('reports every burned-in check that fires', () => {
    const v = evaluate(
      {
        BurnedInAnnotation: 'YES',
        ImageType: 'DERIVED\\SECONDARY\\SCREEN SAVE',
        Modality: 'OT',
        SeriesDescription: 'Screen capture',
      },
      '1.2.840.10008.5.1.4.1.1.7',
    );
    expect(rulesOf(v)).toEqual([
      'builtin:burned-in-annotation BurnedInAnnotation',
      'builtin:image-type ImageType',
      'builtin:sop-class SOPClassUID',
      'builtin:modality Modality',
      'builtin:series-description SeriesDescription',
    ]);
    expect(v.reasons[1]?.values).toEqual(['SECONDARY', 'SCREEN SAVE']);
  });

  it('reports an invalid SeriesDescription pattern with its config path', () => {
    const builtin = { ...DEFAULTS, burnedIn: { ...DEFAULTS.burnedIn, seriesDescriptions: ['ok', '(', '[z-a]'] } };
    expect(() => buildRuleSet({ protocol: null, rules: null, builtin }, { identifying })).toThrow(RuleFileError);
    try {
      buildRuleSet({ protocol: null, rules: null, builtin }, { identifying });
    } catch (err) {
      expect((err as RuleFileError).problems.map((p) => p.split(':')[0])).toEqual([
        'builtin.burnedIn.seriesDescriptions[1]',
        'builtin.burnedIn.seriesDescriptions[2]',
      ]);
    }
  });
});

describe('problems from every input at once', () => {
  it('lists the problems of protocol.txt and the rules file together', () => {
    const inputs: RuleInputs = {
      protocol: { path: 'p.txt', text: '0008,0060 Modality\n' },
      rules: { path: 'r.yaml', text: 'version: 3\nrules: []\n' },
      builtin: DEFAULTS,
    };
    expect(() => buildRuleSet(inputs, { identifying })).toThrow(
      new RuleFileError([
        'p.txt line 1: empty list: write ALL to allow every modality',
        'p.txt: no 0008,1090 ManufacturersModelName line',
        'r.yaml line 1: version must be 1',
      ]),
    );
  });
});

describe('mergeVerdicts', () => {
  const evaluate = ruleSet();

  it('quarantines a series of 100 when one instance has burned-in annotation, counting that one instance', () => {
    const verdicts = Array.from({ length: 100 }, (_, i) => evaluate(i === 57 ? { BurnedInAnnotation: 'YES' } : {}));
    expect(mergeVerdicts(verdicts)).toEqual({
      target: 'quarantine',
      reasons: [
        {
          rule: 'builtin:burned-in-annotation',
          source: 'builtin',
          attribute: 'BurnedInAnnotation',
          values: ['YES'],
          message: 'BurnedInAnnotation is YES: the pixels carry text.',
          instances: 1,
        },
      ],
    });
  });

  it('sums instance counts and unions values (at most 5) by rule and attribute', () => {
    const modalities = ['US', 'OT', 'SC', 'XC', 'ES', 'DOC', 'US'];
    const merged = mergeVerdicts([
      ...modalities.map((m) => evaluate({ Modality: m })),
      evaluate({ PatientID: null }),
      evaluate({ PatientName: null, PatientID: null }),
    ]);
    expect(merged.target).toBe('quarantine');
    expect(merged.reasons.map((r) => [r.rule, r.attribute, r.instances, r.values])).toEqual([
      ['builtin:modality', 'Modality', 7, ['US', 'OT', 'SC', 'XC', 'ES']],
      ['builtin:missing-identifier', 'PatientID', 2, undefined],
      ['builtin:missing-identifier', 'PatientName', 1, undefined],
    ]);
  });

  it('merges the hospital reasons of a hospital series', () => {
    const set = ruleSet({
      rules: {
        path: 'r.yaml',
        text: 'version: 1\nrules:\n  - name: mr\n    when: { attribute: Modality, equals: MR }\n    then: hospital\n',
      },
    });
    expect(mergeVerdicts([set({}), set({}), set({ Modality: 'CT' })])).toEqual({
      target: 'hospital',
      reasons: [
        {
          rule: 'rules:mr',
          source: 'rules',
          file: 'r.yaml',
          line: 3,
          attribute: 'Modality',
          values: ['MR'],
          message: 'Rule mr sends it to the hospital project.',
          instances: 2,
        },
        { rule: 'default', source: 'default', message: 'No rule sent it to quarantine.', instances: 1 },
      ],
    });
  });

  it('quarantines an empty series (fail closed)', () => {
    expect(mergeVerdicts([]).target).toBe('quarantine');
  });
});

describe('hash and files', () => {
  const inputs: RuleInputs = {
    protocol: { path: 'p.txt', text: PROTOCOL },
    rules: { path: 'r.yaml', text: RULES },
    builtin: DEFAULTS,
  };
  const hash = (i: RuleInputs): string => buildRuleSet(i, { identifying }).hash;

  it('is stable for the same content, wherever the files are', () => {
    expect(hash(inputs)).toMatch(/^[0-9a-f]{64}$/);
    expect(hash({ ...inputs, builtin: structuredClone(DEFAULTS) })).toBe(hash(inputs));
    expect(hash({ ...inputs, protocol: { path: 'elsewhere.txt', text: PROTOCOL } })).toBe(hash(inputs));
  });

  it('changes when a file or a built-in switch changes', () => {
    const hashes = new Set([
      hash(inputs),
      hash({ ...inputs, protocol: { path: 'p.txt', text: `${PROTOCOL}# edited\n` } }),
      hash({ ...inputs, rules: { path: 'r.yaml', text: `${RULES}# edited\n` } }),
      hash({ ...inputs, rules: null }),
      hash({ ...inputs, protocol: null }),
      hash({ ...inputs, builtin: { ...DEFAULTS, missingIdentifiers: false } }),
      hash({ ...inputs, builtin: { ...DEFAULTS, burnedIn: { ...DEFAULTS.burnedIn, modalities: ['OT'] } } }),
    ]);
    expect(hashes.size).toBe(7);
  });

  it('lists each file with the sha256 of its text', () => {
    expect(buildRuleSet(inputs, { identifying }).files).toEqual([
      { path: 'p.txt', kind: 'protocol', sha256: sha(PROTOCOL) },
      { path: 'r.yaml', kind: 'rules', sha256: sha(RULES) },
    ]);
    expect(buildRuleSet({ ...inputs, protocol: null, rules: null }, { identifying }).files).toEqual([]);
  });
});
