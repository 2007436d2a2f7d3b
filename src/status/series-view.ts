//! The public view of a series list row: the row, when a receiving batch completes, and ISO times.
import type { SeriesListItem } from '../store/series-list.ts';
import { iso } from './time.ts';

/** A list row as GET /series, the console and `series ls --json` show it. */
export interface SeriesView extends SeriesListItem {
  /**
   * For a receiving batch with no open association: when its quiet period ends (epoch ms; the
   * assembler completes it at its next check). Null otherwise (an open association keeps it open).
   */
  completesAt: number | null;
  firstInstanceAtIso: string;
  lastInstanceAtIso: string;
  completedAtIso: string | null;
  deliveredAtIso: string | null;
  completesAtIso: string | null;
}

/** `quietPeriodMs` undefined (a status server built without it, in tests): completesAt stays null. */
export function seriesView(item: SeriesListItem, quietPeriodMs: number | undefined): SeriesView {
  const completesAt =
    item.state === 'receiving' && item.openAssociations === 0 && quietPeriodMs !== undefined
      ? item.lastInstanceAt + quietPeriodMs
      : null;
  return {
    ...item,
    completesAt,
    firstInstanceAtIso: iso(item.firstInstanceAt) ?? '',
    lastInstanceAtIso: iso(item.lastInstanceAt) ?? '',
    completedAtIso: iso(item.completedAt),
    deliveredAtIso: iso(item.deliveredAt),
    completesAtIso: iso(completesAt),
  };
}
