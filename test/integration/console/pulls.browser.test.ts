// The console's pulls page in Debian's headless Chromium against a real daemon and Orthanc: the
// PACS answers C-ECHO, a signed-in administrator uploads a list, watches its rows end without a
// reload, pauses and resumes it, chooses one of an ambiguous row's candidates, cancels another
// pull; accession numbers only after sign-in; a forged upload is refused; labelled controls,
// reachable by keyboard; nothing leaves the machine; readable without JavaScript.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchBrowser, unlabelledControls, unreachableByKeyboard, type TestBrowser } from '../../helpers/browser.ts';
import { startTestDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { startOrthanc, type OrthancHandle } from '../../helpers/orthanc.ts';
import { writeStudies } from '../../helpers/pacs.ts';
import { describeWithPeers, freePort } from '../../helpers/peers.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const scratch = mkdtempSync(join(tmpdir(), 'xg-console-pulls-'));

describeWithPeers(['Orthanc', 'chromium'], 'the pulls page in headless Chromium', () => {
  let gw: TestDaemon;
  let orthanc: OrthancHandle;
  let b: TestBrowser;
  let page: Page;
  let base: string;
  const tokenFile = join(scratch, 'tokens');
  const list = join(scratch, 'accessions.csv');

  const a11y = async (): Promise<void> => {
    expect(await unlabelledControls(page), page.url()).toEqual([]);
    expect(await unreachableByKeyboard(page), page.url()).toEqual([]);
  };
  const state = (line: number): Promise<string | null> =>
    page.locator(`#pull-rows tr[data-line="${String(line)}"]`).getAttribute('data-state');

  beforeAll(async () => {
    const studies = await writeStudies(join(scratch, 'studies'), [
      { accessionNumber: 'WEB-1', patientId: 'W1', series: [3] },
      { accessionNumber: 'TWIN', patientId: 'W2', studyDate: '20240105', series: [2] },
      { accessionNumber: 'TWIN', patientId: 'W3', studyDate: '20240301', series: [1] },
    ]);
    writeFileSync(tokenFile, 'alice:s3cret-token-alice\n');
    chmodSync(tokenFile, 0o600);
    writeFileSync(list, 'AccessionNumber\nWEB-1\nTWIN\n');
    const dimsePort = await freePort();
    orthanc = await startOrthanc({ modalities: { gateway: ['XNAT', '127.0.0.1', dimsePort] } });
    for (const f of studies.flatMap((s) => s.files)) {
      await orthanc.upload(f);
    }
    gw = await startTestDaemon({
      dimse: { port: dimsePort, host: '127.0.0.1' },
      http: { adminTokenFile: tokenFile },
      series: { quietPeriodMs: 300, checkIntervalMs: 50 },
      pacs: [
        { name: 'hospital-pacs', aeTitle: 'ORTHANC', host: '127.0.0.1', port: orthanc.dicomPort, callingAe: 'XNAT' },
        // Nothing listens there: its rows wait (circuit open) and its C-ECHO fails.
        {
          name: 'offline',
          aeTitle: 'GONE',
          host: '127.0.0.1',
          port: await freePort(),
          callingAe: 'XNAT',
          connectTimeoutMs: 500,
        },
      ],
      pull: { arrivalTimeoutMs: 5000, arrivalPollMs: 100, echoIntervalMs: 1000, backoffBaseMs: 200, backoffMaxMs: 500 },
    });
    base = `http://127.0.0.1:${String(gw.httpPort)}`;
    b = await launchBrowser();
    page = b.page;
  });
  afterAll(async () => {
    await b.close();
    await gw.stop();
    await orthanc.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('shows the PACS answering C-ECHO, and asks to sign in before a list can be submitted', async () => {
    await waitFor(
      async () => {
        await page.goto(`${base}/console/pulls`);
        return (await page.locator('tr[data-pacs="hospital-pacs"]').textContent())?.includes('answers') === true;
      },
      'the PACS shown answering C-ECHO',
      15_000,
      300,
    );
    await waitFor(
      async () => {
        await page.goto(`${base}/console/pulls`);
        return (await page.locator('tr[data-pacs="offline"]').textContent())?.includes('no answer') === true;
      },
      'the offline PACS shown not answering',
      15_000,
      300,
    );
    expect(await page.locator('main').textContent()).toContain('Sign in to submit a list.');
    // The health of the PACS: degraded while one does not answer; receiving (/readyz) is not affected.
    const health = await fetch(`${base}/healthz/pacs`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { reasons: string[] }).reasons).toEqual([
      expect.stringMatching(/^PACS offline does not answer C-ECHO: /),
    ]);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('xnat_gateway_pacs_up{pacs="hospital-pacs"} 1');
    expect(metrics).toContain('xnat_gateway_pacs_up{pacs="offline"} 0');
    expect(await page.locator('#pull-file').count()).toBe(0);
    await a11y();
  });

  it('lets a signed-in administrator upload a list and watch its rows end live', async () => {
    await page.goto(`${base}/console/sign-in?next=/console/pulls`);
    await page.getByLabel('Name').fill('alice');
    await page.getByLabel('Password or token').fill('s3cret-token-alice');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/console/pulls`);
    await a11y();
    await page.getByLabel('PACS to pull from').selectOption('hospital-pacs');
    await page.getByLabel('XNAT project for rows that name none (optional)').fill('STUDY1');
    await page.getByLabel('List (CSV or XLSX)').setInputFiles(list);
    await page.getByRole('button', { name: 'Submit the list' }).click();
    await page.waitForURL(/\/console\/pulls\/[0-9a-f-]{36}\?done=submitted/);
    expect(await page.getByRole('status').textContent()).toContain('The list was accepted');
    let reloads = 0;
    page.on('framenavigated', () => {
      reloads++;
    });
    // The live rows (htmx, every 2 s): WEB-1 retrieved and delivered (to the outbox), TWIN ambiguous.
    await page.locator('#pull-rows tr[data-line="2"][data-state="delivered"]').waitFor({ timeout: 30_000 });
    await page.locator('#pull-rows tr[data-line="3"][data-state="ambiguous"]').waitFor({ timeout: 30_000 });
    expect(reloads).toBe(0);
    const row = await page.locator('#pull-rows tr[data-line="2"]').textContent();
    expect(row).toContain('WEB-1');
    expect(row).toMatch(/3\s*3\s*3/);
    expect(await page.locator('#pull-rows tr[data-line="3"] ul.candidates li').count()).toBe(2);
    await a11y();
  });

  it('pulls the candidate an administrator chooses for an ambiguous row, reopening the ended pull', async () => {
    // WEB-1 delivered and TWIN ambiguous: nothing left to do, and no XNAT to verify in, so the pull ended.
    await waitFor(
      async () => {
        await page.reload();
        return (await page.locator('[data-pull-state]').getAttribute('data-pull-state')) === 'ended';
      },
      'the pull ended',
      15_000,
      300,
    );
    expect(await page.getByRole('button', { name: 'Pause' }).count()).toBe(0);
    await page
      .locator('#pull-rows tr[data-line="3"] ul.candidates li', { hasText: '2 instances' })
      .getByRole('button')
      .click();
    await page.waitForURL(/done=chosen/);
    await page.locator('#pull-rows tr[data-line="3"][data-state="delivered"]').waitFor({ timeout: 30_000 });
    expect(await page.locator('#pull-rows tr[data-line="3"]').textContent()).toMatch(/2\s*2\s*2/);
    await waitFor(
      async () => {
        await page.reload();
        return (await page.locator('[data-pull-state]').getAttribute('data-pull-state')) === 'ended';
      },
      'the pull ended again',
      15_000,
      300,
    );
  });

  it('pauses, resumes and cancels a pull waiting for a PACS that does not answer', async () => {
    await page.goto(`${base}/console/pulls`);
    await page.getByLabel('PACS to pull from').selectOption('offline');
    await page.getByLabel('List (CSV or XLSX)').setInputFiles(list);
    await page.getByRole('button', { name: 'Submit the list' }).click();
    await page.waitForURL(/done=submitted/);
    await a11y();
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.waitForURL(/done=pause/);
    expect(await page.locator('[data-pull-state]').getAttribute('data-pull-state')).toBe('paused');
    expect(await page.locator('dl.kv').textContent()).toContain('paused by alice');
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.waitForURL(/done=resume/);
    expect(await page.locator('[data-pull-state]').getAttribute('data-pull-state')).toBe('active');
    await page.getByRole('button', { name: 'Cancel the pull' }).click();
    await page.waitForURL(/done=cancel/);
    expect(await page.locator('[data-pull-state]').getAttribute('data-pull-state')).toBe('cancelled');
    expect(await state(2)).toBe('cancelled');
    expect(b.offMachine).toEqual([]);
    expect(b.errors).toEqual([]);
  });

  it('refuses an upload that did not come from the console page', async () => {
    // A cross-site form post carries the session cookie but not the CSRF token.
    const before = ((await (await fetch(`${base}/pulls`)).json()) as { items: unknown[] }).items.length;
    const forged = await page.evaluate(`(async () => {
      const fd = new FormData();
      fd.append('pacs', 'hospital-pacs');
      fd.append('file', new Blob(['AccessionNumber\\nWEB-1\\n']), 'x.csv');
      const r = await fetch('/console/pulls', { method: 'POST', body: fd });
      return r.status;
    })()`);
    expect(forged).toBe(403);
    expect(((await (await fetch(`${base}/pulls`)).json()) as { items: unknown[] }).items).toHaveLength(before);
  });

  it('is readable without JavaScript, and shows no accession number to a reader who is not signed in', async () => {
    const pulls = (await (await fetch(`${base}/pulls`)).json()) as { items: { id: string }[] };
    // The first pull (oldest last).
    const id = pulls.items.at(-1)?.id ?? '';
    const html = await (await fetch(`${base}/console/pulls/${id}`)).text();
    expect(html).toContain('data-state="delivered"');
    expect(html).not.toContain('WEB-1');
    expect(html).toContain('Sign in</a> to see accession numbers');
  });
});
