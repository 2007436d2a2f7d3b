//! Drives an HTTP server with real curl (and builds zips with yazl) for integration tests of the fake XNAT and its clients.
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';
import { run } from '../peers.ts';

/** What curl saw. `status` is 0 when no response arrived (see `exit`, e.g. 52 = empty reply). */
export interface CurlResult {
  readonly status: number;
  /** Lower-case header names of the final response. */
  readonly headers: Record<string, string>;
  readonly body: string;
  /** curl's exit code. */
  readonly exit: number | null;
  readonly stderr: string;
  readonly ms: number;
}

/** Splits `curl -i` output, skipping interim `100 Continue` blocks. */
function parse(raw: string): Pick<CurlResult, 'status' | 'headers' | 'body'> {
  let rest = raw;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    const head = end < 0 ? rest : rest.slice(0, end);
    const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(head)?.[1] ?? 0);
    rest = end < 0 ? '' : rest.slice(end + 4);
    if (status !== 100 || rest === '') {
      const headers: Record<string, string> = {};
      for (const line of head.split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) {
          headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
      }
      return { status, headers, body: rest };
    }
  }
}

/** Runs `curl -s -i args…` (never follows redirects). */
export async function curl(args: readonly string[]): Promise<CurlResult> {
  const started = Date.now();
  const r = await run('curl', ['-s', '-S', '-i', ...args], { timeoutMs: 60_000 });
  return { ...parse(r.stdout), exit: r.code, stderr: r.stderr, ms: Date.now() - started };
}

/** `${base}/data/services/import?…` with the given parameters. */
export function importUrl(base: string, params: Record<string, string>): string {
  return `${base}/data/services/import?${new URLSearchParams(params).toString()}`;
}

/** Writes a zip of the given entries (name → bytes, in order) to `out`. */
export async function writeZip(out: string, entries: readonly (readonly [string, Buffer])[]): Promise<string> {
  const zip = new ZipFile();
  for (const [name, data] of entries) {
    zip.addBuffer(data, name);
  }
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(out));
  return out;
}
