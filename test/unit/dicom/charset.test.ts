import { describe, expect, it } from 'vitest';
import { charsetOf } from '../../../src/dicom/specific-character-set.ts';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

// Patient's Name of pydicom's character-set samples (data/charset_files/FileInfo.txt), raw and as
// pydicom decodes them.
const SAMPLES: readonly (readonly [string, readonly string[], string, string])[] = [
  ['chrArab', ['ISO_IR 127'], '\xe2\xc8\xc7\xe6\xea^\xe4\xe6\xd2\xc7\xd1', 'قباني^لنزار'],
  ['chrFren', ['ISO_IR 100'], 'Buc^J\xe9r\xf4me', 'Buc^Jérôme'],
  ['chrGreek', ['ISO_IR 126'], '\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2', 'Διονυσιος'],
  [
    'chrH31',
    ['', 'ISO 2022 IR 87'],
    'Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B',
    'Yamada^Tarou=山田^太郎=やまだ^たろう',
  ],
  [
    'chrH32',
    ['ISO 2022 IR 13', 'ISO 2022 IR 87'],
    '\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J=\x1b$B$d$^$@\x1b(J^\x1b$B$?$m$&\x1b(J',
    'ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう',
  ],
  ['chrHbrw', ['ISO_IR 138'], '\xf9\xf8\xe5\xef^\xe3\xe1\xe5\xf8\xe4', 'שרון^דבורה'],
  [
    'chrI2',
    ['', 'ISO 2022 IR 149'],
    'Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7=\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf',
    'Hong^Gildong=洪^吉洞=홍^길동',
  ],
  ['chrRuss', ['ISO_IR 144'], '\xbb\xee\xdace\xdc\xd1yp\xd3', 'Люкceмбypг'],
  ['chrX1', ['ISO_IR 192'], 'Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1=', 'Wang^XiaoDong=王^小東='],
  ['chrX2', ['GB18030'], 'Wang^XiaoDong=\xcd\xf5^\xd0\xa1\xb6\xab=', 'Wang^XiaoDong=王^小东='],
];

describe('charsetOf', () => {
  it.each(SAMPLES)('%s: decodes as pydicom does', (_name, terms, raw, text) => {
    expect(charsetOf(terms).decode(bytes(raw))).toBe(text);
  });

  it('accepts the spellings senders use, and reads unknown terms as Latin-1', () => {
    for (const t of ['ISO_IR 100', 'ISO-IR 100', 'ISO_IR100', 'iso_ir 100']) {
      expect(charsetOf([t]).decode(bytes('J\xe9r\xf4me'))).toBe('Jérôme');
    }
    expect(charsetOf(['NO SUCH SET']).decode(bytes('J\xe9r\xf4me'))).toBe('Jérôme');
  });

  it('reads the default repertoire as UTF-8 when it is valid UTF-8, else as Latin-1', () => {
    const d = charsetOf([]);
    expect(d.decode(Buffer.from('Müller', 'utf8'))).toBe('Müller');
    expect(d.decode(bytes('M\xfcller'))).toBe('Müller');
    expect(charsetOf(['']).decode(bytes('Smith'))).toBe('Smith');
  });

  it('encodes back into the set, or says it cannot', () => {
    expect(charsetOf(['ISO_IR 100']).encode('XXX Jérôme')).toEqual(bytes('XXX J\xe9r\xf4me'));
    expect(charsetOf(['ISO_IR 100']).encode('山田')).toBeNull();
    expect(charsetOf(['ISO_IR 144']).encode('XXX Люк')).toEqual(bytes('XXX \xbb\xee\xda'));
    expect(charsetOf(['ISO_IR 192']).encode('XXX 王')).toEqual(Buffer.from('XXX 王', 'utf8'));
    expect(charsetOf(['', 'ISO 2022 IR 87']).encode('XXX CT')).toEqual(bytes('XXX CT'));
    expect(charsetOf(['', 'ISO 2022 IR 87']).encode('XXX 山田')).toBeNull();
    expect(charsetOf(['GB18030']).encode('王')).toBeNull();
  });

  it('gives no haystack for stateful or double-byte sets, so a prefilter searches every value', () => {
    expect(charsetOf(['', 'ISO 2022 IR 87']).haystack(bytes('x'))).toBeNull();
    expect(charsetOf(['GB18030']).haystack(bytes('x'))).toBeNull();
    expect(charsetOf(['ISO_IR 192']).haystack(bytes('x'))).toBe('x');
  });

  it("UTF-8: every value decodes to a substring of the whole header's haystack (random headers)", () => {
    let seed = 5;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const alphabet = ['a', 'Z', 'ü', '王', 'ｓ', '\u0301', '😀', ' ', '^'];
    const cs = charsetOf(['ISO_IR 192']);
    for (let round = 0; round < 2000; round++) {
      const values = Array.from({ length: 1 + rnd(4) }, () =>
        Buffer.from(Array.from({ length: 1 + rnd(6) }, () => alphabet[rnd(alphabet.length)]).join(''), 'utf8'),
      );
      // Each value after an 8-byte element header of random bytes (binary junk before it too).
      const parts = values.flatMap((v) => [Buffer.from(Array.from({ length: 8 }, () => rnd(256))), v]);
      const hay = cs.haystack(Buffer.concat(parts)) ?? '';
      for (const v of values) {
        expect(hay, JSON.stringify(v.toString('utf8'))).toContain(cs.decode(v));
      }
    }
  });
});
