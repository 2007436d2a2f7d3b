// The operator console through fastify's inject: pages, sign-in, CSRF, actions, find and http.auth.
// Real stores on a real SQLite file; the browser-level flow is in test/integration/console/.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { composeAccess, composeConsole } from '../../../src/app/compose-console.ts';
import { buildConfig } from '../../../src/config/load.ts';
import { createEvents } from '../../../src/events.ts';
import { createFindHasher } from '../../../src/find/digest.ts';
import { createLogger } from '../../../src/log.ts';
import { releaseSeries } from '../../../src/pipeline/release.ts';
import type { Db } from '../../../src/store/sqlite/db.ts';
import { discardSeries } from '../../../src/pipeline/discard.ts';
import { createDropLedger } from '../../../src/store/sqlite/drops.ts';
import { createJobStore } from '../../../src/store/sqlite/jobs.ts';
import { createOriginalsStore } from '../../../src/store/sqlite/originals.ts';
import { createDiskSpace } from '../../../src/spool/disk-space.ts';
import type { DegradedReason } from '../../../src/status/delivery-health.ts';
import { createRouteStore } from '../../../src/store/sqlite/routes.ts';
import { sqliteUnitOfWork } from '../../../src/store/sqlite/turns.ts';
import { createStats } from '../../../src/store/sqlite/stats.ts';
import { hashPassword } from '../../../src/status/credentials.ts';
import { createMetrics } from '../../../src/status/metrics.ts';
import { createRateTracker } from '../../../src/status/rates.ts';
import { buildStatusServer } from '../../../src/status/server.ts';
import {
  addAssociation,
  addInstance,
  addJob,
  addSeries,
  fakeClock,
  linkSeries,
  tmpDb,
} from '../../helpers/queue-rows.ts';
import { SOURCE_TITLES, SOURCE_TYPES } from '../../../src/app/registry.ts';
import type { Lifecycle } from '../../../src/contracts/lifecycle.ts';
import { alwaysReady } from '../../helpers/readiness.ts';

const hasher = createFindHasher(Buffer.alloc(32, 3));
let dir: string;
let db: Db;
let close: () => void;
let app: FastifyInstance;
let logs: Record<string, unknown>[];
const clock = fakeClock(1_700_000_000_000);
/** Free bytes the explain uploads see (the watermark is 1,000 B). */
let free: number;
/** Degraded delivery reasons /healthz/delivery would give. */
let degraded: DegradedReason[];
/** Resolves when an explanation has started; the explanation waits for `finishExplain`. */
let explaining: { started: Promise<void>; finish: () => void };
function holdExplain(): void {
  let started = (): void => undefined;
  let finish = (): void => undefined;
  const gate = new Promise<void>((r) => {
    finish = r;
  });
  explaining = {
    started: new Promise<void>((r) => {
      started = r;
    }),
    finish,
  };
  explainStep = async () => {
    started();
    await gate;
  };
}
let explainStep: () => Promise<void>;
/** The running sources the overview shows (their lifecycle views). */
let components: Lifecycle<never>[] = [];
const component = (
  type: string,
  ready: { ready: boolean; reason?: string },
  detail: Record<string, string | number | boolean | null>,
): Lifecycle<never> => ({
  type,
  id: type,
  start: () => Promise.resolve(),
  stop: () => Promise.resolve(),
  ready: () => ready,
  describe: () => detail,
});

