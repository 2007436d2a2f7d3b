//! The webhook channel: one JSON POST per message, retried on network errors, 5xx and 429.
// The body works with Slack and Teams incoming webhooks (they show `text`) and gives generic
// receivers the structured fields. Webhook URLs often embed a secret: only the host is logged.
import type { Clock } from '../clock.ts';
import type { WebhookChannelConfig } from './config.ts';
import type { Message } from './notice.ts';
import { SendError, withRetries } from './retry.ts';

export interface Channel {
  /** For logs: `webhook:<host>` or `smtp:<host>`. */
  readonly id: string;
  readonly events: ReadonlySet<string>;
  /** Sends with retries; resolves with the attempts made, rejects when it gave up. */
  send(m: Message): Promise<number>;
}

/** The JSON a webhook receives. */
export function webhookBody(m: Message): Record<string, unknown> {
  return {
    text: `[xnat-gateway] ${m.title}\n${m.text}\n${m.link}`,
    source: 'xnat-gateway',
    kind: m.kind,
    state: m.state,
    title: m.title,
    detail: m.text,
    link: m.link,
    at: new Date(m.at).toISOString(),
    atMs: m.at,
  };
}

export function createWebhookChannel(cfg: WebhookChannelConfig, clock: Clock): Channel {
  const host = new URL(cfg.url).host;
  const attempt = async (body: string): Promise<void> => {
    let res: Response;
    try {
      res = await fetch(cfg.url, {
        method: 'POST',
        body,
        redirect: 'error',
        signal: AbortSignal.timeout(cfg.timeoutMs),
        headers: { 'content-type': 'application/json', 'user-agent': 'xnat-gateway' },
      });
    } catch (err) {
      throw new SendError(`POST to ${host} failed: ${err instanceof Error ? err.message : String(err)}`, true, err);
    }
    await res.body?.cancel();
    if (res.ok) {
      return;
    }
    throw new SendError(`POST to ${host} answered HTTP ${String(res.status)}`, res.status >= 500 || res.status === 429);
  };
  return {
    id: `webhook:${host}`,
    events: new Set(cfg.events),
    send: (m) => {
      const body = JSON.stringify(webhookBody(m));
      return withRetries(clock, cfg, () => attempt(body));
    },
  };
}
