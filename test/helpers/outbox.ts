//! What the folder sink delivered: series folders (however they are filed) and their instance files.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Series folders under `<dataDir>/outbox` (or `root`) with their .dcm files. De-identified series
 * are filed as project/subject/session/series with new UIDs, so tests find them by content shape.
 */
export function outboxSeries(root: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of readdirSync(root, { recursive: true }) as string[]) {
    if (!f.endsWith('.dcm')) {
      continue;
    }
    const dir = dirname(f);
    const list = out.get(dir) ?? [];
    list.push(join(root, f));
    out.set(dir, list);
  }
  return out;
}

/** Instance counts of the delivered series, largest first. */
export function outboxCounts(root: string): number[] {
  return [...outboxSeries(root).values()].map((l) => l.length).sort((a, b) => b - a);
}
