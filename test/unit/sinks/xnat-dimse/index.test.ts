//! The xnat-dimse sink's config and the checks it makes before opening any connection.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../src/errors.ts';
import { createEvents } from '../../../../src/events.ts';
import { createLogger } from '../../../../src/log.ts';
import type { JobContext, SeriesSnapshot } from '../../../../src/contracts/component.ts';
import { xnatDimseSinkConfig } from '../../../../src/sinks/xnat-dimse/config.ts';
import { create } from '../../../../src/sinks/xnat-dimse/index.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';

describe('xnat-dimse config', () => {
  it('fills the defaults', () => {
    expect(xnatDimseSinkConfig.parse({ type: 'xnat-dimse', host: 'xnat.example' })).toEqual({
      type: 'xnat-dimse',
      host: 'xnat.example',
      port: 8104,
      calledAe: 'XNAT',
      callingAe: 'XNAT_GATEWAY',
      connectTimeoutMs: 10_000,
      responseTimeoutMs: 120_000,
      maxPduLength: 131_072,
    });
  });

  it.each<[Record<string, unknown>, string]>([
    [{ host: '' }, 'empty host'],
    [{ host: 'x', port: 0 }, 'port 0'],
    [{ host: 'x', port: 65536 }, 'port above 65535'],
    [{ host: 'x', calledAe: 'A\\B' }, 'backslash in an AE title'],
    [{ host: 'x', calledAe: 'X'.repeat(17) }, 'AE title over 16 characters'],
    [{ host: 'x', callingAe: '   ' }, 'AE title of spaces'],
    [{ host: 'x', callingAe: 'GW\n' }, 'control character in an AE title'],
    [{ host: 'x', maxPduLength: 1000 }, 'max PDU below 4096'],
    [{ host: 'x', tls: true }, 'unknown key'],
    [{}, 'no host'],
  ])('refuses %o (%s)', (o) => {
    expect(xnatDimseSinkConfig.safeParse({ type: 'xnat-dimse', ...o }).success).toBe(false);
  });

  it('documents every key', () => {
    const schema = xnatDimseSinkConfig.toJSONSchema() as { properties: Record<string, { description?: string }> };
    const undocumented = Object.entries(schema.properties)
      .filter(([k, v]) => k !== 'type' && !v.description)
      .map(([k]) => k);
    expect(undocumented).toEqual([]);
  });
});

describe('xnat-dimse deliver, before connecting', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xg-xnat-dimse-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const base = { log: createLogger('silent'), clock: createFakeClock(), events: createEvents() };
  const job: JobContext = { ...base, jobId: 1, attempt: 1, workDir: dir, signal: new AbortController().signal };
  // Port 9 (discard) on a documentation address: these checks must fail before any connection.
  const sink = create(
    xnatDimseSinkConfig.parse({ type: 'xnat-dimse', host: '192.0.2.1', port: 9, connectTimeoutMs: 100 }),
    base,
  );
  const series = (paths: string[], labelled = true): SeriesSnapshot => ({
    seriesId: 1,
    studyInstanceUid: '1.2.3',
    seriesInstanceUid: '1.2.3.4',
    batch: 1,
    modality: 'CT',
    instances: paths.map((path, i) => ({
      instanceId: i + 1,
      sopInstanceUid: `1.2.3.4.${String(i)}`,
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      instanceNumber: i + 1,
      path,
      size: 0,
    })),
    ...(labelled ? { labels: { project: 'P', subject: 'P_001', session: 'P_001_01' } } : {}),
  });

  it('is called xnat-dimse', () => {
    expect(sink.id).toBe('xnat-dimse');
  });

  it('has nothing to send for an empty series', async () => {
    expect(await sink.deliver(series([]), job)).toMatchObject({
      outcome: 'delivered',
      receipt: 'dicom://XNAT@192.0.2.1:9: 0 instances (none sent)',
    });
  });

  it('refuses a series without XNAT labels', async () => {
    expect(await sink.deliver(series([], false), job)).toMatchObject({
      outcome: 'rejected',
      code: ErrorCode.CONFIG_INVALID,
      reason: expect.stringMatching(/anonymise/) as unknown,
    });
  });

  it('refuses a series with a missing file, naming the instance', async () => {
    const present = join(dir, 'present.dcm');
    writeFileSync(present, 'x');
    const d = await sink.deliver(series([present, join(dir, 'gone.dcm')]), job);
    expect(d).toEqual({
      outcome: 'rejected',
      code: ErrorCode.SERIES_MISSING_FILE,
      reason: 'File of instance 2 is missing.',
    });
  });
});
