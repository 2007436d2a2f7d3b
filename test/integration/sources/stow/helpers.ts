//! Shared by the STOW-RS integration tests: a spawned daemon with the stow source, curl and the Python client.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, run } from '../../../helpers/peers.ts';
import { spawnReadyDaemon, type WatchedProcess } from '../../../helpers/spawned-daemon.ts';

export const TOKEN = 'pacs-token-0123456789abcdef0123';
export const SENDER = 'pacs';
const CLIENT = new URL('./stow_post.py', import.meta.url).pathname;

export interface StowDaemon {
  readonly dir: string;
  readonly dataDir: string;
  readonly url: string;
  readonly httpPort: number;
  readonly stowPort: number;
  readonly configFile: string;
  process: WatchedProcess;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Writes the config and token file (0600) and starts the daemon; `extra` is appended YAML. */
export async function startStowDaemon(
  o: { extra?: string; stow?: string; quietPeriodMs?: number; dataDir?: string } = {},
): Promise<StowDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'xg-stow-'));
  const dataDir = o.dataDir ?? join(dir, 'data');
  const [httpPort, stowPort] = [await freePort(), await freePort()];
  const tokenFile = join(dir, 'stow-tokens');
  writeFileSync(tokenFile, `# senders\n${SENDER}:${TOKEN}\nother:another-token-0123456789\n`);
  chmodSync(tokenFile, 0o600);
  const configFile = join(dir, 'gateway.yaml');
  writeFileSync(
    configFile,
    [
      `dataDir: ${dataDir}`,
      'dimse: { enabled: false }',
      'folder: { enabled: false }',
      `http: { port: ${String(httpPort)} }`,
      `stow: { port: ${String(stowPort)}, host: 127.0.0.1, tokenFile: stow-tokens${o.stow ? `, ${o.stow}` : ''} }`,
      `series: { quietPeriodMs: ${String(o.quietPeriodMs ?? 1000)}, checkIntervalMs: 100 }`,
      'workers: { pollIntervalMs: 100 }',
      o.extra ?? 'spool: { minFreeBytes: 0 }',
      '',
    ].join('\n'),
  );
  const d: StowDaemon = {
    dir,
    dataDir,
    httpPort,
    stowPort,
    configFile,
    url: `http://127.0.0.1:${String(stowPort)}/dicom-web/studies`,
    process: null as unknown as WatchedProcess,
    async start() {
      d.process = await spawnReadyDaemon(configFile, httpPort);
    },
    async stop() {
      await d.process.stop('SIGTERM');
    },
  };
  try {
    await d.start();
  } catch (err) {
    // Nothing of a daemon that never became ready is left behind.
    await d.process.kill();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${String(err)}\n${d.process.output().slice(-3000)}`, { cause: err });
  }
  return d;
}

export function removeDir(d: StowDaemon | undefined): void {
  if (d) {
    rmSync(d.dir, { recursive: true, force: true });
  }
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
  readonly text: string;
}

/** curl with `args` (the URL among them); the answer's status, headers (lower-cased) and body. */
export async function curl(dir: string, args: readonly string[]): Promise<HttpAnswer> {
  const bodyFile = join(dir, 'curl-body');
  const headFile = join(dir, 'curl-head');
  rmSync(bodyFile, { force: true });
  const r = await run('curl', ['-sS', '-o', bodyFile, '-D', headFile, '-w', '%{http_code}', ...args], {
    timeoutMs: 300_000,
  });
  if (r.code !== 0) {
    throw new Error(`curl failed (${String(r.code)}): ${r.stderr}`);
  }
  const headers: Record<string, string> = {};
  for (const line of readFileSync(headFile, 'latin1').split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) {
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
  }
  const text = existsSync(bodyFile) ? readFileSync(bodyFile, 'utf8') : '';
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: Number(r.stdout.trim()), headers, body, text };
}

/** curl -F arguments for a multipart/related STOW-RS request of `files`. */
export function curlStow(
  url: string,
  files: readonly string[],
  o: { token?: string | null; accept?: string } = {},
): string[] {
  const token = o.token === undefined ? TOKEN : o.token;
  return [
    '-X',
    'POST',
    ...(token === null ? [] : ['-H', `Authorization: Bearer ${token}`]),
    '-H',
    'Content-Type: multipart/related; type="application/dicom"',
    ...(o.accept ? ['-H', `Accept: ${o.accept}`] : []),
    ...files.flatMap((f, i) => ['-F', `p${String(i)}=@${f};type=application/dicom`]),
    url,
  ];
}

let python: string | null | undefined;
/** An interpreter that imports pydicom (pyenv may shadow Debian's), or null. */
export async function pythonWithPydicom(): Promise<string | null> {
  if (python !== undefined) {
    return python;
  }
  for (const p of [...(process.env.PYTHON ? [process.env.PYTHON] : []), 'python3', '/usr/bin/python3']) {
    const r = await run(p, ['-c', 'import pydicom'], { timeoutMs: 30_000 }).catch(() => null);
    if (r?.code === 0) {
      python = p;
      return p;
    }
  }
  python = null;
  return null;
}

/** The independent client (stow_post.py): pydicom + http.client, chunked. */
export async function pythonStow(spec: Record<string, unknown>): Promise<HttpAnswer> {
  const py = await pythonWithPydicom();
  if (!py) {
    throw new Error('No python3 with pydicom (apt-get install python3-pydicom).');
  }
  const r = await run(py, [CLIENT, JSON.stringify(spec)], { timeoutMs: 300_000 });
  if (r.code !== 0) {
    throw new Error(`stow_post.py failed: ${r.stderr}`);
  }
  const out = JSON.parse(r.stdout) as { status: number; headers: Record<string, string>; body: unknown };
  return { ...out, text: typeof out.body === 'string' ? out.body : JSON.stringify(out.body) };
}

type Item = Record<string, { vr: string; Value?: unknown[] }>;
/** The items of a sequence in a DICOM JSON response. */
export function items(body: unknown, tag: '00081198' | '00081199'): Item[] {
  const seq = (body as Record<string, { Value?: Item[] } | undefined>)[tag];
  return seq?.Value ?? [];
}
export const sopOf = (item: Item): unknown => item['00081155']?.Value?.[0];
export const reasonOf = (item: Item): unknown => item['00081197']?.Value?.[0];
