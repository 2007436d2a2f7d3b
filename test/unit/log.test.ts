import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildConfig, ConfigError } from '../../src/config/load.ts';
import { createLogger, oneLineError, prettyLine } from '../../src/log.ts';

function capture(tty = false): { stream: Writable & { isTTY?: boolean }; lines: () => string[] } {
  let out = '';
  const stream = Object.assign(
    new Writable({
      write(c: Buffer, _e, done) {
        out += c.toString();
        done();
      },
    }),
    tty ? { isTTY: true } : {},
  );
  return { stream, lines: () => out.split('\n').filter((l) => l !== '') };
}

/** What Node's fetch throws when XNAT is down: a TypeError caused by an AggregateError (IPv6 and IPv4). */
function connectionRefused(): Error {
  const a = Object.assign(new Error('connect ECONNREFUSED ::1:8080'), { code: 'ECONNREFUSED' });
  const b = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8080'), { code: 'ECONNREFUSED' });
  const agg = Object.assign(new AggregateError([a, b], ''), { code: 'ECONNREFUSED' });
  return new Error('XNAT at http://localhost:8080 is not reachable: fetch failed', {
    cause: new TypeError('fetch failed', { cause: agg }),
  });
}

describe('log', () => {
  it('writes JSON lines with ISO 8601 times when the destination is not a terminal', () => {
    const c = capture();
    createLogger('info', c.stream).info({ port: 8104 }, 'DICOM receiver listening.');
    const line = JSON.parse(c.lines()[0] ?? '') as { time: string; msg: string; port: number };
    expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(line).toMatchObject({ msg: 'DICOM receiver listening.', port: 8104 });
  });

  it('holds an error on one line at warn (no stack, each message once), with the stack at debug', () => {
    const c = capture();
    createLogger('info', c.stream).warn(
      { err: connectionRefused(), sink: 'xnat-rest' },
      'Sink healthcheck failed; deliveries will retry.',
    );
    const [raw = ''] = c.lines();
    const err = (JSON.parse(raw) as { err: { message: string; stack?: string } }).err;
    expect(err.stack).toBeUndefined();
    expect(err.message).toBe(
      'XNAT at http://localhost:8080 is not reachable: fetch failed: connect ECONNREFUSED ::1:8080: connect ECONNREFUSED 127.0.0.1:8080',
    );
    expect(raw.length).toBeLessThan(400);
    const d = capture();
    createLogger('debug', d.stream).warn(
      { err: connectionRefused() },
      'Sink healthcheck failed; deliveries will retry.',
    );
    expect((JSON.parse(d.lines()[0] ?? '') as { err: { stack: string } }).err.stack).toContain('\n    at ');
  });

  it('keeps the stack for error and fatal (a crash needs it)', () => {
    const c = capture();
    createLogger('info', c.stream).fatal({ err: new Error('boom') }, 'Uncaught exception; exiting.');
    expect((JSON.parse(c.lines()[0] ?? '') as { err: { stack: string } }).err.stack).toContain('boom');
  });

  it('is pretty on a terminal: time, level, component, message, fields', () => {
    const c = capture(true);
    createLogger('info', c.stream)
      .child({ component: 'source:dimse' })
      .warn({ err: connectionRefused(), port: 8104 }, 'Something failed.');
    const [line = ''] = c.lines();
    const esc = String.fromCharCode(27);
    expect(
      line.startsWith(`${line.slice(0, 24)} ${esc}[33mWARN ${esc}[0m [source:dimse] Something failed. err="XNAT at `),
    ).toBe(true);
    expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
    expect(line.endsWith('127.0.0.1:8080" port=8104')).toBe(true);
    expect(
      prettyLine(
        '{"level":30,"time":"2026-01-01T00:00:00.000Z","name":"xnat-gateway","msg":"Started.","dataDir":"/srv/data dir"}',
      ),
    ).toBe('2026-01-01T00:00:00.000Z INFO  Started. dataDir="/srv/data dir"');
  });

  it('can be forced to JSON on a terminal (log.format: json)', () => {
    const c = capture(true);
    createLogger('info', c.stream, { format: 'json' }).info('x.');
    expect(() => JSON.parse(c.lines()[0] ?? '') as unknown).not.toThrow();
  });

  it('oneLineError: a plain value and an error code', () => {
    expect(oneLineError('text\nmore')).toEqual({ type: 'string', message: 'text more' });
    expect(oneLineError(Object.assign(new Error('no'), { code: 'EACCES' }))).toEqual({
      type: 'Error',
      message: 'no',
      code: 'EACCES',
    });
  });
});

describe('secret files', () => {
  it('refuses an XNAT password file others can read, as it refuses such an admin token file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xg-secret-'));
    const file = join(dir, 'xnat-password');
    writeFileSync(file, 'secret');
    chmodSync(file, 0o644);
    const env = {
      XNAT_GATEWAY_XNAT_URL: 'http://xnat:8080',
      XNAT_GATEWAY_XNAT_USER: 'gw',
      XNAT_GATEWAY_XNAT_PASSWORD_FILE: file,
    };
    expect(() => buildConfig({ dataDir: dir }, env, dir)).toThrow(ConfigError);
    expect(() => buildConfig({ dataDir: dir }, env, dir)).toThrow(
      `sinks.0.passwordFile: ${file} is readable by others (mode 644); chmod 600 it`,
    );
    chmodSync(file, 0o600);
    try {
      expect(buildConfig({ dataDir: dir }, env, dir).sinks[0]).toMatchObject({ type: 'xnat-rest' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
