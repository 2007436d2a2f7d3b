// The STOW-RS source under a spawned daemon, driven by curl and by an independent Python client
// (pydicom + http.client): answers per PS3.18 §10.5 for every outcome, the request recorded as one
// association, and the stored instances delivered de-identified by the folder sink.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { outboxSeries } from '../../../helpers/outbox.ts';
import { describeWithPeers, run } from '../../../helpers/peers.ts';
import { pydicomFile, pydicomFiles } from '../../../helpers/pydicom-files.ts';
import { newUid } from '../../../helpers/dicom-factory.ts';
import { waitFor } from '../../../helpers/wait-for.ts';
import {
  curl,
  curlStow,
  items,
  pythonStow,
  pythonWithPydicom,
  reasonOf,
  removeDir,
  SENDER,
  sopOf,
  startStowDaemon,
  TOKEN,
  type StowDaemon,
} from './helpers.ts';

const MiB = 1024 * 1024;

describeWithPeers(['curl'], 'STOW-RS source', () => {
  let d: StowDaemon | undefined;
  const daemon = (): StowDaemon => {
    if (!d) {
      throw new Error('daemon not started');
    }
    return d;
  };
  beforeAll(async () => {
    d = await startStowDaemon({ stow: `maxRequestBytes: ${String(8 * MiB)}` });
  }, 60_000);
  afterAll(async () => {
    await d?.stop();
    removeDir(d);
  });

  const db = (): Database.Database => new Database(join(daemon().dataDir, 'gateway.db'), { readonly: true });
  const delivered = (): Map<string, string[]> => {
    try {
      return outboxSeries(join(daemon().dataDir, 'outbox'));
    } catch {
      return new Map();
    }
  };

  it('refuses before reading the body: 401 without a token, 403 for a wrong one, 415, 406, 413, 404/405', async () => {
    const { url, dir } = daemon();
    const ct = (await pydicomFile('CT_small.dcm')).path;
    const none = await curl(dir, curlStow(url, [ct], { token: null }));
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer /);
    expect((await curl(dir, curlStow(url, [ct], { token: 'not-the-token-0123456789' }))).status).toBe(403);
    expect((await curl(dir, ['-X', 'POST', '-H', 'Authorization: Basic cGFjczpwYWNz', url])).status).toBe(401);
    // A form upload, a JSON body, multipart/related of another type.
    expect((await curl(dir, ['-H', `Authorization: Bearer ${TOKEN}`, '-F', `f=@${ct}`, url])).status).toBe(415);
    expect(
      (
        await curl(dir, [
          '-H',
          `Authorization: Bearer ${TOKEN}`,
          '-H',
          'Content-Type: application/dicom',
          '--data-binary',
          `@${ct}`,
          url,
        ])
      ).status,
    ).toBe(415);
    expect(
      (
        await curl(
          dir,
          curlStow(url, [ct], {}).map((a) => a.replace('type="application/dicom"', 'type="application/dicom+json"')),
        )
      ).status,
    ).toBe(415);
    expect((await curl(dir, curlStow(url, [ct], { accept: 'text/html' }))).status).toBe(406);
    const noBoundary = [
      '-X',
      'POST',
      '-H',
      `Authorization: Bearer ${TOKEN}`,
      '-H',
      'Content-Type: multipart/related; type="application/dicom"',
      '--data-binary',
      `@${ct}`,
      url,
    ];
    expect((await curl(dir, noBoundary)).status).toBe(400);
    expect(
      (
        await curl(
          dir,
          noBoundary.map((a) => (a.startsWith('Content-Type') ? `${a}; boundary="bad boundary "` : a)),
        )
      ).status,
    ).toBe(400);
    const big = join(dir, 'big.bin');
    writeFileSync(big, Buffer.alloc(9 * MiB));
    const tooBig = await curl(dir, curlStow(url, [big]));
    expect(tooBig.status).toBe(413);
    // Chunked: no Content-Length, cut off once past the limit.
    const chunked = await curl(dir, ['-H', 'Transfer-Encoding: chunked', ...curlStow(url, [big])]);
    expect(chunked.status).toBe(413);
    expect((await curl(dir, ['-H', `Authorization: Bearer ${TOKEN}`, url.replace('/studies', '/series')])).status).toBe(
      404,
    );
    const get = await curl(dir, ['-H', `Authorization: Bearer ${TOKEN}`, url]);
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    const c = db();
    expect(c.prepare(`SELECT count(*) FROM instances`).pluck().get()).toBe(0);
    c.close();
  });

  it('stores what curl sends (200, ReferencedSOPSequence), records one association, delivers it de-identified', async () => {
    const { url, dir } = daemon();
    const files = [await pydicomFile('CT_small.dcm'), await pydicomFile('MR_small.dcm')];
    const r = await curl(
      dir,
      curlStow(
        url,
        files.map((f) => f.path),
      ),
    );
    expect(r.status, r.text).toBe(200);
    expect(r.headers['content-type']).toBe('application/dicom+json');
    expect(items(r.body, '00081199').map(sopOf)).toEqual(files.map((f) => f.sopInstanceUid));
    expect(items(r.body, '00081198')).toEqual([]);
    expect((r.body as Record<string, unknown>)['00081190']).toEqual({ vr: 'UR' });
    // Answered 200: both rows are committed, under one association of the token's name and IP.
    const c = db();
    const rows = c
      .prepare(
        `SELECT i.source, i.calling_ae AS sender, i.peer_ip AS ip, a.source AS aSource, a.calling_ae AS aSender, a.outcome
      FROM instances i JOIN associations a ON a.id = i.association_id WHERE i.sop_instance_uid IN (?, ?)`,
      )
      .all(files[0]?.sopInstanceUid, files[1]?.sopInstanceUid);
    c.close();
    expect(rows).toEqual(
      [0, 1].map(() => ({
        source: 'stow',
        sender: SENDER,
        ip: '127.0.0.1',
        aSource: 'stow',
        aSender: SENDER,
        outcome: 'released',
      })),
    );
    const list = await fetch(`http://127.0.0.1:${String(daemon().httpPort)}/series?limit=50`).then(
      (x) => x.json() as Promise<{ items: { sources: string[]; senders: string[] }[] }>,
    );
    expect(list.items.some((s) => s.sources.includes('stow') && s.senders.includes(SENDER))).toBe(true);
    await waitFor(() => [...delivered().values()].flat().length >= 2, 'both instances delivered', 60_000);
    // Read back by pydicom: identifiers replaced (PS3.15 Basic), UIDs remapped.
    const py = await pythonWithPydicom();
    if (!py) {
      throw new Error('python3 with pydicom needed');
    }
    const out = await run(py, [
      '-c',
      'import sys,json,pydicom\nprint(json.dumps([[str(d.PatientName), str(d.PatientID), d.SOPInstanceUID] for d in (pydicom.dcmread(p) for p in sys.argv[1:])]))',
      ...[...delivered().values()].flat(),
    ]);
    const read = JSON.parse(out.stdout) as [string, string, string][];
    const originals = await run(py, [
      '-c',
      'import sys,json,pydicom\nprint(json.dumps([[str(d.PatientName), str(d.PatientID)] for d in (pydicom.dcmread(p) for p in sys.argv[1:])]))',
      ...files.map((f) => f.path),
    ]);
    const ids = (JSON.parse(originals.stdout) as string[][]).flat().filter((s) => s !== '');
    expect(read).toHaveLength(2);
    for (const [name, id, sop] of read) {
      expect(ids).not.toContain(name);
      expect(ids).not.toContain(id);
      expect(files.map((f) => f.sopInstanceUid)).not.toContain(sop);
    }
  }, 120_000);

  it('answers in DICOM XML when Accept asks for it', async () => {
    const { url, dir } = daemon();
    const r = await curl(
      dir,
      curlStow(url, [(await pydicomFile('CT_small.dcm')).path], { accept: 'application/dicom+xml' }),
    );
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/dicom+xml; charset=utf-8');
    expect(r.text).toMatch(/<NativeDicomModel xmlns="http:\/\/dicom.nema.org\/PS3.19\/models\/NativeDICOM"/);
    expect(r.text).toContain('keyword="ReferencedSOPSequence"');
  });

  it('answers 202 with FailureReason 0xC000 for a part that is not DICOM, 409 when nothing is stored', async () => {
    const { url, dir } = daemon();
    const junk = join(dir, 'junk.dcm');
    writeFileSync(junk, 'This is a letter, not an image.\n'.repeat(100));
    const ct = await pydicomFile('CT_small.dcm');
    const some = await curl(dir, curlStow(url, [ct.path, junk]));
    expect(some.status, some.text).toBe(202);
    expect(items(some.body, '00081199').map(sopOf)).toEqual([ct.sopInstanceUid]);
    expect(items(some.body, '00081198').map(reasonOf)).toEqual([0xc000]);
    const none = await curl(dir, curlStow(url, [junk, junk]));
    expect(none.status).toBe(409);
    expect(items(none.body, '00081198').map(reasonOf)).toEqual([0xc000, 0xc000]);
  });

  it("takes every transfer syntax of pydicom's files from the Python client, chunked in odd sizes, checked as a C-STORE is", async () => {
    const files = (await pydicomFiles()).filter((f) => f.hasFileMeta && !f.name.startsWith('MR_small_'));
    expect(files.length).toBeGreaterThan(8);
    const r = await pythonStow({
      url: daemon().url,
      token: TOKEN,
      chunk: 1013,
      parts: files.map((f) => ({ raw: f.path })),
    });
    // rtplan.dcm and rtdose.dcm name another SOP Instance UID in their File Meta than in the
    // dataset: refused with 0xA900 (ERR_DICOM_UID_MISMATCH), as the folder source and a C-STORE do.
    const mismatched = new Set(['rtplan.dcm', 'rtdose.dcm']);
    expect(r.status, r.text).toBe(202);
    expect(items(r.body, '00081199').map(sopOf)).toEqual(
      files.filter((f) => !mismatched.has(f.name)).map((f) => f.sopInstanceUid),
    );
    expect(items(r.body, '00081198').map(reasonOf)).toEqual([0xa900, 0xa900]);
    const fine = await pythonStow({
      url: daemon().url,
      token: TOKEN,
      chunk: 4099,
      parts: files.filter((f) => !mismatched.has(f.name)).map((f) => ({ file: f.path })),
    });
    expect(fine.status, fine.text).toBe(200);
  }, 60_000);

  it('fails parts of another study than the URL names with 0xC409, and a truncated part with 0xC000', async () => {
    const study = newUid();
    const other = newUid();
    const ct = (await pydicomFile('CT_small.dcm')).path;
    const mixed = await pythonStow({
      url: `${daemon().url}/${study}`,
      token: TOKEN,
      parts: [
        { file: ct, study },
        { file: ct, study: other },
        { file: ct, study },
      ],
    });
    expect(mixed.status, mixed.text).toBe(202);
    expect(items(mixed.body, '00081199')).toHaveLength(2);
    expect(items(mixed.body, '00081198').map(reasonOf)).toEqual([0xc409]);
    expect(sopOf(items(mixed.body, '00081198')[0] ?? {})).toMatch(/^2\.25\./);
    const c = db();
    expect(c.prepare(`SELECT count(*) FROM series WHERE study_uid = ?`).pluck().get(other)).toBe(0);
    c.close();
    // Cut inside the pixel data: recognised (its UIDs are in the answer) but never stored.
    const cut = await pythonStow({
      url: daemon().url,
      token: TOKEN,
      parts: [
        { file: ct, study },
        { file: ct, study, truncate: 30_000 },
      ],
    });
    expect(cut.status, cut.text).toBe(202);
    const failed = items(cut.body, '00081198');
    expect(failed.map(reasonOf)).toEqual([0xc000]);
    expect(sopOf(failed[0] ?? {})).toMatch(/^2\.25\./);
    // The whole body cut short (no closing boundary) with curl: the open part fails, the first is kept.
    const { dir, url } = daemon();
    const boundary = 'cut-body';
    const first = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
      await import('node:fs').then((fs) => fs.readFileSync(ct)),
    ]);
    const half = Buffer.concat([
      first,
      Buffer.from(`\r\n--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
      (await import('node:fs')).readFileSync(ct).subarray(0, 5000),
    ]);
    writeFileSync(join(dir, 'cut-body'), half);
    const open = await curl(dir, [
      '-X',
      'POST',
      '-H',
      `Authorization: Bearer ${TOKEN}`,
      '-H',
      `Content-Type: multipart/related; type="application/dicom"; boundary=${boundary}`,
      '--data-binary',
      `@${join(dir, 'cut-body')}`,
      url,
    ]);
    expect(open.status, open.text).toBe(202);
    expect(items(open.body, '00081198').map(reasonOf)).toEqual([0xc000]);
  }, 60_000);

  it('logs no identifiers above debug', () => {
    const lines = daemon()
      .process.lines()
      .filter((l) => typeof l.level === 'number' && l.level > 20);
    const text = JSON.stringify(lines);
    for (const id of ['CompressedSamples', 'CT1', '1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322', TOKEN]) {
      expect(text).not.toContain(id);
    }
    expect(lines.some((l) => l.msg === 'STOW-RS request finished.')).toBe(true);
    expect(readdirSync(daemon().dataDir)).toContain('gateway.db');
  });
});
