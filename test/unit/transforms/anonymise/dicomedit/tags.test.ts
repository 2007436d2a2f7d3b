import { describe, expect, it } from 'vitest';
import {
  isConcrete,
  isSingular,
  matchPath,
  patternText,
  tagMatches,
  toPlainPath,
  type PathPattern,
  type TagPattern,
} from '../../../../../src/transforms/anonymise/dicomedit/tags.ts';
import { path } from './fake-target.ts';

const pub = (group: string, element: string): TagPattern => ({ group, element });
const step = (tag: TagPattern, item?: number | 'any'): PathPattern[number] =>
  item === undefined ? { kind: 'tag', tag } : { kind: 'tag', tag, item };
const noCreator = (): undefined => undefined;

describe('tagMatches', () => {
  it('matches X as any hex digit, # as an odd one and @ as an even one', () => {
    expect(tagMatches(pub('50X@', 'XXXX'), 0x50001000, undefined)).toBe(true);
    expect(tagMatches(pub('50X@', 'XXXX'), 0x501e2000, undefined)).toBe(true);
    expect(tagMatches(pub('50X@', 'XXXX'), 0x50031003, undefined)).toBe(false);
    expect(tagMatches(pub('00X#', 'XXXX'), 0x00091010, undefined)).toBe(true);
    expect(tagMatches(pub('00X#', 'XXXX'), 0x00100010, undefined)).toBe(false);
    expect(tagMatches(pub('0020', 'XXX#'), 0x0020000d, undefined)).toBe(true);
    expect(tagMatches(pub('0020', 'XXX#'), 0x0020000e, undefined)).toBe(false);
    expect(tagMatches(pub('0010', '0010'), 0x00100010, undefined)).toBe(true);
  });

  it('matches {Creator}xx in any block that creator reserved, and only data elements', () => {
    const fuji: TagPattern = { group: '0029', creator: 'FujiFILM TM', low: 'XX' };
    expect(tagMatches(fuji, 0x00291231, 'FujiFILM TM')).toBe(true);
    expect(tagMatches(fuji, 0x0029e101, ' FujiFILM TM ')).toBe(true);
    expect(tagMatches(fuji, 0x00291008, 'SIEMENS CSA HEADER')).toBe(false);
    expect(tagMatches(fuji, 0x00290012, undefined)).toBe(false);
    expect(tagMatches({ group: '0029', creator: 'FujiFILM TM', low: '31' }, 0x00291203, 'FujiFILM TM')).toBe(false);
  });
});

describe('matchPath', () => {
  const elementAt = (text: string): boolean => matchPath([step(pub('0010', '0010'))], path(text), noCreator);

  it('matches a plain tag at the top level only', () => {
    expect(elementAt('(0010,0010)')).toBe(true);
    expect(elementAt('(0008,1115)[0]/(0010,0010)')).toBe(false);
  });

  it('matches items by number, or any with % or no item', () => {
    const target = path('(0008,1115)[1]/(0008,1155)');
    const seq = (item?: number | 'any'): PathPattern => [step(pub('0008', '1115'), item), step(pub('0008', '1155'))];
    expect(matchPath(seq(1), target, noCreator)).toBe(true);
    expect(matchPath(seq(0), target, noCreator)).toBe(false);
    expect(matchPath(seq('any'), target, noCreator)).toBe(true);
    expect(matchPath(seq(), target, noCreator)).toBe(true);
  });

  it('reads * as any depth, + as one level or more and . as exactly one level', () => {
    const under = (symbol: '*' | '+' | '.'): string[] =>
      ['(0010,0010)', '(0008,1032)[0]/(0010,0010)', '(0008,1032)[1]/(0020,1033)[0]/(0010,0010)'].filter((t) =>
        matchPath([{ kind: 'levels', symbol }, step(pub('0010', '0010'))], path(t), noCreator),
      );
    expect(under('*')).toHaveLength(3);
    expect(under('+')).toEqual(['(0008,1032)[0]/(0010,0010)', '(0008,1032)[1]/(0020,1033)[0]/(0010,0010)']);
    expect(under('.')).toEqual(['(0008,1032)[0]/(0010,0010)']);
  });

  it('asks for the creator of each private step', () => {
    const p: PathPattern = [step({ group: '0029', creator: 'ACME', low: '10' }, 0), step(pub('0010', '0010'))];
    const creators = ['ACME', undefined];
    expect(matchPath(p, path('(0029,1110)[0]/(0010,0010)'), (d) => creators[d])).toBe(true);
    expect(matchPath(p, path('(0029,1110)[0]/(0010,0010)'), noCreator)).toBe(false);
  });
});

describe('path classification', () => {
  it('tells singular, concrete and plain paths apart', () => {
    const seq = (item?: number | 'any'): PathPattern => [step(pub('0008', '1115'), item), step(pub('0008', '1155'))];
    expect([isSingular(seq(0)), isConcrete(seq(0))]).toEqual([true, true]);
    expect([isSingular(seq('any')), isConcrete(seq('any'))]).toEqual([true, false]);
    expect(isSingular([step(pub('0010', 'XXXX'))])).toBe(false);
    expect(isSingular([{ kind: 'levels', symbol: '*' }, step(pub('0010', '0010'))])).toBe(false);
    expect(isSingular([step(pub('0008', '1115'), 0)])).toBe(false);
    expect(toPlainPath(seq())).toEqual([{ tag: 0x00081115, item: 'any' }, { tag: 0x00081155 }]);
    expect(toPlainPath([step({ group: '0029', creator: 'ACME', low: '10' })])).toBeUndefined();
  });

  it('writes a pattern back in DicomEdit syntax', () => {
    expect(
      patternText([
        step(pub('0008', '1115'), 'any'),
        { kind: 'levels', symbol: '*' },
        step({ group: '0029', creator: 'ACME', low: '1X' }),
      ]),
    ).toBe('(0008,1115)[%]/*/(0029,{ACME}1X)');
  });
});
