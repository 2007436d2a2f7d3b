import { describe, expect, it } from 'vitest';
import { parseScript, ScriptError } from '../../../../../src/transforms/anonymise/dicomedit/parser.ts';

/** The ScriptError parseScript throws, as { line, column, reason }. */
function loadError(text: string): { line: number; column: number; reason: string } {
  try {
    parseScript(text);
  } catch (err) {
    if (err instanceof ScriptError) {
      return { line: err.line, column: err.column, reason: err.reason };
    }
    throw err;
  }
  throw new Error('the script loaded');
}

const V = 'version "6.1"\n';

describe('parseScript: the version line', () => {
  it('requires version "6.x" as the first statement, after comments and blank lines', () => {
    expect(parseScript('// site script\n\nversion "6.3"\n(0010,0010) := "x"\n').version).toBe('6.3');
    expect(loadError('(0010,0010) := "x"\n')).toEqual({
      line: 1,
      column: 1,
      reason: 'missing version line: a DicomEdit 6 script starts with version "6.x"',
    });
    expect(loadError('// only a comment\n')).toMatchObject({ line: 2, column: 1 });
  });

  it('accepts 6.0 to 6.6 and rejects other versions at the version string', () => {
    for (const v of ['6.0', '6.1', '6.6']) {
      expect(parseScript(`version "${v}"`).version).toBe(v);
    }
    expect(loadError('version "6.7"')).toEqual({
      line: 1,
      column: 9,
      reason: 'unsupported version "6.7": expected "6.0" to "6.6"',
    });
    expect(loadError('version "4.2"')).toMatchObject({ line: 1, column: 9 });
    expect(loadError('version 6.1')).toMatchObject({ line: 1, column: 9 });
  });

  it('rejects a second version statement where it stands', () => {
    expect(loadError(`${V}(0010,0010) := "x"\nversion "6.1"`)).toEqual({
      line: 3,
      column: 1,
      reason: 'the version statement must come first, and only once',
    });
  });
});

