//! The rules in force: loaded at start-up, re-read when protocol.txt or the rules file changes.
// A bad edit never takes effect: the previous rules stay in force and /status says why. An
// unchanged content hash is not a reload, so the duplicate events that watchers deliver cost one
// read of two small files and nothing else.
import { readFileSync, unwatchFile, watch, watchFile, type FSWatcher, type Stats } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { ComponentContext } from '../../contracts/component.ts';
import type { RouteConfig } from './config.ts';
import { buildRuleSet } from './rule-set.ts';
import { RuleFileError, type RuleInputs, type RuleSet, type RulesStatus } from './types.ts';

/** Polling interval of the fallback watcher (fs.watchFile), in ms. */
const POLL_INTERVAL_MS = 1000;

/** The current rule set and its reloading. */
export interface RuleSource {
  /** The rules in force; take it once per series so one series is decided by one rule set. */
  current(): RuleSet;
  status(): RulesStatus;
  /** Starts watching protocolFile and rulesFile (no-op when neither is configured). */
  start(): void;
  /** Stops watching and cancels a pending reload. */
  close(): Promise<void>;
}

function readRuleFile(path: string, problems: string[]): { path: string; text: string } | null {
  try {
    return { path, text: readFileSync(path, 'utf8') };
  } catch (err) {
    problems.push(`${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return null;
  }
}

/** Reads the configured files (synchronously: they are small). Throws RuleFileError naming every unreadable file. */
export function loadRuleInputs(cfg: RouteConfig): RuleInputs {
  const problems: string[] = [];
  const protocol = cfg.protocolFile === null ? null : readRuleFile(cfg.protocolFile, problems);
  const rules = cfg.rulesFile === null ? null : readRuleFile(cfg.rulesFile, problems);
  if (problems.length > 0) {
    throw new RuleFileError(problems);
  }
  const b = cfg.builtin;
  return {
    protocol,
    rules,
    builtin: {
      burnedIn: {
        enabled: b.burnedIn.enabled,
        modalities: b.burnedIn.modalities,
        seriesDescriptions: b.burnedIn.seriesDescriptions,
      },
      missingIdentifiers: b.missingIdentifiers,
    },
  };
}

/** Problems of a failed reload, for the log and /status (never patient data: the files hold rules). */
function problemsOf(err: unknown): readonly string[] {
  if (err instanceof RuleFileError) {
    return err.problems;
  }
  return [err instanceof Error ? err.message : String(err)];
}

/**
 * Loads the rules (throws RuleFileError when they do not validate: the daemon refuses to start)
 * and returns a source that reloads them on change once started.
 */
export function createRuleSource(
  cfg: RouteConfig,
  ctx: ComponentContext,
  o: { identifying(tag: number): boolean },
): RuleSource {
  const build = (): RuleSet => buildRuleSet(loadRuleInputs(cfg), o);
  let rules = build();
  let loadedAt = ctx.clock.now();
  let lastError: RulesStatus['lastError'] = null;
  let pending: { cancel(): void } | null = null;
  let closed = false;
  const stops: (() => void)[] = [];

  function reload(): void {
    pending = null;
    if (closed) {
      return;
    }
    let next: RuleSet;
    try {
      next = build();
    } catch (err) {
      const problems = problemsOf(err);
      lastError = { at: ctx.clock.now(), problems };
      ctx.log.error(
        err instanceof RuleFileError ? { problems } : { problems, err },
        'Routing rules not reloaded; the previous rules stay in force.',
      );
      return;
    }
    if (next.hash === rules.hash) {
      // The files are valid again and say what is in force (an edit undone): nothing to swap.
      if (lastError) {
        ctx.log.info({ hash: rules.hash }, 'Routing rules files are valid again; the rules in force are unchanged.');
      }
      lastError = null;
      return;
    }
    const previousHash = rules.hash;
    rules = next;
    loadedAt = ctx.clock.now();
    lastError = null;
    ctx.log.info({ hash: next.hash, previousHash }, 'Routing rules reloaded.');
  }

  /** Editors write in several steps (truncate, write, rename): wait for a quiet period. */
  function schedule(): void {
    if (closed) {
      return;
    }
    pending?.cancel();
    pending = ctx.clock.setTimeout(reload, cfg.reloadDebounceMs);
  }

  // Two watchers per file, because neither alone is enough:
  // - fs.watch on the parent directory, filtered by name, reacts within milliseconds and survives an
  //   editor's replace-by-rename (a watch on the file itself follows the old, unlinked inode);
  // - fs.watchFile polls the path with stat() every second, which works on SMB/NFS shares where no
  //   change events arrive, and after the directory watch failed or was dropped.
  // chokidar would need to be told up front whether to poll, which we cannot know for a share, and
  // per-file stat polling of two small files costs nothing.
  function watchPath(path: string): void {
    const name = basename(path);
    try {
      const w: FSWatcher = watch(dirname(path), { persistent: false }, (_event, file) => {
        if (file === null || file === name) {
          schedule();
        }
      });
      w.on('error', (err) => {
        ctx.log.warn({ err, path }, 'Watching a routing rules folder failed; polling the file instead.');
        w.close();
      });
      stops.push(() => {
        w.close();
      });
    } catch (err) {
      ctx.log.warn({ err, path }, 'Cannot watch a routing rules folder; polling the file instead.');
    }
    const onStat = (curr: Stats, prev: Stats): void => {
      if (
        curr.mtimeMs !== prev.mtimeMs ||
        curr.size !== prev.size ||
        curr.ino !== prev.ino ||
        curr.nlink !== prev.nlink
      ) {
        schedule();
      }
    };
    watchFile(path, { persistent: false, interval: POLL_INTERVAL_MS }, onStat);
    stops.push(() => {
      unwatchFile(path, onStat);
    });
  }

  return {
    current: () => rules,
    status: () => ({ hash: rules.hash, loadedAt, files: rules.files, lastError }),
    start() {
      if (closed || stops.length > 0) {
        return;
      }
      for (const path of [cfg.protocolFile, cfg.rulesFile]) {
        if (path !== null) {
          watchPath(path);
        }
      }
    },
    close() {
      closed = true;
      pending?.cancel();
      pending = null;
      for (const stop of stops.splice(0)) {
        stop();
      }
      return Promise.resolve();
    },
  };
}
