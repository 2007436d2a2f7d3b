// Notifications against real receivers started here: a node:http webhook receiver (which can fail)
// and an smtp-server SMTP server with STARTTLS (certificate made by openssl) and a login. Time that
// matters (a 10-minute outage) runs on the fake clock; the network is real.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../../src/clock.ts';
import { createEvents, type DaemonEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import { notifyConfig } from '../../../src/notify/config.ts';
import { createNotifier, type Notifier } from '../../../src/notify/index.ts';
import { createFakeClock } from '../../helpers/fake-clock.ts';
import { describeWithPeers, run } from '../../helpers/peers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'xg-notify-'));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

interface Received {
  body: Record<string, unknown>;
}
/** A webhook receiver answering each POST with the next status of `statuses` (then 200). */
async function webhookReceiver(
  statuses: number[] = [],
): Promise<{ url: string; got: Received[]; attempts: () => number; close: () => Promise<void> }> {
  const got: Received[] = [];
  let attempts = 0;
  const server: Server = createServer((req, res) => {
    let data = '';
    req
      .setEncoding('utf8')
      .on('data', (c: string) => (data += c))
      .on('end', () => {
        attempts++;
        const status = statuses.shift() ?? 200;
        if (status === 200) {
          got.push({ body: JSON.parse(data) as Record<string, unknown> });
        }
        res.writeHead(status).end();
      });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}/hook/secret-part`,
    got,
    attempts: () => attempts,
    close: () =>
      new Promise((r) => {
        server.close(() => {
          r();
        });
      }),
  };
}

interface Mail {
  from: string;
  to: string[];
  raw: string;
  secure: boolean;
  user: string | undefined;
}
/** An SMTP server offering STARTTLS with the test certificate and accepting user gateway / `password`. */
async function smtpReceiver(
  key: Buffer,
  cert: Buffer,
  password: string,
): Promise<{ port: number; mails: Mail[]; authFailures: () => number; close: () => Promise<void> }> {
  const mails: Mail[] = [];
  let authFailures = 0;
  const server = new SMTPServer({
    key,
    cert,
    authMethods: ['PLAIN', 'LOGIN'],
    disabledCommands: [],
    logger: false,
    onAuth(auth, session, cb) {
      if (!session.secure) {
        cb(new Error('Log in only over TLS'));
      } else if (auth.username === 'gateway' && auth.password === password) {
        cb(null, { user: 'gateway' });
      } else {
        authFailures++;
        cb(new Error('Invalid username or password'));
      }
    },
    onData(stream, session, cb) {
      let raw = '';
      stream
        .setEncoding('utf8')
        .on('data', (c: string) => (raw += c))
        .on('end', () => {
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw,
            secure: session.secure,
            user: session.user as string | undefined,
          });
          cb();
        });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    mails,
    authFailures: () => authFailures,
    close: () =>
      new Promise((r) => {
        server.close(() => {
          r();
        });
      }),
  };
}

describeWithPeers(['openssl'], 'notification channels against real receivers', () => {
  let key: Buffer;
  let cert: Buffer;
  const passwordFile = join(scratch, 'smtp-password');
  const caFile = join(scratch, 'cert.pem');
  let notifier: Notifier | null = null;
  let logs: Record<string, unknown>[] = [];
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    // A self-signed certificate for 127.0.0.1, trusted by the channel through caFile.
    const r = await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(scratch, 'key.pem'),
      '-out',
      caFile,
    ]);
    expect(r.code, r.stderr).toBe(0);
    key = readFileSync(join(scratch, 'key.pem'));
    cert = readFileSync(caFile);
    writeFileSync(passwordFile, 'smtp-pass-123\n');
    chmodSync(passwordFile, 0o600);
  });
  afterEach(async () => {
    await notifier?.stop();
    notifier = null;
    logs = [];
    for (const c of closers.splice(0)) {
      await c();
    }
  });

  const start = async (
    raw: Record<string, unknown>,
    clock: Clock,
    events: DaemonEvents,
    disk = { freeBytes: 9e9, minFreeBytes: 1e9 },
  ): Promise<Notifier> => {
    const sink = new Writable({
      write(chunk: Buffer, _e, done) {
        for (const l of chunk.toString().split('\n')) {
          if (l) {
            logs.push(JSON.parse(l) as Record<string, unknown>);
          }
        }
        done();
      },
    });
    const n = createNotifier(notifyConfig.parse(raw), {
      events,
      clock,
      log: createLogger('info', sink),
      consoleUrl: () => 'https://gateway.example.org',
      disk: () => Promise.resolve(disk),
      rulesError: () => null,
      drops: () => Promise.resolve(null),
    });
    notifier = n;
    await n.start();
    return n;
  };
  const smtp = (port: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    type: 'smtp',
    host: '127.0.0.1',
    port,
    user: 'gateway',
    passwordFile,
    caFile,
    from: 'gateway@hospital.example',
    to: ['pacs-team@hospital.example'],
    retryDelayMs: 20,
    ...extra,
  });

  it('a 10-minute outage on the fake clock gives one "open" and one "recovered" message on each channel', async () => {
    const hook = await webhookReceiver();
    const mail = await smtpReceiver(key, cert, 'smtp-pass-123');
    closers.push(hook.close, mail.close);
    const clock = createFakeClock();
    const events = createEvents();
    const n = await start(
      {
        circuitOpenMs: 5 * 60_000,
        checkIntervalMs: 10_000,
        channels: [{ type: 'webhook', url: hook.url }, smtp(mail.port)],
      },
      clock,
      events,
    );
    const t0 = clock.now();
    events.emit('sink.circuit', {
      sink: 'xnat-rest',
      state: 'open',
      code: 'ERR_XNAT_UNAVAILABLE',
      error: 'connect ECONNREFUSED',
    });
    // The breaker probes every 30 s (half-open, then open again) through the whole outage.
    for (let t = 0; t < 10 * 60_000; t += 30_000) {
      clock.advance(15_000);
      events.emit('sink.circuit', { sink: 'xnat-rest', state: 'half-open', code: null, error: null });
      clock.advance(15_000);
      events.emit('sink.circuit', {
        sink: 'xnat-rest',
        state: 'open',
        code: 'ERR_XNAT_UNAVAILABLE',
        error: 'connect ECONNREFUSED',
      });
      await n.idle();
    }
    expect(clock.now() - t0).toBe(10 * 60_000);
    events.emit('sink.circuit', { sink: 'xnat-rest', state: 'closed', code: null, error: null });
    clock.advance(60_000);
    await n.idle();
    expect(hook.got.map((g) => [g.body.kind, g.body.state])).toEqual([
      ['circuit.open', 'open'],
      ['circuit.open', 'recovered'],
    ]);
    expect(hook.got[0]?.body).toMatchObject({
      source: 'xnat-gateway',
      title: 'Sink xnat-rest has been failing for 5 min (ERR_XNAT_UNAVAILABLE)',
      link: 'https://gateway.example.org/console',
      text: expect.stringContaining('[xnat-gateway] Sink xnat-rest has been failing for 5 min') as unknown,
    });
    expect(hook.got[1]?.body.title).toBe('Sink xnat-rest recovered after 10 min; deliveries resume');
    expect(mail.mails).toHaveLength(2);
    // Long header lines are folded (RFC 5322): unfold before reading the subject.
    expect(mail.mails.map((m) => /^Subject: (.*?)\r?$/m.exec(m.raw.replace(/\r?\n[ \t]+/g, ' '))?.[1])).toEqual([
      '[xnat-gateway] Sink xnat-rest has been failing for 5 min (ERR_XNAT_UNAVAILABLE)',
      '[xnat-gateway] Sink xnat-rest recovered after 10 min; deliveries resume',
    ]);
    // STARTTLS was used and the login came from the password file.
    expect(mail.mails.every((m) => m.secure && m.user === 'gateway')).toBe(true);
    expect(mail.mails[0]?.to).toEqual(['pacs-team@hospital.example']);
    expect(mail.mails[0]?.raw).toContain('https://gateway.example.org/console');
  });

  it('a circuit that closes before notify.circuitOpenMs sends nothing', async () => {
    const hook = await webhookReceiver();
    closers.push(hook.close);
    const clock = createFakeClock();
    const events = createEvents();
    const n = await start(
      { circuitOpenMs: 5 * 60_000, checkIntervalMs: 10_000, channels: [{ type: 'webhook', url: hook.url }] },
      clock,
      events,
    );
    events.emit('sink.circuit', { sink: 'xnat-rest', state: 'open', code: 'ERR_XNAT_UNAVAILABLE', error: null });
    clock.advance(4 * 60_000);
    events.emit('sink.circuit', { sink: 'xnat-rest', state: 'closed', code: null, error: null });
    clock.advance(10 * 60_000);
    await n.idle();
    expect(hook.attempts()).toBe(0);
  });

  it('retries a webhook that answers 503, and gives up at once on a 404, logging ERR_NOTIFY_WEBHOOK', async () => {
    const flaky = await webhookReceiver([503, 503]);
    const gone = await webhookReceiver([404]);
    closers.push(flaky.close, gone.close);
    const events = createEvents();
    const n = await start(
      {
        channels: [
          { type: 'webhook', url: flaky.url, retryDelayMs: 20 },
          { type: 'webhook', url: gone.url, retryDelayMs: 20 },
        ],
      },
      systemClock,
      events,
    );
    events.emit('job.failed', {
      jobId: 17,
      seriesId: 42,
      sink: 'xnat-rest',
      attempt: 8,
      code: 'ERR_XNAT_CONFLICT',
      stage: 'sending',
    });
    await n.idle();
    expect(flaky.attempts()).toBe(3);
    expect(flaky.got).toHaveLength(1);
    expect(flaky.got[0]?.body).toMatchObject({
      kind: 'job.dead',
      state: 'event',
      title: 'Delivery of series 42 to xnat-rest gave up (ERR_XNAT_CONFLICT)',
      link: 'https://gateway.example.org/console/series/42',
    });
    expect(gone.attempts()).toBe(1);
    const failed = logs.filter((l) => l.code === 'ERR_NOTIFY_WEBHOOK');
    expect(failed).toHaveLength(1);
    // The URL's secret part is not logged; the channel is named by its host.
    expect(JSON.stringify(logs)).not.toContain('secret-part');
    expect(logs.find((l) => l.msg === 'Notification sent.')).toMatchObject({ attempts: 3 });
  });

  it('does not retry an SMTP login the server refused, and logs ERR_NOTIFY_SMTP', async () => {
    const mail = await smtpReceiver(key, cert, 'another-password');
    closers.push(mail.close);
    const events = createEvents();
    const n = await start({ channels: [smtp(mail.port)] }, systemClock, events);
    events.emit('series.routed', {
      seriesId: 7,
      project: 'QUARANTINE',
      target: 'quarantine',
      rules: ['builtin:burned-in-annotation'],
      rulesHash: 'h',
      groupSeriesId: null,
    });
    await n.idle();
    expect(mail.mails).toHaveLength(0);
    expect(mail.authFailures()).toBe(1);
    expect(logs.filter((l) => l.code === 'ERR_NOTIFY_SMTP')).toHaveLength(1);
  });

  it('refuses to send over SMTP when the server offers no STARTTLS (security: starttls)', async () => {
    const plain = new SMTPServer({
      hideSTARTTLS: true,
      authOptional: true,
      logger: false,
      onData(stream, _s, cb) {
        stream.resume().on('end', () => {
          cb();
        });
      },
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    closers.push(
      () =>
        new Promise((r) => {
          plain.close(() => {
            r();
          });
        }),
    );
    const events = createEvents();
    const n = await start(
      { channels: [smtp((plain.server.address() as AddressInfo).port, { retries: 0 })] },
      systemClock,
      events,
    );
    events.emit('job.failed', {
      jobId: 1,
      seriesId: 1,
      sink: 'folder',
      attempt: 1,
      code: 'ERR_SINK_WRITE',
      stage: 'sending',
    });
    await n.idle();
    expect(logs.filter((l) => l.code === 'ERR_NOTIFY_SMTP')).toHaveLength(1);
  });

  it('sends a storm of quarantined series as a few messages and one summary, and never twice the same event', async () => {
    const hook = await webhookReceiver();
    closers.push(hook.close);
    const clock = createFakeClock();
    const events = createEvents();
    const n = await start(
      { maxPerHour: 3, checkIntervalMs: 60_000, channels: [{ type: 'webhook', url: hook.url }] },
      clock,
      events,
    );
    for (let id = 1; id <= 10; id++) {
      events.emit('series.routed', {
        seriesId: id,
        project: 'QUARANTINE',
        target: 'quarantine',
        rules: ['builtin:modality'],
        rulesHash: 'h',
        groupSeriesId: null,
      });
    }
    events.emit('series.routed', {
      seriesId: 1,
      project: 'QUARANTINE',
      target: 'quarantine',
      rules: ['builtin:modality'],
      rulesHash: 'h',
      groupSeriesId: null,
    });
    await n.idle();
    expect(hook.got.map((g) => g.body.title)).toEqual(
      [1, 2, 3].map((i) => `Series ${String(i)} went to QUARANTINE (builtin:modality)`),
    );
    clock.advance(20 * 60_000);
    await n.idle();
    expect(hook.got).toHaveLength(4);
    expect(hook.got[3]?.body).toMatchObject({
      kind: 'summary',
      title: '7 more problems while messages were rate-limited',
      link: 'https://gateway.example.org/console',
    });
    expect(String(hook.got[3]?.body.detail)).toContain('7 × series.quarantined');
    clock.advance(3 * 3_600_000);
    await n.idle();
    expect(hook.got).toHaveLength(4);
  });

  it('reports low disk once when it drops below the watermark and once when it recovers', async () => {
    const hook = await webhookReceiver();
    closers.push(hook.close);
    const clock = createFakeClock();
    const disk = { freeBytes: 9e9, minFreeBytes: 2 * 1024 ** 3 };
    const n = await start(
      { checkIntervalMs: 10_000, channels: [{ type: 'webhook', url: hook.url, events: ['disk.low'] }] },
      clock,
      createEvents(),
      disk,
    );
    // Each check reads the disk after a turn of the event loop: it is let finish before the next change.
    clock.advance(10_000);
    await n.idle();
    disk.freeBytes = 1024 ** 3;
    for (let i = 0; i < 30; i++) {
      clock.advance(10_000);
      await n.idle();
    }
    disk.freeBytes = 5 * 1024 ** 3;
    clock.advance(10_000);
    await n.idle();
    expect(hook.got.map((g) => g.body.title)).toEqual([
      'Disk below the watermark: 1.0 GiB free, 2.0 GiB required',
      'Disk space recovered: 5.0 GiB free',
    ]);
  });
});
