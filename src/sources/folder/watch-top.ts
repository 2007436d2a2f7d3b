//! The watcher of the import folder's top level: its events are hints that bring a rescan forward.
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../../log.ts';
import { safeError } from './safe-error.ts';

/**
 * Watches the top of the import folder only. Polling stats every watched entry each interval, so
 * it watches the top level only (a flat 40,000-file drop must not be polled file by file); inotify
 * watches are one per folder, so with events one level down is watched too.
 */
export function watchTop(
  root: string,
  mode: 'events' | 'poll',
  pollIntervalMs: number,
  onHint: () => void,
  log: Logger,
): FSWatcher {
  const watcher = watch(root, {
    depth: mode === 'poll' ? 0 : 1,
    ignoreInitial: true,
    persistent: true,
    ...(mode === 'poll' ? { backend: 'polling' as const, pollingInterval: pollIntervalMs } : {}),
  });
  watcher.on('all', onHint);
  watcher.on('error', (err) => {
    log.warn({ err: safeError(err) }, 'The import folder watcher reported an error; rescans continue.');
  });
  return watcher;
}
