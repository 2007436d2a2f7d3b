// STOW-RS benchmark: N CT-like instances pushed in ONE STOW-RS request (curl, multipart/related)
// against the same data over C-STORE (DCMTK storescu, one association), each into a fresh gateway;
// then one large part (default 1 GiB) to show the daemon's memory does not follow the body size.
// Prints figures; asserts nothing. Run it on an otherwise idle machine.
//   ./gateway npm run bench:stow -- [--ct 1000] [--large-mb 1024]
//
// Both paths end when the sender has its answers, which the gateway sends only after every
// instance is fsynced and committed (storescu: per instance; STOW-RS: the one response). Timed from
// spawn to exit of the sender. Gateways run as `npm start` runs them (--max-semi-space-size=32),
// quiet period longer than the run (ingest only, no delivery), log level warn. Peak RSS is VmHWM
// from /proc/<pid>/status just before the gateway is stopped; for the large part also VmRSS sampled
// every 20 ms during the upload.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { newUid, writeLargeInstance, writeSeries } from '../test/helpers/dicom-factory.ts';
import { freePort, run, spawnLogged, waitForPort, type LoggedProcess } from '../test/helpers/peers.ts';

const { values } = parseArgs({
  options: { ct: { type: 'string', default: '1000' }, 'large-mb': { type: 'string', default: '1024' } },
});
const root = new URL('../', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'xg-bench-stow-'));
const TOKEN = 'bench-token-0123456789abcdef';
const MB = 1024 * 1024;

const status = (pid: number, key: string): number =>
  Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'))?.[1] ?? 0) / 1024;

async function gateway(name: string): Promise<{ proc: LoggedProcess; dimse: number; stow: number }> {
  const dir = join(work, name);
  mkdirSync(dir);
  const [dimse, stow, http] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(join(dir, 'tokens'), `bench:${TOKEN}\n`);
  chmodSync(join(dir, 'tokens'), 0o600);
  writeFileSync(
    join(dir, 'g.yaml'),
    `dataDir: ${join(dir, 'data')}\ndimse: { port: ${String(dimse)}, host: 127.0.0.1 }\nfolder: { enabled: false }\nhttp: { port: ${String(http)} }\nstow: { port: ${String(stow)}, host: 127.0.0.1, tokenFile: tokens, maxRequestBytes: ${String(64 * 1024 * MB)} }\nseries: { quietPeriodMs: 3600000 }\nspool: { minFreeBytes: 0 }\nlog: { level: warn }\n`,
  );
  const proc = spawnLogged(process.execPath, [
    '--max-semi-space-size=32',
    join(root, 'src/cli/main.ts'),
    'run',
    '--config',
    join(dir, 'g.yaml'),
  ]);
  await waitForPort(stow, '127.0.0.1', 30_000);
  return { proc, dimse, stow };
}

const curlArgs = (port: number, files: readonly string[]): string[] => [
  '-sS',
  '-o',
  '/dev/null',
  '-w',
  '%{http_code}',
  '-X',
  'POST',
  '-H',
  `Authorization: Bearer ${TOKEN}`,
  '-H',
  'Content-Type: multipart/related; type="application/dicom"',
  ...files.flatMap((f, i) => ['-F', `p${String(i)}=@${f};type=application/dicom`]),
  `http://127.0.0.1:${String(port)}/dicom-web/studies`,
];

async function main(): Promise<void> {
  const n = Number(values.ct);
  if (n > 0) {
    await compare(n);
  }
  await largePart(Number(values['large-mb']));
}

async function compare(n: number): Promise<void> {
  const files = await writeSeries(join(work, 'ct'), {
    count: n,
    rows: 512,
    columns: 512,
    studyInstanceUid: newUid(),
    seriesInstanceUid: newUid(),
  });
  const bytes = files.reduce((s, f) => s + statSync(f).size, 0);
  await run('sync', []);
  console.log(`${String(n)} CT instances, ${(bytes / MB).toFixed(0)} MB`);

  const a = await gateway('cstore');
  const t0 = performance.now();
  const scu = await run('storescu', ['-pdu', '131072', '-aec', 'XNAT', '127.0.0.1', String(a.dimse), ...files], {
    timeoutMs: 3_600_000,
  });
  const s = (performance.now() - t0) / 1000;
  console.log(
    `C-STORE (storescu, 1 association): ${s.toFixed(1)} s, ${(n / s).toFixed(0)} instances/s, ${(bytes / MB / s).toFixed(1)} MB/s, exit ${String(scu.code)}, gateway peak RSS ${status(a.proc.child.pid ?? 0, 'VmHWM').toFixed(0)} MB`,
  );
  await a.proc.stop();

  const b = await gateway('stow');
  const t1 = performance.now();
  const post = await run('curl', curlArgs(b.stow, files), { timeoutMs: 3_600_000 });
  const s1 = (performance.now() - t1) / 1000;
  console.log(
    `STOW-RS (curl, 1 request):          ${s1.toFixed(1)} s, ${(n / s1).toFixed(0)} instances/s, ${(bytes / MB / s1).toFixed(1)} MB/s, HTTP ${post.stdout}, gateway peak RSS ${status(b.proc.child.pid ?? 0, 'VmHWM').toFixed(0)} MB`,
  );
  await b.proc.stop();
  rmSync(join(work, 'ct'), { recursive: true, force: true });
}

async function largePart(largeMb: number): Promise<void> {
  const c = await gateway('large');
  const pid = c.proc.child.pid ?? 0;
  const large = join(work, 'large.dcm');
  await writeLargeInstance(large, { bytes: largeMb * MB });
  const before = status(pid, 'VmRSS');
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, status(pid, 'VmRSS'));
  }, 20);
  const t0 = performance.now();
  const big = await run('curl', curlArgs(c.stow, [large]), { timeoutMs: 3_600_000 });
  clearInterval(timer);
  const s = (performance.now() - t0) / 1000;
  console.log(
    `STOW-RS one ${String(largeMb)} MB part: ${s.toFixed(1)} s, HTTP ${big.stdout}, gateway RSS ${before.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB during (VmHWM ${status(pid, 'VmHWM').toFixed(0)} MB)`,
  );
  await c.proc.stop();
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    rmSync(work, { recursive: true, force: true });
  });
