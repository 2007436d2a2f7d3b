//! PACS fixtures for pull tests: generated studies, and a throw-away DCMTK dcmqrscp loaded by storescu.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newUid, writeSeries } from './dicom-factory.ts';
import { freePort, run, spawnLogged, which } from './peers.ts';

export interface StudySpec {
  readonly accessionNumber: string;
  readonly patientId: string;
  /** DA, default 20240101. */
  readonly studyDate?: string;
  /** Instances per series. */
  readonly series: readonly number[];
}

export interface GeneratedSeries {
  readonly seriesInstanceUid: string;
  readonly files: readonly string[];
}

export interface GeneratedStudy {
  readonly spec: StudySpec;
  readonly studyInstanceUid: string;
  readonly series: readonly GeneratedSeries[];
  readonly files: readonly string[];
}

/** Writes each study's series as small CT files under `dir`. */
export async function writeStudies(dir: string, specs: readonly StudySpec[]): Promise<GeneratedStudy[]> {
  const out: GeneratedStudy[] = [];
  for (const [i, spec] of specs.entries()) {
    const studyInstanceUid = newUid();
    const series: GeneratedSeries[] = [];
    for (const [j, count] of spec.series.entries()) {
      const seriesInstanceUid = newUid();
      const files = await writeSeries(join(dir, `study${String(i)}`, `series${String(j)}`), {
        count,
        studyInstanceUid,
        seriesInstanceUid,
        accessionNumber: spec.accessionNumber,
        patientId: spec.patientId,
        studyDate: spec.studyDate ?? '20240101',
        seriesNumber: j + 1,
        rows: 8,
        columns: 8,
      });
      series.push({ seriesInstanceUid, files });
    }
    out.push({ spec, studyInstanceUid, series, files: series.flatMap((s) => s.files) });
  }
  return out;
}

export interface DcmqrscpHandle {
  readonly port: number;
  readonly aet: string;
  /** The storage area: one file per stored instance. */
  readonly storageDir: string;
  /** C-STOREs files into it with storescu. */
  load(files: readonly string[]): Promise<void>;
  /** Files in the storage area. */
  stored(): Promise<string[]>;
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts dcmqrscp (single process) with one read-write storage area under AE `aet`, knowing the
 * C-MOVE destinations given (AE → host, port). Any calling AE may query it.
 */
export async function startDcmqrscp(
  o: {
    aet?: string;
    moveDestinations?: Readonly<Record<string, readonly [string, number]>>;
    extraArgs?: readonly string[];
  } = {},
): Promise<DcmqrscpHandle> {
  const bin = which('dcmqrscp');
  if (!bin) {
    throw new Error('dcmqrscp is not installed (apt-get install dcmtk).');
  }
  const aet = o.aet ?? 'DCMQRSCP';
  const dir = await mkdtemp(join(tmpdir(), 'xnatgw-dcmqrscp-'));
  const storageDir = join(dir, 'db');
  await mkdir(storageDir);
  const port = await freePort();
  const hosts = Object.entries(o.moveDestinations ?? {}).map(
    ([ae, [host, p]], i) => `dest${String(i)} = (${ae}, ${host}, ${String(p)})`,
  );
  const cfg = [
    `NetworkTCPPort = ${String(port)}`,
    'MaxPDUSize = 16384',
    'MaxAssociations = 16',
    '',
    'HostTable BEGIN',
    ...hosts,
    'HostTable END',
    '',
    'VendorTable BEGIN',
    'VendorTable END',
    '',
    'AETable BEGIN',
    `${aet} ${storageDir} RW (200, 1024mb) ANY`,
    'AETable END',
    '',
  ].join('\n');
  const cfgFile = join(dir, 'dcmqrscp.cfg');
  await writeFile(cfgFile, cfg);
  // Forking mode (the default): one child per association, as a PACS serves several at once.
  const proc = spawnLogged(bin, ['-c', cfgFile, ...(o.extraArgs ?? []), String(port)], { cwd: dir });
  // Probe with C-ECHO: a bare TCP connect that closes at once makes dcmqrscp log a DUL error.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await run('echoscu', ['-aec', aet, '127.0.0.1', String(port)], { timeoutMs: 5000 });
    if (r.code === 0) {
      break;
    }
    if (Date.now() > deadline || proc.child.exitCode !== null) {
      await proc.stop('SIGKILL', 1000);
      throw new Error(`dcmqrscp did not start:\n${proc.output()}\n${r.stderr}`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  let stopped = false;
  return {
    port,
    aet,
    storageDir,
    async load(files) {
      for (let i = 0; i < files.length; i += 200) {
        const r = await run('storescu', ['-aec', aet, '127.0.0.1', String(port), ...files.slice(i, i + 200)], {
          timeoutMs: 120_000,
        });
        if (r.code !== 0) {
          throw new Error(`storescu into dcmqrscp failed (${String(r.code)}): ${r.stderr}\n${proc.output()}`);
        }
      }
    },
    async stored() {
      return (await readdir(storageDir)).filter((f) => f !== 'index.dat').map((f) => join(storageDir, f));
    },
    log: proc.output,
    async stop() {
      if (stopped) {
        return;
      }
      stopped = true;
      await proc.stop('SIGTERM', 5000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