/** Builds the status server with the console, as the daemon wires it, on `http` settings. */
async function build(http: Record<string, unknown> = {}): Promise<FastifyInstance> {
  const tokens = join(dir, 'tokens');
  writeFileSync(tokens, 'alice:s3cret-token-alice\nbob:s3cret-token-bob\n');
  chmodSync(tokens, 0o600);
  const passwords = join(dir, 'passwords');
  writeFileSync(passwords, `carol:${await hashPassword('correct horse battery')}\n`);
  chmodSync(passwords, 0o600);
  const cfg = buildConfig(
    {
      dataDir: dir,
      http: { adminTokenFile: tokens, passwordFile: passwords, ...http },
      route: { hospitalProject: 'KCL' },
    },
    {},
    dir,
  );
  const stats = createStats(db, SOURCE_TYPES);
  const events = createEvents();
  const jobs = createJobStore(db, clock, { events });
  const routes = createRouteStore(db);
  const access = composeAccess(cfg, clock);
  const ledger = createDropLedger(db);
  const originals = createOriginalsStore(db);
  const space = createDiskSpace({ minFreeBytes: 1000, freeBytes: () => free });
  const readiness = alwaysReady;
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString().split('\n')) {
        if (l) {
          logs.push(JSON.parse(l) as Record<string, unknown>);
        }
      }
      done();
    },
  });
  return buildStatusServer({
    sources: SOURCE_TYPES,
    sourceTitles: SOURCE_TITLES,
    components: () => components,
    log: createLogger('info', sink),
    stats,
    rates: createRateTracker(clock, SOURCE_TYPES),
    metrics: createMetrics({ sources: SOURCE_TYPES, events, stats, clock, readiness }),
    readiness,
    clock,
    quietPeriodMs: 60_000,
    access,
    importFolder: async () => ({
      root: join(dir, 'import'),
      mode: 'events',
      lastScanAt: null,
      waiting: [],
      reading: [],
      releasing: [],
      recent: await ledger.recent(10),
    }),
    jobs: {
      list: (q) => jobs.list(q),
      get: (id) => jobs.get(id),
      requeue: (id, by) =>
        sqliteUnitOfWork(db).run(async () => {
          const before = await jobs.get(id);
          return { before, job: before ? await jobs.requeue(id, by) : null };
        }),
      adminTokenFile: tokens,
    },
    routing: {
      get: (id) => routes.get(id),
      counts: () => routes.counts(),
      rules: () => ({ hash: 'ab'.repeat(32), loadedAt: 1, files: [], lastError: null }),
      release: (id, by, note) =>
        releaseSeries(
          {
            db,
            uow: sqliteUnitOfWork(db),
            routes,
            jobs,
            clock,
            events,
            projects: cfg.route,
            sinksFor: () => ['folder'],
            maxAttempts: 3,
          },
          id,
          by,
          note,
        ),
      explainUpload: async () => {
        await explainStep();
        return { series: [], skipped: [] };
      },
      adminTokenFile: tokens,
      uploadDir: dir,
      explainMaxBytes: 1 << 20,
      reserveUpload: (bytes) => space.reserve(dir, bytes),
    },
    spool: {
      holdings: () => originals.holdings(),
      retainDelivered: 0,
      adminTokenFile: tokens,
      originals: (id) => originals.get(id),
      discard: (id, by, reason) =>
        discardSeries(
          { db, uow: sqliteUnitOfWork(db), jobs, routes, originals, clock, events, spoolDir: join(dir, 'spool') },
          id,
          by,
          reason,
        ),
    },
    delivery: () => ({ status: degraded.length ? 'degraded' : 'ok', reasons: degraded }),
    console: composeConsole(
      {
        cfg,
        db,
        clock,
        finder: () => hasher,
        ledger,
        problems: () => [],
        sources: () => ({ dimse: { listening: true, aeTitle: 'XNAT', host: '127.0.0.1', port: 8104 }, folder: null }),
      },
      access,
    ),
  });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'xg-console-'));
  ({ db, close } = tmpDb());
  logs = [];
  free = 1e9;
  degraded = [];
  explainStep = () => Promise.resolve();
  components = [];
  app = await build();
});
afterEach(async () => {
  await app.close();
  close();
  rmSync(dir, { recursive: true, force: true });
});

