import { describe, expect, it } from 'vitest';
import { charsetOf } from '../../../../src/dicom/specific-character-set.ts';
import { fold } from '../../../../src/transforms/anonymise/fold.ts';
import { compileMatcher } from '../../../../src/transforms/anonymise/needle-match.ts';
import { presentIn } from '../../../../src/transforms/anonymise/needle-prefilter.ts';
import { compileScrub } from '../../../../src/transforms/anonymise/needle-scrub.ts';
import { collectNeedles, needle } from '../../../../src/transforms/anonymise/needles.ts';

const LATIN1 = charsetOf(['ISO_IR 100']);
const where = (coded: boolean): { coded: boolean; freeText: boolean } => ({ coded, freeText: true });

/**
 * The definition verification must keep, written the slow and obvious way: find every occurrence
 * of the needle and look at the characters either side.
 */
function occursIn(text: string, n: string): boolean {
  const kind = n.slice(0, n.indexOf(':'));
  const value = n.slice(n.indexOf(':') + 1);
  const hay = kind === 'text' ? text.toUpperCase() : text;
  const pin = kind === 'text' ? value.toUpperCase() : value;
  const word = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9]/.test(c);
  const uid = (c: string | undefined): boolean => c !== undefined && /[0-9.]/.test(c);
  for (let at = hay.indexOf(pin); at >= 0; at = hay.indexOf(pin, at + 1)) {
    const before = hay[at - 1];
    const after = hay[at + pin.length];
    if (kind === 'uid' && !uid(before) && !uid(after)) {
      return true;
    }
    if (kind === 'date' && !/[0-9]/.test(before ?? '')) {
      return true;
    }
    if (kind === 'text' && !word(before) && !word(after)) {
      return true;
    }
  }
  return false;
}

/** A seeded generator (the same cases every run) and words over `alphabet`. */
function randomWords(seed: number, alphabet: string): { rnd: (n: number) => number; word: (len: number) => string } {
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  return { rnd, word: (len) => Array.from({ length: len }, () => alphabet[rnd(alphabet.length)]).join('') };
}

const reference = (needles: readonly string[], text: string, coded: boolean): boolean =>
  needles.some((n) => !(coded && n.startsWith('text:')) && occursIn(text, n));

describe('compileMatcher', () => {
  const needles = [
    needle('uid', '1.2.826.0.1.3680043.2.1125.1'),
    needle('date', '19700214'),
    needle('text', 'Doe'),
    needle('text', 'MRN4711'),
    needle('uid', '1.2.3.X9'),
  ];
  const m = compileMatcher(new Set(needles));

  it.each([
    ['a patient ID inside the digits of a new UID', '2.25.1234714711', false, false],
    ['the UID as a value', '1.2.826.0.1.3680043.2.1125.1', false, true],
    ['the UID as one value of several', '1.2.3\\1.2.826.0.1.3680043.2.1125.1', false, true],
    ['a longer UID that starts with it', '1.2.826.0.1.3680043.2.1125.10', false, false],
    ['the date at the start of a DT', '19700214083000.000', false, true],
    ['the date after another digit', '119700214', false, false],
    ['the date after a dot', 'x.19700214', false, true],
    ['a name in another case, in words', 'seen by dr doe today', false, true],
    ['a name inside a word', 'DOES', false, false],
    ['a name in a code value', 'DOE', true, false],
    ['a UID in a code value', '1.2.826.0.1.3680043.2.1125.1', true, true],
    ['a malformed UID bounded like a UID', 'ref 1.2.3.X9 end', false, true],
    ['a malformed UID inside a longer one', '1.2.3.X9.4', false, false],
  ])('%s', (_label, text, coded, expected) => {
    expect(m(text, where(coded))).toBe(expected);
    expect(reference(needles, text, coded)).toBe(expected);
  });

  it('agrees with the definition on random texts and needles', () => {
    // A small alphabet makes near misses (partial tokens, adjacent digits and dots) frequent.
    const { rnd, word } = randomWords(7, '0129.aBdeß ^-\\');
    for (let round = 0; round < 3000; round++) {
      const ns = [
        needle('uid', `1.2.${String(rnd(30))}`),
        needle('date', `1${String(1000000 + rnd(30))}`),
        needle('text', word(3 + rnd(3))),
        ...(rnd(4) === 0 ? [needle('uid', word(4))] : []),
      ];
      const hits = compileMatcher(new Set(ns));
      for (let t = 0; t < 5; t++) {
        const valueOf = (n: string): string => n.slice(n.indexOf(':') + 1);
        const parts = Array.from({ length: 1 + rnd(4) }, () =>
          rnd(3) === 0 ? valueOf(ns[rnd(ns.length)] ?? '') : word(1 + rnd(8)),
        );
        const text = parts.join(rnd(2) ? '' : ' ');
        const coded = rnd(5) === 0;
        expect(hits(text, where(coded)), `${JSON.stringify(ns)} in ${JSON.stringify(text)}`).toBe(
          reference(ns, text, coded),
        );
      }
    }
  });
});

