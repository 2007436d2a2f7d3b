//! Shared steps of the gateway → fake XNAT end-to-end tests: a daemon delivering to the fake, storescu, polling.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect } from 'vitest';
import { startTestDaemon, type TestDaemon } from './daemon.ts';
import type { FakeXnat } from './fake-xnat/index.ts';
import { run } from './peers.ts';
import { waitFor } from './wait-for.ts';

export interface JobView {
  id: number;
  sink: string;
  state: string;
  lastCode: string | null;
  lastError: string | null;
  receipt: string | null;
  detail: { xnatStatus?: string; sent?: number; found?: number | null; message?: string; uri?: string } | null;
}
export interface Timeline {
  id: number;
  seriesUid: string;
  state: string;
  jobs: JobView[];
}
export interface SeriesRow {
  id: number;
  seriesUid: string;
  state: string;
}

export const scratch = mkdtempSync(join(tmpdir(), 'xg-xnat-e2e-'));

/** What a test started; stopped after each test (see `stopAfterEach`). */
export interface Running {
  xnat: FakeXnat | null;
  gw: TestDaemon | null;
}

/** Registers the teardown: the daemon and the fake XNAT after each test, the scratch folder at the end. */
export function stopAfterEach(): Running {
  const r: Running = { xnat: null, gw: null };
  afterEach(async () => {
    await r.gw?.stop();
    await r.xnat?.close();
    r.gw = null;
    r.xnat = null;
  });
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });
  return r;
}

let dirs = 0;
/** A new empty folder under the scratch folder. */
export function freshDir(label: string): string {
  const d = join(scratch, `${label}-${String(++dirs)}`);
  mkdirSync(d);
  return d;
}

/** A 0600 password file holding `secret`. */
export function passwordFile(secret: string): string {
  const f = join(mkdtempSync(join(scratch, 'secret-')), 'password');
  writeFileSync(f, `${secret}\n`);
  chmodSync(f, 0o600);
  return f;
}

/** A daemon whose only sink is the fake XNAT's REST import (plus any overrides). */
export async function gatewayFor(
  xnat: FakeXnat,
  o: { password: string; sink?: Record<string, unknown>; overrides?: Record<string, unknown> },
): Promise<TestDaemon> {
  return startTestDaemon({
    series: { quietPeriodMs: 300, checkIntervalMs: 50 },
    route: { hospitalProject: 'HOSPITAL' },
    workers: {
      pollIntervalMs: 50,
      backoffBaseMs: 100,
      backoffMaxMs: 400,
      breaker: { failureThreshold: 3, openMs: 300, maxOpenMs: 1_000 },
    },
    sinks: [
      {
        type: 'xnat-rest',
        url: xnat.url,
        user: 'gw',
        passwordFile: passwordFile(o.password),
        requestTimeoutMs: 2_000,
        uploadTimeoutMs: 5_000,
        ...o.sink,
      },
    ],
    ...o.overrides,
  });
}

export async function storescu(g: TestDaemon, ...dirs: string[]): Promise<void> {
  const r = await run('storescu', ['+sd', '+r', '-aec', 'XNAT', '127.0.0.1', String(g.dimsePort), ...dirs]);
  expect(r.code, r.stdout + r.stderr).toBe(0);
}

export async function api<T>(g: TestDaemon, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${String(g.httpPort)}${path}`);
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
}

/** Every series batch the gateway holds, with its timeline. */
export async function timelines(g: TestDaemon): Promise<Timeline[]> {
  const page = await api<{ items: SeriesRow[] }>(g, '/series?limit=500');
  return Promise.all(page.items.map((s) => api<Timeline>(g, `/series/${String(s.id)}`)));
}

/** Waits until `n` series batches exist and none has a job queued or running. */
export async function settled(g: TestDaemon, n: number, timeoutMs = 20_000): Promise<Timeline[]> {
  let last: Timeline[] = [];
  await waitFor(
    async () => {
      last = await timelines(g);
      return (
        last.length >= n &&
        last.every((t) => t.jobs.length > 0 && t.jobs.every((j) => j.state === 'done' || j.state === 'dead'))
      );
    },
    `${String(n)} series delivered or failed`,
    timeoutMs,
    100,
  );
  return last;
}
