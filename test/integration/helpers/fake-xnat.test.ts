//! The fake XNAT keeps XNAT's contract: driven with curl over HTTP and with DCMTK over DICOM.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import dimse from 'dcmjs-dimse';
import {
  CT_IMAGE_STORAGE,
  encodeInstance,
  newUid,
  type Element,
  type InstanceOptions,
} from '../../helpers/dicom-factory.ts';
import { curl, importUrl, writeZip, type CurlResult } from '../../helpers/fake-xnat/curl.ts';
import { nginxErrorPage, startFakeXnat, type FakeXnat } from '../../helpers/fake-xnat/index.ts';
import { describeWithPeers, run } from '../../helpers/peers.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const ADMIN = ['-u', 'admin:admin'];
const comments = (value: string): Element[] => [{ tag: 0x00104000, vr: 'LT', value }];
let dir: string;
let seq = 0;
const label = (): string => `E${String(++seq)}`;
const dcm = (o: InstanceOptions = {}): Buffer => encodeInstance(o).bytes;

const zipOf = (entries: readonly (readonly [string, Buffer])[]): Promise<string> =>
  writeZip(join(dir, `u${String(++seq)}.zip`), entries);

/** POSTs a DICOM-zip upload as a multipart file part. */
async function postZip(
  x: FakeXnat,
  params: Record<string, string>,
  entries: readonly (readonly [string, Buffer])[],
  auth = ADMIN,
): Promise<CurlResult> {
  return curl([
    ...auth,
    '-F',
    `file=@${await zipOf(entries)}`,
    importUrl(x.url, { 'import-handler': 'DICOM-zip', ...params }),
  ]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fake-xnat-it-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describeWithPeers(['curl'], 'fake XNAT over HTTP', () => {
  let x: FakeXnat;
  beforeAll(async () => {
    x = await startFakeXnat({
      users: { admin: 'admin', alice: 'wonder' },
      idleMs: 200,
      projects: [
        { id: 'HOSPITAL' },
        { id: 'QUARANTINE' },
        { id: 'LOCKED', writers: ['admin'] },
        { id: 'AUTO', prearchiveCode: 4 },
      ],
    });
  });
  afterAll(async () => x.close());

  it('answers 401 with a Basic challenge without or with wrong credentials, 200 with user:password', async () => {
    for (const args of [[], ['-u', 'admin:nope']]) {
      expect(
        await curl([...args, `${x.url}/data/projects`]).then((r) => [r.status, r.headers['www-authenticate']]),
      ).toEqual([401, 'Basic realm="XNAT"']);
    }
    expect(JSON.parse((await curl([...ADMIN, `${x.url}/data/projects?format=json`])).body)).toMatchObject({
      ResultSet: { totalRecords: '4' },
    });
  });

  it('accepts alias tokens issued over REST or by the test, and validates them', async () => {
    const issued = JSON.parse((await curl([...ADMIN, `${x.url}/data/services/tokens/issue`])).body) as {
      alias: string;
      secret: string;
    };
    expect(issued).toMatchObject({ xdatUserId: 'admin', singleUse: false });
    const t = x.issueToken('alice');
    for (const [a, s] of [
      [issued.alias, issued.secret],
      [t.alias, t.secret],
    ]) {
      expect((await curl(['-u', `${a ?? ''}:${s ?? ''}`, `${x.url}/data/projects`])).status).toBe(200);
    }
    expect(
      JSON.parse((await curl([...ADMIN, `${x.url}/data/services/tokens/validate/${t.alias}/${t.secret}`])).body),
    ).toEqual({ valid: 'alice' });
    expect(x.requests.at(-2)?.auth).toBe('alias');
  });

  it('opens JSESSION sessions that expire on demand and enforces CSRF only for browsers', async () => {
    const open = await curl([...ADMIN, '-X', 'POST', `${x.url}/data/JSESSION`]);
    expect(open.headers['set-cookie']).toBe(`JSESSIONID=${open.body}; Path=/; HttpOnly`);
    const cookie = ['-H', `Cookie: JSESSIONID=${open.body}`];
    expect((await curl([...cookie, `${x.url}/data/JSESSION`])).body).toBe(open.body);
    const browser = await curl([...cookie, '-A', 'Mozilla/5.0 (X11)', '-X', 'POST', `${x.url}/data/services/import`]);
    expect([browser.status, browser.body]).toEqual([403, 'INVALID CSRF (no token)']);
    expect((await curl([...cookie, '-X', 'POST', `${x.url}/data/services/import`])).status).toBe(400);
    x.expireSessions();
    expect((await curl([...cookie, `${x.url}/data/projects`])).status).toBe(401);
    const again = ['-H', `Cookie: JSESSIONID=${(await curl([...ADMIN, '-X', 'POST', `${x.url}/data/JSESSION`])).body}`];
    expect([
      (await curl([...again, '-X', 'DELETE', `${x.url}/data/JSESSION`])).status,
      (await curl([...again, `${x.url}/data/projects`])).status,
    ]).toEqual([200, 401]);
  });

  it('refuses malformed imports with XNAT status codes and texts', async () => {
    const zip = await zipOf([['a.dcm', dcm()]]);
    const url = importUrl(x.url, { 'import-handler': 'DICOM-zip' });
    const cases: [string[], number, string][] = [
      [[url], 405, 'Method Not Allowed'],
      [['-X', 'PUT', url], 405, 'Method Not Allowed'],
      [
        ['-F', `file=@${zip}`, `${url}&inbody=true`],
        406,
        'In-body File posts must include the file directly as the body of the message (not as part of multi-part form data).',
      ],
      [['-X', 'POST', url], 400, 'Unable to identify upload format.'],
      [['-F', `a=@${zip}`, '-F', `b=@${zip}`, url], 400, 'Importer is limited to one uploaded resource at a time.'],
      [['-F', `file=@${zip}`, importUrl(x.url, { 'import-handler': 'nope' })], 404, 'No import handler found for nope'],
      [['-F', `file=@${zip};filename=study.txt`, url], 400, 'Unsupported format UNKNOWN'],
    ];
    for (const [args, status, body] of cases) {
      expect(await curl([...ADMIN, ...args]).then((r) => [r.status, r.body])).toEqual([status, body]);
    }
  });

  it('keeps the entries before an unreadable one, or skips it with Ignore-Unparsable', async () => {
    const [e1, e2] = [label(), label()];
    const study = newUid();
    const one = (id: string): Buffer => dcm({ patientId: id, studyInstanceUid: study });
    const entries = (id: string): [string, Buffer][] => [
      ['a.dcm', one(id)],
      ['junk.txt', Buffer.from('hello')],
      ['b.dcm', one(id)],
    ];
    const bad = await postZip(x, { PROJECT_ID: 'HOSPITAL' }, entries(e1));
    expect([bad.status, bad.body]).toEqual([400, 'unable to read DICOM object junk.txt']);
    const ok = await postZip(x, { PROJECT_ID: 'HOSPITAL', 'Ignore-Unparsable': 'true' }, entries(e2));
    expect(ok.status).toBe(200);
    const files = (l: string): number =>
      x
        .prearchive()
        .find((s) => s.label === l)
        ?.scans.reduce((n, sc) => n + sc.files.length, 0) ?? 0;
    expect([files(e1), files(e2)]).toEqual([1, 2]);
  });

  it('answers text/uri-list with CRLF lines and routes by parameter, then comments, then Study Description', async () => {
    const [a, b, c, d, e] = [label(), label(), label(), label(), label()];
    const r = await postZip(x, { PROJECT_ID: 'QUARANTINE' }, [
      ['a', dcm({ patientId: a, extraElements: comments('Project: HOSPITAL'), studyDescription: 'HOSPITAL' })],
    ]);
    expect(r.headers['content-type']).toMatch(/^text\/uri-list/);
    expect(r.body).toMatch(new RegExp(`^/data/prearchive/projects/QUARANTINE/\\d{8}_\\d{9}/${a}\\r\\n$`));
    await postZip(x, {}, [
      ['a', dcm({ patientId: b, extraElements: comments('Project: QUARANTINE'), studyDescription: 'HOSPITAL' })],
    ]);
    await postZip(x, {}, [['a', dcm({ patientId: c, studyDescription: 'HOSPITAL' })]]);
    // alice may not write to LOCKED: the parameter is ignored and the next rule applies.
    await postZip(
      x,
      { PROJECT_ID: 'LOCKED' },
      [['a', dcm({ patientId: d, studyDescription: 'HOSPITAL' })]],
      ['-u', 'alice:wonder'],
    );
    const u = await postZip(x, {}, [['a', dcm({ patientId: e })]]);
    expect(u.body).toMatch(/^\/data\/prearchive\/projects\/Unassigned\//);
    expect([a, b, c, d, e].map((id) => x.prearchive().find((s) => s.label === id)?.project)).toEqual([
      'QUARANTINE',
      'QUARANTINE',
      'HOSPITAL',
      'HOSPITAL',
      null,
    ]);
  });

  it('takes labels from comments or truncates header values at the first illegal character', async () => {
    const uid = newUid();
    await postZip(x, {}, [
      ['a', dcm({ studyInstanceUid: uid, patientName: 'Doe^Jane', patientId: 'AB 12', studyDescription: 'HOSPITAL' })],
    ]);
    const s = x.prearchive().find((p) => p.studyUid === uid);
    expect([s?.subject, s?.label]).toEqual(['Doe', 'AB']);
    await postZip(x, {}, [['a', dcm({ extraElements: comments('Project: HOSPITAL; Subject: S-1, Session: E_77') })]]);
    expect(x.prearchive().find((p) => p.label === 'E_77')?.subject).toBe('S-1');
  });

  it('archives with dest=/archive and reports conflicts with XNAT messages wrapped in 400', async () => {
    const e = label();
    const study = newUid();
    const series = newUid();
    const entries: [string, Buffer][] = [
      ['a.dcm', dcm({ studyInstanceUid: study, seriesInstanceUid: series, patientId: e })],
    ];
    const dest = { dest: `/archive/projects/HOSPITAL/subjects/S/experiments/${e}` };
    expect((await postZip(x, dest, entries)).body).toBe(
      `/data/archive/projects/HOSPITAL/subjects/S/experiments/${e}\r\n`,
    );
    const wrap = (m: string): string => `Failed to archive 1 of 1 session(s): ${m}`;
    expect((await postZip(x, dest, entries)).body).toBe(
      wrap('Session already exists with matching files, retry with overwrite=delete enabled'),
    );
    // The failed upload's row stays in CONFLICT; the next upload of that study joins and archives it.
    expect((await postZip(x, { ...dest, overwrite: 'delete' }, entries)).status).toBe(200);
    expect((await postZip(x, dest, [['b', dcm({ patientId: e })]])).body).toBe(
      wrap('Invalid modification of session UID via archive process.'),
    );
    const renumbered: [string, Buffer][] = [
      ['c', dcm({ studyInstanceUid: study, seriesInstanceUid: series, seriesNumber: 7 })],
    ];
    expect((await postZip(x, dest, renumbered)).body).toBe(
      wrap('Session already contains a scan with the same UID, but a different number (1).'),
    );
    const row = x.prearchive().find((s) => s.label === e && s.studyUid === study);
    expect(
      (
        await curl([
          ...ADMIN,
          '-X',
          'DELETE',
          `${x.url}/data/prearchive/projects/HOSPITAL/${row?.timestamp ?? ''}/${e}`,
        ])
      ).status,
    ).toBe(200);
    expect((await postZip(x, dest, [['d', dcm({ studyInstanceUid: study, seriesNumber: 2 })]])).status).toBe(200);
    expect(
      x
        .archive()
        .find((s) => s.label === e)
        ?.scans.map((s) => s.id),
    ).toEqual(['1', '2']);
    const other = { dest: `/archive/projects/HOSPITAL/subjects/T/experiments/${e}` };
    const subject = `Invalid modification of session subject via archive process.: ${e} Already Exists for another Subject`;
    expect((await postZip(x, other, [['f', dcm({ studyInstanceUid: study, seriesNumber: 3 })]])).body).toBe(
      wrap(subject),
    );
    expect(
      x
        .prearchive()
        .filter((s) => s.label === e)
        .map((s) => [s.status, s.message]),
    ).toEqual([
      ['CONFLICT', 'Invalid modification of session UID via archive process.'],
      ['CONFLICT', subject],
    ]);
  });

  it('archives a prearchive session with services/archive only when overwrite allows the merge', async () => {
    const e = label();
    const study = newUid();
    await postZip(x, { dest: '/archive/projects/HOSPITAL' }, [['a', dcm({ studyInstanceUid: study, patientId: e })]]);
    const pre = await postZip(x, { PROJECT_ID: 'HOSPITAL' }, [
      ['b', dcm({ studyInstanceUid: study, patientId: e, seriesNumber: 3 })],
    ]);
    const src = pre.body.trim().replace(/^\/data/, '');
    const archive = (overwrite: string): Promise<CurlResult> =>
      curl([...ADMIN, '-X', 'POST', `${x.url}/data/services/archive?src=${src}&overwrite=${overwrite}`]);
    expect(await archive('none').then((r) => [r.status, r.body])).toEqual([
      409,
      'Session already exists, retry with overwrite enabled',
    ]);
    expect((await archive('append')).body).toBe(`/data/archive/projects/HOSPITAL/subjects/Test/experiments/${e}\r\n`);
  });

  it('keeps gradual-DICOM sessions RECEIVING until idle, then builds them; prearchive_code 4 archives them', async () => {
    const [e, a] = [label(), label()];
    const file = join(dir, `${e}.dcm`);
    const bytes = dcm({ patientId: e, studyDescription: 'HOSPITAL' });
    await writeFile(file, bytes);
    const r = await curl([
      ...ADMIN,
      '-H',
      'Content-Type: application/dicom',
      '--data-binary',
      `@${file}`,
      importUrl(x.url, { inbody: 'true' }),
    ]);
    const url = `${x.url}${r.body.trim()}`;
    expect(JSON.parse((await curl([...ADMIN, `${url}?format=json`])).body)).toMatchObject({
      ResultSet: { Result: [{ status: 'RECEIVING', name: e }] },
    });
    await waitFor(() => x.prearchive().find((s) => s.label === e)?.status === 'READY', 'the session to be built');
    const files = JSON.parse((await curl([...ADMIN, `${url}/scans/1/resources/DICOM/files?format=json`])).body) as {
      ResultSet: { Result: { Size: string }[] };
    };
    expect(files.ResultSet.Result.map((f) => f.Size)).toEqual([String(bytes.length)]);
    await writeFile(file, dcm({ patientId: a, studyDescription: 'AUTO' }));
    await curl([
      ...ADMIN,
      '-H',
      'Content-Type: application/dicom',
      '--data-binary',
      `@${file}`,
      importUrl(x.url, { 'import-handler': 'gradual-DICOM' }),
    ]);
    await waitFor(() => x.archive().some((s) => s.label === a && s.project === 'AUTO'), 'auto-archive into AUTO');
  });

  it('serves projects, experiments, scans and files as XNAT JSON, hiding unreadable projects', async () => {
    const e = label();
    const bytes = dcm({ patientId: e });
    await postZip(x, { dest: `/archive/projects/HOSPITAL/subjects/S/experiments/${e}` }, [['x.dcm', bytes]]);
    const get = async (p: string, auth = ADMIN): Promise<CurlResult> => curl([...auth, `${x.url}/data/projects/${p}`]);
    expect(JSON.parse((await get(`HOSPITAL/subjects/S/experiments/${e}?format=json`)).body)).toMatchObject({
      items: [{ data_fields: { label: e, project: 'HOSPITAL' } }],
    });
    expect(JSON.parse((await get(`HOSPITAL/subjects/S/experiments/${e}/scans?format=json`)).body)).toMatchObject({
      ResultSet: { Result: [{ ID: '1', xsiType: 'xnat:ctScanData' }] },
    });
    const files = JSON.parse(
      (await get(`HOSPITAL/subjects/S/experiments/${e}/scans/1/resources/DICOM/files?format=json`)).body,
    ) as { ResultSet: { Result: object[] } };
    expect(files.ResultSet.Result).toMatchObject([{ Name: 'x.dcm', Size: String(bytes.length) }]);
    expect([(await get('NOPE?format=json')).status, (await get('LOCKED', ['-u', 'alice:wonder'])).status]).toEqual([
      404, 404,
    ]);
    expect((await get('AUTO/prearchive_code')).body).toBe('4');
    const edit = JSON.parse(
      (
        await curl([
          '-u',
          'alice:wonder',
          `${x.url}/data/projects?format=json&permissions=edit&dataType=xnat:subjectData`,
        ])
      ).body,
    ) as { ResultSet: { Result: { ID: string }[] } };
    expect(edit.ResultSet.Result.map((p) => p.ID)).toEqual(['AUTO', 'HOSPITAL', 'QUARANTINE']);
  });

  it('injects 5xx pages, 200 error pages, delays and dropped connections, and logs every request', async () => {
    x.inject({ path: /\/services\/import$/, status: 502 });
    x.inject({
      path: /\/services\/import$/,
      status: 200,
      body: '<html><body>The server encountered an error</body></html>',
    });
    x.inject({ method: 'GET', path: /^\/data\/projects$/, drop: 'immediately' });
    x.inject({ path: /\/services\/import$/, drop: 'after-body' });
    x.inject({ method: 'GET', path: /^\/data\/projects$/, delayMs: 300 });
    const entries: [string, Buffer][] = [['a', dcm()]];
    const gateway = await postZip(x, {}, entries);
    expect([gateway.status, gateway.body]).toEqual([502, nginxErrorPage(502)]);
    const html = await postZip(x, {}, entries);
    expect([html.status, html.headers['content-type']]).toEqual([200, 'text/html']);
    expect((await curl([...ADMIN, `${x.url}/data/projects`])).exit).toBe(52);
    expect((await postZip(x, {}, entries)).exit).toBe(52);
    expect((await curl([...ADMIN, `${x.url}/data/projects`])).ms).toBeGreaterThanOrEqual(300);
    const dropped = x.requests.filter((q) => q.error?.startsWith('fault: dropped'));
    expect(dropped.map((q) => [q.method, q.status, q.bytes > 0])).toEqual([
      ['GET', 0, false],
      ['POST', 0, true],
    ]);
  });
});

describeWithPeers(['curl', 'tar'], 'fake XNAT prearchive lifecycle (never idle)', () => {
  let x: FakeXnat;
  beforeAll(async () => {
    x = await startFakeXnat({ archiveDelayMs: 400 });
  });
  afterAll(async () => x.close());
  const post = (path: string): Promise<CurlResult> => curl([...ADMIN, '-X', 'POST', `${x.url}${path}`]);

  it('imports a tar.gz, serves scans only once built, and commits per prearchive_code', async () => {
    const e = label();
    await writeFile(join(dir, 'in.dcm'), dcm({ patientId: e }));
    expect((await run('tar', ['czf', join(dir, 'up.tgz'), '-C', dir, 'in.dcm'])).code).toBe(0);
    const up = await curl([
      ...ADMIN,
      '-F',
      `file=@${join(dir, 'up.tgz')}`,
      importUrl(x.url, { PROJECT_ID: 'HOSPITAL' }),
    ]);
    const session = up.body.trim();
    expect([up.status, (await curl([...ADMIN, `${x.url}${session}/scans?format=json`])).status]).toEqual([200, 404]);
    expect((await post(`${session}?action=commit`)).body).toBe(`${session}\r\n`);
    expect(JSON.parse((await curl([...ADMIN, `${x.url}${session}/scans?format=json`])).body)).toMatchObject({
      ResultSet: { Result: [{ ID: '1' }] },
    });
    expect((await curl([...ADMIN, '-X', 'PUT', `${x.url}/data/projects/HOSPITAL/prearchive_code/4`])).status).toBe(200);
    expect(await post(`${session}?action=commit`).then((r) => [r.status, r.body])).toEqual([
      301,
      `/data/archive/projects/HOSPITAL/subjects/Test/experiments/${e}`,
    ]);
  });

  it('starts a label_1 row for files that arrive while their session is archiving', async () => {
    const e = label();
    const study = newUid();
    const archiving = postZip(x, { dest: '/archive/projects/QUARANTINE' }, [
      ['a', dcm({ studyInstanceUid: study, patientId: e })],
    ]);
    await waitFor(
      () => x.prearchive().some((s) => s.label === e && s.status === 'ARCHIVING'),
      'the session to be archiving',
    );
    const late = await postZip(x, { PROJECT_ID: 'QUARANTINE' }, [
      ['b', dcm({ studyInstanceUid: study, patientId: e, seriesNumber: 2 })],
    ]);
    expect(late.body).toMatch(new RegExp(`/${e}_1\\r\\n$`));
    expect((await archiving).status).toBe(200);
    expect(
      x
        .prearchive()
        .filter((s) => s.label === e)
        .map((s) => [s.folderName, s.status]),
    ).toEqual([[`${e}_1`, 'RECEIVING']]);
    x.flushIdle();
    expect(x.prearchive().find((s) => s.label === e)?.status).toBe('READY');
  });
});

describeWithPeers(['storescu', 'echoscu'], 'fake XNAT over DICOM', () => {
  let x: FakeXnat;
  beforeAll(async () => {
    x = await startFakeXnat({ dicom: true, idleMs: 1500 });
  });
  afterAll(async () => x.close());
  const target = (): string[] => ['127.0.0.1', String(x.dicom?.port)];

  it('rejects an unknown called AE title and answers C-ECHO', async () => {
    const wrong = await run('echoscu', ['-aec', 'WRONG', ...target()]);
    expect([wrong.code, wrong.stderr]).toEqual([1, expect.stringMatching(/Called AE Title Not Recognized/i)]);
    expect((await run('echoscu', ['-aec', 'XNAT', ...target()])).code).toBe(0);
  });

  it('files C-STOREs under the Patient Comments project/subject/session, RECEIVING until idle', async () => {
    const file = join(dir, 'store.dcm');
    await writeFile(file, dcm({ extraElements: comments('Project: HOSPITAL Subject: S9 Session: E9') }));
    const r = await run('storescu', ['-aec', 'XNAT', ...target(), file]);
    expect(r.code, r.stderr).toBe(0);
    expect(x.prearchive()).toMatchObject([{ project: 'HOSPITAL', subject: 'S9', label: 'E9', status: 'RECEIVING' }]);
    await waitFor(() => x.prearchive()[0]?.status === 'READY', 'the DICOM session to be built');
  });

  it('answers injected statuses with their error comment, or aborts, without storing the instance', async () => {
    const file = join(dir, 'fail.dcm');
    await writeFile(file, dcm());
    const before = x.prearchive().length;
    for (const [fault, seen] of [
      [{ status: 0xa700, comment: 'injected' }, /DIMSE Status\s*: 0xa700[\s\S]*\[injected\]/],
      [{ status: 0xc000, comment: 'bad object' }, /DIMSE Status\s*: 0xc000[\s\S]*\[bad object\]/],
      [{ abort: true }, /Peer Aborted Association/],
    ] as const) {
      x.injectDicom(fault);
      const r = await run('storescu', ['-d', '-aec', 'XNAT', ...target(), file]);
      expect(`${r.stdout}${r.stderr}`).toMatch(seen);
    }
    expect(x.prearchive()).toHaveLength(before);
  });

  it('answers 0xC000 for a dataset without a SOP Instance UID', async () => {
    const request = new dimse.requests.CStoreRequest(
      new dimse.Dataset(
        { SOPClassUID: CT_IMAGE_STORAGE, StudyInstanceUID: newUid(), PatientID: 'X' },
        '1.2.840.10008.1.2.1',
      ),
    );
    request.setAffectedSopInstanceUid(newUid());
    const client = new dimse.Client();
    const status = new Promise<number>((resolve, reject) => {
      request.on('response', (r: { getStatus(): number }) => {
        resolve(r.getStatus());
      });
      client.on('networkError', reject);
    });
    client.addRequest(request);
    client.send('127.0.0.1', x.dicom?.port ?? 0, 'SCU', 'XNAT');
    expect(await status).toBe(0xc000);
  });
});