/** A browser: keeps the cookies the server sets, sends them back. */
function browser(a: () => FastifyInstance = () => app) {
  const jar = new Map<string, string>();
  const remember = (res: LightMyRequestResponse): LightMyRequestResponse => {
    for (const c of res.cookies) {
      if (c.maxAge === 0) {
        jar.delete(c.name);
      } else {
        jar.set(c.name, c.value);
      }
    }
    return res;
  };
  const cookie = (): string => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  return {
    jar,
    get: async (url: string, headers: Record<string, string> = {}) =>
      remember(await a().inject({ method: 'GET', url, headers: { cookie: cookie(), ...headers } })),
    post: async (url: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
      remember(
        await a().inject({
          method: 'POST',
          url,
          payload: new URLSearchParams(form).toString(),
          headers: {
            cookie: cookie(),
            'content-type': 'application/x-www-form-urlencoded',
            host: 'localhost:80',
            ...headers,
          },
        }),
      ),
    /** The CSRF token of this browser, from the cookie the server set. */
    csrf: () => jar.get('xg_csrf') ?? '',
    async signIn(name: string, password: string) {
      await this.get('/console/sign-in');
      return this.post('/console/sign-in', { _csrf: this.csrf(), name, password, next: '/console/jobs' });
    },
  };
}

const auditRows = (kind: string): { detail: string; series_id: number | null }[] =>
  db.prepare('SELECT detail, series_id FROM events WHERE kind = ? ORDER BY id').all(kind) as {
    detail: string;
    series_id: number | null;
  }[];

/** A quarantined, delivered series with a dead job, sent by CT1 (origin and drop names look like a patient). */
function seedQuarantined(): { seriesId: number; jobId: number } {
  const a = addAssociation(db, { calling_ae: 'CT1', peer_ip: '10.1.2.3' });
  const seriesId = addSeries(db, { state: 'failed', modality: 'MR', instance_count: 2, completed_at: 5_000 });
  linkSeries(db, seriesId, a);
  addInstance(db, seriesId, { association_id: a, origin: 'DOE_JOHN/1.dcm' });
  db.prepare(
    `INSERT INTO series_routes (series_id, state, target, project, reasons, rules_hash, decided_at, routed_at)
    VALUES (?, 'routed', 'quarantine', 'QUARANTINE', ?, 'h', 1, 1)`,
  ).run(
    seriesId,
    JSON.stringify([{ rule: 'protocol:model', source: 'protocol', message: 'Model Aera is listed.', instances: 2 }]),
  );
  const jobId = addJob(db, seriesId, {
    sink: 'folder',
    state: 'dead',
    attempts: 3,
    max_attempts: 3,
    last_code: 'ERR_SINK_WRITE',
    last_error: 'disk said no',
  });
  return { seriesId, jobId };
}

describe('console pages', () => {
  it('sends / to the console and serves every page as HTML with a strict Content-Security-Policy', async () => {
    seedQuarantined();
    const root = await app.inject({ method: 'GET', url: '/' });
    expect(root.statusCode).toBe(303);
    expect(root.headers.location).toBe('/console');
    for (const url of [
      '/console',
      '/console/series',
      '/console/series/1',
      '/console/quarantine',
      '/console/jobs',
      '/console/import',
      '/console/rules',
      '/console/find',
      '/console/sign-in',
    ]) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['content-security-policy']).toContain("default-src 'none'; script-src 'self'");
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).not.toMatch(/DOE|JOHN/);
    }
  });

  it('serves its own assets and htmx from the npm package, with ETags', async () => {
    const htmx = await app.inject({ method: 'GET', url: '/console/assets/htmx.min.js' });
    expect(htmx.statusCode).toBe(200);
    expect(htmx.body).toContain('htmx');
    const again = await app.inject({
      method: 'GET',
      url: '/console/assets/htmx.min.js',
      headers: { 'if-none-match': String(htmx.headers.etag) },
    });
    expect(again.statusCode).toBe(304);
    expect((await app.inject({ method: 'GET', url: '/console/assets/console.css' })).headers['content-type']).toBe(
      'text/css; charset=utf-8',
    );
    expect((await app.inject({ method: 'GET', url: '/console/assets/../server.ts' })).statusCode).toBe(404);
  });

  it('lists series with filters, "completes in" for a receiving batch, and a live rows fragment', async () => {
    seedQuarantined();
    addSeries(db, { state: 'receiving', modality: 'CT', last_instance_at: clock.now() - 18_000, instance_count: 4 });
    const all = await app.inject({ method: 'GET', url: '/console/series' });
    expect(all.body).toContain('completes in 42 s');
    const q = await app.inject({ method: 'GET', url: '/console/series?route=quarantined' });
    expect(q.body).toContain('protocol:model');
    expect(q.body).not.toContain('completes in');
    const rows = await app.inject({ method: 'GET', url: '/console/series?route=quarantined&fragment=rows' });
    expect(rows.body.trim()).toMatch(
      /^<tbody id="series-rows" hx-get="\/console\/series\?route=quarantined&amp;fragment=rows"/,
    );
    const bad = await app.inject({ method: 'GET', url: '/console/series?state=bogus&from=yesterday' });
    expect(bad.statusCode).toBe(200);
    expect(bad.body).toContain(
      'Filter &quot;state&quot; must be one of receiving, complete, delivered, failed; it was ignored.',
    );
    expect(bad.body).toContain('Filter &quot;from&quot; is not a date or time; it was ignored.');
  });

  it('answers 404 for an unknown series', async () => {
    expect((await app.inject({ method: 'GET', url: '/console/series/999' })).statusCode).toBe(404);
  });
});

