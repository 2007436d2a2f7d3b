//! A big instance (over the whole-read limit) is de-identified with its pixel data streamed from
//! disk: the header is rewritten, the pixel bytes are copied unchanged and never held in memory
//! (memory figures themselves belong to bench/, not to tests).
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { anonymiseOffline } from '../../../src/app/anonymise-offline.ts';
import { buildConfig } from '../../../src/config/load.ts';
import { readDicomFile } from '../../../src/dicom/dataset-file.ts';
import { parsePart10Header } from '../../../src/dicom/part10.ts';
import { dicomStrings, pixelMd5, pydicomAvailable } from '../../helpers/deid-oracles.ts';
import { writeLargeInstance } from '../../helpers/dicom-factory.ts';
import { describeWithPeers } from '../../helpers/peers.ts';

const pydicomMissing = (await pydicomAvailable()) ? [] : ['python3-pydicom'];
let root: string;

async function tailHash(file: string, bytes: number, size: number): Promise<string> {
  const h = createHash('md5');
  for await (const c of createReadStream(file, { start: size - bytes })) {
    h.update(c as Buffer);
  }
  return h.digest('hex');
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'xnatgw-anon-large-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describeWithPeers(
  [],
  'anonymise: an instance larger than the whole-read limit',
  () => {
    it('streams 96 MB of pixel data through unchanged and de-identifies the header', async () => {
      const input = join(root, 'in', 'big.dcm');
      await mkdir(join(root, 'in'));
      const info = await writeLargeInstance(input, {
        bytes: 96 * 1024 * 1024,
        patientName: 'Large^Lucy',
        patientId: 'MRNBIG',
      });
      const cfg = buildConfig({ dataDir: join(root, 'data'), folder: { enabled: false } }, {}, root);
      const summary = await anonymiseOffline(cfg, join(root, 'in'), join(root, 'out'), { project: 'BIG' });
      expect(summary.series.map((s) => s.outcome)).toEqual(['done']);
      const [out] = (await readdir(join(root, 'out'), { recursive: true }))
        .filter((f) => f.endsWith('.dcm'))
        .map((f) => join(root, 'out', f));
      const [a, b] = await pixelMd5([input, out ?? '']);
      expect(b?.pixelData).toBe(a?.pixelData);
      expect(b?.length).toBe(info.pixelDataBytes);
      const [s] = await dicomStrings([out ?? '']);
      expect((s?.strings ?? []).map((x) => x.value).join('|')).not.toMatch(/Large|MRNBIG/);
      // The pixel data is the file's tail in both: the same bytes, copied, never held whole.
      expect(await tailHash(out ?? '', info.pixelDataBytes, statSync(out ?? '').size)).toBe(
        await tailHash(input, info.pixelDataBytes, statSync(input).size),
      );
      // Only the header is held: the pixel data is a byte range of the file, streamed by the writer.
      const meta = parsePart10Header(readFileSync(input).subarray(0, 65536));
      if (!meta) {
        throw new Error('input has no meta');
      }
      const parsed = await readDicomFile(input, meta);
      expect(parsed.pixelRange?.to).toBe(statSync(input).size);
      expect(parsed.main.source.length).toBeLessThanOrEqual(1024 * 1024);
    });
  },
  pydicomMissing,
);
