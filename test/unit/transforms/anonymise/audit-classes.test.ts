//! The ten classes of holes of the PS3.15 audit (issue 19), each with a fixture built by the test
//! factory: the engine closes the hole, and with the transform step that closes it switched off,
//! verification refuses the series (fail closed) instead of passing it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Element } from '../../../../src/dicom/dataset.ts';
import { rawText } from '../../../../src/dicom/values.ts';
import { deidScratch, type DeidResult, type DeidScratch } from '../../../helpers/deid-run.ts';
import {
  BURNED_IN_US,
  ETHICS_PAIR,
  NAMES_IN_TEXT,
  OVERLAY,
  SHIFTED_DATE,
  SR_WITH_PHI,
  U_CODED,
  U_CODED_ORIGINALS,
  UN_ENCODED,
  UN_UIDS,
  UN_UNREADABLE,
  UNLISTED_NAMES,
} from '../../../helpers/audit-fixtures.ts';

let scratch: DeidScratch;
beforeAll(async () => {
  scratch = await deidScratch('xnatgw-audit-');
});
afterAll(async () => {
  await scratch.close();
});

/** Every element at every depth. */
function all(els: readonly Element[]): Element[] {
  return els.flatMap((e) => [e, ...(e.items ?? []).flatMap((i) => all(i.elements))]);
}
/** The element at a path of tags (first item of each sequence on the way). */
function at(els: readonly Element[], ...path: number[]): Element | undefined {
  let level: readonly Element[] = els;
  let el: Element | undefined;
  for (const [i, tag] of path.entries()) {
    el = level.find((e) => e.tag === tag);
    if (i < path.length - 1) {
      level = el?.items?.[0]?.elements ?? [];
    }
  }
  return el;
}
const text = (el: Element | undefined): string | undefined => (el ? rawText(el).trim() : undefined);
const codes = (els: readonly Element[]): string[] =>
  (at(els, 0x00120064)?.items ?? []).map((i) => text(i.elements.find((e) => e.tag === 0x00080100)) ?? '');

function done(r: DeidResult): readonly Element[] {
  expect(r.outcome.kind === 'done' ? 'done' : `${r.outcome.kind}: ${r.outcome.reason}`).toBe('done');
  return r.outputs[0]?.elements ?? [];
}
function refused(r: DeidResult, why: RegExp): void {
  expect(r.outcome.kind).toBe('failed');
  expect(r.outcome.kind === 'failed' ? r.outcome.reason : '').toMatch(why);
  expect(r.outputs).toEqual([]);
}
function held(r: DeidResult, why: RegExp): void {
  expect(r.outcome.kind === 'held' ? r.outcome.cause : r.outcome.kind).toBe('identity');
  expect(r.outcome.kind === 'held' ? r.outcome.reason : '').toMatch(why);
}
/** No value at any depth (decoded as Latin-1 and UTF-8) contains any of `words`. */
function absent(els: readonly Element[], words: readonly string[]): void {
  for (const el of all(els)) {
    if (!el.value || el.tag === 0x7fe00010) {
      continue;
    }
    for (const v of [el.value.toString('latin1'), el.value.toString('utf8')]) {
      for (const w of words) {
        expect(v.toUpperCase(), `${el.tag.toString(16)} holds ${w}`).not.toContain(w.toUpperCase());
      }
    }
  }
}

describe('1. public attributes encoded as UN', () => {
  const fixture = UN_ENCODED;
  const { sop, study, series } = UN_UIDS;

  it('reads them with their dictionary VR: UIDs mapped (File Meta matching), text cleaned', async () => {
    const r = await scratch.run([fixture]);
    const els = done(r);
    const sopOut = text(at(els, 0x00080018)) ?? '';
    expect(at(els, 0x00080018)?.vr).toBe('UI');
    expect(sopOut).toMatch(/^2\.25\.\d+$/);
    expect(text(r.outputs[0]?.meta.find((e) => e.tag === 0x00020003))).toBe(sopOut);
    for (const tag of [0x0020000d, 0x0020000e, 0x00200052]) {
      expect(text(at(els, tag))).toMatch(/^2\.25\.\d+$/);
    }
    expect(text(at(els, 0x00283003))).toBe('LUT XXX XXX');
    absent(els, [sop, study, series, 'Smith', 'John']);
  });

  it('without that step, verification refuses the series', async () => {
    refused(await scratch.run([fixture], { skip: ['un-vr'] }), /stored as UN/);
  });

  it('refuses an instance whose UN-encoded sequence cannot be read but must be cleaned', async () => {
    await expect(scratch.run([UN_UNREADABLE])).rejects.toThrow(
      /\(0040,A730\) is stored as UN and cannot be read as a sequence/,
    );
  });
});

