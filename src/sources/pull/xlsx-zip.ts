//! The parts of an XLSX workbook (a zip) read under limits: entry count, and each part's real unpacked size.
import { fromBufferPromise, type Entry, type ZipFile } from 'yauzl';
import { XlsxError } from './sheet.ts';

const MAX_ENTRIES = 10_000;

/** The text of the parts `wanted` picks, by name; XlsxError for a damaged zip or a part over `maxBytes`. */
export async function readEntries(
  buf: Buffer,
  wanted: (name: string) => boolean,
  maxBytes: number,
): Promise<Map<string, string>> {
  let zip: ZipFile;
  try {
    zip = await fromBufferPromise(buf, { lazyEntries: true, strictFileNames: false });
  } catch (err) {
    throw new XlsxError(`not a readable XLSX (zip) file: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (zip.entryCount > MAX_ENTRIES) {
    throw new XlsxError(`the workbook has ${String(zip.entryCount)} parts (at most ${String(MAX_ENTRIES)})`);
  }
  const out = new Map<string, string>();
  try {
    for (;;) {
      const entry = await new Promise<Entry | null>((resolve, reject) => {
        zip.once('entry', resolve);
        zip.once('end', () => {
          resolve(null);
        });
        zip.once('error', reject);
        zip.readEntry();
      });
      zip.removeAllListeners('entry').removeAllListeners('end').removeAllListeners('error');
      if (!entry) {
        break;
      }
      const name = entry.fileName.replace(/^\/+/, '');
      if (!wanted(name)) {
        continue;
      }
      if (entry.uncompressedSize > maxBytes) {
        throw new XlsxError(
          `part ${name} unpacks to ${String(entry.uncompressedSize)} bytes (at most ${String(maxBytes)})`,
        );
      }
      const stream = await zip.openReadStreamPromise(entry);
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const c of stream as AsyncIterable<Buffer>) {
        n += c.length;
        // The header may lie about the size: count what is really inflated.
        if (n > maxBytes) {
          stream.destroy();
          throw new XlsxError(`part ${name} unpacks to more than ${String(maxBytes)} bytes`);
        }
        chunks.push(c);
      }
      out.set(name, Buffer.concat(chunks).toString('utf8'));
    }
  } catch (err) {
    if (err instanceof XlsxError) {
      throw err;
    }
    throw new XlsxError(`the XLSX file is damaged: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    zip.close();
  }
  return out;
}
