import { describe, expect, it } from 'vitest';
import { ScriptRuntimeError } from '../../../../../src/transforms/anonymise/dicomedit/errors.ts';
import { runScript } from '../../../../../src/transforms/anonymise/dicomedit/evaluate.ts';
import { parseScript } from '../../../../../src/transforms/anonymise/dicomedit/parser.ts';
import { fakeHost, fakeTarget } from './fake-target.ts';

const VARS = { project: 'PROJ', subject: 'SUBJ', session: 'SESS' };

/** Runs the statements (a version line is added) on a fake dataset holding `elements`. */
function run(statements: string, elements: Record<string, string> = {}, vars: Record<string, string> = VARS) {
  const target = fakeTarget(elements);
  const host = fakeHost();
  const { changed } = runScript(parseScript(`version "6.6"\n${statements}`), target, vars, host);
  return { dump: target.dump(), changed, host, target };
}

/** The ScriptRuntimeError the statements throw. */
function runtimeError(statements: string, elements: Record<string, string> = {}): ScriptRuntimeError {
  try {
    run(statements, elements);
  } catch (err) {
    if (err instanceof ScriptRuntimeError) {
      return err;
    }
    throw err;
  }
  throw new Error('the script ran');
}

describe('assignment', () => {
  it('sets strings, numbers and variables, creating absent elements', () => {
    const r = run('(0010,0010) := "Anon"\n(0020,0011) := 5\n(0010,0020) := subject', { '(0010,0010)': 'Doe^John' });
    expect(r.dump).toEqual({ '(0010,0010)': 'Anon', '(0010,0020)': 'SUBJ', '(0020,0011)': '5' });
    expect(r.changed).toBe(3);
  });

  it('copies another element, and an absent one as an empty value', () => {
    const r = run('(0010,1000) := (0010,0020)\n(0010,2160) := (0010,2180)', { '(0010,0020)': 'MRN1' });
    expect(r.dump).toEqual({ '(0010,0020)': 'MRN1', '(0010,1000)': 'MRN1', '(0010,2160)': '' });
  });

  it('does not count a value that is already there', () => {
    expect(run('(0010,0010) := "Anon"', { '(0010,0010)': 'Anon' }).changed).toBe(0);
  });

  it('?= assigns only to an element that exists, without evaluating the value otherwise', () => {
    const r = run('(0010,0010) ?= "Anon"\n(0008,0021) ?= shiftDateByIncrement[(0008,0021), -1]', {
      '(0010,0010)': 'Doe',
    });
    expect(r.dump).toEqual({ '(0010,0010)': 'Anon' });
  });

  it('creates a concrete sequence path with its items', () => {
    const r = run('(0008,1115)[1]/(0008,1140)[0]/(0008,1155) := "1.2.3"');
    expect(r.dump).toEqual({ '(0008,1115)[1]/(0008,1140)[0]/(0008,1155)': '1.2.3' });
    expect(r.target.items('(0008,1115)')).toBe(2);
  });

  it('assigns to every existing match of a pattern and creates nothing', () => {
    const r = run('(0008,1115)[%]/(0008,1150) := "X"\n(0010,XXXX) := "blank"', {
      '(0008,1115)[0]/(0008,1150)': 'a',
      '(0008,1115)[1]/(0008,1155)': 'b',
      '(0008,1115)[2]/(0008,1150)': 'c',
      '(0010,0010)': 'Doe',
      '(0010,1002)[0]/(0010,0020)': 'other id',
    });
    expect(r.dump).toEqual({
      '(0008,1115)[0]/(0008,1150)': 'X',
      '(0008,1115)[1]/(0008,1155)': 'b',
      '(0008,1115)[2]/(0008,1150)': 'X',
      '(0010,0010)': 'blank',
      '(0010,1002)[0]/(0010,0020)': 'other id',
    });
  });
});

