// The STOW-RS source inside an in-process daemon (ports 0), driven by raw node:http requests: the
// paths a spawned daemon makes awkward to reach (Expect: 100-continue, a token file edited while
// running, the request limit, unusual parts), and the log levels of identifiers.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeInstance, newUid } from '../../../helpers/dicom-factory.ts';
import { startTestDaemon, type TestDaemon } from '../../../helpers/daemon.ts';
import { pydicomFile } from '../../../helpers/pydicom-files.ts';

const TOKEN = 'in-process-token-0123456789';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}
type Part = Buffer | { readonly headers: string; readonly data: Buffer };

function multipart(boundary: string, parts: readonly Part[]): Buffer {
  return Buffer.concat([
    ...parts.flatMap((p) => {
      const { headers, data } = Buffer.isBuffer(p) ? { headers: 'Content-Type: application/dicom\r\n', data: p } : p;
      return [Buffer.from(`--${boundary}\r\n${headers}\r\n`), data, Buffer.from('\r\n')];
    }),
    Buffer.from(`--${boundary}--\r\n`),
  ]);
}

/** One POST; `body` null sends only headers and leaves the request open (returned as `hold`). */
function post(
  port: number,
  path: string,
  headers: Record<string, string>,
  body: Buffer | null,
): { answer: Promise<Answer>; hold: () => void } {
  const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers });
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  if (body) {
    req.end(body);
  } else {
    req.flushHeaders();
  }
  return {
    answer,
    hold: () => {
      req.destroy();
    },
  };
}

const stowHeaders = (boundary = 'b0undary', extra: Record<string, string> = {}): Record<string, string> => ({
  Authorization: `Bearer ${TOKEN}`,
  'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
  ...extra,
});

type Item = Record<string, { Value?: unknown[] }>;
const seq = (a: Answer, tag: string): Item[] =>
  (JSON.parse(a.body) as Record<string, { Value?: Item[] }>)[tag]?.Value ?? [];
const reasons = (a: Answer): unknown[] => seq(a, '00081198').map((i) => i['00081197']?.Value?.[0]);

