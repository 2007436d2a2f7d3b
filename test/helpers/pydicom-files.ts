//! Real-world DICOM files bundled with pydicom (Debian python3-pydicom), curated per transfer syntax.
import { join } from 'node:path';
import { run } from './peers.ts';

/** One curated file: what it exercises and how DCMTK `storescu` must be told to send it. */
export interface PydicomFileSpec {
  /** File name inside pydicom's `data/test_files`. */
  readonly name: string;
  /** Expected transfer syntax (checked against the file when read). */
  readonly transferSyntaxUid: string;
  readonly description: string;
  /**
   * Extra `storescu` arguments. `-R` proposes only the file's SOP class (storescu's default list
   * lacks e.g. Segmentation); a compressed syntax is proposed only with its `-x…` option, otherwise
   * storescu tries to decompress and fails. Use one storescu call per file.
   */
  readonly storescuArgs: readonly string[];
  /** False for a bare dataset without preamble/File Meta (storescu sends it; our reader must cope). */
  readonly hasFileMeta: boolean;
}

const ILE = '1.2.840.10008.1.2';
const ELE = '1.2.840.10008.1.2.1';
const EBE = '1.2.840.10008.1.2.2';
const spec = (
  name: string,
  ts: string,
  description: string,
  x: readonly string[] = [],
  hasFileMeta = true,
): PydicomFileSpec => ({
  name,
  transferSyntaxUid: ts,
  description,
  storescuArgs: ['-R', ...x],
  hasFileMeta,
});

/**
 * Files verified to exist in python3-pydicom 2.3.1 (Debian 12) and to be sent by storescu 3.6.7.
 * Beware: the six MR_small* files share one SOP Instance UID (and study/series): sending several
 * of them to one receiver is a re-send of the same instance in another syntax.
 */
export const PYDICOM_FILES: readonly PydicomFileSpec[] = [
  spec('CT_small.dcm', ELE, 'CT, explicit VR little endian'),
  spec('MR_small.dcm', ELE, 'MR, explicit VR little endian'),
  spec('MR_small_implicit.dcm', ILE, 'MR, implicit VR little endian'),
  spec('MR_small_bigendian.dcm', EBE, 'MR, explicit VR big endian (retired syntax)'),
  spec('image_dfl.dcm', '1.2.840.10008.1.2.1.99', 'Secondary capture, deflated explicit VR LE', ['-xd']),
  spec('SC_rgb_jpeg_dcmtk.dcm', '1.2.840.10008.1.2.4.50', 'RGB secondary capture, JPEG baseline', ['-xy']),
  spec('JPGExtended.dcm', '1.2.840.10008.1.2.4.51', 'Secondary capture, JPEG extended (12-bit)', ['-xx']),
  spec('SC_rgb_jpeg_gdcm.dcm', '1.2.840.10008.1.2.4.70', 'RGB secondary capture, JPEG lossless SV1', ['-xs']),
  spec('MR_small_jpeg_ls_lossless.dcm', '1.2.840.10008.1.2.4.80', 'MR, JPEG-LS lossless (odd-length OW: DCMTK warns)', [
    '-xt',
  ]),
  spec('MR_small_jp2klossless.dcm', '1.2.840.10008.1.2.4.90', 'MR, JPEG 2000 lossless (odd-length OW: DCMTK warns)', [
    '-xv',
  ]),
  spec('JPEG2000.dcm', '1.2.840.10008.1.2.4.91', 'Secondary capture, JPEG 2000', ['-xw']),
  spec('MR_small_RLE.dcm', '1.2.840.10008.1.2.5', 'MR, RLE lossless', ['-xr']),
  spec('rtplan.dcm', ILE, 'RT Plan, implicit VR LE'),
  spec('rtstruct.dcm', ILE, 'RT Structure Set, bare dataset without File Meta', [], false),
  spec('rtdose.dcm', ILE, 'RT Dose (multi-frame), implicit VR LE'),
  spec('test-SR.dcm', ELE, 'Comprehensive SR, nested sequences'),
  spec('waveform_ecg.dcm', ELE, '12-lead ECG waveform (~290 KB)'),
  spec('liver_1frame.dcm', ELE, 'Segmentation (not in storescu default SOP class list)'),
];

