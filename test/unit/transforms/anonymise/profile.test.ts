import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readDicomFile } from '../../../../src/dicom/dataset-file.ts';
import { findElement, type Element } from '../../../../src/dicom/dataset.ts';
import { parsePart10Header } from '../../../../src/dicom/part10.ts';
import { rawText } from '../../../../src/dicom/values.ts';
import { PRESETS } from '../../../../src/transforms/anonymise/config.ts';
import { anonymiseInstance, openInstance } from '../../../../src/transforms/anonymise/instance.ts';
import { projectKey } from '../../../../src/transforms/anonymise/keys.ts';
import { createUidMapper, keyedUid } from '../../../../src/transforms/anonymise/uids.ts';
import type { ProfileOptions } from '../../../../src/transforms/anonymise/table.ts';
import { encodeInstance, TransferSyntax, type Element as Spec } from '../../../helpers/dicom-factory.ts';

const key = projectKey('KCL', Buffer.alloc(32, 3));
const dir = mkdtempSync(join(tmpdir(), 'xnatgw-profile-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
const REF_SOP = '1.2.826.0.1.3680043.8.498.77';

const EXTRA: Spec[] = [
  { tag: 0x00080018, vr: 'UI', value: '1.2.826.0.1.3680043.8.498.5' },
  { tag: 0x00080020, vr: 'DA', value: '20240301' },
  { tag: 0x00080021, vr: 'DA', value: '1994.01.30' },
  { tag: 0x00080030, vr: 'TM', value: '093000' },
  { tag: 0x00080080, vr: 'LO', value: 'St Elsewhere Hospital' },
  { tag: 0x00080090, vr: 'PN', value: 'Referrer^Rita' },
  { tag: 0x00081030, vr: 'LO', value: 'CT for Smith chest' },
  { tag: 0x00081070, vr: 'PN', value: 'Operator^Olga' },
  {
    tag: 0x00081140,
    vr: 'SQ',
    items: [
      [
        { tag: 0x00081150, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.2' },
        { tag: 0x00081155, vr: 'UI', value: REF_SOP },
      ],
    ],
  },
  { tag: 0x00100010, vr: 'PN', value: 'Smith^John' },
  { tag: 0x00100020, vr: 'LO', value: 'MRN42' },
  { tag: 0x00101010, vr: 'AS', value: '093Y' },
  { tag: 0x00101040, vr: 'LO', value: '1 High Street' },
  { tag: 0x00181000, vr: 'LO', value: 'SN-998877' },
  {
    tag: 0x00400275,
    vr: 'SQ',
    items: [
      [
        { tag: 0x00401001, vr: 'SH', value: 'RP1234' },
        { tag: 0x0040a123, vr: 'PN', value: 'Nested^Nora' },
      ],
    ],
  },
];

async function run(options: ProfileOptions): Promise<Element[]> {
  const file = join(dir, `in-${String(Math.random()).slice(2)}.dcm`);
  const { bytes } = encodeInstance({
    transferSyntax: TransferSyntax.ExplicitVRLittleEndian,
    extraElements: EXTRA,
    patientName: 'Smith^John',
    patientId: 'MRN42',
  });
  writeFileSync(file, bytes);
  const meta = parsePart10Header(bytes.subarray(0, 65536));
  if (!meta) {
    throw new Error('no meta');
  }
  const opened = await openInstance({ path: file, ...meta });
  const out = `${file}.out`;
  await anonymiseInstance(
    opened,
    {
      profile: 'test',
      edition: '2024b',
      options,
      labels: { project: 'KCL', subject: 'KCL_000001', session: 'KCL_000001_01' },
      keyId: key.keyId,
      uids: createUidMapper(key),
      dateOffsetDays: 10,
      script: null,
      unlistedNames: 'empty',
    },
    out,
  );
  const written = parsePart10Header((await import('node:fs')).readFileSync(out).subarray(0, 65536));
  if (!written) {
    throw new Error('no output meta');
  }
  return (await readDicomFile(out, written)).main.elements;
}

const text = (els: readonly Element[], tag: number): string | undefined => {
  const el = findElement(els, tag);
  return el ? rawText(el).trim() : undefined;
};

describe('the PS3.15 profile, basic', () => {
  it('applies X, Z, D, U and the combined codes by attribute type, and leaves registered UIDs alone', async () => {
    const els = await run(PRESETS.basic);
    expect(text(els, 0x00101040)).toBeUndefined(); // X
    expect(text(els, 0x00081030)).toBeUndefined(); // X
    expect(text(els, 0x00080090)).toBe(''); // Z
    expect(text(els, 0x00080080)).toBeUndefined(); // X/Z/D, Type 3 in the CT IOD → X
    expect(text(els, 0x00181000)).toBeUndefined(); // X/Z/D, Type 3 → X
    expect(text(els, 0x00080018)).toBe(keyedUid(key, '1.2.826.0.1.3680043.8.498.5')); // U
    const ref = findElement(els, 0x00081140)?.items?.[0]?.elements ?? [];
    expect(text(ref, 0x00081155)).toBe(keyedUid(key, REF_SOP)); // X/Z/U*: kept, UIDs replaced
    expect(text(ref, 0x00081150)).toBe('1.2.840.10008.5.1.4.1.1.2');
    expect(text(els, 0x00400275)).toBeUndefined(); // X on a sequence
  });

  it('writes the XNAT labels and the de-identification record', async () => {
    const els = await run(PRESETS.basic);
    expect(text(els, 0x00100010)).toBe('KCL_000001');
    expect(text(els, 0x00100020)).toBe('KCL_000001_01');
    expect(text(els, 0x00104000)).toBe('Project: KCL Subject: KCL_000001 Session: KCL_000001_01');
    expect(text(els, 0x00120062)).toBe('YES');
    expect(text(els, 0x00120063)).toContain('DICOM PS3.15 2024b test');
    expect(findElement(els, 0x00120064)?.items?.map((i) => text(i.elements, 0x00080100))).toEqual(['113100']);
    // Study Date is Z, so only unlisted dates could have been shifted: none here.
    expect(text(els, 0x00080020)).toBe('');
    expect(text(els, 0x00280303)).toBe('REMOVED');
  });
});

describe('the PS3.15 profile, TCIA preset', () => {
  it('shifts dates by the subject offset, removes invalid ones, keeps times, age (aggregated), device and cleaned descriptors', async () => {
    const els = await run(PRESETS.tcia);
    expect(text(els, 0x00080020)).toBe('20240220'); // 2024-03-01 − 10 days
    expect(text(els, 0x00080021)).toBe(''); // 1994.01.30 is no DA
    expect(text(els, 0x00080030)).toBe('093000');
    expect(text(els, 0x00101010)).toBe('090Y'); // over 89 → 90
    expect(text(els, 0x00181000)).toBe('SN-998877'); // Retain Device Identity
    expect(text(els, 0x00081030)).toBe('CT for XXX chest'); // Clean Descriptors
    const req = findElement(els, 0x00400275)?.items?.[0]?.elements ?? [];
    expect(text(req, 0x0040a123)).toBe('ANONYMISED'); // nested: Type unknown, so the combined code takes its D branch
    expect(text(els, 0x00280303)).toBe('MODIFIED');
    expect(findElement(els, 0x00120064)?.items?.map((i) => text(i.elements, 0x00080100))).toEqual([
      '113100',
      '113105',
      '113107',
      '113108',
      '113109',
      '113111',
    ]);
  });

  it('removes private elements unless they are on the safe list', async () => {
    for (const options of [PRESETS.basic, PRESETS.tcia]) {
      const els = await run(options);
      expect(els.filter((e) => ((e.tag >>> 16) & 1) === 1)).toEqual([]);
    }
  });
});
