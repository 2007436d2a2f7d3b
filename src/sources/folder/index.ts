//! The `folder` source: a watched import folder where staff drop folders (or files) of DICOM.
// chokidar events are hints only (no watcher sees writes made by other machines on SMB/NFS, and
// inotify queues overflow); the source of truth is our own periodic rescan and stability check
// (reference/libs.md §3). chokidar watches only the top of the import folder (depth 1, or 0 when
// polling), never the whole tree, so a 40,000-file drop costs no watcher memory.
import type { FSWatcher } from 'chokidar';
import { mkdir, readdir, realpath } from 'node:fs/promises';
import type { ComponentContext } from '../../contracts/component.ts';
import type { DropLedger } from '../../contracts/drops.ts';
import type { Intake, Source } from '../../contracts/source.ts';
import type { FolderSourceConfig } from './config.ts';
import { safeError } from './safe-error.ts';
import { createDropReader, type Attempts, type DropPaths, type DropProgress } from './drop-reader.ts';
import { isNetworkFileSystem } from './fs-type.ts';
import { isOsClutter, nameMatcher } from './names.ts';
import { scanDrop } from './scan.ts';
import { createSettler, type Waiting } from './settle.ts';
import { watchTop } from './watch-top.ts';

/** Drops read at the same time. */
const MAX_PARALLEL_DROPS = 2;

export interface FolderStatus {
  readonly root: string;
  readonly mode: 'events' | 'poll';
  readonly lastScanAt: number | null;
  readonly waiting: readonly Omit<Waiting, 'name'>[];
  readonly reading: readonly DropProgress[];
  /** Drops whose release failed and is being retried. */
  readonly releasing: readonly number[];
}

export interface FolderSource extends Source {
  status(): FolderStatus;
  /** Runs a rescan now (tests, and the one-shot import command). Resolves when it and any reads it started are done. */
  rescan(): Promise<void>;
}

export interface FolderDeps extends ComponentContext {
  readonly ledger: DropLedger;
  readonly paths: DropPaths;
  /** log.fileNames: name rejected files in the log (off: drops are often named after patients). */
  readonly logFileNames?: boolean;
}