/** A curated file as found on this machine. */
export interface PydicomFile extends PydicomFileSpec {
  readonly path: string;
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
}

// Reads every file in one interpreter start; pydicom 2.x exposes is_implicit_VR/is_little_endian
// on a dataset read without File Meta, which is how the syntax of a bare dataset is recovered.
const SCRIPT = `
import json, os, sys
import pydicom
d = os.path.join(os.path.dirname(pydicom.__file__), 'data', 'test_files')
out = {'dir': d, 'files': {}}
for name in sys.argv[1:]:
    p = os.path.join(d, name)
    if not os.path.isfile(p):
        continue
    ds = pydicom.dcmread(p, force=True, stop_before_pixels=True)
    ts = getattr(getattr(ds, 'file_meta', None), 'TransferSyntaxUID', None)
    if not ts:
        ts = ('1.2.840.10008.1.2' if ds.is_implicit_VR else
              '1.2.840.10008.1.2.1' if ds.is_little_endian else '1.2.840.10008.1.2.2')
    out['files'][name] = {'ts': str(ts), 'sopClass': str(ds.SOPClassUID), 'sop': str(ds.SOPInstanceUID),
                          'study': str(ds.StudyInstanceUID), 'series': str(ds.SeriesInstanceUID)}
print(json.dumps(out))
`;

interface ScriptOutput {
  readonly dir: string;
  readonly files: Record<string, { ts: string; sopClass: string; sop: string; study: string; series: string }>;
}

// pyenv or a venv may shadow the Debian interpreter that has python3-pydicom; try it explicitly too.
const PYTHONS = [...(process.env.PYTHON === undefined ? [] : [process.env.PYTHON]), 'python3', '/usr/bin/python3'];

async function readAll(): Promise<{ dir: string; files: PydicomFile[] } | undefined> {
  for (const python of PYTHONS) {
    let res;
    try {
      res = await run(python, ['-c', SCRIPT, ...PYDICOM_FILES.map((f) => f.name)], { timeoutMs: 60_000 });
    } catch {
      // Interpreter not installed; try the next candidate.
      continue;
    }
    if (res.code !== 0) {
      continue;
    }
    const out = JSON.parse(res.stdout) as ScriptOutput;
    const files = PYDICOM_FILES.flatMap((s) => {
      const f = out.files[s.name];
      if (f === undefined) {
        return [];
      }
      if (f.ts !== s.transferSyntaxUid) {
        throw new Error(`${s.name}: expected transfer syntax ${s.transferSyntaxUid}, found ${f.ts}.`);
      }
      return [
        {
          ...s,
          path: join(out.dir, s.name),
          sopClassUid: f.sopClass,
          sopInstanceUid: f.sop,
          studyInstanceUid: f.study,
          seriesInstanceUid: f.series,
        },
      ];
    });
    return { dir: out.dir, files };
  }
  return undefined;
}

let cache: ReturnType<typeof readAll> | undefined;

/** pydicom's `data/test_files` directory, or undefined when no python3 can import pydicom. Cached. */
export async function pydicomTestFilesDir(): Promise<string | undefined> {
  cache ??= readAll();
  return (await cache)?.dir;
}

/** The curated files present on this machine, in `PYDICOM_FILES` order, with their UIDs. Cached. */
export async function pydicomFiles(): Promise<PydicomFile[]> {
  cache ??= readAll();
  return (await cache)?.files ?? [];
}

/** One curated file by name; throws if it is not installed. */
export async function pydicomFile(name: string): Promise<PydicomFile> {
  const f = (await pydicomFiles()).find((x) => x.name === name);
  if (f === undefined) {
    throw new Error(`pydicom test file ${name} is not available (apt-get install python3-pydicom).`);
  }
  return f;
}
