//! `xnat-gateway pull FILE --pacs NAME [--project P] [--wait]`: submits a list to the running gateway and, with --wait, follows it to the end.
// The daemon does the work (its PACS schedule, ledger and receiver); this command is a client of
// its status server, like a browser on the console. It sends the admin token from
// http.adminTokenFile when it can read it (needed when the server listens beyond loopback).
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import type { Config } from '../config/schema.ts';
import { parseTokens } from '../status/admin-auth.ts';
import { CommandError, CONFIG_EXIT, CONFIG_OPTION, expectArgs, usageError, type CommandSpec } from './command.ts';
import { ExitCode } from './exit-codes.ts';
import { createProgressBar } from './progress.ts';

interface PullJson {
  id: string;
  state: string;
  rows: number;
  counts: Record<string, number>;
  pauseReason: string | null;
}
interface RowJson {
  line: number;
  state: string;
  reason: string | null;
}
interface DetailJson {
  pull: PullJson;
  verifies: boolean;
  rows: RowJson[];
}

const ACTIVE = new Set(['pending', 'queued', 'retrieving']);
/** Rows that got what was asked (a duplicate names a row counted on its own line). */
const SUCCEEDED = new Set(['complete', 'delivered', 'verified', 'duplicate']);
/** How long --wait keeps asking a gateway that stopped answering (it may be restarting). */
const UNREACHABLE_GRACE_MS = 120_000;
const POLL_MS = 1000;

/** The status server's base URL and headers from the configuration. */
async function endpoint(cfg: Config): Promise<{ base: string; headers: Record<string, string> }> {
  if (!cfg.http.enabled) {
    throw new CommandError(
      ExitCode.UNAVAILABLE,
      'http.enabled is false: the gateway has no status server to submit the list to.',
    );
  }
  const host = cfg.http.host === '0.0.0.0' || cfg.http.host === '::' ? '127.0.0.1' : cfg.http.host;
  const headers: Record<string, string> = {};
  if (cfg.http.adminTokenFile !== null) {
    const token = await readFile(cfg.http.adminTokenFile, 'utf8').then(
      (t) => parseTokens(t)[0]?.token ?? null,
      () => null,
    );
    if (token) {
      headers.authorization = `Bearer ${token}`;
    }
  }
  return { base: `http://${host.includes(':') ? `[${host}]` : host}:${String(cfg.http.port)}`, headers };
}

async function call(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
  } catch (err) {
    throw new CommandError(
      ExitCode.UNAVAILABLE,
      `No gateway answers at ${new URL(url).host} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}); is the daemon running (xnat-gateway run)?`,
    );
  }
}

async function failure(res: Response): Promise<CommandError> {
  const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
  const message = body.message ?? `HTTP ${String(res.status)}`;
  if (res.status === 404) {
    return new CommandError(ExitCode.NOINPUT, message);
  }
  if (res.status === 401 || res.status === 403) {
    return new CommandError(ExitCode.DATAERR, `The gateway refused the list: ${message}`);
  }
  if (res.status >= 500) {
    return new CommandError(ExitCode.UNAVAILABLE, `The gateway failed: ${message}`);
  }
  return new CommandError(ExitCode.DATAERR, `${body.code ? `${body.code}: ` : ''}${message}`);
}

function summary(d: DetailJson): string {
  const parts = Object.entries(d.pull.counts)
    .sort((a, b) => b[1] - a[1])
    .map(([s, n]) => `${String(n)} ${s}`);
  return `${String(d.pull.rows)} rows: ${parts.join(', ')}`;
}

/** The pull is as far as it goes: every row settled (verified, or delivered when no XNAT verifies), or cancelled. */
function finished(d: DetailJson): boolean {
  if (d.pull.state === 'ended' || d.pull.state === 'cancelled') {
    return true;
  }
  // Without an XNAT sink a pull ends with its rows delivered; the daemon ends it then.
  return false;
}

