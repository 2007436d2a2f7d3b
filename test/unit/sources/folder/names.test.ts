// OS clutter and in-progress names.
import { describe, expect, it } from 'vitest';
import { DEFAULT_IN_PROGRESS, folderSourceConfig } from '../../../../src/sources/folder/config.ts';
import { isOsClutter, nameMatcher } from '../../../../src/sources/folder/names.ts';

describe('isOsClutter', () => {
  it.each([
    '.DS_Store',
    '.ds_store',
    'Thumbs.db',
    'THUMBS.DB',
    'thumbs.DB',
    'ehthumbs.db',
    'desktop.ini',
    'Desktop.INI',
    '.directory',
    'Icon\r',
    '._foo',
    '._IM0001.dcm',
    '._',
  ])('file %j is clutter', (name) => {
    expect(isOsClutter(name, false)).toBe(true);
  });

  it.each([
    'IM0001',
    'foo.dcm',
    '.DS_Store.dcm',
    'Thumbs.db.bak',
    'my desktop.ini',
    '_foo',
    '.foo',
    'Icon',
    '__MACOSX',
    'DICOMDIR',
  ])('file %j is not clutter', (name) => {
    expect(isOsClutter(name, false)).toBe(false);
  });

  it.each([
    '__MACOSX',
    '__macosx',
    '.Spotlight-V100',
    '.Trashes',
    '.fseventsd',
    '.TemporaryItems',
    '$RECYCLE.BIN',
    'System Volume Information',
  ])('folder %j is clutter', (name) => {
    expect(isOsClutter(name, true)).toBe(true);
  });

  it('file names are not folder clutter and folder names are not file clutter', () => {
    // A folder called .DS_Store or ._x is not skipped: only the listed folder names are.
    expect(isOsClutter('.DS_Store', true)).toBe(false);
    expect(isOsClutter('._series', true)).toBe(false);
    expect(isOsClutter('Thumbs.db', true)).toBe(false);
    expect(isOsClutter('series1', true)).toBe(false);
  });
});

describe('nameMatcher', () => {
  const defaults = nameMatcher(folderSourceConfig.parse({}).inProgressPatterns);

  it('the schema default is DEFAULT_IN_PROGRESS', () => {
    expect(folderSourceConfig.parse({}).inProgressPatterns).toEqual(DEFAULT_IN_PROGRESS);
  });

  it.each([
    'x.part',
    'X.PARTIAL',
    'IM0001.dcm.part',
    '.part',
    '~$doc.docx',
    '~$',
    '.~lock.file#',
    '.~lock',
    'a.tmp',
    'A.TMP',
    'scan.zip.crdownload',
  ])('defaults match %j', (name) => {
    expect(defaults(name)).toBe(true);
  });

  it.each([
    'part.dcm',
    'tmpfile',
    'x.part.dcm',
    'x.parts',
    'x.partial2',
    'a.tmp.dcm',
    'doc~$.docx',
    'a~$b',
    '.lock',
    'x.lock~',
    'IM0001',
    '',
  ])('defaults do not match %j', (name) => {
    expect(defaults(name)).toBe(false);
  });

  it('no patterns match nothing', () => {
    const none = nameMatcher([]);
    expect(none('x.part')).toBe(false);
    expect(none('')).toBe(false);
  });

  it('a pattern without * matches the whole name only', () => {
    const m = nameMatcher(['.copying']);
    expect(m('.copying')).toBe(true);
    expect(m('.COPYING')).toBe(true);
    expect(m('a.copying')).toBe(false);
    expect(m('.copying.x')).toBe(false);
    expect(m('xcopying')).toBe(false);
  });

  it('* can sit anywhere and match an empty run', () => {
    const m = nameMatcher(['pre*mid*post']);
    expect(m('premidpost')).toBe(true);
    expect(m('pre-x-mid-y-post')).toBe(true);
    expect(m('premid')).toBe(false);
    expect(m('xpremidpost')).toBe(false);
  });

  it('regular-expression characters in patterns are literal', () => {
    const m = nameMatcher(['a+b(1)', '[x]', 'q?', 'd.e', '^s$', 'a|b', '{2}', 'back\\slash', 'x{1,2}*']);
    for (const literal of ['a+b(1)', '[x]', 'q?', 'd.e', '^s$', 'a|b', '{2}', 'back\\slash', 'x{1,2}', 'x{1,2}.tmp']) {
      expect(m(literal), literal).toBe(true);
    }
    for (const other of ['aab(1)', 'ab1', 'x', 'q', 'qq', 'dxe', 's', 'a', 'b', '22', 'backslash', 'xx']) {
      expect(m(other), other).toBe(false);
    }
  });

  it('one pattern does not leak into another through the alternation', () => {
    const m = nameMatcher(['a', 'b*']);
    expect(m('a')).toBe(true);
    expect(m('ab')).toBe(false);
    expect(m('bz')).toBe(true);
    expect(m('zb')).toBe(false);
  });
});