describe('variables and echo', () => {
  it('defines variables, which shadow the host variables for this run', () => {
    const r = run('inc := "7"\nsubject := "OVERRIDE"\n(0010,0010) := subject\n(0010,0020) := inc');
    expect(r.dump).toEqual({ '(0010,0010)': 'OVERRIDE', '(0010,0020)': '7' });
  });

  it('fails the instance, at the variable, when the host did not provide it', () => {
    const err = runtimeError('(0010,0010) := "x"\n(0010,0020) := site');
    expect([err.line, err.column, err.reason]).toEqual([3, 16, 'unknown variable site: the host did not provide it']);
  });

  it('echoes values to the host log', () => {
    expect(run('echo (0010,0020)\necho\necho "done"', { '(0010,0020)': 'MRN' }).host.logged).toEqual([
      'MRN',
      '',
      'done',
    ]);
  });
});

describe('deletion', () => {
  it('deletes one element, and counts only what was there', () => {
    const r = run('- (0010,0010)\n- (0010,0030)', { '(0010,0010)': 'Doe', '(0010,0020)': 'MRN' });
    expect(r.dump).toEqual({ '(0010,0020)': 'MRN' });
    expect(r.changed).toBe(1);
  });

  it('deletes curves with (50X@,XXXX), as DicomEdit writes it, leaving private 50x3 groups', () => {
    const r = run('-(50X@,XXXX)', {
      '(5000,1000)': 'a',
      '(5000,2000)': '1',
      '(5012,2000)': '2',
      '(5003,0010)': 'creator',
      '(5003,1003)': 'p',
    });
    expect(Object.keys(r.dump)).toEqual(['(5003,0010)', '(5003,1003)']);
  });

  it('also takes (50XX,XXXX) (not valid DicomEdit) as every group 5000-50FF', () => {
    const r = run('- (50XX,XXXX)', { '(5000,1000)': 'a', '(5003,1003)': 'p', '(6000,3000)': 'overlay' });
    expect(Object.keys(r.dump)).toEqual(['(6000,3000)']);
  });

  it('deletes a whole private group with (gggg,XXXX), creators included', () => {
    const r = run('- (0009,XXXX)', {
      '(0009,0010)': 'GEMS_IDEN_01',
      '(0009,1001)': 'x',
      '(0011,0010)': 'keep',
      '(0010,0010)': 'Doe',
    });
    expect(Object.keys(r.dump)).toEqual(['(0010,0010)', '(0011,0010)']);
  });

  it('matches # and @ digits by parity', () => {
    const r = run('- (0020,XXX#)\n- (0018,@@@@)', {
      '(0020,000D)': 'a',
      '(0020,000E)': 'b',
      '(0018,0060)': 'c',
      '(0018,0051)': 'd',
    });
    expect(Object.keys(r.dump)).toEqual(['(0018,0051)', '(0020,000E)']);
  });

  it('deletes in sequence items by number or all with %', () => {
    const elements = {
      '(0012,0064)[0]/(0008,0100)': 'c0',
      '(0012,0064)[0]/(0008,0104)': 'm0',
      '(0012,0064)[1]/(0008,0100)': 'c1',
      '(0012,0064)[1]/(0008,0104)': 'm1',
    };
    expect(Object.keys(run('-(0012,0064)[1]/(0008,0104)', elements).dump)).toHaveLength(3);
    expect(Object.keys(run('-(0012,0064)[%]/(0008,0104)', elements).dump)).toEqual([
      '(0012,0064)[0]/(0008,0100)',
      '(0012,0064)[1]/(0008,0100)',
    ]);
    expect(run('-(0012,0064)', elements).dump).toEqual({});
  });

  it('empties an item, keeping it, when the path ends with [n]', () => {
    const r = run('- (0018,9112)[0]', { '(0018,9112)[0]/(0010,0010)': 'a', '(0018,9112)[1]/(0010,0010)': 'b' });
    expect(r.dump).toEqual({ '(0018,9112)[1]/(0010,0010)': 'b' });
    expect(r.target.items('(0018,9112)')).toBe(2);
    expect(r.changed).toBe(1);
  });

  it('reads * as every depth, + as below the top level and . as the second level only', () => {
    const elements = {
      '(0010,0010)': 'top',
      '(0008,1032)[0]/(0010,0010)': 'one',
      '(0008,1032)[0]/(0010,0020)': 'keep',
      '(0008,1032)[1]/(0020,1033)[0]/(0010,0010)': 'two',
    };
    expect(run('- * / (0010,0010)', elements).dump).toEqual({ '(0008,1032)[0]/(0010,0020)': 'keep' });
    expect(Object.keys(run('- + / (0010,0010)', elements).dump)).toEqual(['(0008,1032)[0]/(0010,0020)', '(0010,0010)']);
    expect(Object.keys(run('- . / (0010,0010)', elements).dump)).toEqual([
      '(0008,1032)[0]/(0010,0020)',
      '(0008,1032)[1]/(0020,1033)[0]/(0010,0010)',
      '(0010,0010)',
    ]);
  });

  it('counts a wildcard delete once per element removed, not again for what was inside it', () => {
    const r = run('- * / (0008,XXXX)', {
      '(0008,1115)[0]/(0008,1155)': '1.2',
      '(0008,1115)[1]/(0008,1150)': '1.3',
      '(0008,0020)': 'd',
      '(0010,0010)': 'x',
    });
    expect(r.dump).toEqual({ '(0010,0010)': 'x' });
    expect(r.changed).toBe(2);
  });

  it('empties every item with [%]', () => {
    const r = run('- (0018,9112)[%]', { '(0018,9112)[0]/(0010,0010)': 'a', '(0018,9112)[1]/(0010,0010)': 'b' });
    expect(r.dump).toEqual({});
    expect(r.target.items('(0018,9112)')).toBe(2);
  });

  it('removes every private element at every depth with removeAllPrivateTags', () => {
    const r = run('removeAllPrivateTags', {
      '(0009,0010)': 'GEMS',
      '(0009,1001)': 'x',
      '(0010,0010)': 'Doe',
      '(0008,1115)[0]/(0019,0010)': 'SIEMENS',
      '(0008,1115)[0]/(0019,100C)': 'y',
      '(0008,1115)[0]/(0008,1155)': '1.2',
    });
    expect(r.dump).toEqual({ '(0010,0010)': 'Doe', '(0008,1115)[0]/(0008,1155)': '1.2' });
    expect(r.changed).toBe(4);
  });
});

