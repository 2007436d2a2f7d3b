import { describe, expect, it } from 'vitest';
import { ScriptRuntimeError } from '../../../../../src/transforms/anonymise/dicomedit/errors.ts';
import { runScript } from '../../../../../src/transforms/anonymise/dicomedit/evaluate.ts';
import { parseScript } from '../../../../../src/transforms/anonymise/dicomedit/parser.ts';
import { fakeHost, fakeTarget } from './fake-target.ts';

const ELEMENTS = {
  '(0010,0010)': 'Doe^John',
  '(0010,0020)': 'MRN-0042',
  '(0008,0020)': '20200301',
  '(0008,002A)': '20200301120000.25+0100',
  '(0020,000D)': '1.2.840.1',
  '(0020,000E)': '1.2.840.1.2',
};

/** The value `expr` gives on a dataset holding ELEMENTS (plus `extra`). */
function valueOf(expr: string, extra: Record<string, string> = {}): string | undefined {
  const target = fakeTarget({ ...ELEMENTS, ...extra });
  runScript(parseScript(`version "6.6"\n(0011,0010) := ${expr}`), target, { subject: 'SUBJ' }, fakeHost());
  return target.dump()['(0011,0010)'];
}

function failure(expr: string, extra: Record<string, string> = {}): string {
  try {
    valueOf(expr, extra);
  } catch (err) {
    if (err instanceof ScriptRuntimeError) {
      return err.reason;
    }
    throw err;
  }
  throw new Error('the script ran');
}

describe('hashUID and newUID: the host decides', () => {
  it('hashes the value of a tag, or a string, through the host', () => {
    const host = fakeHost();
    const target = fakeTarget(ELEMENTS);
    runScript(
      parseScript('version "6.1"\n(0020,000D) := hashUID[(0020,000D)]\n(0020,000E) := hashUID["1.2.840.1.2", "SHA-1"]'),
      target,
      {},
      host,
    );
    expect(host.hashed).toEqual(['1.2.840.1', '1.2.840.1.2']);
    expect(target.dump()['(0020,000D)']).toBe(host.hashUid('1.2.840.1'));
    expect(target.dump()['(0020,000E)']).toBe(host.hashUid('1.2.840.1.2'));
  });

  it('asks the host for each new UID', () => {
    expect(valueOf('newUID[]')).toBe('2.25.9991');
  });
});

describe('string functions', () => {
  it('concatenate joins values, tags and variables', () => {
    expect(valueOf('concatenate[subject, "_", (0010,0020), 7]')).toBe('SUBJ_MRN-00427');
  });

  it('format fills {n} like Java MessageFormat, quotes included', () => {
    expect(valueOf('format["{1}-{0}", (0010,0020), subject]')).toBe('SUBJ-MRN-0042');
    expect(valueOf(`format["'{0}' is {0}, it''s {2}", subject]`)).toBe("{0} is SUBJ, it's {2}");
  });

  it('lowercase and uppercase', () => {
    expect(valueOf('lowercase[(0010,0010)]')).toBe('doe^john');
    expect(valueOf('uppercase["Mr Doe"]')).toBe('MR DOE');
  });

  it('replace replaces every literal occurrence, as Java String.replace', () => {
    expect(valueOf('replace[(0010,0020), "0", "o"]')).toBe('MRN-oo42');
    expect(valueOf('replace["a.b.c", ".", "$&"]')).toBe('a$&b$&c');
    expect(valueOf('replace["ab", "", "-"]')).toBe('-a-b-');
  });

  it('substring takes begin and end indexes and fails out of range', () => {
    expect(valueOf('substring[(0010,0020), 0, 3]')).toBe('MRN');
    expect(valueOf('substring["abc", 1, 1]')).toBe('');
    expect(failure('substring["abc", 2, 4]')).toBe(
      'substring[] failed: the begin and end indexes are out of range for this value',
    );
    expect(failure('substring["abc", "x", 1]')).toBe('substring[] failed: argument 2 is not an integer');
  });

  it('nests calls, and reports an absent element where it is read', () => {
    expect(valueOf('uppercase[concatenate[substring[(0010,0010), 0, 3], "-", subject]]')).toBe('DOE-SUBJ');
    expect(failure('lowercase[(0010,1000)]')).toBe('lowercase[] argument 1: the element (0010,1000) is absent');
  });
});