describe('presentIn', () => {
  const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

  it('finds text in any case, also where upper-casing changes the length (ß to SS)', () => {
    const ns = new Set([
      needle('text', 'doe'),
      needle('text', 'STRASSE'),
      needle('text', 'Nobody'),
      needle('date', '19700214'),
      needle('uid', '1.2.3.4.5.6.7.8'),
    ]);
    const found = presentIn(
      ns,
      [latin1('\xff\xfe\x00\xe0PN\x04\x00DOE '), latin1('Straße 1\\19700214'), latin1('1.2.3.4.5.6.7.8.9')],
      LATIN1,
    );
    expect([...found].sort()).toEqual(
      [
        needle('date', '19700214'),
        needle('text', 'STRASSE'),
        needle('text', 'doe'),
        needle('uid', '1.2.3.4.5.6.7.8'),
      ].sort(),
    );
  });

  it('finds nothing in bytes that hold none of the needles', () => {
    expect(
      presentIn(
        new Set([needle('text', 'Doe'), needle('date', '19700214')]),
        [latin1('HOSPITAL_000001\x00\x10'), latin1('20231107')],
        LATIN1,
      ).size,
    ).toBe(0);
  });

  it('keeps every needle the matcher finds in any value laid out in the bytes (random headers)', () => {
    // Binary-looking bytes between values, as tags and lengths sit between element values.
    const { rnd, word } = randomWords(11, '0129.aBdeßÿµ ^-\\\x00\xff\xfe');
    let matched = 0;
    for (let round = 0; round < 3000; round++) {
      const ns = [
        needle('uid', `1.2.${String(rnd(30))}`),
        needle('date', `1${String(1000000 + rnd(30))}`),
        needle('text', word(3 + rnd(3))),
        needle('text', rnd(2) ? 'ss' : 'Äpfel'),
        ...(rnd(4) === 0 ? [needle('uid', word(4))] : []),
      ];
      const valueOf = (n: string): string => n.slice(n.indexOf(':') + 1);
      const values = Array.from({ length: 1 + rnd(5) }, () => {
        const parts = Array.from({ length: 1 + rnd(3) }, () =>
          rnd(3) === 0 ? valueOf(ns[rnd(ns.length)] ?? '') : word(1 + rnd(6)),
        );
        const v = parts.join(rnd(2) ? '' : ' ');
        // Upper-cased where that stays in Latin-1: element values are bytes, read as Latin-1.
        return rnd(4) === 0 ? v.replace(/[a-zà-þ]/g, (c) => c.toUpperCase()) : v;
      });
      const bytes = values.map((v) => latin1(`${word(rnd(4))}${v}`));
      const found = presentIn(new Set(ns), bytes, LATIN1);
      for (const n of ns) {
        const hit = values.some((v) => compileMatcher(new Set([n]))(v, where(false)));
        if (hit) {
          matched++;
          expect(found.has(n), `${n} in ${JSON.stringify(values)}`).toBe(true);
        }
      }
    }
    // The check above must have had something to check.
    expect(matched).toBeGreaterThan(1000);
  });
});

describe('compileScrub', () => {
  it('replaces names and dates as tokens, in any case, longest first', () => {
    const scrub = compileScrub(
      new Set([
        needle('text', 'Mary'),
        needle('text', 'Mary Ann'),
        needle('date', '20240101'),
        needle('uid', '1.2.3.4.5.6.7.8'),
      ]),
    );
    expect(scrub('mary ann seen 20240101; MARYLAND; 1.2.3.4.5.6.7.8')).toBe('XXX seen XXX; MARYLAND; 1.2.3.4.5.6.7.8');
    // The compiled expression is shared between instances; a second use starts afresh.
    expect(scrub('Mary')).toBe('XXX');
  });
});