describe('STOW-RS source in process', () => {
  let t: TestDaemon;
  let dir: string;
  let tokenFile: string;
  let port = 0;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'xg-stow-inproc-'));
    tokenFile = join(dir, 'tokens');
    writeFileSync(tokenFile, `pacs:${TOKEN}\n`);
    chmodSync(tokenFile, 0o600);
    t = await startTestDaemon({
      dimse: { enabled: false },
      folder: { enabled: false },
      stow: { port: 0, host: '127.0.0.1', tokenFile, maxConcurrentRequests: 1 },
    });
    port = t.daemon.ports().stow ?? 0;
  });
  afterAll(async () => {
    await t.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('honours Expect: 100-continue: refused before the body, or continued and stored', async () => {
    const refused = post(
      port,
      '/dicom-web/studies',
      { ...stowHeaders(), Authorization: 'Bearer wrong-token-000000000000', Expect: '100-continue' },
      null,
    );
    const r = await refused.answer;
    refused.hold();
    expect(r.status).toBe(403);
    const inst = encodeInstance({ studyInstanceUid: newUid() });
    const req = request({
      host: '127.0.0.1',
      port,
      path: '/dicom-web/studies',
      method: 'POST',
      headers: { ...stowHeaders(), Expect: '100-continue' },
    });
    const answer = new Promise<number>((resolve, reject) => {
      req.on('continue', () => {
        req.end(multipart('b0undary', [inst.bytes]));
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => {
          resolve(res.statusCode ?? 0);
        });
      });
      req.on('error', reject);
    });
    req.flushHeaders();
    expect(await answer).toBe(200);
  });

  it('refuses a second request beyond maxConcurrentRequests with 503 while the first is open', async () => {
    const first = post(port, '/dicom-web/studies', stowHeaders(), null);
    await new Promise((r) => setTimeout(r, 200));
    const second = await post(
      port,
      '/dicom-web/studies',
      stowHeaders(),
      multipart('b0undary', [encodeInstance().bytes]),
    ).answer;
    expect(second.status).toBe(503);
    expect(second.headers['retry-after']).toBe('30');
    expect(second.body).toContain('ERR_ASSOC_LIMIT');
    first.hold();
    await first.answer.catch(() => undefined);
  });

  it('fails unusual parts with the right reason and stores the rest', async () => {
    const study = newUid();
    const good = encodeInstance({ studyInstanceUid: study });
    const bare = encodeInstance({ studyInstanceUid: study, omitFileMeta: true });
    // Same length as explicit VR LE's UID: the File Meta now names a syntax nobody knows.
    const odd = encodeInstance({ studyInstanceUid: study });
    const at = odd.bytes.indexOf('1.2.840.10008.1.2.1\0');
    odd.bytes.write('1.2.840.10008.1.9.9', at, 'latin1');
    // A header of more than 64 KiB before the StudyInstanceUID: the part's head is read further.
    const bigHeader = encodeInstance({
      studyInstanceUid: study,
      extraElements: [
        { tag: 0x00091010, vr: 'LO', value: 'BIG' },
        { tag: 0x00091011, vr: 'OB', value: new Uint8Array(200_000) },
      ],
    });
    const text = { headers: 'Content-Type: text/plain\r\n', data: Buffer.from('hello') };
    const base64 = {
      headers: 'Content-Type: application/dicom\r\nContent-Transfer-Encoding: base64\r\n',
      data: Buffer.from(good.bytes.toString('base64')),
    };
    const r = await post(
      port,
      `/dicom-web/studies/${study}`,
      stowHeaders('p'),
      multipart('p', [good.bytes, bare.bytes, odd.bytes, text, base64, bigHeader.bytes]),
    ).answer;
    expect(r.status, r.body).toBe(202);
    expect(seq(r, '00081199').map((i) => i['00081155']?.Value?.[0])).toEqual([
      good.sopInstanceUid,
      bigHeader.sopInstanceUid,
    ]);
    expect(reasons(r)).toEqual([0xc000, 0xc122, 0xc000, 0xc000]);
  });

  it('checks the study of a deflated instance against the URL', async () => {
    const dfl = await pydicomFile('image_dfl.dcm');
    const { readFileSync } = await import('node:fs');
    const bytes = readFileSync(dfl.path);
    const right = await post(
      port,
      `/dicom-web/studies/${dfl.studyInstanceUid}`,
      stowHeaders(),
      multipart('b0undary', [bytes]),
    ).answer;
    expect(right.status, right.body).toBe(200);
    const wrong = await post(port, `/dicom-web/studies/${newUid()}`, stowHeaders(), multipart('b0undary', [bytes]))
      .answer;
    expect(wrong.status).toBe(409);
    expect(reasons(wrong)).toEqual([0xc409]);
  });

  it('answers 400 for a body without parts or with unreadable framing, and for a malformed study UID', async () => {
    expect((await post(port, '/dicom-web/studies', stowHeaders(), Buffer.from('--b0undary--\r\n')).answer).status).toBe(
      400,
    );
    expect(
      (await post(port, '/dicom-web/studies', stowHeaders(), Buffer.from('--b0undaryX\r\n\r\nabc')).answer).status,
    ).toBe(400);
    expect(
      (
        await post(port, '/dicom-web/studies/1.2.abc', stowHeaders(), multipart('b0undary', [encodeInstance().bytes]))
          .answer
      ).status,
    ).toBe(400);
    expect(
      (
        await post(port, '/dicom-web/studies/1.2.%33', stowHeaders(), multipart('b0undary', [encodeInstance().bytes]))
          .answer
      ).status,
    ).toBe(400);
  });

  it('follows edits of the token file: a revoked token is refused, a broken file answers 503 until fixed', async () => {
    const one = (): Promise<Answer> =>
      post(port, '/dicom-web/studies', stowHeaders(), multipart('b0undary', [encodeInstance().bytes])).answer;
    writeFileSync(tokenFile, `other:${'x'.repeat(20)}\n`);
    expect((await one()).status).toBe(403);
    writeFileSync(tokenFile, 'broken line\n');
    const broken = await one();
    expect(broken.status).toBe(503);
    expect(broken.body).not.toContain(tokenFile);
    writeFileSync(tokenFile, `pacs:${TOKEN}\n`);
    expect((await one()).status).toBe(200);
    expect(t.logs().some((l) => l.code === 'ERR_STOW_TOKENS' && l.level === 50)).toBe(true);
  });

  it("shows the request in the console's series list like an association: the token's name as sender", async () => {
    const r = await post(
      port,
      '/dicom-web/studies',
      stowHeaders(),
      multipart('b0undary', [encodeInstance({ studyInstanceUid: newUid() }).bytes]),
    ).answer;
    expect(r.status).toBe(200);
    const html = await fetch(`http://127.0.0.1:${String(t.httpPort)}/console/series?source=stow`).then((x) => x.text());
    expect(html).toMatch(/pacs <span class="muted">\(STOW-RS\)<\/span>/);
    const options = /<select id="f-source"[^]*?<\/select>/.exec(html)?.[0] ?? '';
    expect(options).toContain('<option value="stow" selected>stow</option>');
  });

  it('logs SOP UIDs of refused parts at debug only', async () => {
    const inst = encodeInstance({ studyInstanceUid: newUid() });
    const r = await post(port, `/dicom-web/studies/${newUid()}`, stowHeaders(), multipart('b0undary', [inst.bytes]))
      .answer;
    expect(r.status).toBe(409);
    const lines = t.logs().filter((l) => JSON.stringify(l).includes(inst.sopInstanceUid));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l.level === 20)).toBe(true);
  });

  // Last: it locks 127.0.0.1 out.
  it('refuses an address with 429 after ten wrong tokens, even with the right one', async () => {
    const body = multipart('b0undary', [encodeInstance().bytes]);
    for (let i = 0; i < 10; i++) {
      expect(
        (
          await post(
            port,
            '/dicom-web/studies',
            { ...stowHeaders(), Authorization: `Bearer guess-${String(i).padStart(20, '0')}` },
            body,
          ).answer
        ).status,
      ).toBe(403);
    }
    const locked = await post(port, '/dicom-web/studies', stowHeaders(), body).answer;
    expect(locked.status).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    expect(
      t.logs().some((l) => l.msg === 'Too many wrong STOW-RS tokens from one address; it is refused for a while.'),
    ).toBe(true);
  });
});
