//! Notifications: events that need a person, sent to webhooks and e-mail (docs/console.md#notifications).
import type { Logger } from '../log.ts';
import type { NotifyConfig } from './config.ts';
import { createDetector, type DetectorDeps } from './detect.ts';
import { createDispatcher } from './dispatch.ts';
import type { Notice } from './notice.ts';
import { createSmtpChannel } from './smtp.ts';
import { createWebhookChannel, type Channel } from './webhook.ts';

export interface Notifier {
  /** Subscribes to the events, reads the import drops finished before start-up, then checks on a timer. */
  start(): Promise<void>;
  /** Stops checking, then waits for messages being sent (each is bounded by its timeouts and retries). */
  stop(): Promise<void>;
  /** The newest notices (at most 50), newest first, whether or not a channel wanted them. */
  recent(): readonly Notice[];
  /** Resolves when no check is under way and nothing is being sent (tests). */
  idle(): Promise<void>;
  /** Runs the periodic checks now (tests). */
  check(): Promise<void>;
}

const RECENT = 50;

export function createNotifier(
  cfg: NotifyConfig,
  deps: Omit<DetectorDeps, 'emit' | 'circuitOpenMs'> & { log: Logger; consoleUrl: () => string },
): Notifier {
  const { clock, log } = deps;
  const channels: Channel[] = cfg.channels.map((c) =>
    c.type === 'webhook' ? createWebhookChannel(c, clock) : createSmtpChannel(c, clock),
  );
  const dispatcher = createDispatcher({
    channels,
    clock,
    log,
    consoleUrl: deps.consoleUrl,
    dedupeMs: cfg.dedupeMs,
    maxPerHour: cfg.maxPerHour,
  });
  const recent: Notice[] = [];
  const detector = createDetector({
    ...deps,
    circuitOpenMs: cfg.circuitOpenMs,
    emit: (n) => {
      recent.unshift(n);
      recent.length = Math.min(recent.length, RECENT);
      log.warn({ kind: n.kind, state: n.state, subject: n.subject, title: n.title }, 'A problem needs a person.');
      dispatcher.publish(n);
    },
  });
  let timer: { cancel(): void } | null = null;
  /** The checks the timer started, made one after the other as they fell due (stop and idle wait for them). */
  let checking: Promise<void> = Promise.resolve();
  const check = async (): Promise<void> => {
    await detector.check();
    dispatcher.tick();
  };
  const loop = (): void => {
    timer = clock.setTimeout(() => {
      // A check whose reads failed (the database, the disk) is made again at the next one.
      checking = checking.then(check).catch((err: unknown) => {
        log.error({ err }, 'Checking for problems to notify failed; trying again at the next check.');
      });
      loop();
    }, cfg.checkIntervalMs);
  };
  return {
    async start() {
      await detector.start();
      loop();
    },
    async stop() {
      timer?.cancel();
      await checking;
      detector.stop();
      await dispatcher.idle();
    },
    recent: () => recent,
    // A check under way may be about to send.
    idle: async () => {
      await checking;
      await dispatcher.idle();
    },
    check,
  };
}