describe('parseScript: unsupported features fail at load with line and column', () => {
  it('names a DicomEdit function the gateway does not run', () => {
    expect(loadError(`${V}(0010,0010) := lookup["pn", (0010,0010)]`)).toEqual({
      line: 2,
      column: 16,
      reason: 'the DicomEdit function lookup[] is not supported by this gateway',
    });
    expect(
      loadError(`${V}// burned-in text\n  alterPixels["rectangle", "l=0, t=0, r=10, b=10", "solid", "v=0"]`),
    ).toEqual({
      line: 3,
      column: 3,
      reason: 'the DicomEdit function alterPixels[] is not supported by this gateway',
    });
    expect(loadError(`${V}retainPrivateTags["(0029,{SIEMENS CSA HEADER}XX)"]`)).toMatchObject({ line: 2, column: 1 });
  });

  it('rejects an unknown function, even one spelled like a supported one', () => {
    expect(loadError(`${V}(0020,000D) := hashUid[(0020,000D)]`)).toEqual({
      line: 2,
      column: 16,
      reason: 'unknown function hashUid[]',
    });
  });

  it('rejects a wrong number of arguments', () => {
    expect(loadError(`${V}(0008,0020) := shiftDateByIncrement[(0008,0020)]`)).toEqual({
      line: 2,
      column: 16,
      reason: 'shiftDateByIncrement[] takes 2 to 3 argument(s), not 1',
    });
    expect(loadError(`${V}(0008,0018) := newUID[(0008,0018)]`).reason).toBe('newUID[] takes 0 argument(s), not 1');
    expect(loadError(`${V}(0008,0018) := concatenate[]`).reason).toBe(
      'concatenate[] takes at least 1 argument(s), not 0',
    );
  });

  it('checks literal arguments: units, increments, format patterns, regexes', () => {
    expect(loadError(`${V}(0008,002A) := shiftDateTimeByIncrement[(0008,002A), 5, "weeks"]`)).toEqual({
      line: 2,
      column: 57,
      reason: 'shiftDateTimeByIncrement[]: unknown units "weeks": use years, days, hours, minutes or seconds',
    });
    expect(loadError(`${V}(0008,0020) := shiftDateByIncrement[(0008,0020), 1.5]`)).toMatchObject({
      line: 2,
      column: 50,
    });
    expect(loadError(`${V}(0010,0010) := format["{0,number}", subject]`).reason).toBe(
      'format[]: unsupported placeholder {0,number}: only {0}, {1}, … are supported',
    );
    expect(loadError(`${V}(0010,0010) := format["{0", subject]`).reason).toBe(
      'format[]: unmatched braces in the format pattern',
    );
    expect(loadError(`${V}(0008,0080) ~ "a*+" ? - (0008,0080)`)).toMatchObject({ line: 2, column: 15 });
    expect(loadError(`${V}(0008,0080) ~ "\\\\p{Alpha}+" ? - (0008,0080)`).reason).toContain(
      'Java-only regex syntax \\p',
    );
  });

  it('rejects lists, a stray token and two statements on one line', () => {
    expect(loadError(`${V}names := {"a", "b"}`)).toEqual({
      line: 2,
      column: 10,
      reason: 'lists ({…}) are not supported',
    });
    expect(loadError(`${V}(0010,0010) = "x"`)).toEqual({
      line: 2,
      column: 18,
      reason: 'expected "?" after the condition, found end of script',
    });
    expect(loadError(`${V}(0010,0010) := "x" (0010,0020) := "y"`)).toEqual({
      line: 2,
      column: 20,
      reason: 'expected end of line, found a tag',
    });
    expect(loadError(`${V}(0010,0010) "x"`)).toEqual({
      line: 2,
      column: 13,
      reason: 'expected ":=", "?=" or a condition after this value, found a string',
    });
    expect(loadError(`${V}(0010,0010) := `)).toEqual({
      line: 2,
      column: 16,
      reason: 'expected a value, found end of script',
    });
  });

  it('rejects malformed tags, strings and escapes at the character', () => {
    expect(loadError(`${V}- (0010,001)`)).toEqual({
      line: 2,
      column: 3,
      reason: 'malformed tag: expected (gggg,eeee) or (gggg,{Creator}xx)',
    });
    expect(loadError(`${V}(0010,0010) := "Doe`)).toEqual({ line: 2, column: 16, reason: 'unterminated string' });
    expect(loadError(`${V}(0010,0010) ~ "\\d+" ? - (0010,0010)`)).toMatchObject({ line: 2, column: 16 });
    expect(loadError(`${V}(0010,0010) := "x" ; `)).toEqual({ line: 2, column: 20, reason: 'unexpected character ";"' });
    expect(loadError(`${V}- (0010,{ACME}10)`).reason).toBe('a private creator needs an odd group, not 0010');
  });

  it('rejects paths that cannot be values or targets', () => {
    expect(loadError(`${V}(0010,0010) := (0010,XXXX)`).reason).toBe(
      'a tag path used as a value must name one element: no wildcards, no item at the end',
    );
    expect(loadError(`${V}(0008,1115)[0] := "x"`)).toEqual({
      line: 2,
      column: 1,
      reason: 'cannot assign to a sequence item; name an element inside it',
    });
    expect(loadError(`${V}- (0008,1115)/*`).reason).toBe('a tag path must end with a tag');
    expect(loadError(`${V}"x" := "y"`).reason).toBe('only a tag path can be assigned with ":="');
    expect(loadError(`${V}(0010,0010) := isPresent[(0010,0010)]`).reason).toBe('isPresent[] does not return a value');
    expect(loadError(`${V}mapReferencedUIDs["1.2", "(0008,1155"]`)).toEqual({
      line: 2,
      column: 26,
      reason: 'in the tag path "(0008,1155": malformed tag: expected (gggg,eeee) or (gggg,{Creator}xx)',
    });
  });

  it('rejects bad items and misplaced tests', () => {
    expect(loadError(`${V}- (0008,1115)[-1]/(0008,1155)`)).toEqual({
      line: 2,
      column: 15,
      reason: 'expected an item number or % in [ ], found "-1"',
    });
    expect(loadError(`${V}- (0008,1115)/"x"`).reason).toBe('expected a tag, found a string');
    expect(loadError(`${V}uppercase["x"] ? - (0010,0010)`).reason).toBe(
      'expected a condition operator (= != ~ !~), found "?"',
    );
    expect(loadError(`${V}export session`).reason).toBe('malformed export statement: expected export name "label"');
  });

  it('requires blocks to be closed', () => {
    expect(loadError(`${V}if ((0010,0010) = "x") {\n  - (0010,0010)\n`)).toEqual({
      line: 4,
      column: 1,
      reason: 'missing "}" to close the block',
    });
    expect(loadError(`${V}if (0010,0010) = "x" { - (0010,0010) }`).reason).toBe('expected "(" after if, found a tag');
  });
});