describe('conditions', () => {
  const when = (condition: string, elements: Record<string, string> = { '(0010,0010)': 'Doe^John' }): boolean =>
    run(`${condition} ? (0010,4000) := "yes" : (0010,4000) := "no"`, elements).dump['(0010,4000)'] === 'yes';

  it('compares with = and != as Java equals', () => {
    expect([
      when('(0010,0010) = "Doe^John"'),
      when('(0010,0010) = "Doe"'),
      when('(0010,0010) != "Doe"'),
      when('(0010,0010) != "Doe^John"'),
    ]).toEqual([true, false, true, false]);
    expect(when('project = "PROJ"')).toBe(true);
    expect(when('"PROJ" = project')).toBe(true);
  });

  it('matches ~ and !~ against the whole value, as Java String.matches', () => {
    expect([
      when('(0010,0010) ~ "Doe"'),
      when('(0010,0010) ~ "Doe.*"'),
      when('(0010,0010) ~ "(?i)doe\\\\^.*"'),
    ]).toEqual([false, true, true]);
    expect([when('(0010,0010) !~ "Doe"'), when('(0010,0010) !~ ".*John"')]).toEqual([true, false]);
  });

  it("treats an absent left side as DicomEdit's null: equal to nothing, matching nothing", () => {
    const none = {};
    expect([
      when('(0010,0010) = ""', none),
      when('(0010,0010) != "x"', none),
      when('(0010,0010) ~ ".*"', none),
      when('(0010,0010) !~ "x"', none),
    ]).toEqual([false, true, false, true]);
  });

  it('takes a regex from a variable at run time, and fails on a bad one without quoting it', () => {
    const ok = run('pattern := "D.*"\n(0010,0010) ~ pattern ? - (0010,0010)', { '(0010,0010)': 'Doe' });
    expect(ok.dump).toEqual({});
    const err = runtimeError('pattern := "(unclosed"\n(0010,0010) ~ pattern ? - (0010,0010)', { '(0010,0010)': 'Doe' });
    expect([err.line, err.column, err.reason]).toEqual([
      3,
      15,
      'bad regular expression: not a valid regular expression',
    ]);
  });

  it('runs the first true branch of if / elseif / else', () => {
    const script =
      'if ((0010,0010) ~ ".*Curly.*") { (0010,0010) := "if" }\nelseif ((0010,0010) ~ ".*Larry.*") { (0010,0010) := "elseif" }\nelse { (0010,0010) := "else" }';
    expect(run(script, { '(0010,0010)': 'Howard^Curly' }).dump['(0010,0010)']).toBe('if');
    expect(run(script, { '(0010,0010)': 'Fine^Larry' }).dump['(0010,0010)']).toBe('elseif');
    expect(run(script, { '(0010,0010)': 'Howard^Moe' }).dump['(0010,0010)']).toBe('else');
  });

  it('tests presence with isPresent, for plain tags and patterns', () => {
    const script = [
      'if (isPresent[(0008,0012)]) {\n  (0008,0012) := shiftDateByIncrement[(0008,0012), -1]\n}',
      'if(isPresent[(0008,0013)]){ (0008,0013) := "120000" }// compact, as scripts in the wild write it',
      'isPresent[(0009,XXXX)] ? removeAllPrivateTags',
    ].join('\n');
    expect(run(script, { '(0008,0012)': '20200102', '(0008,0013)': '093000', '(0009,1001)': 'p' }).dump).toEqual({
      '(0008,0012)': '20200101',
      '(0008,0013)': '120000',
    });
    expect(run(script, { '(0010,0010)': 'x' }).dump).toEqual({ '(0010,0010)': 'x' });
  });
});