describe('sign-in', () => {
  it('signs in with a name and token from the admin token file, sets an HttpOnly SameSite=Strict cookie, audits, signs out', async () => {
    const b = browser();
    const res = await b.signIn('alice', 's3cret-token-alice');
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/console/jobs');
    const session = res.cookies.find((c) => c.name === 'xg_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(String(res.headers['set-cookie'])).not.toContain('s3cret');
    expect((await b.get('/console')).body).toContain('Signed in as <strong>alice</strong>');
    expect(JSON.parse(auditRows('console.sign-in')[0]?.detail ?? '{}')).toMatchObject({ by: 'alice' });
    const page = await b.get('/console');
    const out = await b.post('/console/sign-out', { _csrf: b.csrf() });
    expect(out.statusCode).toBe(303);
    expect(page.body).toContain('Sign out');
    expect((await b.get('/console')).body).not.toContain('Signed in as');
    expect(JSON.parse(auditRows('console.sign-out')[0]?.detail ?? '{}')).toEqual({ by: 'alice' });
  });

  it('signs in with a scrypt password from the password file', async () => {
    const b = browser();
    expect((await b.signIn('carol', 'correct horse battery')).statusCode).toBe(303);
    expect((await b.get('/console')).body).toContain('Signed in as <strong>carol</strong>');
  });

  it("refuses a wrong password or someone else's token without saying which, and audits without the name", async () => {
    for (const [name, password] of [
      ['alice', 'wrong'],
      ['alice', 's3cret-token-bob'],
      ['nobody', 'correct horse battery'],
      ['carol', 's3cret-token-alice'],
    ]) {
      const res = await browser().signIn(name ?? '', password ?? '');
      expect(res.statusCode).toBe(401);
      expect(res.body).toContain('The name or password is not right.');
      expect(res.cookies.find((c) => c.name === 'xg_session')).toBeUndefined();
    }
    const refused = auditRows('console.sign-in-refused');
    expect(refused).toHaveLength(4);
    expect(refused.map((r) => r.detail).join()).not.toMatch(/alice|nobody|carol|wrong/);
  });

  it('makes an address wait after five failed sign-ins, even with the right password', async () => {
    for (let i = 0; i < 5; i++) {
      expect((await browser().signIn('alice', `guess-${String(i)}`)).statusCode).toBe(401);
    }
    const blocked = await browser().signIn('alice', 's3cret-token-alice');
    expect(blocked.statusCode).toBe(429);
    expect(blocked.body).toContain('Too many failed sign-ins from this address; try again in 15 min.');
    clock.advance(15 * 60_000);
    expect((await browser().signIn('alice', 's3cret-token-alice')).statusCode).toBe(303);
  });

  it('ends a session after http.sessionIdleMs without use', async () => {
    const b = browser();
    await b.signIn('alice', 's3cret-token-alice');
    clock.advance(29 * 60_000);
    expect((await b.get('/console')).body).toContain('Signed in as');
    clock.advance(31 * 60_000);
    expect((await b.get('/console')).body).not.toContain('Signed in as');
  });

  it('only returns to console paths after sign-in', async () => {
    const b = browser();
    await b.get('/console/sign-in');
    const res = await b.post('/console/sign-in', {
      _csrf: b.csrf(),
      name: 'alice',
      password: 's3cret-token-alice',
      next: '//evil.example/x',
    });
    expect(res.headers.location).toBe('/console');
  });
});

describe('actions', () => {
  it('requeues a dead job for a signed-in administrator, with the CSRF token, and records who', async () => {
    const { jobId } = seedQuarantined();
    const b = browser();
    await b.signIn('alice', 's3cret-token-alice');
    expect((await b.get('/console/jobs')).body).toContain(`Requeue job ${String(jobId)}`);
    const res = await b.post(`/console/jobs/${String(jobId)}/requeue`, { _csrf: b.csrf() });
    expect(res.statusCode).toBe(303);
    expect((await b.get(String(res.headers.location))).body).toContain(`Job ${String(jobId)} (series`);
    expect(db.prepare('SELECT state, attempts FROM jobs WHERE id = ?').get(jobId)).toEqual({
      state: 'queued',
      attempts: 0,
    });
    expect(JSON.parse(auditRows('job.requeued')[0]?.detail ?? '{}')).toMatchObject({
      jobId,
      by: 'alice',
      from: 'dead',
    });
  });

  it("refuses a form post without the CSRF token, with another site's Origin, or with a token from another browser", async () => {
    const { jobId } = seedQuarantined();
    const b = browser();
    await b.signIn('alice', 's3cret-token-alice');
    await b.get('/console/jobs');
    const url = `/console/jobs/${String(jobId)}/requeue`;
    const missing = await b.post(url, {});
    expect(missing.statusCode).toBe(403);
    expect(missing.body).toContain('Refused: this form did not come from this console page');
    expect((await b.post(url, { _csrf: b.csrf() }, { origin: 'http://evil.example' })).statusCode).toBe(403);
    const other = browser();
    await other.get('/console/jobs');
    expect((await b.post(url, { _csrf: other.csrf() })).statusCode).toBe(403);
    expect(db.prepare('SELECT state FROM jobs WHERE id = ?').pluck().get(jobId)).toBe('dead');
    expect(logs.filter((l) => l.code === 'ERR_CONSOLE_CSRF')).toHaveLength(3);
  });

  it('asks an anonymous reader to sign in before an action, even with a valid CSRF token', async () => {
    const { jobId, seriesId } = seedQuarantined();
    const b = browser();
    await b.get('/console/jobs');
    const res = await b.post(`/console/jobs/${String(jobId)}/requeue`, { _csrf: b.csrf() });
    expect(res.statusCode).toBe(403);
    expect(res.body).toContain('Requeue needs an administrator: sign in, then try again.');
    expect(
      (await b.post(`/console/series/${String(seriesId)}/release`, { _csrf: b.csrf(), note: 'ok' })).statusCode,
    ).toBe(403);
    expect((await b.get('/console/quarantine')).body).not.toContain('<textarea');
  });

  it('releases a quarantined series only with a note, and records who and why', async () => {
    const { seriesId } = seedQuarantined();
    const b = browser();
    await b.signIn('bob', 's3cret-token-bob');
    const page = await b.get('/console/quarantine');
    expect(page.body).toContain('Model Aera is listed.');
    expect(page.body).toContain('Release to KCL');
    const noNote = await b.post(`/console/series/${String(seriesId)}/release`, { _csrf: b.csrf(), note: '   ' });
    expect(noNote.statusCode).toBe(400);
    expect(noNote.body).toContain('a note of 1 to 500 characters saying why is required');
    const ok = await b.post(`/console/series/${String(seriesId)}/release`, {
      _csrf: b.csrf(),
      note: 'Pixels checked: no burned-in text.',
    });
    expect(ok.statusCode).toBe(303);
    const after = await b.get(String(ok.headers.location));
    expect(after.body).toContain(`Series ${String(seriesId)} was released to KCL by bob; it is being delivered.`);
    expect(JSON.parse(auditRows('series.released')[0]?.detail ?? '{}')).toMatchObject({
      by: 'bob',
      note: 'Pixels checked: no burned-in text.',
      to: 'KCL',
    });
    const again = await b.post(`/console/series/${String(seriesId)}/release`, { _csrf: b.csrf(), note: 'twice' });
    expect(again.statusCode).toBe(409);
  });

  it('shows drop names and rejected files on the import page to administrators only', async () => {
    const ledger = createDropLedger(db);
    const { drop } = await ledger.begin({ root: join(dir, 'import'), name: 'DOE_JOHN_CT', kind: 'folder', at: 1 });
    await ledger.record(
      drop.id,
      [
        {
          rel: 'notes/DOE.txt',
          size: 3,
          mtimeMs: 1,
          outcome: 'rejected',
          code: 'ERR_FOLDER_NOT_DICOM',
          reason: 'not DICOM',
        },
      ],
      2,
    );
    const anonymous = await app.inject({ method: 'GET', url: '/console/import' });
    expect(anonymous.body).not.toContain('DOE');
    const b = browser();
    await b.signIn('alice', 's3cret-token-alice');
    const admin = await b.get('/console/import');
    expect(admin.body).toContain('DOE_JOHN_CT');
    expect(admin.body).toContain('notes/DOE.txt');
    expect(admin.body).toContain('ERR_FOLDER_NOT_DICOM');
  });
});

describe('discard', () => {
  /** The spool file of each instance of `seriesId`, written so discard has something to delete. */
  function spoolFiles(seriesId: number): string[] {
    const paths = db.prepare('SELECT path FROM instances WHERE series_id = ?').pluck().all(seriesId) as string[];
    return paths.map((p) => {
      const abs = join(dir, 'spool', p);
      mkdirSync(dirname(abs), { recursive: true });
      writeFileSync(abs, 'DICM');
      return abs;
    });
  }

  it('discards a quarantined series from the quarantine page with a reason, deletes its originals and records who', async () => {
    const { seriesId } = seedQuarantined();
    const files = spoolFiles(seriesId);
    const b = browser();
    await b.signIn('alice', 's3cret-token-alice');
    const page = await b.get('/console/quarantine');
    expect(page.body).toContain(`action="/console/series/${String(seriesId)}/discard"`);
    expect(page.body).toContain('Why it is discarded (required)');
    const url = `/console/series/${String(seriesId)}/discard`;
    const noReason = await b.post(url, { _csrf: b.csrf(), from: 'quarantine', note: '  ' });
    expect(noReason.statusCode).toBe(400);
    expect(noReason.body).toContain('A reason of 1 to 500 characters is required.');
    expect(files.filter((f) => existsSync(f))).toHaveLength(1);
    const ok = await b.post(url, {
      _csrf: b.csrf(),
      from: 'quarantine',
      note: 'Wrong patient: re-sent under the right one.',
    });
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toBe(`/console/quarantine?discarded=${String(seriesId)}`);
    const after = await b.get(String(ok.headers.location));
    expect(after.body).toContain(
      `Series ${String(seriesId)} was discarded by alice: its 2 original files were deleted.`,
    );
    // Nothing left to decide: it leaves the quarantine list, the API's and the count.
    expect(after.body).not.toContain(`id="series-${String(seriesId)}"`);
    expect(
      (await app.inject({ method: 'GET', url: '/series?route=quarantined' })).json<{ total: number }>().total,
    ).toBe(0);
    expect(
      (await app.inject({ method: 'GET', url: '/status' })).json<{ routing: { quarantined: number } }>().routing
        .quarantined,
    ).toBe(0);
    expect(files.filter((f) => existsSync(f))).toEqual([]);
    expect(JSON.parse(auditRows('series.discarded')[0]?.detail ?? '{}')).toMatchObject({
      by: 'alice',
      reason: 'Wrong patient: re-sent under the right one.',
      files: 2,
    });
    expect(logs.find((l) => l.msg === 'Series discarded from the spool (console).')).toMatchObject({
      seriesId,
      by: 'alice',
    });
    // The same function as the API: a second discard is refused, and so is a release.
    const again = await b.post(url, { _csrf: b.csrf(), from: 'quarantine', note: 'twice' });
    expect(again.statusCode).toBe(409);
    expect(again.body).toContain('were already discarded');
    expect(
      (await b.post(`/console/series/${String(seriesId)}/release`, { _csrf: b.csrf(), note: 'after all' })).statusCode,
    ).toBe(409);
  });

  it('discards from the series page, which then says who discarded it and why', async () => {
    const { seriesId } = seedQuarantined();
    const b = browser();
    const anonymous = await b.get(`/console/series/${String(seriesId)}`);
    expect(anonymous.body).toContain('Held in the spool: 2 files');
    expect(anonymous.body).toContain('to discard it.');
    expect(anonymous.body).not.toContain('discard-note');
    await b.signIn('bob', 's3cret-token-bob');
    const page = await b.get(`/console/series/${String(seriesId)}`);
    expect(page.body).toContain('<label for="discard-note">Why it is discarded (required)</label>');
    const ok = await b.post(`/console/series/${String(seriesId)}/discard`, {
      _csrf: b.csrf(),
      note: 'Test phantom, not for XNAT.',
    });
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toBe(`/console/series/${String(seriesId)}?discarded=1`);
    const after = await b.get(String(ok.headers.location));
    expect(after.body).toContain(`Series ${String(seriesId)} was discarded by bob`);
    expect(after.body).toMatch(/discarded<\/span>[^]*by <strong>bob<\/strong>: Test phantom, not for XNAT\./);
    expect(after.body).not.toContain('discard-note');
    expect(JSON.parse(auditRows('series.discarded')[0]?.detail ?? '{}')).toMatchObject({ by: 'bob' });
  });

  it('offers no discard for a batch still receiving, and refuses one posted anyway', async () => {
    const s = addSeries(db, { state: 'receiving', modality: 'CT' });
    const b = browser();
    await b.signIn('alice', 's3cret-token-alice');
    expect((await b.get(`/console/series/${String(s)}`)).body).not.toContain('discard-note');
    const res = await b.post(`/console/series/${String(s)}/discard`, { _csrf: b.csrf(), note: 'now' });
    expect(res.statusCode).toBe(409);
    expect(res.body).toContain('is still receiving');
  });

  it('refuses a discard without the CSRF token or without sign-in', async () => {
    const { seriesId } = seedQuarantined();
    const url = `/console/series/${String(seriesId)}/discard`;
    const anonymous = browser();
    await anonymous.get('/console/quarantine');
    const notSignedIn = await anonymous.post(url, { _csrf: anonymous.csrf(), from: 'quarantine', note: 'x' });
    expect(notSignedIn.statusCode).toBe(403);
    expect(notSignedIn.body).toContain('Discard needs an administrator');
    const b = browser();
    await b.signIn('alice', 's3cret-token-alice');
    expect((await b.post(url, { from: 'quarantine', note: 'x' })).statusCode).toBe(403);
    expect(auditRows('series.discarded')).toEqual([]);
    expect(db.prepare('SELECT count(*) FROM spool_originals').pluck().get()).toBe(0);
  });
});

describe('explain from the rules page', () => {
  /** A multipart form as the browser sends it: the CSRF field first, then the file. */
  function form(csrf: string, file: Buffer): { payload: Buffer; headers: Record<string, string> } {
    const boundary = '----xg-test-boundary';
    const payload = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${csrf}\r\n`),
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.dcm"\r\nContent-Type: application/dicom\r\n\r\n`,
      ),
      file,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
  }

  async function postForm(b: ReturnType<typeof browser>): Promise<LightMyRequestResponse> {
    const { payload, headers } = form(b.csrf(), Buffer.alloc(4096, 7));
    return app.inject({
      method: 'POST',
      url: '/console/rules/explain',
      payload,
      headers: { ...headers, cookie: `xg_csrf=${b.csrf()}`, host: 'localhost:80' },
    });
  }

  it('explains an upload', async () => {
    const b = browser();
    await b.get('/console/rules');
    const res = await postForm(b);
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('No DICOM series found in the upload.');
  });

  it("shares POST /explain's one upload at a time, in both directions", async () => {
    const b = browser();
    await b.get('/console/rules');
    holdExplain();
    const api = app.inject({
      method: 'POST',
      url: '/explain',
      payload: Buffer.alloc(1024),
      headers: { 'content-type': 'application/octet-stream' },
    });
    await explaining.started;
    const busy = await postForm(b);
    expect(busy.statusCode).toBe(429);
    expect(busy.body).toContain('Another upload is being explained; explain takes one at a time.');
    explaining.finish();
    expect((await api).statusCode).toBe(200);

    holdExplain();
    const page = postForm(b);
    await explaining.started;
    const refused = await app.inject({
      method: 'POST',
      url: '/explain',
      payload: Buffer.alloc(1024),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('10');
    explaining.finish();
    expect((await page).statusCode).toBe(200);
  });

  it("reserves the upload's space first: 507 on the page when it cannot fit above the watermark, nothing written", async () => {
    free = 2000;
    const b = browser();
    await b.get('/console/rules');
    const res = await postForm(b);
    expect(res.statusCode).toBe(507);
    expect(res.body).toContain('Not enough free space above spool.minFreeBytes for this upload now');
    expect(readdirSync(dir).filter((f) => f.startsWith('explain-'))).toEqual([]);
  });
});

describe('overview: spool and delivery health', () => {
  it('shows what the spool holds and why, and a degraded sink with its reason', async () => {
    seedQuarantined();
    addSeries(db, { state: 'complete', instance_count: 3, byte_count: 3 * 1024 * 1024 });
    degraded = [
      {
        sink: 'xnat',
        code: 'ERR_XNAT_AUTH',
        stage: 'sending',
        error: 'XNAT refused the credentials (401).',
        since: 1_700_000_000_000,
        failures: 4,
      },
    ];
    const res = await app.inject({ method: 'GET', url: '/console' });
    expect(res.body).toMatch(
      /<tr data-holding="awaitingDelivery">[^]*?Awaiting delivery[^]*?<td class="num">1<\/td><td class="num">3<\/td><td class="num">3\.0 MiB<\/td>/,
    );
    expect(res.body).toMatch(/<tr data-holding="failed">[^]*?Failed \(requeue or discard\)/);
    expect(res.body).toContain('Originals are removed once delivered and verified in their final project.');
    expect(res.body).toMatch(/Delivery <span class="badge b-bad">degraded<\/span>/);
    expect(res.body).toMatch(
      /<h3>xnat[^]*?Degraded<\/dt><dd><code>ERR_XNAT_AUTH<\/code> at sending: XNAT refused the credentials \(401\)\. \(since [^]*?4 failures\)/,
    );
    degraded = [];
    const live = await app.inject({ method: 'GET', url: '/console?fragment=live' });
    expect(live.body).toMatch(/Delivery <span class="badge b-ok">ok<\/span>/);
  });
});

describe('overview sources', () => {
  it('shows one card per running source from its lifecycle view, a type the console never heard of included', async () => {
    components = [
      component('dimse', { ready: true }, { listening: true, aeTitle: 'XNAT', host: '0.0.0.0', port: 8104 }),
      component('stow', { ready: false, reason: 'STOW-RS receiver is not listening.' }, { port: null, stableMs: 250 }),
      component('hl7', { ready: true }, { queue: 'orders' }),
    ];
    const res = await app.inject({ method: 'GET', url: '/console?fragment=live' });
    const cards = [...res.body.matchAll(/<h3>([^<]+) <span class="badge (b-ok|b-bad)">([^<]+)<\/span>/g)].map((m) => [
      m[1],
      m[3],
    ]);
    expect(cards).toEqual([
      ['DICOM receiver', 'ready'],
      ['STOW-RS receiver', 'not ready'],
      ['hl7', 'ready'],
    ]);
    expect(res.body).toContain('STOW-RS receiver is not listening.');
    expect(res.body).toContain('<dt>AE title</dt><dd>XNAT</dd>');
    expect(res.body).toContain('<dt>Listening</dt><dd>yes</dd>');
    expect(res.body).toContain('<dt>Port</dt><dd>—</dd>');
    expect(res.body).toContain('<dt>Stable (ms)</dt><dd>250</dd>');
    expect(res.body).toContain('<dt>Queue</dt><dd>orders</dd>');
    // Per-source rates for the registered types; the DICOM receiver's card counts open associations.
    expect(res.body).toMatch(/DICOM receiver[^]*?Images\/s \(last \d+ s\)[^]*?Associations open/);
  });

  it('says so when no source is enabled', async () => {
    const res = await app.inject({ method: 'GET', url: '/console?fragment=live' });
    expect(res.body).toContain('No source is enabled.');
  });
});

describe('find', () => {
  function seedFindable(): number {
    const s = addSeries(db, { state: 'delivered', modality: 'CT' });
    for (const l of hasher.ofInstance({ PatientID: 'MRN777', AccessionNumber: 'ACC42' })) {
      db.prepare('INSERT INTO series_lookup (series_id, kind, digest) VALUES (?, ?, ?)').run(s, l.kind, l.digest);
    }
    return s;
  }

  it('finds the series of a patient for a signed-in administrator, shows and stores nothing of the ID, audits', async () => {
    const s = seedFindable();
    const b = browser();
    await b.signIn('alice', 's3cret-token-alice');
    await b.get('/console/find');
    const res = await b.post('/console/find', { _csrf: b.csrf(), kind: 'patient', value: 'MRN777' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('1 series batch found');
    expect(res.body).toContain(`/console/series/${String(s)}`);
    expect(res.body).not.toContain('MRN777');
    const none = await b.post('/console/find', { _csrf: b.csrf(), kind: 'accession', value: 'MRN777' });
    expect(none.body).toContain('0 series batches found');
    expect(auditRows('series.find').map((r) => JSON.parse(r.detail) as unknown)).toEqual([
      { by: 'alice', kind: 'patient', matches: 1 },
      { by: 'alice', kind: 'accession', matches: 0 },
    ]);
    expect(JSON.stringify(logs)).not.toContain('MRN777');
  });

  it('answers POST /series/find to a bearer token only, with the series as GET /series lists them', async () => {
    const s = seedFindable();
    const anonymous = await app.inject({ method: 'POST', url: '/series/find', payload: { accessionNumber: 'ACC42' } });
    expect(anonymous.statusCode).toBe(401);
    const res = await app.inject({
      method: 'POST',
      url: '/series/find',
      payload: { accessionNumber: 'ACC42' },
      headers: { authorization: 'Bearer s3cret-token-bob' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      total: 1,
      items: [{ id: s, modality: 'CT', firstInstanceAtIso: '1970-01-01T00:00:01.000Z' }],
    });
    const both = await app.inject({
      method: 'POST',
      url: '/series/find',
      payload: { accessionNumber: 'A', patientId: 'P' },
      headers: { authorization: 'Bearer s3cret-token-bob' },
    });
    expect(both.statusCode).toBe(400);
    expect(JSON.parse(auditRows('series.find')[0]?.detail ?? '{}')).toEqual({
      by: 'bob',
      kind: 'accession',
      matches: 1,
    });
  });
});

describe('GET /series filters', () => {
  it('filters by route and sender, and carries project, reasons, senders and ISO times', async () => {
    const { seriesId } = seedQuarantined();
    addSeries(db, { state: 'delivered', modality: 'CT' });
    const res = await app.inject({ method: 'GET', url: '/series?route=quarantined&sender=ct1' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      total: 1,
      nextOffset: null,
      nextBefore: null,
      items: [
        {
          id: seriesId,
          project: 'QUARANTINE',
          target: 'quarantine',
          reasons: [{ rule: 'protocol:model', message: 'Model Aera is listed.' }],
          senders: ['CT1'],
          sources: ['dimse'],
          firstInstanceAtIso: '1970-01-01T00:00:01.000Z',
          completesAt: null,
        },
      ],
    });
    expect(res.body).not.toMatch(/DOE|JOHN|origin/);
  });

  it.each([
    ['/series?from=yesterday', "query parameter 'from' must be an ISO 8601 date or time, or epoch milliseconds"],
    [
      '/series?route=nowhere',
      "query parameter 'route' must be one of: quarantined, hospital, released, waiting, unrouted",
    ],
    ['/series?sort=size', "query parameter 'sort' must be one of:"],
  ])('answers 400 for %s', async (url, message) => {
    const res = await app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(400);
    expect(res.json<{ message: string }>().message).toContain(message);
  });

  it('accepts ISO 8601 and epoch-ms times and gives completesAt for a receiving batch', async () => {
    const s = addSeries(db, {
      state: 'receiving',
      first_instance_at: 1_700_000_000_000,
      last_instance_at: 1_700_000_010_000,
    });
    addSeries(db, { state: 'delivered', first_instance_at: 1_000, last_instance_at: 2_000 });
    const iso = await app.inject({ method: 'GET', url: '/series?from=2023-11-14T22:13:00Z' });
    expect(iso.json<{ items: { id: number; completesAt: number; completesAtIso: string }[] }>().items).toEqual([
      expect.objectContaining({ id: s, completesAt: 1_700_000_070_000, completesAtIso: '2023-11-14T22:14:30.000Z' }),
    ]);
    expect((await app.inject({ method: 'GET', url: '/series?to=1700000000000' })).json<{ total: number }>().total).toBe(
      1,
    );
  });
});

describe('http.auth', () => {
  it('"actions" (default) leaves reading open', async () => {
    expect((await app.inject({ method: 'GET', url: '/status' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/console' })).statusCode).toBe(200);
  });

  it('"all" asks for sign-in or a bearer token for every read but probes, scrapes, assets and the sign-in page', async () => {
    await app.close();
    app = await build({ auth: 'all' });
    const api = await app.inject({ method: 'GET', url: '/series' });
    expect(api.statusCode).toBe(401);
    expect(api.headers['www-authenticate']).toBe('Bearer realm="xnat-gateway"');
    const page = await app.inject({ method: 'GET', url: '/console/series?route=quarantined' });
    expect(page.statusCode).toBe(303);
    expect(page.headers.location).toBe('/console/sign-in?next=%2Fconsole%2Fseries%3Froute%3Dquarantined');
    expect((await app.inject({ method: 'GET', url: '/' })).statusCode).toBe(303);
    for (const url of ['/healthz', '/readyz', '/metrics', '/console/assets/console.css', '/console/sign-in']) {
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
    }
    expect(
      (await app.inject({ method: 'GET', url: '/series', headers: { authorization: 'Bearer s3cret-token-alice' } }))
        .statusCode,
    ).toBe(200);
    expect(
      (await app.inject({ method: 'GET', url: '/series', headers: { authorization: 'Bearer nope' } })).statusCode,
    ).toBe(401);
    const b = browser();
    const signedIn = await b.signIn('alice', 's3cret-token-alice');
    expect(signedIn.statusCode).toBe(303);
    expect((await b.get('/console/series')).statusCode).toBe(200);
    expect((await b.get('/status')).statusCode).toBe(200);
  });
});