describe('2. sequences coded D keep no original item content', () => {
  const fixture = SR_WITH_PHI;

  it('keeps the structure and codes, replaces every text, name and code of a person, and declares the options', async () => {
    const els = done(await scratch.run([fixture]));
    expect(text(at(els, 0x0040a730, 0x0040a160))).toBe('ANONYMISED');
    expect(text(at(els, 0x0040a730, 0x0040a043, 0x00080104))).toBe('Finding');
    const deep = at(els, 0x0040a730)?.items?.[1]?.elements ?? [];
    expect(text(at(deep, 0x0040a730, 0x0040a730, 0x0040a160))).toBe('ANONYMISED');
    const items = at(els, 0x0040a730)?.items ?? [];
    expect(text(items[2]?.elements.find((e) => e.tag === 0x0040a123))).toBe('ANONYMISED');
    expect(text(items[3]?.elements.find((e) => e.tag === 0x0040a121))).toMatch(/^\d{8}$/);
    expect(at(els, 0x0040a730, 0x00080082)).toBeUndefined(); // X/Z/D below the top level: X
    expect(text(at(els, 0x00700001, 0x00700008, 0x00700006))).toBe('ANONYMISED');
    expect(text(at(els, 0x0040a073, 0x0040a075))).toBe('ANONYMISED');
    expect(text(at(els, 0x0040a073, 0x0040a027))).toBe('ANONYMISED');
    expect(at(els, 0x0040a073, 0x0040a088)?.items).toEqual([]);
    expect(text(at(els, 0x00401101, 0x00080100))).toBe('ANONYMISED');
    expect(text(at(els, 0x00401101, 0x00080104))).toBe('ANONYMISED');
    expect(codes(els)).toEqual(['113100', '113103', '113104', '113107']);
    absent(els, ['1961', '07700', 'Downing', 'Shipman', 'Harold', 'Vera', 'Elsewhere', 'EMP42', 'EMP77', '20240305']);
  });

  it('without that step, verification refuses the series', async () => {
    refused(
      await scratch.run([fixture], { skip: ['clean-sequences'] }),
      /below \(0040,A730\) keeps free text the profile replaces/,
    );
  });
});

describe('3. subject and session keys never fail open', () => {
  it('holds a series without PatientID or StudyInstanceUID', async () => {
    held(await scratch.run([{ patientId: '' }]), /PatientID is missing or empty/);
    held(await scratch.run([{ patientId: '   ' }]), /PatientID is missing or empty/);
    held(await scratch.run([{ studyInstanceUid: '' }]), /StudyInstanceUID is missing or empty/);
  });

  it('holds a study that arrives again under another patient, across runs (the ledger)', async () => {
    const study = '1.2.826.0.1.3680043.8.498.3001';
    expect((await scratch.run([{ studyInstanceUid: study, patientId: 'MRN3001' }])).outcome.kind).toBe('done');
    held(
      await scratch.run([{ studyInstanceUid: study, patientId: 'MRN3002' }]),
      /already filed in project HOLES as session HOLES_\d+_01 of subject HOLES_\d+, a different patient/,
    );
    // The same patient's next series of that study joins its session.
    expect((await scratch.run([{ studyInstanceUid: study, patientId: 'MRN3001' }])).outcome.kind).toBe('done');
  });

  it('holds a series whose instances name different patients', async () => {
    const series = {
      studyInstanceUid: '1.2.826.0.1.3680043.8.498.3101',
      seriesInstanceUid: '1.2.826.0.1.3680043.8.498.3102',
    };
    held(
      await scratch.run([
        { ...series, patientId: 'MRN3101' },
        { ...series, patientId: 'MRN3102' },
      ]),
      /more than one patient/,
    );
  });

  it('without those checks, verification refuses the series', async () => {
    refused(
      await scratch.run([{ patientId: '' }], { skip: ['identity'] }),
      /lacks a PatientID, PatientName or StudyInstanceUID/,
    );
    const study = '1.2.826.0.1.3680043.8.498.3201';
    expect((await scratch.run([{ studyInstanceUid: study, patientId: 'MRN3201' }])).outcome.kind).toBe('done');
    refused(
      await scratch.run([{ studyInstanceUid: study, patientId: 'MRN3202' }], { skip: ['identity'] }),
      /belongs to another patient/,
    );
  });

  it('profile none gives each study of a patient its own session label', async () => {
    const none = { anonymise: { profile: 'none' }, project: 'NONE' };
    const a = (study: string): Promise<DeidResult> =>
      scratch.run([{ studyInstanceUid: study, patientId: 'MRN 777/b', patientName: 'Smith^Anna' }], none);
    const label = (r: DeidResult): string => (r.outcome.kind === 'done' ? r.outcome.labels.session : r.outcome.kind);
    expect(label(await a('1.2.826.0.1.3680043.8.498.3301'))).toBe('MRN_777_b');
    expect(label(await a('1.2.826.0.1.3680043.8.498.3302'))).toBe('MRN_777_b_2');
    expect(label(await a('1.2.826.0.1.3680043.8.498.3301'))).toBe('MRN_777_b');
    held(
      await scratch.run(
        [{ studyInstanceUid: '1.2.826.0.1.3680043.8.498.3302', patientId: 'OTHER', patientName: 'Jones^Bo' }],
        none,
      ),
      /a different patient/,
    );
  });
});

