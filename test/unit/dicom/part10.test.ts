import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildPart10Header,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION,
  parsePart10Header,
} from '../../../src/dicom/part10.ts';
import { TS } from '../../../src/dicom/transfer-syntax.ts';

const PYDICOM_DIR = '/usr/lib/python3/dist-packages/pydicom/data/test_files';

// pydicom as the oracle: File Meta values and where the dataset starts (file position after group 0002).
const ORACLE = `
import json, sys, pydicom
from pydicom.filereader import read_preamble, _read_file_meta_info
out = {}
for p in sys.argv[1:]:
    with open(p, 'rb') as f:
        read_preamble(f, False)
        meta = _read_file_meta_info(f)
        off = f.tell()
    g = lambda k: str(meta[k].value) if k in meta else None
    out[p] = {'transferSyntaxUid': g('TransferSyntaxUID'), 'sopClassUid': g('MediaStorageSOPClassUID'),
              'sopInstanceUid': g('MediaStorageSOPInstanceUID'), 'datasetOffset': off,
              'implementationClassUid': g('ImplementationClassUID'), 'implementationVersion': g('ImplementationVersionName'),
              'sourceAe': g('SourceApplicationEntityTitle')}
print(json.dumps(out))
`;

interface OracleMeta {
  transferSyntaxUid: string | null;
  sopClassUid: string | null;
  sopInstanceUid: string | null;
  datasetOffset: number;
  implementationClassUid: string | null;
  implementationVersion: string | null;
  sourceAe: string | null;
}

function pydicomMeta(paths: readonly string[]): Record<string, OracleMeta> {
  try {
    return JSON.parse(
      execFileSync('/usr/bin/python3', ['-c', ORACLE, ...paths], { encoding: 'utf8', timeout: 60_000 }),
    ) as Record<string, OracleMeta>;
  } catch (err) {
    throw new Error(
      `The pydicom oracle failed; install python3-pydicom (apt-get install python3-pydicom). ${String(err)}`,
      { cause: err },
    );
  }
}

/** Walks group 0002 (explicit VR LE) and returns each element's value length. */
function elementLengths(header: Buffer): number[] {
  const lengths: number[] = [];
  let pos = 132;
  while (pos < header.length) {
    const vr = header.toString('latin1', pos + 4, pos + 6);
    const long = vr === 'OB';
    const len = long ? header.readUInt32LE(pos + 8) : header.readUInt16LE(pos + 6);
    lengths.push(len);
    pos += (long ? 12 : 8) + len;
  }
  return lengths;
}

describe('Part 10 header', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-part10-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const odd = {
    sopClassUid: '1.2.840.10008.5.1.4.1.1.4',
    sopInstanceUid: '1.2.3.456',
    transferSyntaxUid: TS.ExplicitLE,
    sourceAeTitle: 'MRI',
  };
  const even = {
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    sopInstanceUid: '1.2.3.4',
    transferSyntaxUid: TS.ImplicitLE,
  };

  it('round-trips through parsePart10Header', () => {
    for (const m of [odd, even]) {
      const header = buildPart10Header(m);
      expect(parsePart10Header(header)).toEqual({
        transferSyntaxUid: m.transferSyntaxUid,
        sopClassUid: m.sopClassUid,
        sopInstanceUid: m.sopInstanceUid,
        datasetOffset: header.length,
      });
    }
  });

  it('pads every value to even length, so the whole header has even length', () => {
    for (const m of [odd, even]) {
      const header = buildPart10Header(m);
      expect(header.length % 2).toBe(0);
      for (const len of elementLengths(header)) {
        expect(len % 2).toBe(0);
      }
    }
  });

  it('pads UIDs with NUL and text with a space', () => {
    const header = buildPart10Header(odd);
    expect(header.includes(Buffer.from('1.2.3.456\0', 'latin1'))).toBe(true);
    expect(header.includes(Buffer.from('MRI ', 'latin1'))).toBe(true);
  });

  it('writes a group length that covers exactly the rest of group 0002', () => {
    const header = buildPart10Header(odd);
    expect(header.toString('latin1', 128, 132)).toBe('DICM');
    expect(header.subarray(0, 128).every((b) => b === 0)).toBe(true);
    expect(header.readUInt32LE(140)).toBe(header.length - 144);
  });

  it('writes the Source AE title only when there is one', () => {
    const withAe = buildPart10Header(odd);
    const without = buildPart10Header(even);
    expect(elementLengths(withAe)).toHaveLength(8);
    expect(elementLengths(without)).toHaveLength(7);
  });

  it('writes a header pydicom reads back with the same values', () => {
    const files = [odd, even].map((m, i) => {
      const path = join(dir, `built-${String(i)}.dcm`);
      writeFileSync(path, buildPart10Header(m));
      return { path, m };
    });
    const oracle = pydicomMeta(files.map((f) => f.path));
    for (const { path, m } of files) {
      expect(oracle[path]).toEqual({
        transferSyntaxUid: m.transferSyntaxUid,
        sopClassUid: m.sopClassUid,
        sopInstanceUid: m.sopInstanceUid,
        datasetOffset: readFileSync(path).length,
        implementationClassUid: IMPLEMENTATION_CLASS_UID,
        implementationVersion: IMPLEMENTATION_VERSION,
        sourceAe: m === odd ? 'MRI' : null,
      });
    }
  });

  it.each([
    'CT_small.dcm',
    'MR_small_implicit.dcm',
    'MR_small_bigendian.dcm',
    'image_dfl.dcm',
    'JPEG2000.dcm',
    'UN_sequence.dcm',
    'nested_priv_SQ.dcm',
  ])('finds the same meta values and dataset offset as pydicom in %s', (name) => {
    const path = join(PYDICOM_DIR, name);
    const o = pydicomMeta([path])[path];
    const parsed = parsePart10Header(readFileSync(path).subarray(0, 64 * 1024));
    expect(parsed).toEqual({
      transferSyntaxUid: o?.transferSyntaxUid,
      // pydicom reports an empty UI as ''; we report it as ''.
      sopClassUid: o?.sopClassUid ?? undefined,
      sopInstanceUid: o?.sopInstanceUid ?? undefined,
      datasetOffset: o?.datasetOffset,
    });
  });

  it('returns null for a bare dataset without "DICM"', () => {
    expect(parsePart10Header(readFileSync(join(PYDICOM_DIR, 'rtstruct.dcm')))).toBeNull();
    expect(parsePart10Header(Buffer.alloc(100))).toBeNull();
  });

  it('returns null when the head ends inside a meta element', () => {
    const header = buildPart10Header(odd);
    expect(parsePart10Header(header.subarray(0, header.length - 3))).toBeNull();
  });

  it('assumes explicit VR little endian when the meta has no Transfer Syntax UID', () => {
    const head = Buffer.alloc(132);
    head.write('DICM', 128, 'latin1');
    expect(parsePart10Header(head)).toEqual({
      transferSyntaxUid: TS.ExplicitLE,
      sopClassUid: undefined,
      sopInstanceUid: undefined,
      datasetOffset: 132,
    });
  });
});
