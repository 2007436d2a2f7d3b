//! A series as a streamed, uncompressed zip: files are read from disk as XNAT reads the request.
// Stored, not deflated: pixel data barely compresses and deflate would cost more CPU than the
// network time it saves on a LAN. Fixed entry times keep the bytes of a re-sent series identical.
import { PassThrough, type Readable } from 'node:stream';
import { ZipFile } from 'yazl';
import type { SeriesSnapshot } from '../../contracts/component.ts';
import { useNativeCrc32 } from './native-crc32.ts';

useNativeCrc32();

const EPOCH = new Date(Date.UTC(2000, 0, 1));

/** A fresh zip stream of every instance of `series`, named `<SeriesUID>/<SOPInstanceUID>.dcm`. */
export function zipSeries(series: SeriesSnapshot): Readable {
  const zip = new ZipFile();
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  // yazl reports a file it cannot read on the ZipFile, not on its output stream.
  zip.on('error', (err: Error) => out.destroy(err));
  zip.outputStream.pipe(out);
  for (const inst of series.instances) {
    zip.addFile(inst.path, `${series.seriesInstanceUid}/${inst.sopInstanceUid}.dcm`, {
      compress: false,
      mtime: EPOCH,
      mode: 0o100640,
    });
  }
  zip.end();
  return out;
}
