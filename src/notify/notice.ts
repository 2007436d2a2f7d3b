//! A notice: one thing that needs a person, worded without patient data, with a link to the console.
import type { NoticeKind } from './config.ts';

export interface Notice {
  readonly kind: NoticeKind;
  /** open / recovered for a condition (a circuit, the disk, the rules); event for a one-off. */
  readonly state: 'open' | 'recovered' | 'event';
  /** What it is about, for de-duplication: e.g. `job:17`, `sink:xnat-rest`. */
  readonly subject: string;
  /** One line: ids, project names, sinks, rule ids and error codes only. */
  readonly title: string;
  /** A few more lines for the message body, under the same rule. */
  readonly text: string;
  /** Console path to look at, e.g. /console/series/42. */
  readonly path: string;
  readonly at: number;
}

/** What a channel sends: one notice, or a summary of notices held back by the rate limit. */
export interface Message {
  readonly kind: NoticeKind | 'summary';
  readonly state: Notice['state'] | 'summary';
  readonly title: string;
  readonly text: string;
  readonly link: string;
  readonly at: number;
}

export function messageOf(n: Notice, consoleUrl: string): Message {
  return { kind: n.kind, state: n.state, title: n.title, text: n.text, link: consoleUrl + n.path, at: n.at };
}

/** Notices a channel's rate limit held back: counts per kind (bounded memory) and the newest one. */
export interface Held {
  readonly counts: Map<string, number>;
  newest: Notice | null;
}

/** One message for what the rate limit held back: counts per kind, the newest, and where to look. */
export function summaryOf(held: Held, consoleUrl: string, at: number): Message {
  const total = [...held.counts.values()].reduce((a, b) => a + b, 0);
  const lines = [...held.counts].map(([k, c]) => `${String(c)} × ${k}`);
  return {
    kind: 'summary',
    state: 'summary',
    at,
    title: `${String(total)} more problem${total === 1 ? '' : 's'} while messages were rate-limited`,
    text: `${lines.join('\n')}\nThe newest: ${held.newest?.title ?? ''}`,
    link: `${consoleUrl}/console`,
  };
}
