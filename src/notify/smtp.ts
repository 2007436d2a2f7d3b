//! The e-mail channel: nodemailer over SMTP, STARTTLS required by default, password from a file.
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import nodemailer from 'nodemailer';
import type { Clock } from '../clock.ts';
import type { SmtpChannelConfig } from './config.ts';
import type { Message } from './notice.ts';
import { SendError, withRetries } from './retry.ts';
import type { Channel } from './webhook.ts';

/** Subject and plain-text body of a message. */
export function mailOf(m: Message): { subject: string; text: string } {
  return {
    subject: `[xnat-gateway] ${m.title}`,
    text: `${m.title}\n\n${m.text}\n\n${m.link}\n\n-- \nxnat-gateway on ${hostname()}, ${new Date(m.at).toISOString()}\n`,
  };
}

/** Permanent: refused credentials, a 5xx reply (bad address, refused sender); the rest may pass later. */
function retryable(err: unknown): boolean {
  const e = err as { code?: string; responseCode?: number };
  if (e.code === 'EAUTH' || e.code === 'EENVELOPE') {
    return false;
  }
  return e.responseCode === undefined || e.responseCode < 500;
}

export function createSmtpChannel(cfg: SmtpChannelConfig, clock: Clock): Channel {
  const attempt = async (m: Message): Promise<void> => {
    // Read at every send: a rotated password or CA takes effect without a restart.
    const pass = cfg.passwordFile === null ? null : (await readFile(cfg.passwordFile, 'utf8')).replace(/\r?\n$/, '');
    const ca = cfg.caFile === null ? undefined : await readFile(cfg.caFile);
    const transport = nodemailer.createTransport({
      host: cfg.host,
      port: cfg.port,
      secure: cfg.security === 'tls',
      requireTLS: cfg.security === 'starttls',
      ignoreTLS: cfg.security === 'none',
      ...(cfg.user !== null && pass !== null ? { auth: { user: cfg.user, pass } } : {}),
      ...(ca ? { tls: { ca } } : {}),
      connectionTimeout: cfg.timeoutMs,
      greetingTimeout: cfg.timeoutMs,
      socketTimeout: cfg.timeoutMs,
    });
    try {
      await transport.sendMail({ from: cfg.from, to: cfg.to, ...mailOf(m) });
    } catch (err) {
      throw new SendError(
        `SMTP to ${cfg.host}:${String(cfg.port)} failed: ${err instanceof Error ? err.message : String(err)}`,
        retryable(err),
        err,
      );
    } finally {
      transport.close();
    }
  };
  return {
    id: `smtp:${cfg.host}`,
    events: new Set(cfg.events),
    send: (m) => withRetries(clock, cfg, () => attempt(m)),
  };
}