async function follow(base: string, headers: Record<string, string>, id: string): Promise<DetailJson> {
  const bar = createProgressBar(process.stderr);
  let unreachableSince: number | null = null;
  for (;;) {
    let d: DetailJson | null = null;
    try {
      const res = await fetch(`${base}/pulls/${id}`, { headers, signal: AbortSignal.timeout(30_000) });
      if (!res.ok) {
        throw await failure(res);
      }
      d = (await res.json()) as DetailJson;
      unreachableSince = null;
    } catch (err) {
      if (err instanceof CommandError) {
        throw err;
      }
      unreachableSince ??= Date.now();
      if (Date.now() - unreachableSince > UNREACHABLE_GRACE_MS) {
        throw new CommandError(
          ExitCode.UNAVAILABLE,
          `The gateway stopped answering at ${base} for ${String(UNREACHABLE_GRACE_MS / 1000)} s; the pull goes on when it runs again (GET /pulls/${id}).`,
        );
      }
    }
    if (d) {
      const settled = d.rows.filter((r) => !ACTIVE.has(r.state)).length;
      bar.update(
        settled,
        d.rows.length,
        d.pull.state === 'paused' ? `paused: ${d.pull.pauseReason ?? ''}` : summary(d),
      );
      if (finished(d)) {
        bar.done();
        return d;
      }
    } else {
      bar.update(0, 1, 'the gateway does not answer; waiting for it');
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export async function pullCommand(
  cfg: Config,
  file: string,
  o: { pacs: string; project?: string | undefined; wait: boolean },
): Promise<void> {
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch (err) {
    throw new CommandError(
      ExitCode.NOINPUT,
      `${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`}.`,
    );
  }
  const { base, headers } = await endpoint(cfg);
  const type =
    extname(file).toLowerCase() === '.xlsx'
      ? 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
      : 'text/csv';
  const q = new URLSearchParams({ pacs: o.pacs, name: basename(file), ...(o.project ? { project: o.project } : {}) });
  const res = await call(`${base}/pulls?${q.toString()}`, {
    method: 'POST',
    headers: { ...headers, 'content-type': type },
    body,
  });
  if (res.status !== 201) {
    throw await failure(res);
  }
  const created = (await res.json()) as DetailJson;
  console.error(`Pull ${created.pull.id} submitted to ${o.pacs}: ${summary(created)}.`);
  for (const r of created.rows.filter((x) => x.state === 'invalid')) {
    console.error(`  line ${String(r.line)}: invalid: ${r.reason ?? ''}`);
  }
  if (!o.wait) {
    console.log(created.pull.id);
    return;
  }
  const d = await follow(base, headers, created.pull.id);
  const report = await call(`${base}/pulls/${created.pull.id}/report.csv`, { headers });
  if (!report.ok) {
    throw await failure(report);
  }
  process.stdout.write(await report.text());
  const bad = d.rows.filter((r) => !SUCCEEDED.has(r.state));
  console.error(
    `Pull ${d.pull.id} ${d.pull.state === 'ended' ? 'ended' : d.pull.state === 'cancelled' ? 'was cancelled' : 'is as far as it goes'}: ${summary(d)}.`,
  );
  if (bad.length > 0) {
    for (const r of bad) {
      console.error(`  line ${String(r.line)}: ${r.state}${r.reason ? `: ${r.reason}` : ''}`);
    }
    process.exitCode = ExitCode.DATAERR;
  }
}

export const PULL_COMMAND: CommandSpec = {
  name: 'pull',
  summary: 'pull the studies of a CSV or XLSX list from a PACS (through the running gateway)',
  usage: ['pull FILE --pacs NAME [--project P] [--wait] [--config FILE]'],
  details:
    "Submits the list to the running gateway (POST /pulls), which queries and retrieves each row within the PACS's schedule, then de-identifies, delivers and verifies the studies in XNAT (docs/pull.md). Prints the pull's id; with --wait, follows it with a progress bar and prints the completeness report (CSV) when every row has ended.",
  options: {
    pacs: {
      type: 'string',
      value: 'NAME',
      description: 'the PACS to pull from (a name under pacs: in the configuration)',
    },
    project: { type: 'string', value: 'P', description: 'XNAT project for rows that name none' },
    wait: {
      type: 'boolean',
      description: 'follow the pull to the end, print the report; exit 65 unless every row is complete or verified',
    },
    config: CONFIG_OPTION,
  },
  exitCodes: [
    {
      code: ExitCode.DATAERR,
      when: 'the list was refused (not a usable CSV/XLSX, no AccessionNumber or PatientID column), or with --wait a row did not end complete or verified',
    },
    { code: ExitCode.NOINPUT, when: 'FILE does not exist, or no PACS of that name is configured' },
    { code: ExitCode.UNAVAILABLE, when: 'no gateway answers on http.host:http.port (the daemon is not running)' },
    CONFIG_EXIT,
  ],
  async run({ positionals, values, config }) {
    expectArgs(PULL_COMMAND, positionals, 1, 'FILE');
    if (typeof values.pacs !== 'string' || values.pacs === '') {
      throw usageError(PULL_COMMAND, 'missing --pacs NAME.');
    }
    await pullCommand(config(), positionals[0] ?? '', {
      pacs: values.pacs,
      project: typeof values.project === 'string' ? values.project : undefined,
      wait: values.wait === true,
    });
  },
};
