// The operator console in a real browser (Debian's headless Chromium via playwright-core) against a
// real daemon fed by DCMTK storescu: sign in, watch a series arrive and complete live, filter to
// quarantined, release one with a note, requeue a dead job, discard a quarantined series, explain
// an uploaded file, find by patient ID, sign out; a forged cross-site form post is refused; every form control is labelled
// and every page and control is reachable by keyboard; nothing leaves the machine.
// Screenshots of each page go to a scratch folder, or to docs/console/ with UPDATE_CONSOLE_SCREENSHOTS=1.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  launchBrowser,
  unlabelledControls,
  unreachableByKeyboard,
  CHROMIUM,
  type TestBrowser,
} from '../../helpers/browser.ts';
import { startTestDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { newUid, writeSeries, type Element } from '../../helpers/dicom-factory.ts';
import { outboxSeries } from '../../helpers/outbox.ts';
import { describeWithPeers, run } from '../../helpers/peers.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4';
const US_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.6.1';
const scratch = mkdtempSync(join(tmpdir(), 'xg-console-browser-'));
const SHOTS =
  process.env.UPDATE_CONSOLE_SCREENSHOTS === '1'
    ? new URL('../../../docs/console/', import.meta.url).pathname
    : join(scratch, 'shots');
mkdirSync(SHOTS, { recursive: true });
const protocolFile = join(scratch, 'protocol.txt');
writeFileSync(protocolFile, '0008,0060   Modality                  ALL\n0008,1090   ManufacturersModelName    Aera\n');
const tokenFile = join(scratch, 'tokens');
writeFileSync(tokenFile, 'alice:s3cret-token-alice\n');
chmodSync(tokenFile, 0o600);
const model = (name: string): Element => ({ tag: 0x00081090, vr: 'LO', value: name });

type Json = Record<string, unknown>;

describeWithPeers(['storescu', 'chromium'], 'operator console in headless Chromium', () => {
  let gw: TestDaemon;
  let b: TestBrowser;
  let page: Page;
  let base: string;
  const study = {
    studyInstanceUid: newUid(),
    patientName: 'Smith^Anna',
    patientId: 'MRN-4711',
    accessionNumber: 'ACC-90210',
  };
  const uids = { ct: newUid(), mr: newUid(), us: newUid() };
  const ids = { ct: 0, mr: 0, us: 0 };

  const api = async (path: string): Promise<Json> => (await (await fetch(`${base}${path}`)).json()) as Json;
  const seriesIdOf = async (uid: string): Promise<number | undefined> =>
    ((await api('/series?limit=500')).items as Json[]).find((s) => s.seriesUid === uid)?.id as number | undefined;
  const stateOf = async (id: number): Promise<string> => String((await api(`/series/${String(id)}`)).state);
  /** The spool files of a series batch, from the daemon's database. */
  const spoolFilesOf = (id: number): string[] => {
    const db = new Database(join(gw.dataDir, 'gateway.db'), { readonly: true });
    try {
      return (db.prepare('SELECT path FROM instances WHERE series_id = ?').pluck().all(id) as string[]).map((p) =>
        join(gw.dataDir, 'spool', p),
      );
    } finally {
      db.close();
    }
  };
  const send = async (name: string, opts: Parameters<typeof writeSeries>[1]): Promise<void> => {
    const dir = join(scratch, name);
    await writeSeries(dir, opts);
    const r = await run('storescu', ['+sd', '-aec', 'XNAT', '127.0.0.1', String(gw.dimsePort), dir]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  };
  const shot = async (name: string): Promise<void> => {
    // No focus ring left over from the keyboard walk in the pictures.
    await page.evaluate('document.activeElement && document.activeElement.blur()');
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };
  /** The page's accessibility smoke check: labelled controls, every focusable element reachable by Tab. */
  const a11y = async (): Promise<void> => {
    expect(await unlabelledControls(page), page.url()).toEqual([]);
    expect(await unreachableByKeyboard(page), page.url()).toEqual([]);
  };

  beforeAll(async () => {
    gw = await startTestDaemon({
      route: { hospitalProject: 'KCL', protocolFile },
      http: { adminTokenFile: tokenFile },
      series: { quietPeriodMs: 4_000, checkIntervalMs: 100 },
      workers: { maxAttempts: 1, pollIntervalMs: 100 },
    });
    base = `http://127.0.0.1:${String(gw.httpPort)}`;
    b = await launchBrowser();
    page = b.page;
  });
  afterAll(async () => {
    await b.close();
    await gw.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("uses Debian's Chromium, never a downloaded browser", () => {
    expect(existsSync(CHROMIUM)).toBe(true);
    expect(b.context.browser()?.version() ?? 'persistent').toBeTruthy();
  });

  it('signs in with a name and token', async () => {
    await page.goto(`${base}/console/sign-in`);
    await a11y();
    await page.getByLabel('Name').fill('alice');
    await page.getByLabel('Password or token').fill('s3cret-token-alice');
    await shot('sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/console`);
    expect(await page.locator('header .who').textContent()).toContain('Signed in as alice');
  });

  it('shows a series pushed by storescu appear, wait out its quiet period and complete, without a reload', async () => {
    await page.goto(`${base}/console/series`);
    await a11y();
    let reloads = 0;
    page.on('framenavigated', () => {
      reloads++;
    });
    await send('ct', { ...study, count: 3, seriesInstanceUid: uids.ct, extraElements: [model('Skyra')] });
    const row = page.locator('#series-rows tr', { hasText: 'CT' });
    // Seen live (htmx swaps the rows every 2 s): receiving with its countdown, then delivered.
    await row
      .filter({ hasText: /completes in \d+ s/ })
      .locator('[data-state="receiving"]')
      .waitFor({ timeout: 15_000 });
    await row.locator('[data-state="delivered"]').waitFor({ timeout: 30_000 });
    expect(await row.textContent()).toContain('KCL');
    expect(reloads).toBe(0);
    ids.ct = (await seriesIdOf(uids.ct)) ?? 0;
    await shot('series');
  });

  it('lists the quarantined series when filtered, with their reasons', async () => {
    // Quarantine deliveries fail until the blocking file goes: their jobs die (maxAttempts 1).
    mkdirSync(join(gw.dataDir, 'outbox'), { recursive: true });
    writeFileSync(join(gw.dataDir, 'outbox', 'QUARANTINE'), 'not a folder');
    await send('mr', {
      ...study,
      count: 2,
      modality: 'MR',
      sopClassUid: MR_IMAGE_STORAGE,
      seriesInstanceUid: uids.mr,
      extraElements: [model('Aera')],
    });
    await send('us', { ...study, count: 1, modality: 'US', sopClassUid: US_IMAGE_STORAGE, seriesInstanceUid: uids.us });
    await waitFor(
      async () => {
        ids.mr = (await seriesIdOf(uids.mr)) ?? 0;
        ids.us = (await seriesIdOf(uids.us)) ?? 0;
        return ids.mr > 0 && ids.us > 0 && (await stateOf(ids.mr)) === 'failed' && (await stateOf(ids.us)) === 'failed';
      },
      'both quarantined series failed delivery',
      60_000,
      200,
    );
    await page.goto(`${base}/console/series`);
    await page.getByLabel('Route').selectOption('quarantined');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/route=quarantined/);
    expect(await page.locator('#series-rows tr').count()).toBe(2);
    expect(await page.locator(`#series-rows tr[data-series-id="${String(ids.mr)}"]`).textContent()).toContain(
      'protocol:model',
    );
    expect(await page.locator(`#series-rows tr[data-series-id="${String(ids.us)}"]`).textContent()).toContain(
      'builtin:modality',
    );
    expect(await page.locator('#series-rows').textContent()).not.toContain('KCL');
    await shot('series-quarantined');
  });

  it('releases a quarantined series with a note, and it is delivered to the hospital project', async () => {
    await page.goto(`${base}/console/quarantine`);
    await a11y();
    await shot('quarantine');
    const row = page.locator(`#series-${String(ids.mr)}`);
    expect(await row.textContent()).toContain('protocol:model');
    // The note is required: the browser does not submit without it.
    await row.getByRole('button', { name: `Release to KCL: series ${String(ids.mr)}` }).click();
    expect(page.url()).toBe(`${base}/console/quarantine`);
    await row.getByLabel('Why it may go (required)').fill('Pixels checked: no burned-in text.');
    await row.getByRole('button', { name: `Release to KCL: series ${String(ids.mr)}` }).click();
    await page.waitForURL(/released=/);
    expect(await page.getByRole('status').textContent()).toContain(
      `Series ${String(ids.mr)} was released to KCL by alice`,
    );
    expect(await page.locator(`#series-${String(ids.mr)}`).count()).toBe(0);
    await waitFor(async () => (await stateOf(ids.mr)) === 'delivered', 'released series delivered', 30_000, 200);
    const outbox = [...outboxSeries(join(gw.dataDir, 'outbox')).keys()];
    expect(outbox.filter((f) => f.startsWith('KCL/'))).toHaveLength(2);
    const detail = await api(`/series/${String(ids.mr)}`);
    expect(detail.route).toMatchObject({ project: 'KCL', releasedBy: 'alice' });
    await page.goto(`${base}/console/series/${String(ids.mr)}`);
    expect(await page.locator('main').textContent()).toContain('Released');
    await a11y();
    await shot('series-detail');
  });

  it('requeues a dead job once its cause is fixed, and it is delivered', async () => {
    await page.goto(`${base}/console/jobs`);
    await a11y();
    await shot('dead-jobs');
    const jobRow = page.locator(`tr[data-job-id]:has(a[href="/console/series/${String(ids.us)}"])`);
    expect(await jobRow.textContent()).toContain('ERR_SINK_WRITE');
    rmSync(join(gw.dataDir, 'outbox', 'QUARANTINE'));
    await jobRow.getByRole('button', { name: /Requeue job/ }).click();
    await page.waitForURL(/requeued=/);
    expect(await page.getByRole('status').textContent()).toContain('again, attempts reset');
    await waitFor(async () => (await stateOf(ids.us)) === 'delivered', 'requeued series delivered', 30_000, 200);
    expect(
      [...outboxSeries(join(gw.dataDir, 'outbox')).keys()].filter((f) => f.startsWith('QUARANTINE/')),
    ).toHaveLength(1);
  });

  it('discards a quarantined series from the quarantine page with a reason, and its original files are deleted', async () => {
    const files = spoolFilesOf(ids.us);
    expect(files).toHaveLength(1);
    expect(files.filter((f) => existsSync(f))).toEqual(files);
    await page.goto(`${base}/console/quarantine`);
    await a11y();
    const row = page.locator(`#series-${String(ids.us)}`);
    const discard = row.getByRole('button', { name: `Discard: series ${String(ids.us)}` });
    // The reason is required: the browser does not submit without it.
    await discard.click();
    expect(page.url()).toBe(`${base}/console/quarantine`);
    await row.getByLabel('Why it is discarded (required)').fill('Test object from the service engineer.');
    await discard.click();
    await page.waitForURL(/discarded=/);
    expect(await page.getByRole('status').textContent()).toContain(
      `Series ${String(ids.us)} was discarded by alice: its 1 original file was deleted.`,
    );
    expect(await page.locator(`#series-${String(ids.us)}`).count()).toBe(0);
    expect(files.filter((f) => existsSync(f))).toEqual([]);
    const holding = ((await api('/status')).spool as { holding: Record<string, { series: number }> }).holding;
    expect(holding.quarantined?.series).toBe(0);
    await page.goto(`${base}/console/series/${String(ids.us)}`);
    expect(await page.locator('main').textContent()).toMatch(
      /discarded\s.*by alice: Test object from the service engineer\./,
    );
    await a11y();
  });

  it('explains an uploaded DICOM file and stores nothing', async () => {
    const before = (await api('/series')).total;
    await page.goto(`${base}/console/rules`);
    await a11y();
    await page.getByLabel('DICOM file or zip').setInputFiles(join(scratch, 'mr', '0001.dcm'));
    await page.getByRole('button', { name: 'Explain' }).click();
    await page.waitForURL(`${base}/console/rules/explain`);
    expect(await page.locator('tr[data-explained]').count()).toBe(1);
    expect(await page.locator('tr[data-explained="quarantine"]').textContent()).toMatch(
      /QUARANTINE[\s\S]*protocol:model/,
    );
    await shot('rules');
    expect((await api('/series')).total).toBe(before);
  });

  it('finds the series of a patient by ID without showing the ID again', async () => {
    await page.goto(`${base}/console/find`);
    await a11y();
    await page.getByLabel('Identifier').selectOption('patient');
    await page.getByLabel('Value (exact)').fill('MRN-4711');
    await page.getByRole('button', { name: 'Find' }).click();
    await page.waitForURL(`${base}/console/find`);
    expect(await page.locator('main h2').textContent()).toBe('3 series batches found');
    expect(await page.content()).not.toContain('MRN-4711');
    await shot('find');
  });

  it('shows the overview and the import folder page', async () => {
    await page.goto(`${base}/console`);
    // One card per running source (their lifecycle views): the DICOM receiver is up and listening.
    expect(await page.locator('#overview-live').textContent()).toMatch(/DICOM receiver\s+ready[^]*?Listening\s*yes/);
    // Beside the sinks: delivery health (the folder sink wrote again after its requeue) and what the spool holds.
    expect(await page.locator('#delivery-health').textContent()).toMatch(/Delivery\s+ok/);
    expect(await page.locator('#overview-live').textContent()).toContain('The spool holds');
    await a11y();
    await shot('overview');
    await page.goto(`${base}/console/import`);
    await a11y();
    await shot('import');
  });

  it('reaches every page from the navigation with the keyboard alone', async () => {
    await page.goto(`${base}/console`);
    for (const [path, title] of [
      ['/console/series', 'Series'],
      ['/console/quarantine', 'Quarantine'],
      ['/console/jobs', 'Dead jobs'],
      ['/console/import', 'Import folder'],
      ['/console/rules', 'Rules'],
      ['/console/find', 'Find'],
      ['/console', 'Overview'],
    ]) {
      let found = false;
      for (let i = 0; i < 20 && !found; i++) {
        await page.keyboard.press('Tab');
        found = (await page.evaluate('document.activeElement && document.activeElement.getAttribute("href")')) === path;
      }
      expect(found, `no Tab stop links to ${path ?? ''}`).toBe(true);
      await page.keyboard.press('Enter');
      await page.waitForURL(`${base}${path ?? ''}`);
      expect(await page.locator('h1').textContent()).toBe(title);
    }
  });

  it('refuses a form post without the CSRF token, and a forged post from another site', async () => {
    const deadBefore = (await api('/jobs?state=dead')).jobs as Json[];
    const errorsBefore = b.errors.length;
    // Same browser, signed in, but no token: the form did not come from the console.
    const status = await page.evaluate(
      `fetch('/console/jobs/1/requeue', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'x=1' }).then((r) => r.status)`,
    );
    expect(status).toBe(403);
    // Another site (localhost is not 127.0.0.1) posts a form at the console: SameSite=Strict keeps the cookies home.
    const evil: Server = createServer((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end(
          `<form id="f" method="post" action="${base}/console/series/${String(ids.us)}/release"><input name="note" value="pwned"><input name="_csrf" value="guess"></form><script>document.getElementById('f').submit()</script>`,
        );
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const evilPage = await b.context.newPage();
    const answer = evilPage.waitForResponse((r) => r.url().includes('/release'));
    await evilPage.goto(`http://localhost:${String((evil.address() as AddressInfo).port)}/`);
    expect((await answer).status()).toBe(403);
    await evilPage.close();
    evil.closeAllConnections();
    await new Promise<void>((r) => {
      evil.close(() => {
        r();
      });
    });
    // The two refusals are the only browser errors this test may cause ("Failed to load resource: … 403").
    const refusals = b.errors.splice(errorsBefore);
    expect(refusals).toHaveLength(2);
    for (const e of refusals) {
      expect(e).toContain('status of 403');
    }
    expect(((await api(`/series/${String(ids.us)}`)).route as Json).releasedBy).toBeNull();
    expect((await api('/jobs?state=dead')).jobs).toEqual(deadBefore);
  });

  it('signs out, after which actions are refused', async () => {
    await page.goto(`${base}/console`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/console\/sign-in\?out=1/);
    expect(await page.getByRole('status').textContent()).toContain('You are signed out.');
    await page.goto(`${base}/console/jobs`);
    expect(await page.locator('main').textContent()).toContain('Sign in to requeue jobs.');
    await page.goto(`${base}/console/quarantine`);
    expect(await page.locator('textarea').count()).toBe(0);
  });

  it('sent no request off the machine and logged no browser errors (CSP violations included)', () => {
    expect(b.offMachine).toEqual([]);
    expect(b.errors).toEqual([]);
  });
});
