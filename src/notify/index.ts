//! Notifications: events that need a person, sent to webhooks and e-mail (docs/console.md#notifications).
import type { Logger } from '../log.ts';
import type { NotifyConfig } from './config.ts';
import { createDetector, type DetectorDeps } from './detect.ts';
import { createDispatcher } from './dispatch.ts';
import type { Notice } from './notice.ts';
import { createSmtpChannel } from './smtp.ts';
import { createWebhookChannel, type Channel } from './webhook.ts';

export interface Notifier {
  start(): void;
  /** Stops checking, then waits for messages being sent (each is bounded by its timeouts and retries). */
  stop(): Promise<void>;
  /** The newest notices (at most 50), newest first, whether or not a channel wanted them. */
  recent(): readonly Notice[];
  /** Resolves when nothing is being sent (tests). */
  idle(): Promise<void>;
  /** Runs the periodic checks now (tests). */
  check(): void;
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
  const check = (): void => {
    detector.check();
    dispatcher.tick();
  };
  const loop = (): void => {
    timer = clock.setTimeout(() => {
      check();
      loop();
    }, cfg.checkIntervalMs);
  };
  return {
    start() {
      detector.start();
      loop();
    },
    async stop() {
      timer?.cancel();
      detector.stop();
      await dispatcher.idle();
    },
    recent: () => recent,
    idle: () => dispatcher.idle(),
    check,
  };
}