describe('4. overlay groups', () => {
  const fixture = OVERLAY;

  it('removes the whole Overlay Plane group, not only Overlay Data, also under Clean Graphics', async () => {
    const els = done(await scratch.run([fixture]));
    expect(els.filter((e) => e.tag >>> 24 === 0x60)).toEqual([]);
    const graphics = done(await scratch.run([fixture], { anonymise: { options: { cleanGraphics: true } } }));
    expect(graphics.filter((e) => e.tag >>> 24 === 0x60)).toEqual([]);
  });

  it('without that step, verification refuses the series', async () => {
    refused(
      await scratch.run([fixture], { skip: ['overlay-groups'] }),
      /Overlay Plane or curve group is still present at \(6000,0010\)/,
    );
  });
});

describe('5. UIDs Table E.1-1 codes U', () => {
  const fixture = U_CODED;
  const originals = U_CODED_ORIGINALS;

  it('are replaced even when their keyword reads like a definition (…CreatorUID, …ClassUID)', async () => {
    const els = done(await scratch.run([fixture]));
    for (const tag of [0x00080014, 0x0018100b, 0x0040db0d]) {
      expect(text(at(els, tag))).toMatch(/^2\.25\.\d+$/);
    }
    absent(els, originals);
  });

  it('without that step, verification refuses the series', async () => {
    refused(await scratch.run([fixture], { skip: ['table-uids'] }), /not produced by the project's UID function/);
  });
});

describe('6. names found in free text in every character set, in any case, short parts as words', () => {
  const tcia = { anonymise: { profile: 'tcia' } };
  const cases = NAMES_IN_TEXT;

  it.each(cases)('%s: cleaned in a kept descriptor', async (_label, fixture, expected) => {
    const els = done(await scratch.run([fixture], tcia));
    expect(text(at(els, 0x0008103e))).toBe(expected);
  });

  it.each(cases)('%s: without cleaning, verification refuses the series', async (_label, fixture) => {
    refused(
      await scratch.run([fixture], { ...tcia, skip: ['scrub-text'] }),
      /identifying value is still present in \(0008,103E\)/,
    );
  });
});

describe('7. person names the table does not list', () => {
  const fixture = UNLISTED_NAMES;

  it('are emptied by default, and kept with unlistedPersonNames: keep (the strict table)', async () => {
    const els = done(await scratch.run([fixture]));
    expect([text(at(els, 0x00140104)), text(at(els, 0x00142006))]).toEqual(['', '']);
    const kept = done(await scratch.run([fixture], { anonymise: { unlistedPersonNames: 'keep' } }));
    expect(text(at(kept, 0x00140104))).toBe('Reviewer^Bob');
  });

  it('without that step (and the free-text cleaning that would turn them into XXX^XXX), verification refuses the series', async () => {
    refused(
      await scratch.run([fixture], { skip: ['unlisted-names', 'scrub-text'] }),
      /identifying value is still present in \(0014,0104\)/,
    );
  });
});

describe("8. burned-in pixels (the offline command's backstop)", () => {
  const us = BURNED_IN_US;

  it('refuses an instance that says its pixels carry text when asked to', async () => {
    refused(
      await scratch.run([us], { refuseBurnedIn: true }),
      /\(0028,0301\) says the pixels may identify the patient/,
    );
    done(await scratch.run([us]));
  });
});

describe('9. declarations match what the instance holds', () => {
  const dated = SHIFTED_DATE;
  const ethics = ETHICS_PAIR;

  it('declares Modified Dates when dates were shifted under the basic profile', async () => {
    const els = done(await scratch.run([dated]));
    expect(text(at(els, 0x00189074))).toMatch(/^\d{8}101010$/);
    expect(codes(els)).toEqual(['113100', '113107']);
    expect(text(at(els, 0x00280303))).toBe('MODIFIED');
  });

  it('removes the ethics committee name when its approval number was removed (Type 1C)', async () => {
    const els = done(await scratch.run([ethics], { anonymise: { options: { retainInstitutionIdentity: true } } }));
    expect(at(els, 0x00120082)).toBeUndefined();
    expect(at(els, 0x00120081)).toBeUndefined();
  });

  it('without that step, verification refuses the series', async () => {
    refused(await scratch.run([dated], { skip: ['declare'] }), /MODIFIED but option 113107 is not declared/);
    refused(
      await scratch.run([ethics], { anonymise: { options: { retainInstitutionIdentity: true } }, skip: ['declare'] }),
      /\(0012,0081\) is present without \(0012,0082\)/,
    );
  });
});