describe('text in any character set and case (issue 19, class 6)', () => {
  const UTF8 = charsetOf(['ISO_IR 192']);
  const pn = (value: string, cs = UTF8): Set<string> => {
    const into = new Set<string>();
    collectNeedles(
      {
        tag: 0x00100010,
        vr: 'PN',
        start: 0,
        end: 0,
        value: cs.encode(value) ?? Buffer.from(value, 'latin1'),
        items: null,
        encapsulated: false,
        dirty: false,
      },
      into,
      cs,
    );
    return into;
  };

  it('takes name parts of three characters as text, of two as words, and none of one', () => {
    expect([...pn('Li^Na^J')].sort()).toEqual([needle('word', 'Li'), needle('word', 'Na')]);
    expect([...pn('Müller^Jürgen')].sort()).toEqual([needle('text', 'Jürgen'), needle('text', 'Müller')]);
  });

  it('takes the parts of a Han or kana name, and the name as one run (single-character parts only so)', () => {
    expect([...pn('Wang^XiaoDong=王^小東=')].sort()).toEqual(
      [needle('text', 'Wang'), needle('text', 'XiaoDong'), needle('text', '小東'), needle('text', '王小東')].sort(),
    );
  });

  it('matches decoded text case-folded in any script, full-width forms included', () => {
    const m = compileMatcher(new Set([needle('text', 'Müller'), needle('text', 'Jürgen'), needle('text', 'Smith')]));
    expect(m('MÜLLER', where(false))).toBe(true);
    expect(m('seen by jürgen', where(false))).toBe(true);
    expect(m('ＳＭＩＴＨ', where(false))).toBe(true);
    expect(m('Müllerstraße', where(false))).toBe(false);
    expect(m('Mu\u0308ller', where(false))).toBe(true);
  });

  it('matches unspaced scripts anywhere, and short words only as words in free text', () => {
    const m = compileMatcher(new Set([needle('text', '山田太郎'), needle('word', 'Li')]));
    expect(m('患者山田太郎様', where(false))).toBe(true);
    expect(m('Li Na chest', where(false))).toBe(true);
    expect(m('Li Na chest', { coded: false, freeText: false })).toBe(false);
    expect(m('linear', where(false))).toBe(false);
  });

  it('scrubs in place, and the whole value when a match survives the replacement', () => {
    const scrub = compileScrub(new Set([needle('text', 'Müller'), needle('word', 'Li')]));
    expect(scrub('MÜLLER follow-up, Li')).toBe('XXX follow-up, XXX');
    expect(scrub('ＭÜＬＬＥＲ follow-up')).toBe('XXX');
  });

  it('fold is NFKC then upper case, also where it normalises only parts of a string (random strings)', () => {
    const { rnd } = randomWords(3, 'a');
    const alphabet = [
      'a',
      'Z',
      '0',
      ' ',
      'ü',
      'u',
      '\u0308',
      'ß',
      'ª',
      '²',
      '\u00a0',
      'ｓ',
      'ﬁ',
      '王',
      '\ufffd',
      '\x9c',
      'é',
      'e',
      '\u0301',
      'Å',
      '\u212b',
    ];
    for (let round = 0; round < 5000; round++) {
      const s = Array.from({ length: rnd(12) }, () => alphabet[rnd(alphabet.length)]).join('');
      expect(fold(s), JSON.stringify(s)).toBe(s.normalize('NFKC').toUpperCase());
    }
  });

  it('presentIn keeps every needle the matcher finds, for UTF-8 and Latin-1 headers (random headers)', () => {
    const { rnd, word } = randomWords(13, 'aüÜß王ｓ ^\\\u0308');
    let matched = 0;
    for (let round = 0; round < 2000; round++) {
      const ns = [needle('text', word(3 + rnd(3))), needle('word', word(2)), needle('text', 'Müller')];
      const cs = rnd(2) ? UTF8 : charsetOf(['ISO_IR 100']);
      const values = Array.from({ length: 1 + rnd(4) }, () =>
        rnd(3) === 0 ? (ns[rnd(ns.length)] ?? '').slice(5).toUpperCase() : word(1 + rnd(6)),
      );
      const encoded = values.map((v) => cs.encode(v));
      if (encoded.some((e) => e === null)) {
        continue;
      }
      const bytes = encoded.map((e) =>
        Buffer.concat([Buffer.from([rnd(256), rnd(256), 0x10, 0x00, 0x50, 0x4e, 0x04, 0x00]), e ?? Buffer.alloc(0)]),
      );
      const found = presentIn(new Set(ns), bytes, cs);
      for (const n of ns) {
        if (values.some((v) => compileMatcher(new Set([n]))(v, where(false)))) {
          matched++;
          expect(found.has(n), `${n} in ${JSON.stringify(values)}`).toBe(true);
        }
      }
    }
    expect(matched).toBeGreaterThan(300);
  });
});
