// The XNAT labels a source gives a study (a pull list's Subject and Session columns) against the
// pseudonym ledger: given labels win when the study is first filed and are recorded there, so later
// series join the same session; labels not given come from the ledger as for any study.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withStudyLabels } from '../../../src/app/registry.ts';
import type { PseudonymLedger } from '../../../src/contracts/pseudonyms.ts';
import type { GivenLabels, StudyLabels } from '../../../src/contracts/source.ts';
import { anonymiseConfig, settingsFor, type ProjectSettings } from '../../../src/transforms/anonymise/config.ts';
import { labelsFor, type Held } from '../../../src/transforms/anonymise/identity.ts';
import type { Labels } from '../../../src/transforms/anonymise/insert.ts';
import type { OriginalIdentity } from '../../../src/transforms/anonymise/instance.ts';
import { openDb, type Db } from '../../../src/store/sqlite/db.ts';
import { createPseudonymLedger } from '../../../src/store/sqlite/pseudonyms.ts';
import { sqliteUnitOfWork } from '../../../src/store/sqlite/turns.ts';

describe('labels a source gives a study, over the pseudonym ledger', () => {
  let dir: string;
  let db: Db;
  let raw: PseudonymLedger;
  /** project → study → what the source (a pull list) gives it. */
  let given: Map<string, Map<string, GivenLabels>>;
  let ledger: PseudonymLedger;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-study-labels-'));
    db = openDb(join(dir, 'gateway.db'));
    raw = createPseudonymLedger(db);
    given = new Map();
    const source: StudyLabels = {
      projectFor: () => Promise.resolve(null),
      labelsFor: (project, study) => Promise.resolve(given.get(project)?.get(study) ?? null),
    };
    ledger = withStudyLabels(raw, source);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const give = (project: string, study: string, l: GivenLabels): void => {
    given.set(project, (given.get(project) ?? new Map<string, GivenLabels>()).set(study, l));
  };
  const settings = (project: string, o: Record<string, unknown> = {}): ProjectSettings =>
    settingsFor(anonymiseConfig.parse({ projects: { [project]: o } }), project);
  const id = (patientId: string, studyUid: string, o: Partial<OriginalIdentity> = {}): OriginalIdentity => ({
    patientId,
    issuer: '',
    patientName: `Doe^${patientId}`,
    studyUid,
    seriesUid: `${studyUid}.1`,
    sopInstanceUid: `${studyUid}.1.1`,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    modality: 'CT',
    ...o,
  });
  const label = (s: ProjectSettings, who: OriginalIdentity): Promise<Labels | Held> =>
    labelsFor({ settings: s, ledger, uow: sqliteUnitOfWork(db), now: () => 1000 }, who);

  it('without given labels, files the study under the pseudonyms as before', async () => {
    expect(await label(settings('P'), id('PAT1', '1.1'))).toEqual({
      project: 'P',
      subject: 'P_000001',
      session: 'P_000001_01',
    });
    expect(await label(settings('P'), id('PAT1', '1.2'))).toEqual({
      project: 'P',
      subject: 'P_000001',
      session: 'P_000001_02',
    });
  });

  it('files a study under the Subject and Session it was given, records them, and keeps later series there', async () => {
    const s = settings('P');
    give('P', '1.1', { subject: 'SUBJ_A', session: 'Visit_1' });
    expect(await label(s, id('PAT1', '1.1'))).toEqual({ project: 'P', subject: 'SUBJ_A', session: 'Visit_1' });
    expect(await raw.studySession('P', '1.1')).toMatchObject({ subject: 'SUBJ_A', label: 'Visit_1' });
    // The patient got no pseudonym of its own for it: the given subject used no number of the pattern.
    expect((await raw.rows('P')).filter((r) => r.kind === 'subject')).toEqual([]);
    // The pull's labels are gone (row cancelled, patient data purged): a later series of the study
    // still lands in the same session, from the ledger.
    given.clear();
    expect(await label(s, id('PAT1', '1.1', { seriesUid: '1.1.2' }))).toEqual({
      project: 'P',
      subject: 'SUBJ_A',
      session: 'Visit_1',
    });
    // Another study of the patient, not on the list: the patient's pseudonym as for any study.
    expect(await label(s, id('PAT1', '1.2'))).toEqual({ project: 'P', subject: 'P_000001', session: 'P_000001_01' });
  });

  it('takes the session from the pattern under a given Subject, and the subject from the ledger under a given Session', async () => {
    const s = settings('P');
    give('P', '1.1', { subject: 'SUBJ_B', session: null });
    give('P', '1.2', { subject: null, session: 'Baseline' });
    expect(await label(s, id('PAT1', '1.1'))).toEqual({ project: 'P', subject: 'SUBJ_B', session: 'SUBJ_B_01' });
    expect(await label(s, id('PAT2', '1.2'))).toEqual({ project: 'P', subject: 'P_000001', session: 'Baseline' });
  });

  it('gives labels only in the project they were given for (not in quarantine)', async () => {
    give('P', '1.1', { subject: 'SUBJ_A', session: 'Visit_1' });
    expect(await label(settings('QUARANTINE'), id('PAT1', '1.1'))).toEqual({
      project: 'QUARANTINE',
      subject: 'QUARANTINE_000001',
      session: 'QUARANTINE_000001_01',
    });
  });

  it('leaves a study filed before it was listed in its session', async () => {
    const s = settings('P');
    expect(await label(s, id('PAT1', '1.1'))).toEqual({ project: 'P', subject: 'P_000001', session: 'P_000001_01' });
    give('P', '1.1', { subject: 'SUBJ_A', session: 'Visit_1' });
    expect(await label(s, id('PAT1', '1.1', { seriesUid: '1.1.2' }))).toEqual({
      project: 'P',
      subject: 'P_000001',
      session: 'P_000001_01',
    });
  });

  it('gives a taken Session label the next free suffix, as any first label', async () => {
    const s = settings('P');
    give('P', '1.1', { subject: 'SUBJ_A', session: 'Visit_1' });
    give('P', '1.2', { subject: 'SUBJ_B', session: 'Visit_1' });
    expect(await label(s, id('PAT1', '1.1'))).toMatchObject({ session: 'Visit_1' });
    expect(await label(s, id('PAT2', '1.2'))).toEqual({ project: 'P', subject: 'SUBJ_B', session: 'Visit_1_2' });
  });

  it('does not hold a listed study of a patient missing from the lookup table (the list names its subject)', async () => {
    const s = settings('P', { pseudonyms: { mode: 'lookup' } });
    give('P', '1.1', { subject: 'SUBJ_A', session: null });
    expect(await label(s, id('PAT1', '1.1'))).toEqual({ project: 'P', subject: 'SUBJ_A', session: 'SUBJ_A_01' });
    given.clear();
    expect(await label(s, id('PAT1', '1.1', { seriesUid: '1.1.2' }))).toMatchObject({ subject: 'SUBJ_A' });
    // Without a given subject the lookup table rules, as before.
    expect(await label(s, id('PAT1', '1.2'))).toMatchObject({ kind: 'held', cause: 'lookup' });
  });

  it('labels series of a listed study arriving together as one after the other (lookup mode: none is held)', async () => {
    const s = settings('P', { pseudonyms: { mode: 'lookup' } });
    // The second series starts a few turns after the first, at every point of its labelling.
    for (let turns = 0; turns < 40; turns++) {
      const study = `1.${String(turns + 1)}`;
      give('P', study, { subject: `SUBJ_${String(turns)}`, session: null });
      const later = async (): Promise<Labels | Held> => {
        for (let i = 0; i < turns; i++) {
          await Promise.resolve();
        }
        return label(s, id('PAT1', study, { seriesUid: `${study}.2` }));
      };
      const [first, second] = await Promise.all([label(s, id('PAT1', study)), later()]);
      expect(second).toEqual(first);
      expect(first).toMatchObject({ subject: `SUBJ_${String(turns)}` });
    }
  });

  it('holds a series of another patient arriving under the listed study, as for any study', async () => {
    const s = settings('P');
    give('P', '1.1', { subject: 'SUBJ_A', session: 'Visit_1' });
    expect(await label(s, id('PAT1', '1.1'))).toMatchObject({ session: 'Visit_1' });
    expect(await label(s, id('PAT9', '1.1'))).toMatchObject({
      kind: 'held',
      cause: 'identity',
      reason: expect.stringMatching(/already filed in project P as session Visit_1 of subject SUBJ_A/) as unknown,
    });
  });

  it('under profile none, a given Subject replaces the name-derived subject', async () => {
    const s = settings('P', { profile: 'none' });
    give('P', '1.1', { subject: 'SUBJ_A', session: null });
    expect(await label(s, id('PAT1', '1.1'))).toEqual({ project: 'P', subject: 'SUBJ_A', session: 'PAT1' });
    expect(await label(s, id('PAT2', '1.2'))).toEqual({ project: 'P', subject: 'Doe_PAT2', session: 'PAT2' });
  });
});