describe('date shifting', () => {
  it('shiftDateByIncrement shifts DA values by days, or by the given units', () => {
    expect(valueOf('shiftDateByIncrement[(0008,0020), -1]')).toBe('20200229');
    expect(valueOf('shiftDateByIncrement[(0008,0020), 366]')).toBe('20210302');
    expect(valueOf('shiftDateByIncrement[(0008,0020), 13, "hours"]')).toBe('20200302');
  });

  it('shifts every value of a multi-valued element and keeps empty values', () => {
    expect(valueOf('shiftDateByIncrement[(0008,0023), 1]', { '(0008,0023)': '20201231\\20210101' })).toBe(
      '20210101\\20210102',
    );
    expect(valueOf('shiftDateByIncrement[(0008,0023), 1]', { '(0008,0023)': '' })).toBe('');
  });

  it('takes the increment from a variable or a tag', () => {
    const target = fakeTarget({ ...ELEMENTS, '(0011,1001)': '-2' });
    runScript(
      parseScript(
        'version "6.6"\ninc := -10\n(0008,0020) := shiftDateByIncrement[(0008,0020), inc]\n(0008,0021) := shiftDateByIncrement["20200101", (0011,1001)]',
      ),
      target,
      {},
      fakeHost(),
    );
    expect(target.dump()).toMatchObject({ '(0008,0020)': '20200220', '(0008,0021)': '20191230' });
  });

  it('shiftDateTimeByIncrement shifts DT values by seconds, or the given units, keeping fraction and offset', () => {
    expect(valueOf('shiftDateTimeByIncrement[(0008,002A), 600]')).toBe('20200301121000.25+0100');
    expect(valueOf('shiftDateTimeByIncrement[(0008,002A), -1, "days"]')).toBe('20200229120000.25+0100');
    expect(valueOf('shiftDateTimeByIncrement[(0008,002A), 1, "YEARS"]')).toBe('20210301120000.25+0100');
  });

  it('fails on a value that is not a DICOM date, and on unknown units from a variable', () => {
    expect(failure('shiftDateByIncrement[(0010,0010), 1]')).toBe(
      'shiftDateByIncrement[] failed: argument 1 is not a DICOM date or date-time',
    );
    expect(failure('shiftDateByIncrement[(0008,0020), 1, subject]')).toBe(
      'shiftDateByIncrement[] failed: unknown units: use years, days, hours, minutes or seconds',
    );
  });
});

describe('mapReferencedUIDs', () => {
  it('maps every UID under the given paths through the host hash, once each', () => {
    const host = fakeHost();
    const target = fakeTarget({
      '(0020,000D)': '1.2.3',
      '(3006,0010)[0]/(0020,000D)': '1.2.3',
      '(3006,0010)[0]/(3006,0012)[0]/(0008,1155)': '1.2.3.4',
      '(3006,0010)[0]/(3006,0012)[0]/(3006,0014)[0]/(0020,000E)': '1.2.3.5',
      '(3006,0010)[0]/(3006,0012)[0]/(3006,0014)[0]/(3006,0016)[0]/(0008,1155)': '1.2.3.6\\1.2.3.7',
      '(0008,1140)[0]/(0008,1155)': '9.9',
    });
    const script = parseScript(
      'version "6.2"\n(0020,000D) := hashUID[(0020,000D)]\nmapReferencedUIDs["2.25", "(3006,0010)/(0020,000D)", "(3006,0010)/(3006,0012)/(0008,1155)", "(3006,0010)/(3006,0012)/(3006,0014)/(0020,000E)", "* / (3006,0016)/(0008,1155)", (3006,0010)/(0020,000D)]',
    );
    const { changed } = runScript(script, target, {}, host);
    const h = (uid: string): string => host.hashUid(uid);
    expect(target.dump()).toEqual({
      '(0008,1140)[0]/(0008,1155)': '9.9',
      '(0020,000D)': h('1.2.3'),
      '(3006,0010)[0]/(0020,000D)': h('1.2.3'),
      '(3006,0010)[0]/(3006,0012)[0]/(0008,1155)': h('1.2.3.4'),
      '(3006,0010)[0]/(3006,0012)[0]/(3006,0014)[0]/(0020,000E)': h('1.2.3.5'),
      '(3006,0010)[0]/(3006,0012)[0]/(3006,0014)[0]/(3006,0016)[0]/(0008,1155)': `${h('1.2.3.6')}\\${h('1.2.3.7')}`,
    });
    expect(changed).toBe(5);
  });
});
