//! Finishes a read drop: plans where it goes (once, in the ledger), then releases it and logs the outcome.
import { join } from 'node:path';
import { DaemonError, ErrorCode } from '../../errors.ts';
import type { Logger } from '../../contracts/component.ts';
import type { DropFileRecord, DropLedger, DropRecord } from '../../contracts/drops.ts';
import type { Intake } from '../../contracts/source.ts';
import type { Clock } from '../../clock.ts';
import type { FolderSourceConfig } from './config.ts';
import { safeError } from './safe-error.ts';
import { freeName, releaseDrop } from './release.ts';

/** What a release needs of the drop reader's dependencies. */
export interface ReleaseDeps {
  readonly intake: Intake;
  readonly ledger: DropLedger;
  readonly log: Logger;
  readonly clock: Clock;
  readonly cfg: FolderSourceConfig;
  readonly paths: { readonly root: string; readonly processedDir: string; readonly rejectedDir: string };
  /** One-shot import: the folder stays where it is (nothing moved or deleted, rejected files listed only). */
  readonly keepInPlace?: boolean;
}

/** Plans the release once (in the ledger), then runs it; false when it is tried again at the next rescan. */
export async function finishRelease(d: ReleaseDeps, drop: DropRecord): Promise<boolean> {
  const { ledger, log, clock, cfg, paths } = d;
  let current = drop;
  const files = await ledger.handled(drop.id);
  const rejected = [...files.values()].filter((f) => f.outcome === 'rejected');
  if (current.state === 'reading') {
    const disposition = d.keepInPlace
      ? 'keep'
      : cfg.afterImport === 'delete'
        ? 'delete'
        : `move:${await freeName(paths.processedDir, drop.name, drop.id, drop.kind)}`;
    const rejectedTo = rejected.length ? await freeName(paths.rejectedDir, drop.name, drop.id, 'folder') : null;
    await ledger.markReleasing(drop.id, { disposition, rejectedTo });
    current = (await ledger.get(drop.id)) ?? current;
  }
  try {
    const r = await releaseDrop({
      dropId: drop.id,
      dropName: drop.name,
      dropAbs: join(paths.root, drop.name),
      kind: drop.kind,
      handled: [...files.values()]
        .filter((f) => f.outcome !== 'rejected')
        .map((f) => f.rel)
        .filter((rel) => !isArchiveEntry(rel, drop, files)),
      rejected: rejected.map((f) => ({ rel: f.rel, size: f.size, code: f.code ?? '', reason: f.reason ?? '' })),
      disposition: current.disposition ?? 'delete',
      rejectedTo: current.rejectedTo,
      nonDicom: cfg.nonDicom,
      importRoot: paths.root,
      at: clock.now(),
      reserve: (dir, bytes) => d.intake.reserveSpace(dir, bytes),
    });
    await ledger.markReleased(drop.id, clock.now());
    log.info(
      {
        dropId: drop.id,
        spooled: current.filesSpooled,
        rejected: current.filesRejected,
        ignored: current.filesIgnored,
        ...r,
        afterImport: cfg.afterImport,
      },
      'Drop released: every instance is in the spool.',
    );
    log.debug(
      { dropId: drop.id, drop: drop.name, disposition: current.disposition, rejectedTo: current.rejectedTo },
      'Drop release destinations.',
    );
    return true;
  } catch (err) {
    log.debug({ err, dropId: drop.id }, 'Release error in full.');
    if (err instanceof DaemonError && err.code === ErrorCode.SPOOL_FULL) {
      log.warn(
        { dropId: drop.id, code: err.code, reason: err.message },
        'Releasing a drop waits for free space; its instances are safe in the spool.',
      );
    } else {
      log.error(
        { err: safeError(err), dropId: drop.id, code: ErrorCode.FOLDER_RELEASE },
        'Releasing a drop failed; its instances are safe in the spool, the release is retried at the next rescan.',
      );
    }
    return false;
  }
}

/** True for `a.zip/x/y.dcm` when `a.zip` is a file of the drop: entries exist only inside the archive. */
function isArchiveEntry(rel: string, drop: DropRecord, files: ReadonlyMap<string, DropFileRecord>): boolean {
  const i = rel.search(/\.zip\//i);
  if (i < 0) {
    return false;
  }
  const archive = rel.slice(0, i + 4);
  return files.has(archive) || (drop.kind === 'file' && archive === drop.name);
}