describe('evaluation', () => {
  it('evaluates a value once for all the elements a pattern matches', () => {
    const r = run('(0008,1115)[%]/(0008,1155) := newUID[]\n(0010,0010) := replace["a-b-c", "-", newUID[]]', {
      '(0008,1115)[0]/(0008,1155)': '1.1',
      '(0008,1115)[1]/(0008,1155)': '1.2',
    });
    expect(r.dump).toEqual({
      '(0008,1115)[0]/(0008,1155)': '2.25.9991',
      '(0008,1115)[1]/(0008,1155)': '2.25.9991',
      '(0010,0010)': 'a2.25.9992b2.25.9992c',
    });
  });
});

describe('runtime failures', () => {
  it('gives a host error the position of its statement', () => {
    const target = fakeTarget();
    const refusing = {
      ...target,
      set: () => {
        throw new Error('value too long for SH');
      },
    };
    try {
      runScript(parseScript('version "6.1"\n\n(0008,0050) := "x"'), refusing, {}, fakeHost());
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ScriptRuntimeError);
      expect(err).toMatchObject({ line: 3, column: 1, reason: 'cannot assign (0008,0050): value too long for SH' });
    }
  });

  it('fails at the argument when a function reads an absent element, without values in the message', () => {
    const err = runtimeError('(0010,0010) := "x"\n(0008,0020) := shiftDateByIncrement[(0008,0020), -1]');
    expect([err.line, err.column, err.reason]).toEqual([
      3,
      37,
      'shiftDateByIncrement[] argument 1: the element (0008,0020) is absent',
    ]);
  });

  it('fails at the call when a function cannot use a value', () => {
    const err = runtimeError('(0008,0020) := shiftDateByIncrement[(0008,0020), -1]', { '(0008,0020)': 'Doe^John' });
    expect([err.line, err.column, err.reason]).toEqual([
      2,
      16,
      'shiftDateByIncrement[] failed: argument 1 is not a DICOM date or date-time',
    ]);
    expect(err.message).not.toContain('Doe');
  });
});
