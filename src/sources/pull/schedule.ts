//! A PACS's weekly availability: which window (with its limits) is open at a given instant, and when that next changes.
// Windows are wall-clock times in the schedule's time zone, so "20:00–06:00 on weeknights" means
// that across daylight-saving changes too. Instants are epoch ms from the injected Clock; the
// wall time is read with Intl, and a wall time is turned back into an instant with the zone's
// offset (a time skipped by a DST change maps to the first instant after the gap).
import { WEEKDAYS, type ScheduleConfig, type WindowConfig } from './config.ts';

export interface OpenWindow {
  /** Index of the window in the schedule (first match wins where windows overlap). */
  readonly index: number;
  readonly maxAssociations: number;
  readonly maxStudiesInFlight: number;
  readonly utilisationPercent: number;
}

export interface Schedule {
  /** The window open at `at`, or null when the PACS may not be used. */
  windowAt(at: number): OpenWindow | null;
  /** The next instant after `at` at which the open window changes (opens, closes, or another takes over); null: never. */
  nextChange(at: number): number | null;
}

interface Window {
  readonly days: ReadonlySet<number>;
  readonly from: number;
  readonly to: number;
  readonly limits: OpenWindow;
}

const MINUTE = 60_000;
const DAY = 1440 * MINUTE;

const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

interface Wall {
  /** 0 = Monday … 6 = Sunday. */
  readonly weekday: number;
  /** Minutes since local midnight. */
  readonly minute: number;
  /** The wall time written as if it were UTC, in ms (for offset arithmetic). */
  readonly wallMs: number;
}

function createWallClock(timeZone: string | null): (at: number) => Wall {
  const fmt = new Intl.DateTimeFormat('en-GB', {
    ...(timeZone === null ? {} : { timeZone }),
    hourCycle: 'h23',
    weekday: 'short',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  return (at) => {
    const p: Record<string, string> = {};
    for (const part of fmt.formatToParts(at)) {
      p[part.type] = part.value;
    }
    const weekday = WEEKDAYS.indexOf((p.weekday ?? 'Mon').toLowerCase().slice(0, 3) as (typeof WEEKDAYS)[number]);
    const [y, mo, d, h, mi, s] = [p.year, p.month, p.day, p.hour, p.minute, p.second].map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const wallMs = Date.UTC(y, mo - 1, d, h, mi, s) + (((at % 1000) + 1000) % 1000);
    return { weekday, minute: h * 60 + mi, wallMs };
  };
}

export function createSchedule(cfg: ScheduleConfig): Schedule {
  const wall = createWallClock(cfg.timeZone);
  const windows: Window[] = cfg.windows.map((w: WindowConfig, index) => ({
    days: new Set(w.days.map((d) => WEEKDAYS.indexOf(d))),
    from: minutesOf(w.from),
    to: minutesOf(w.to),
    limits: {
      index,
      maxAssociations: w.maxAssociations,
      maxStudiesInFlight: w.maxStudiesInFlight,
      utilisationPercent: w.utilisationPercent,
    },
  }));

  function openAt(w: Window, weekday: number, minute: number): boolean {
    if (w.to > w.from) {
      return w.days.has(weekday) && minute >= w.from && minute < w.to;
    }
    // Past midnight (to ≤ from; equal means 24 hours from `from`): the evening part, or the morning after.
    return (w.days.has(weekday) && minute >= w.from) || (w.days.has((weekday + 6) % 7) && minute < w.to);
  }

  function windowAt(at: number): OpenWindow | null {
    const { weekday, minute } = wall(at);
    return windows.find((w) => openAt(w, weekday, minute))?.limits ?? null;
  }

  /** The instant whose wall time is `wallMs` (two passes settle the offset on either side of a change). */
  function instantOf(wallMs: number): number {
    const offset = (at: number): number => wall(at).wallMs - at;
    const guess = wallMs - offset(wallMs);
    return wallMs - offset(guess);
  }

  return {
    windowAt,
    nextChange(at) {
      const now = windowAt(at)?.index ?? -1;
      const w = wall(at);
      const midnight = w.wallMs - w.minute * MINUTE - (w.wallMs % MINUTE);
      const candidates: number[] = [];
      for (let day = 0; day <= 8; day++) {
        for (const win of windows) {
          for (const boundary of [win.from, win.to]) {
            const t = instantOf(midnight + day * DAY + boundary * MINUTE);
            if (t > at) {
              candidates.push(t);
            }
          }
        }
      }
      candidates.sort((a, b) => a - b);
      for (const t of candidates) {
        if ((windowAt(t)?.index ?? -1) !== now) {
          return t;
        }
      }
      return null;
    },
  };
}
