//! Sends notices to the channels that want them: de-duplicated, rate-limited, failures logged.
// Each channel has a token bucket of maxPerHour messages; a notice finding it empty is counted
// into a summary, sent as one message when a token is back. So a storm (a rule quarantining every
// series of a weekend) costs a handful of messages, and nothing that happened goes unmentioned.
import type { Clock } from '../clock.ts';
import { ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import { messageOf, summaryOf, type Held, type Message, type Notice } from './notice.ts';
import type { Channel } from './webhook.ts';

export interface Dispatcher {
  publish(n: Notice): void;
  /** Sends summaries of held notices where the budget allows again (called on the check timer). */
  tick(): void;
  /** Resolves when no message is being sent (tests; shutdown). */
  idle(): Promise<void>;
}

const HOUR_MS = 3_600_000;

interface ChannelState {
  readonly channel: Channel;
  tokens: number;
  refilledAt: number;
  readonly lastSent: Map<string, number>;
  held: Held;
}

export function createDispatcher(o: {
  channels: readonly Channel[];
  clock: Clock;
  log: Logger;
  consoleUrl: () => string;
  dedupeMs: number;
  maxPerHour: number;
}): Dispatcher {
  const { clock, log } = o;
  const states: ChannelState[] = o.channels.map((channel) => ({
    channel,
    tokens: o.maxPerHour,
    refilledAt: clock.now(),
    lastSent: new Map(),
    held: { counts: new Map(), newest: null },
  }));
  const inFlight = new Set<Promise<void>>();

  const take = (s: ChannelState): boolean => {
    const now = clock.now();
    s.tokens = Math.min(o.maxPerHour, s.tokens + ((now - s.refilledAt) * o.maxPerHour) / HOUR_MS);
    s.refilledAt = now;
    if (s.tokens < 1) {
      return false;
    }
    s.tokens -= 1;
    return true;
  };
  const send = (s: ChannelState, m: Message): void => {
    const p = s.channel
      .send(m)
      .then(
        (attempts) => {
          log.info({ channel: s.channel.id, kind: m.kind, state: m.state, attempts }, 'Notification sent.');
        },
        (err: unknown) => {
          const code = s.channel.id.startsWith('smtp') ? ErrorCode.NOTIFY_SMTP : ErrorCode.NOTIFY_WEBHOOK;
          log.error(
            { channel: s.channel.id, kind: m.kind, code, err },
            'Notification could not be sent; it is dropped.',
          );
        },
      )
      .finally(() => {
        inFlight.delete(p);
      });
    inFlight.add(p);
  };

  return {
    publish(n) {
      const now = clock.now();
      for (const s of states) {
        if (!s.channel.events.has(n.kind)) {
          continue;
        }
        const key = `${n.kind}|${n.subject}|${n.state}`;
        const last = s.lastSent.get(key);
        if (last !== undefined && now - last < o.dedupeMs) {
          continue;
        }
        s.lastSent.set(key, now);
        // Forget keys older than the window so the map stays as small as the traffic of an hour.
        if (s.lastSent.size > 10_000) {
          for (const [k, at] of s.lastSent) {
            if (now - at >= o.dedupeMs) {
              s.lastSent.delete(k);
            }
          }
        }
        if (take(s)) {
          send(s, messageOf(n, o.consoleUrl()));
        } else {
          s.held.counts.set(n.kind, (s.held.counts.get(n.kind) ?? 0) + 1);
          s.held.newest = n;
        }
      }
    },
    tick() {
      for (const s of states) {
        if (s.held.counts.size === 0 || !take(s)) {
          continue;
        }
        send(s, summaryOf(s.held, o.consoleUrl(), clock.now()));
        s.held = { counts: new Map(), newest: null };
      }
    },
    async idle() {
      while (inFlight.size) {
        await Promise.allSettled([...inFlight]);
      }
    },
  };
}
