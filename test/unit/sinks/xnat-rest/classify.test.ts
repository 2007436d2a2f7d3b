import { describe, expect, it } from 'vitest';
import { classifyImport, messageOf } from '../../../../src/sinks/xnat-rest/classify.ts';
import type { HttpResponse } from '../../../../src/xnat/http.ts';

const res = (
  status: number,
  text: string,
  contentType = 'text/plain',
  headers: Record<string, string> = {},
): HttpResponse => ({ status, text, contentType, headers });

const tomcat = (status: number, message: string): string =>
  `<!doctype html><html><head><title>HTTP Status ${String(status)}</title><style>h1 {color:red}</style></head><body><h1>HTTP Status ${String(status)} – Error</h1><p><b>Message</b> ${message}</p></body></html>`;

describe('classifying XNAT import answers', () => {
  it('accepts a 200 with session URIs only, one per CRLF line', () => {
    expect(
      classifyImport(res(200, '/data/prearchive/projects/P/20260101_101010123/S1_MR1\r\n', 'text/uri-list')),
    ).toEqual({ kind: 'ok', uris: ['/data/prearchive/projects/P/20260101_101010123/S1_MR1'] });
    expect(
      classifyImport(
        res(
          200,
          '/data/archive/projects/P/subjects/S1/experiments/E1\r\n/data/archive/projects/P/subjects/S1/experiments/E2\r\n',
        ),
      ),
    ).toMatchObject({
      kind: 'ok',
      uris: [
        '/data/archive/projects/P/subjects/S1/experiments/E1',
        '/data/archive/projects/P/subjects/S1/experiments/E2',
      ],
    });
  });

  it('does not take a 200 error or login page for success', () => {
    const o = classifyImport(res(200, '<html><body><h1>Login</h1>Please log in</body></html>', 'text/html'));
    expect(o.kind).toBe('rejected');
    expect(o).toMatchObject({
      message: expect.stringContaining('not a session URI (text/html): Login Please log in') as string,
    });
    expect(classifyImport(res(200, '')).kind).toBe('rejected');
  });

  it('keeps XNAT\'s conflict texts: 409, and 400 "Failed to archive" from DICOM-zip', () => {
    expect(
      classifyImport(res(409, tomcat(409, 'Session already exists, retry with overwrite enabled'), 'text/html')),
    ).toEqual({
      kind: 'conflict',
      message: 'HTTP Status 409 – Error Message Session already exists, retry with overwrite enabled',
    });
    expect(
      classifyImport(
        res(400, 'Failed to archive 1 of 1 session(s): Invalid modification of session UID via archive process.'),
      ),
    ).toEqual({
      kind: 'conflict',
      message: 'Failed to archive 1 of 1 session(s): Invalid modification of session UID via archive process.',
    });
  });

  it('recognises a re-send of files XNAT already holds', () => {
    for (const status of [400, 409, 500]) {
      expect(
        classifyImport(
          res(
            status,
            'Failed to archive 1 of 1 session(s): Session already exists with matching files, retry with overwrite=delete enabled',
          ),
        ).kind,
      ).toBe('present');
    }
  });

  it('sorts the rest: auth, client errors, busy and server errors', () => {
    expect(classifyImport(res(401, '')).kind).toBe('auth');
    expect(classifyImport(res(403, 'Forbidden')).kind).toBe('auth');
    expect(classifyImport(res(400, 'unable to read DICOM object x.dcm'))).toEqual({
      kind: 'rejected',
      message: 'HTTP 400: unable to read DICOM object x.dcm',
    });
    expect(classifyImport(res(404, 'ImporterNotFoundException')).kind).toBe('rejected');
    expect(classifyImport(res(423, 'Duplicate archive attempt', 'text/plain', { 'retry-after': '30' }))).toEqual({
      kind: 'retry',
      message: 'HTTP 423: Duplicate archive attempt',
      afterMs: 30_000,
    });
    for (const s of [500, 502, 503, 504, 507]) {
      expect(classifyImport(res(s, tomcat(s, 'boom'), 'text/html')).kind).toBe('retry');
    }
    expect(classifyImport(res(500, 'Session already exists, retry with overwrite enabled')).kind).toBe('conflict');
  });

  it('strips HTML and caps long messages', () => {
    expect(messageOf(res(500, `<p>${'x'.repeat(600)}</p>`))).toHaveLength(501);
    expect(messageOf(res(500, '  '))).toBe('(empty body)');
    expect(messageOf(res(500, '<script>alert(1)</script>a &amp; b &lt;c&gt;'))).toBe('a & b <c>');
  });
});
