// The source registry: one entry per schema key, sources built from it in order, and the intake
// refusing a source type the registry does not know (the check that replaced SQL's CHECK list).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { composeIntake } from '../../../src/app/compose-intake.ts';
import { buildSources, SOURCE_TYPES, TRANSFORMS } from '../../../src/app/registry.ts';
import { buildConfig } from '../../../src/config/load.ts';
import { sourceConfigs, transformConfigs } from '../../../src/config/schema.ts';
import { createEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import { layoutFor } from '../../../src/spool/layout.ts';
import { createDropLedger } from '../../../src/store/sqlite/drops.ts';
import { openDb, type Db } from '../../../src/store/sqlite/db.ts';
import { createFakeClock } from '../../helpers/fake-clock.ts';

describe('the source registry', () => {
  let dir: string;
  let db: Db;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'registry-'));
    db = openDb(join(dir, 'gateway.db'));
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const log = createLogger('silent');
  const ctx = () => ({ log, clock: createFakeClock(0), events: createEvents() });

  it('has one entry per source and transform key of the config schema, in schema order', () => {
    expect(SOURCE_TYPES).toEqual(Object.keys(sourceConfigs));
    expect(Object.keys(TRANSFORMS)).toEqual(Object.keys(transformConfigs));
  });

  it('builds the enabled sources only, each with its type, id, readiness and description', () => {
    const cfg = buildConfig({ dataDir: dir, folder: { enabled: true } }, {}, dir);
    const built = buildSources(cfg, ctx, {
      layout: layoutFor(dir),
      db,
      ledger: createDropLedger(db),
      logFileNames: false,
    });
    expect(built.map((b) => [b.type, b.source.type, b.source.id])).toEqual([
      ['dimse', 'dimse', 'dimse'],
      ['folder', 'folder', 'folder'],
    ]);
    // Not started: the DICOM listener is down and says so; the folder never gates readiness.
    expect(built[0]?.source.ready()).toEqual({ ready: false, reason: 'DICOM receiver is not listening.' });
    expect(built[0]?.source.describe()).toMatchObject({ listening: false, aeTitle: cfg.dimse.aeTitle, port: null });
    expect(built[1]?.source.ready()).toEqual({ ready: true });
    // STOW-RS is built only when its port is set; before start it is not ready and has no port.
    const tokens = join(dir, 'tokens');
    writeFileSync(tokens, 'pacs:0123456789abcdef0123\n', { mode: 0o600 });
    const stow = buildSources(buildConfig({ dataDir: dir, stow: { port: 0, tokenFile: tokens } }, {}, dir), ctx, {
      layout: layoutFor(dir),
      db,
      ledger: createDropLedger(db),
      logFileNames: false,
    }).find((b) => b.type === 'stow');
    expect([stow?.source.type, stow?.source.id]).toEqual(['stow', 'stow']);
    expect(stow?.source.ready()).toEqual({ ready: false, reason: 'STOW-RS receiver is not listening.' });
    expect(stow?.source.describe()).toMatchObject({ listening: false, port: null, tls: false });
    const off = buildConfig({ dataDir: dir, dimse: { enabled: false }, folder: { enabled: false } }, {}, dir);
    expect(
      buildSources(off, ctx, { layout: layoutFor(dir), db, ledger: createDropLedger(db), logFileNames: false }),
    ).toEqual([]);
  });

  it('builds the pull source only when a PACS is listed, with the DICOM receiver as its C-MOVE destination', async () => {
    const deps = { layout: layoutFor(dir), db, ledger: createDropLedger(db), logFileNames: false };
    const none = buildSources(buildConfig({ dataDir: dir }, {}, dir), ctx, deps);
    expect(none.map((b) => b.type)).not.toContain('pull');
    const cfg = buildConfig(
      {
        dataDir: dir,
        dimse: { aeTitle: 'GW' },
        pacs: [{ name: 'pacs1', aeTitle: 'ORTHANC', host: '127.0.0.1', port: 4242, callingAe: 'GW' }],
      },
      {},
      dir,
    );
    const pull = buildSources(cfg, ctx, deps).find((b) => b.type === 'pull');
    expect([pull?.source.type, pull?.source.id]).toEqual(['pull', 'pull']);
    // A PACS that does not answer holds up pulls, never receiving: the source is always ready.
    expect(pull?.source.ready()).toEqual({ ready: true });
    expect(pull?.source.describe()).toMatchObject({ pacs: 1, pacsAnswering: 1, destinationAe: 'GW', verifies: false });
    expect(await pull?.source.studyLabels?.projectFor(1)).toBeNull();
  });

  it('the intake refuses a source type that is not registered, for associations and instances', async () => {
    const cfg = buildConfig({ dataDir: dir }, {}, dir);
    const { intake, later } = composeIntake(cfg, db, {
      sources: SOURCE_TYPES,
      layout: layoutFor(dir),
      clock: createFakeClock(0),
      events: createEvents(),
      log,
      finder: () => null,
    });
    await expect(intake.openAssociation({ source: 'hl7', peerIp: '10.0.0.1' })).rejects.toThrow(
      "Source type 'hl7' is not registered (src/app/registry.ts).",
    );
    expect(() => intake.begin({ source: 'smb', associationUid: 'x' } as never)).toThrow(
      "Source type 'smb' is not registered",
    );
    // The STOW-RS source, one registry entry: its sender (the token's name) is recorded, no called AE.
    const stow = await intake.openAssociation({ source: 'stow', peerIp: '10.0.0.2', sender: 'pacs' });
    expect(db.prepare('SELECT source, calling_ae, called_ae FROM associations WHERE uid = ?').get(stow)).toEqual({
      source: 'stow',
      calling_ae: 'pacs',
      called_ae: '',
    });
    // A registered source without AE titles (a folder drop): the association is recorded with none.
    const uid = await intake.openAssociation({ source: 'folder', peerIp: '' });
    expect(db.prepare('SELECT source, calling_ae, called_ae FROM associations WHERE uid = ?').get(uid)).toEqual({
      source: 'folder',
      calling_ae: '',
      called_ae: '',
    });
    await later.stop();
  });
});
