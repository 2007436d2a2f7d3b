//! A throw-away Orthanc (Debian package) on free ports with a temp storage dir, for DIMSE peer tests.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnLogged, which } from './peers.ts';

/** Options for `startOrthanc`. */
export interface OrthancOptions {
  /** Orthanc's own AE title. Default 'ORTHANC'. */
  readonly dicomAet?: string;
  /** Known remote modalities by name: `[aeTitle, host, port]`, e.g. C-MOVE destinations. */
  readonly modalities?: Readonly<Record<string, readonly [string, string, number]>>;
  /** Extra Orthanc configuration keys, merged over the defaults. */
  readonly config?: Readonly<Record<string, unknown>>;
  /** Give up if `/system` does not answer within this long. Default 30 000 ms. */
  readonly startTimeoutMs?: number;
}

/** A running Orthanc. */
export interface OrthancHandle {
  /** e.g. `http://127.0.0.1:40123`, no trailing slash. */
  readonly restUrl: string;
  readonly dicomPort: number;
  readonly aet: string;
  /** Uploads one DICOM file via `POST /instances`; returns Orthanc's instance id. */
  readonly upload: (file: string) => Promise<string>;
  /** Orthanc's log so far (stderr), for failure messages. */
  readonly log: () => string;
  /** SIGTERM, wait for exit (SIGKILL after 15 s), then remove the temp dir. Idempotent. */
  readonly stop: () => Promise<void>;
  /** Process id of the Orthanc server (for resource measurements). */
  readonly pid: number | undefined;
  /** Where Orthanc keeps its files (attachments under uu/id/uuid). */
  readonly storageDir: string;
}

/**
 * Debian's `/etc/orthanc/orthanc.json` loads every plugin in /usr/share/orthanc/plugins/. Orthanc
 * reads only the file given on its command line, so an explicit `"Plugins": []` keeps them out.
 */
function baseConfig(dir: string, httpPort: number, dicomPort: number, o: OrthancOptions): Record<string, unknown> {
  return {
    Name: 'xnat-gateway-test',
    StorageDirectory: join(dir, 'storage'),
    IndexDirectory: join(dir, 'storage'),
    TemporaryDirectory: dir,
    Plugins: [],
    HttpPort: httpPort,
    DicomPort: dicomPort,
    DicomAet: o.dicomAet ?? 'ORTHANC',
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    DicomCheckCalledAet: false,
    DicomAlwaysAllowEcho: true,
    DicomAlwaysAllowStore: true,
    DicomAlwaysAllowFind: true,
    DicomAlwaysAllowMove: true,
    DicomAlwaysAllowGet: true,
    DicomModalities: o.modalities ?? {},
    // Tests send many SOP classes (RT, SR, SEG); Orthanc's default rejects unknown ones.
    UnknownSopClassAccepted: true,
    // Jobs from a previous run must not be resumed: every test gets a fresh index anyway.
    SaveJobs: false,
    // The default 5 s close delay makes C-MOVE/C-STORE sub-associations linger after a test.
    DicomAssociationCloseDelay: 0,
    StableAge: 1,
    ...o.config,
  };
}

async function waitForSystem(
  restUrl: string,
  timeoutMs: number,
  exited: () => boolean,
  log: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${restUrl}/system`);
      if (res.ok) {
        return;
      }
    } catch {
      // Not listening yet.
    }
    if (exited() || Date.now() > deadline) {
      throw new Error(`Orthanc did not start (${exited() ? 'exited' : 'timed out'}):\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts Orthanc on free ports with an empty store and waits for its REST API. */
export async function startOrthanc(o: OrthancOptions = {}): Promise<OrthancHandle> {
  const bin = which('Orthanc');
  if (bin === undefined) {
    throw new Error('Orthanc is not installed (apt-get install orthanc).');
  }
  const dir = await mkdtemp(join(tmpdir(), 'xnatgw-orthanc-'));
  const [httpPort, dicomPort] = [await freePort(), await freePort()];
  const aet = o.dicomAet ?? 'ORTHANC';
  const config = baseConfig(dir, httpPort, dicomPort, { ...o, dicomAet: aet });
  const configFile = join(dir, 'orthanc.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const proc = spawnLogged(bin, ['--no-jobs', configFile], { cwd: dir });
  const restUrl = `http://127.0.0.1:${String(httpPort)}`;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) {
      return;
    }
    stopped = true;
    await proc.stop('SIGTERM', 15_000);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForSystem(restUrl, o.startTimeoutMs ?? 30_000, () => proc.child.exitCode !== null, proc.output);
  } catch (err) {
    await stop();
    throw err;
  }
  const upload = async (file: string): Promise<string> => {
    const res = await fetch(`${restUrl}/instances`, { method: 'POST', body: await readFile(file) });
    const body = (await res.json()) as { ID?: string; Status?: string };
    if (!res.ok || body.ID === undefined) {
      throw new Error(`Orthanc rejected ${file}: HTTP ${String(res.status)} ${JSON.stringify(body)}`);
    }
    return body.ID;
  };
  return {
    restUrl,
    dicomPort,
    aet,
    upload,
    log: proc.output,
    stop,
    pid: proc.child.pid,
    storageDir: join(dir, 'storage'),
  };
}

/** A `pacs:` entry for `orthanc` retrieved by C-GET: the instances come back on our own association. */
export function orthancByGet(orthanc: OrthancHandle): {
  name: string;
  aeTitle: string;
  host: string;
  port: number;
  callingAe: string;
  retrieve: 'get';
} {
  return {
    name: 'orthanc-get',
    aeTitle: 'ORTHANC',
    host: '127.0.0.1',
    port: orthanc.dicomPort,
    callingAe: 'GETTER',
    retrieve: 'get',
  };
}
