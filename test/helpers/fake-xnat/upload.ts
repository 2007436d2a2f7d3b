//! Request bodies for the import service: spooled to a temp file, multipart parts found by scanning that file.
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

/** One uploaded file: a byte range of a spooled body. */
export interface Upload {
  readonly path: string;
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
  readonly filename: string;
}

let counter = 0;

/** A fresh temp file name in `dir`. */
export function tempName(dir: string, stem: string): string {
  return join(dir, `${stem}-${String(++counter)}`);
}

/** Counts request body bytes for the request log. */
export interface Meter {
  bytes: number;
}

/** Streams the request body to a temp file (never held in memory); resolves with its size. */
export async function spool(req: IncomingMessage, dir: string, meter: Meter): Promise<{ path: string; bytes: number }> {
  const path = tempName(dir, 'body');
  let bytes = 0;
  // Attached in the same tick as the pipe, so no chunk is missed.
  req.on('data', (c: Buffer) => {
    bytes += c.length;
    meter.bytes += c.length;
  });
  await pipeline(req, createWriteStream(path));
  return { path, bytes };
}

/** Reads and discards the rest of the body, counting it. */
export async function drain(req: IncomingMessage, meter: Meter): Promise<void> {
  if (req.readableEnded) {
    return;
  }
  for await (const chunk of req as AsyncIterable<Buffer>) {
    meter.bytes += chunk.length;
  }
}

async function readAt(path: string, position: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, position);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Offsets of every `\r\n--boundary` in the file (the file is treated as if it began with CRLF). */
async function delimiters(path: string, boundary: string): Promise<number[]> {
  const delim = Buffer.from(`\r\n--${boundary}`, 'latin1');
  const found: number[] = [];
  let carry = Buffer.from('\r\n', 'latin1');
  let base = -2;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    const buf = Buffer.concat([carry, chunk]);
    for (let i = buf.indexOf(delim); i !== -1; i = buf.indexOf(delim, i + delim.length)) {
      found.push(base + i);
    }
    // A whole delimiter cannot fit in what is kept, so nothing is found twice.
    const keep = Math.min(buf.length, delim.length - 1);
    base += buf.length - keep;
    carry = buf.subarray(buf.length - keep);
  }
  return found;
}

function headerParam(header: string, name: string): string | null {
  const m =
    new RegExp(`;\\s*${name}="([^"]*)"`, 'i').exec(header) ?? new RegExp(`;\\s*${name}=([^;\\s]*)`, 'i').exec(header);
  return m?.[1] ?? null;
}

/** A multipart/form-data body: its file parts and its plain fields (which XNAT loads as parameters). */
export async function parseMultipart(
  path: string,
  boundary: string,
): Promise<{ files: Upload[]; fields: Record<string, string> }> {
  const marks = await delimiters(path, boundary);
  const delimLength = boundary.length + 4;
  const files: Upload[] = [];
  const fields: Record<string, string> = {};
  for (let k = 0; k + 1 < marks.length; k++) {
    const at = (marks[k] ?? 0) + delimLength;
    const window = await readAt(path, at, 16 * 1024);
    const headEnd = window.indexOf('\r\n\r\n');
    if (window.toString('latin1', 0, 2) === '--' || headEnd < 0) {
      break;
    }
    const headers = window.toString('utf8', 2, headEnd);
    const disposition = /^content-disposition:(.*)$/im.exec(headers)?.[1] ?? '';
    const start = at + headEnd + 4;
    const end = marks[k + 1] ?? start;
    const filename = headerParam(disposition, 'filename');
    const name = headerParam(disposition, 'name') ?? '';
    if (filename !== null) {
      files.push({ path, start, end, filename });
    } else if (end - start <= 64 * 1024) {
      fields[name] = (await readAt(path, start, end - start)).toString('utf8');
    }
  }
  return { files, fields };
}

/** Copies a byte range into its own temp file (zip reading needs random access). */
export async function extract(u: Upload, dir: string): Promise<string> {
  if (u.start === 0) {
    const fh = await open(u.path, 'r');
    const { size } = await fh.stat();
    await fh.close();
    if (size === u.end) {
      return u.path;
    }
  }
  const out = tempName(dir, 'part');
  await pipeline(
    u.end > u.start ? createReadStream(u.path, { start: u.start, end: u.end - 1 }) : [],
    createWriteStream(out),
  );
  return out;
}

/** RequestUtil.deriveFileName("upload", entity): the in-body file's name from its media type. */
export function inBodyName(contentType: string | null): string {
  const t = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const ext: Record<string, string> = {
    'application/zip': '.zip',
    'application/x-zip-compressed': '.zip',
    'application/x-tar': '.tar',
    'application/x-gzip': '.tar.gz',
    'application/gzip': '.tar.gz',
    'application/dicom': '.dcm',
  };
  return `upload${ext[t] ?? ''}`;
}