export function create(cfg: FolderSourceConfig, deps: FolderDeps): FolderSource {
  const { log, clock, ledger, paths } = deps;
  const settler = createSettler(cfg.stableMs);
  const isInProgress = nameMatcher(cfg.inProgressPatterns);
  const attempts = new Map<string, Attempts>();
  const progress = new Map<string, DropProgress>();
  const waiting = new Map<string, Waiting>();
  const releasing = new Set<number>();
  /** Top-level names Node decoded with U+FFFD: they cannot be opened until renamed. */
  const undecodable = new Set<string>();
  let realRoot = paths.root;
  let mode: 'events' | 'poll' = cfg.mode === 'poll' ? 'poll' : 'events';
  let watcher: FSWatcher | null = null;
  let timer: NodeJS.Timeout | null = null;
  let hint: NodeJS.Timeout | null = null;
  let stopping = false;
  let scanning: Promise<void> | null = null;
  let lastScanAt: number | null = null;
  const reads = new Map<string, Promise<void>>();
  let reader: ReturnType<typeof createDropReader> | null = null;
  // Stops a zip being unpacked at once on shutdown (it is unpacked again after the restart; the
  // entries already spooled are not read twice).
  const stopSignal = new AbortController();

  async function readDrop(
    name: string,
    kind: 'folder' | 'file',
    run: () => Promise<'released' | 'wait' | 'again'>,
  ): Promise<void> {
    try {
      const outcome = await run();
      if (outcome === 'released') {
        settler.forget(name);
        attempts.delete(name);
      } else if (outcome === 'wait') {
        settler.restart(name, clock.now());
      }
    } catch (err) {
      log.debug({ err }, 'Drop read error in full.');
      log.error({ err: safeError(err), kind }, 'Reading a drop failed; it is tried again at the next rescan.');
    } finally {
      progress.delete(name);
      reads.delete(name);
      kick(); // a drop queued behind this one may start now
    }
  }

  /** Brings the next rescan forward (a watcher hint, or a read slot freed). */
  function kick(): void {
    if (hint || stopping) {
      return;
    }
    hint = setTimeout(() => {
      hint = null;
      void scanSoon();
    }, 250);
  }

  /** The scan in progress, or a new one; never rejects (a failed scan is logged and retried later). */
  function scanSoon(): Promise<void> {
    scanning ??= scanOnce()
      .catch((err: unknown) => {
        log.error({ err: safeError(err) }, 'Rescan failed.');
      })
      .finally(() => {
        scanning = null;
      });
    return scanning;
  }

  async function scanOnce(): Promise<void> {
    if (!reader) {
      return;
    }
    const r = reader;
    let entries;
    try {
      entries = await readdir(paths.root, { withFileTypes: true });
    } catch (err) {
      log.error(
        { err: safeError(err) },
        'The import folder cannot be listed (share unmounted?); retrying at the next rescan.',
      );
      return;
    }
    const now = clock.now();
    lastScanAt = now;
    const unreleased = await ledger.unreleased(paths.root);
    for (const drop of unreleased) {
      if (reads.has(drop.name) || drop.state !== 'releasing') {
        continue;
      }
      releasing.add(drop.id);
      const p = readDrop(drop.name, drop.kind, async () =>
        (await r.finishRelease(drop)) ? (releasing.delete(drop.id), 'released' as const) : ('again' as const),
      );
      reads.set(drop.name, p);
    }
    const listed = new Set(entries.map((e) => e.name));
    for (const e of entries) {
      if (stopping) {
        return;
      }
      if (isOsClutter(e.name, e.isDirectory())) {
        continue;
      }
      if (reads.has(e.name)) {
        continue;
      }
      const kind = e.isDirectory() ? 'folder' : 'file';
      let scan;
      try {
        scan = await scanDrop(paths.root, e.name, { realRoot, isInProgress, marker: cfg.readyMarker });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && e.name.includes('\uFFFD')) {
          // Node cannot name it (not valid UTF-8): say so where the operator looks, once in the log.
          if (!undecodable.has(e.name)) {
            log.warn({ kind }, "A drop's name is not valid UTF-8; it is not read until it is renamed.");
          }
          undecodable.add(e.name);
          waiting.set(e.name, {
            name: e.name,
            kind,
            firstSeenAt: now,
            lastChangeAt: now,
            scans: 1,
            files: 0,
            bytes: 0,
            waitingFor:
              'its name is not valid UTF-8 (written by a Latin-1 or old Windows system): rename it and it is read',
          });
        } else if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          log.warn({ err: safeError(err) }, 'A drop could not be scanned; retrying at the next rescan.');
        }
        continue;
      }
      const verdict = settler.observe(e.name, kind, scan, now);
      waiting.set(e.name, verdict.waiting);
      if (!verdict.ready) {
        continue;
      }
      // A few drops at a time (each reads `concurrency` files in parallel): fifty folders dropped
      // at once must not mean two hundred files open on a share.
      if (reads.size >= MAX_PARALLEL_DROPS) {
        waiting.set(e.name, { ...verdict.waiting, waitingFor: 'stable; queued behind other drops being read' });
        continue;
      }
      waiting.delete(e.name);
      const a = attempts.get(e.name) ?? new Map<string, number>();
      attempts.set(e.name, a);
      reads.set(
        e.name,
        readDrop(e.name, kind, () => r.read(e.name, kind, scan, a, (p) => progress.set(e.name, p))),
      );
    }
    for (const drop of unreleased) {
      if (drop.state === 'reading' && !listed.has(drop.name) && !reads.has(drop.name)) {
        await r.abandon(drop);
      }
    }
    for (const name of undecodable) {
      if (!listed.has(name)) {
        undecodable.delete(name);
        waiting.delete(name);
      }
    }
    for (const name of settler.names()) {
      if (!listed.has(name) && !reads.has(name)) {
        settler.forget(name);
        waiting.delete(name);
        attempts.delete(name);
      }
    }
  }

  async function rescan(): Promise<void> {
    await scanSoon();
    await Promise.all(reads.values());
  }

  function schedule(): void {
    if (stopping) {
      return;
    }
    const every = mode === 'poll' ? cfg.pollIntervalMs : cfg.rescanIntervalMs;
    timer = setTimeout(() => {
      void scanSoon().then(schedule);
    }, every);
  }

  return {
    type: 'folder',
    id: 'folder',
    // A folder is read when it can be; nothing is refused while it cannot, so it never gates /readyz.
    ready: () => ({ ready: true }),
    describe: () => ({ path: paths.root, mode, stableMs: cfg.stableMs, readyMarker: cfg.readyMarker }),
    async start(intake: Intake) {
      await mkdir(paths.root, { recursive: true, mode: 0o750 });
      realRoot = await realpath(paths.root);
      if (cfg.mode === 'auto') {
        mode = (await isNetworkFileSystem(paths.root)) ? 'poll' : 'events';
      }
      reader = createDropReader({
        intake,
        ledger,
        log,
        clock,
        cfg,
        paths,
        stopping: () => stopping,
        signal: stopSignal.signal,
        events: deps.events,
        logFileNames: deps.logFileNames === true,
      });
      // A hint from the watcher brings the next rescan forward.
      watcher = watchTop(paths.root, mode, cfg.pollIntervalMs, kick, log);
      log.info(
        { root: paths.root, mode, stableMs: cfg.stableMs, afterImport: cfg.afterImport, nonDicom: cfg.nonDicom },
        'Watching the import folder.',
      );
      // The first scan only starts the stability clocks; reads it may start run in the background.
      await scanSoon();
      schedule();
    },
    async stop() {
      stopping = true;
      stopSignal.abort(new Error('The import folder is stopping.'));
      clearTimeout(timer ?? undefined);
      clearTimeout(hint ?? undefined);
      await watcher?.close();
      await scanning;
      await Promise.all(reads.values());
    },
    rescan,
    status: () => ({
      root: paths.root,
      mode,
      lastScanAt,
      // Drop names are left out: staff choose them and they may name a patient.
      waiting: [...waiting.values()].map((w) => ({
        kind: w.kind,
        firstSeenAt: w.firstSeenAt,
        lastChangeAt: w.lastChangeAt,
        scans: w.scans,
        files: w.files,
        bytes: w.bytes,
        waitingFor: w.waitingFor,
      })),
      reading: [...progress.values()],
      releasing: [...releasing],
    }),
  };
}
