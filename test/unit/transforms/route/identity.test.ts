//! The route component quarantines a series it cannot key to one patient: instances of several
//! patients, or a study the hospital project's ledger already holds for another patient (issue 19, class 3).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvents } from '../../../../src/events.ts';
import { createLogger } from '../../../../src/log.ts';
import type { SeriesSnapshot } from '../../../../src/contracts/component.ts';
import type { SessionAssignment } from '../../../../src/contracts/pseudonyms.ts';
import { routeConfig } from '../../../../src/transforms/route/config.ts';
import { create, type Route } from '../../../../src/transforms/route/index.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';
import { newUid, writeInstance } from '../../../helpers/dicom-factory.ts';

const ctx = { log: createLogger('silent'), clock: createFakeClock(), events: createEvents() };
const study = newUid();
const owner: SessionAssignment = {
  label: 'HOSP_000001_01',
  subject: 'HOSP_000001',
  patient: { issuer: '', patientId: 'MRN-A' },
};
let dir: string;
let route: Route;
const asked: [string, string][] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xnatgw-route-identity-'));
  const cfg = routeConfig.parse({ hospitalProject: 'HOSP', quarantineProject: 'QUAR' });
  route = create(cfg, ctx, {
    identifying: () => true,
    studySession: (project, uid) => {
      asked.push([project, uid]);
      return Promise.resolve(uid === study ? owner : null);
    },
  });
});

afterAll(async () => {
  await route.stop();
  await rm(dir, { recursive: true, force: true });
});

async function series(name: string, patients: readonly string[], studyUid = study): Promise<SeriesSnapshot> {
  const seriesUid = newUid();
  const instances = await Promise.all(
    patients.map(async (patientId, i) => {
      const info = await writeInstance(join(dir, `${name}-${String(i)}.dcm`), {
        studyInstanceUid: studyUid,
        seriesInstanceUid: seriesUid,
        patientId,
        instanceNumber: i + 1,
      });
      return {
        instanceId: i + 1,
        sopInstanceUid: info.sopInstanceUid,
        sopClassUid: info.sopClassUid,
        transferSyntaxUid: info.transferSyntaxUid,
        instanceNumber: i + 1,
        path: info.path,
        size: info.bytes,
      };
    }),
  );
  return { seriesId: 1, studyInstanceUid: studyUid, seriesInstanceUid: seriesUid, batch: 1, modality: 'CT', instances };
}

describe('route: identity keys', () => {
  it("sends the study's own patient to the hospital project", async () => {
    const d = await route.decide(await series('same', ['MRN-A', 'MRN-A']), new AbortController().signal);
    expect(d.target).toBe('hospital');
    expect(asked).toContainEqual(['HOSP', study]);
  });

  it('quarantines the study arriving under another patient, naming the session (a pseudonym) and not the patient', async () => {
    const d = await route.decide(await series('other', ['MRN-B']), new AbortController().signal);
    expect(d.target).toBe('quarantine');
    expect(d.reasons).toEqual([
      expect.objectContaining({
        rule: 'builtin:study-of-another-patient',
        message: expect.stringContaining('session HOSP_000001_01 of subject HOSP_000001') as string,
      }),
    ]);
    expect(JSON.stringify(d.reasons)).not.toContain('MRN-');
  });

  it('quarantines a series whose instances name different patients', async () => {
    const d = await route.decide(await series('mixed', ['MRN-C', 'MRN-D'], newUid()), new AbortController().signal);
    expect(d.target).toBe('quarantine');
    expect(d.reasons.map((r) => r.rule)).toEqual(['builtin:mixed-patients']);
  });
});

describe('the route transform as a component', () => {
  it('describes the rules in force by hash and file count (the built-in rules: none), and is ready', async () => {
    await route.start();
    expect(route.type).toBe('route');
    expect(route.ready()).toEqual({ ready: true });
    const d = route.describe();
    expect(d.rulesHash).toBe(route.rules().hash);
    expect(d).toMatchObject({ ruleFiles: 0, lastReloadFailedAt: null });
  });
});
