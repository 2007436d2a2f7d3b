// Removing XNAT's refused copies of an upload: only CONFLICT rows of this very session and study,
// and a lookup or delete that fails is logged, never thrown (the delivery stands on its own).
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../../src/log.ts';
import { discardRefusedRows } from '../../../../src/sinks/xnat-rest/refused-row.ts';
import { XnatAuthError, type XnatClient } from '../../../../src/xnat/client.ts';
import { HttpNetworkError, type HttpResponse } from '../../../../src/xnat/http.ts';

const labels = { project: 'P 1', subject: 'S1', session: 'E1' };
const log = createLogger('silent');
const listing = (...r: Record<string, unknown>[]) => ({ ResultSet: { Result: r } });
const row = (o: Record<string, unknown>) => ({
  name: 'E1',
  subject: 'S1',
  tag: '1.2',
  status: 'CONFLICT',
  timestamp: '20260101_1',
  ...o,
});

function client(o: {
  rows?: unknown;
  json?: () => Promise<unknown>;
  status?: (path: string) => number;
}): XnatClient & { deleted: string[] } {
  const deleted: string[] = [];
  return {
    deleted,
    origin: 'http://xnat',
    json: o.json ?? (() => Promise.resolve(o.rows ?? null)),
    call: (path, _signal, c) => {
      expect(c?.method).toBe('DELETE');
      deleted.push(path);
      const r: HttpResponse = { status: o.status?.(path) ?? 200, contentType: 'text/plain', headers: {}, text: '' };
      return Promise.resolve(r);
    },
    login: () => Promise.resolve(),
    checkProject: () => Promise.reject(new Error('not used')),
  };
}

const discard = (c: XnatClient): Promise<number> =>
  discardRefusedRows(c, labels, '1.2', new AbortController().signal, log);

describe('discardRefusedRows', () => {
  it("deletes the CONFLICT rows of this session and study only, by XNAT's folder name", async () => {
    const c = client({
      rows: listing(
        row({ folderName: 'E1' }),
        row({ folderName: 'E1_1', timestamp: '20260101_2' }),
        row({ status: 'RECEIVING', timestamp: '20260101_3' }),
        row({ status: 'READY', timestamp: '20260101_4' }),
        row({ tag: '9.9', timestamp: '20260101_5' }),
        row({ subject: 'OTHER', timestamp: '20260101_6' }),
        row({ name: 'E2', timestamp: '20260101_7' }),
      ),
    });
    expect(await discard(c)).toBe(2);
    expect(c.deleted).toEqual([
      'data/prearchive/projects/P%201/20260101_1/E1',
      'data/prearchive/projects/P%201/20260101_2/E1_1',
    ]);
  });

  it('counts only what XNAT deleted, and treats a failed lookup as nothing removed', async () => {
    const refused = client({
      rows: listing(row({}), row({ timestamp: '2' })),
      status: (p) => (p.endsWith('/2/E1') ? 409 : 200),
    });
    expect(await discard(refused)).toBe(1);
    expect(await discard(client({ rows: null }))).toBe(0);
    const down = client({ json: () => Promise.reject(new HttpNetworkError('ECONNREFUSED', 'connect ECONNREFUSED')) });
    expect(await discard(down)).toBe(0);
    const auth = client({ json: () => Promise.reject(new XnatAuthError(401, 'refused')) });
    expect(await discard(auth)).toBe(0);
    await expect(discard(client({ json: () => Promise.reject(new TypeError('bug')) }))).rejects.toThrow('bug');
  });
});
