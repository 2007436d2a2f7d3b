import { describe, expect, it } from 'vitest';
import { parseDataset, walkElements } from '../../../src/dicom/dataset.ts';
import { chunksToBuffer, writeDataset } from '../../../src/dicom/dataset-write.ts';
import { setText } from '../../../src/dicom/values.ts';
import {
  encodeDataset,
  syntaxOf,
  TransferSyntax,
  type Element as Spec,
  type TransferSyntaxUid,
} from '../../helpers/dicom-encoder.ts';
import { encodingOf } from '../../../src/dicom/transfer-syntax.ts';

const SPEC: Spec[] = [
  { tag: 0x00080018, vr: 'UI', value: '1.2.3.4' },
  {
    tag: 0x00081140,
    vr: 'SQ',
    undefinedLength: true,
    items: [
      [
        { tag: 0x00080100, vr: 'SH', value: 'X' },
        { tag: 0x00081155, vr: 'UI', value: '1.2.3.5' },
      ],
    ],
  },
  { tag: 0x00082112, vr: 'SQ', items: [[{ tag: 0x00081155, vr: 'UI', value: '1.2.3.6' }]] },
  { tag: 0x00100010, vr: 'PN', value: 'Doe^Jane' },
  { tag: 0x00181020, vr: 'LO', value: 'soft' },
  { tag: 0x00191010, vr: 'UN', value: new Uint8Array([1, 2, 3, 4]) },
  { tag: 0x00280010, vr: 'US', value: 2 },
  { tag: 0x7fe00010, vr: 'OW', value: new Uint8Array([9, 8, 7, 6]) },
];

function parse(ts: TransferSyntaxUid): { bytes: Buffer; ds: ReturnType<typeof parseDataset> } {
  const bytes = encodeDataset(SPEC, syntaxOf(ts));
  const enc = encodingOf(ts);
  if (!enc) {
    throw new Error('no encoding');
  }
  return { bytes, ds: parseDataset(bytes, enc) };
}

describe('parsed datasets', () => {
  for (const ts of Object.values(TransferSyntax)) {
    it(`writes an unedited dataset back byte for byte (${ts})`, () => {
      const { bytes, ds } = parse(ts);
      expect(chunksToBuffer(writeDataset(ds), bytes).equals(bytes)).toBe(true);
      expect(ds.elements.map((e) => e.tag)).toEqual(SPEC.map((e) => e.tag));
      expect(ds.elements.find((e) => e.tag === 0x00081140)?.items?.[0]?.elements).toHaveLength(2);
    });

    it(`re-encodes only edited elements and items, and the result parses to the same tree (${ts})`, () => {
      const { bytes, ds } = parse(ts);
      let nested: ReturnType<typeof parseDataset>['elements'][number] | undefined;
      walkElements(ds.elements, (el, depth) => {
        if (depth === 1 && el.tag === 0x00081155 && !nested) {
          nested = el;
        }
      });
      if (!nested) {
        throw new Error('nested UID not found');
      }
      setText(nested, ['2.25.1']);
      const out = chunksToBuffer(writeDataset(ds), bytes);
      const again = parseDataset(out, ds.encoding);
      const item = again.elements.find((e) => e.tag === 0x00081140)?.items?.[0];
      expect(item?.elements.map((e) => e.value?.toString('latin1'))).toEqual(['X ', '2.25.1']);
      // Pixel data and the untouched sequence are copied, not re-encoded.
      expect(again.elements.find((e) => e.tag === 0x7fe00010)?.value?.equals(Buffer.from([9, 8, 7, 6]))).toBe(
        ts !== TransferSyntax.ExplicitVRBigEndian,
      );
      expect(out.subarray(out.length - 12).equals(bytes.subarray(bytes.length - 12))).toBe(true);
    });
  }

  it('reads a UN element holding a public sequence as items (implicit VR little endian)', () => {
    const inner = encodeDataset(
      [{ tag: 0x00081155, vr: 'UI', value: '1.2.3' }],
      syntaxOf(TransferSyntax.ImplicitVRLittleEndian),
    );
    const item = Buffer.alloc(8 + inner.length);
    item.writeUInt16LE(0xfffe, 0);
    item.writeUInt16LE(0xe000, 2);
    item.writeUInt32LE(inner.length, 4);
    inner.copy(item, 8);
    const bytes = encodeDataset(
      [{ tag: 0x00081140, vr: 'UN', value: new Uint8Array(item) }],
      syntaxOf(TransferSyntax.ExplicitVRLittleEndian),
    );
    const ds = parseDataset(bytes, { explicitVr: true, littleEndian: true, deflated: false });
    expect(ds.elements[0]?.items?.[0]?.elements[0]?.value?.toString('latin1')).toBe('1.2.3\0');
  });

  it('refuses a dataset cut inside an element', () => {
    const bytes = encodeDataset(SPEC, syntaxOf(TransferSyntax.ExplicitVRLittleEndian));
    expect(() =>
      parseDataset(bytes.subarray(0, 30), { explicitVr: true, littleEndian: true, deflated: false }),
    ).toThrow(/ends inside|cut short/);
  });
});