describe('parseScript: what it accepts', () => {
  it('takes comments, CRLF line ends, blank lines and spaces inside tags', () => {
    const s = parseScript(
      'version "6.1"\r\n\r\n(0010, 0010) := "x" // trailing comment\r\n- (0029, {FujiFILM TM}XX)\r\n',
    );
    expect(s.statements.map((st) => st.kind)).toEqual(['assign', 'delete']);
  });

  it('parses describe and export and leaves them out of the statements', () => {
    const s = parseScript(
      `${V}describe subject "Subject label"\ndescribe session hidden\nexport session "xnat:imageSessionData/label"\n(0010,0020) := session`,
    );
    expect(s.statements).toHaveLength(1);
    expect(loadError(`${V}describe subject`).reason).toBe(
      'malformed describe statement: expected describe name "label"',
    );
  });

  it('lists the variables the host must provide, not those the script defines', () => {
    const s = parseScript(
      `${V}inc := -10\n(0010,0010) := concatenate[subject, "_", site]\n(0008,0020) := shiftDateByIncrement[(0008,0020), inc]\nproject != "X" ? (0008,1030) := project`,
    );
    expect(s.variables).toEqual(['subject', 'site', 'project']);
  });

  it('keeps escapes as DicomEdit does: only \\\\ and \\" are replaced', () => {
    const s = parseScript(`${V}(0008,0008) := "ORIGINAL\\\\PRIMARY"\n(0010,0010) ~ "\\(x\\)" ? - (0010,0010)`);
    const [assign, cond] = s.statements;
    expect(assign).toMatchObject({ kind: 'assign', value: { kind: 'string', value: 'ORIGINAL\\PRIMARY' } });
    expect(cond).toMatchObject({ kind: 'if', branches: [{ when: { right: { value: '\\(x\\)' } } }] });
  });

  it('keeps octal, unicode and the other DicomEdit escapes verbatim', () => {
    const s = parseScript(`${V}(0010,0010) := "a\\101\\u0041\\t\\'"`);
    expect(s.statements[0]).toMatchObject({ value: { value: "a\\101\\u0041\\t\\'" } });
  });

  it('turns a leading (?i), (?m) or (?s) into a flag and refuses other Java regex flags and &&', () => {
    const [st] = parseScript(`${V}(0010,0010) ~ "(?is)doe.*" ? - (0010,0010)`).statements;
    const when = st?.kind === 'if' ? st.branches[0]?.when : undefined;
    const regex = when?.kind === 'compare' ? when.regex : undefined;
    expect([regex?.source, regex?.flags]).toEqual(['^(?:doe.*)$', 'is']);
    expect(loadError(`${V}(0010,0010) ~ "(?x)a b" ? - (0010,0010)`).reason).toBe(
      'bad regex "(?x)a b": the regex flag (?x) is not supported',
    );
    expect(loadError(`${V}(0010,0010) ~ "[a-z&&[^e]]" ? - (0010,0010)`).reason).toContain('Java-only regex syntax &&');
  });

  it('reads sequence paths with items, % and level wildcards', () => {
    const s = parseScript(
      `${V}- (0008,1115)[0]/(0008,1140)[%]/(0008,1155)\n- * / (0010,0010)\n- +/(0010,0010)\n- ./(0010,0010)`,
    );
    expect(s.statements[0]).toMatchObject({
      target: [
        { kind: 'tag', tag: { group: '0008', element: '1115' }, item: 0 },
        { kind: 'tag', item: 'any' },
        { kind: 'tag', tag: { group: '0008', element: '1155' } },
      ],
    });
    expect(s.statements.slice(1).map((st) => (st.kind === 'delete' ? st.target[0] : undefined))).toEqual([
      { kind: 'levels', symbol: '*' },
      { kind: 'levels', symbol: '+' },
      { kind: 'levels', symbol: '.' },
    ]);
  });

  it('reads private tags with their creator, and digit wildcards in upper case', () => {
    const s = parseScript(`${V}- (0019,{SIEMENS MR HEADER}0c)\n- (50x@,xxxx)`);
    expect(s.statements.map((st) => (st.kind === 'delete' ? st.target[0] : undefined))).toEqual([
      { kind: 'tag', tag: { group: '0019', creator: 'SIEMENS MR HEADER', low: '0C' } },
      { kind: 'tag', tag: { group: '50X@', element: 'XXXX' } },
    ]);
  });

  it('reads ternaries with an else, and if / elseif / else across lines', () => {
    const s = parseScript(
      `${V}(0010,0010) = "a" ? (0010,0020) := "1" : (0010,0020) := "2"\nif ((0010,0010) ~ "a.*") {\n  - (0010,0010)\n}\nelseif (isPresent[(0010,0020)]) { echo "x" }\nelse {\n}\n(0010,0030) := "z"`,
    );
    expect(s.statements.map((st) => st.kind)).toEqual(['if', 'if', 'assign']);
    expect(s.statements[1]).toMatchObject({
      branches: [{ when: { kind: 'compare' } }, { when: { kind: 'test' } }],
      otherwise: [],
    });
  });
});
