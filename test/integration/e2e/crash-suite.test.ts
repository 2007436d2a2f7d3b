// SIGKILL at 20 random points while storescu pushes 1,000 instances, restarting each time: every
// instance the sender saw acknowledged is held at once (before any recovery runs), and in the end
// every one is delivered exactly once, byte for byte, and nothing else is. This guards the
// acknowledgement path whatever it becomes (issue 23: one fsync, rows committed before their file
// is durable and reconciled at start-up): a row whose file never became whole must not be delivered.
//
// The daemon is a spawned process (kill -9 is real); everything is checked from outside it: the
// sender's log, the outbox of the folder sink (profile none keeps UIDs and pixel data), pydicom
// reading every delivered file, the status API for the delivery attempts, and the database read
// only after a kill for "held at once". Kill points are drawn from a seeded generator; set
// XG_CRASH_SEED to replay a failing run (its seed is printed).
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { newUid, writeInstance } from '../../helpers/dicom-factory.ts';
import { PYTHON, pydicomAvailable } from '../../helpers/deid-oracles.ts';
import { describeWithPeers, freePort, spawnLogged, type LoggedProcess } from '../../helpers/peers.ts';
import { spawnReadyDaemon, type WatchedProcess } from '../../helpers/spawned-daemon.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { acknowledgedFiles } from '../../helpers/storescu-log.ts';

const KILLS = 20;
const SEED = Number(process.env.XG_CRASH_SEED ?? Date.now() % 1_000_000);

/** mulberry32: a small seeded generator, so a failing sequence of kill points can be replayed. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Sent {
  readonly file: string;
  readonly sop: string;
}

/** Files storescu logged as sent and answered Success. */
const acknowledged = (log: string): Set<string> => new Set(acknowledgedFiles(log));

/**
 * 1,000 instances in five series of one study: four of 225 small images (64×64) and one of 100
 * CT slices (512×512, ~526 KB, so kills also land in the middle of long writes). Instance numbers
 * are unique across the study, so every instance's pixel data is unique (dicom-factory's pattern).
 */
async function writeSet(dir: string): Promise<Sent[]> {
  mkdirSync(dir, { recursive: true });
  const study = newUid();
  const out: Sent[] = [];
  let n = 0;
  const series = [{ count: 100, size: 512 }, ...Array.from({ length: 4 }, () => ({ count: 225, size: 64 }))];
  for (const [k, s] of series.entries()) {
    const seriesInstanceUid = newUid();
    const frameOfReferenceUid = newUid();
    for (let i = 0; i < s.count; i++) {
      n++;
      const file = join(dir, `s${String(k)}-${String(n).padStart(4, '0')}.dcm`);
      const info = await writeInstance(file, {
        studyInstanceUid: study,
        seriesInstanceUid,
        frameOfReferenceUid,
        instanceNumber: n,
        seriesNumber: k + 1,
        rows: s.size,
        columns: s.size,
      });
      out.push({ file, sop: info.sopInstanceUid });
    }
  }
  return out;
}

/** SOP Instance UID and SHA-256 of the pixel data of every file, read by pydicom (an independent reader). */
function pixelDigests(files: readonly string[]): Promise<Map<string, { sop: string; pixels: string }>> {
  const script = `
import hashlib, json, sys, pydicom
out = {}
for p in sys.stdin.read().split('\\n'):
    if not p:
        continue
    ds = pydicom.dcmread(p)
    out[p] = {'sop': str(ds.SOPInstanceUID), 'pixels': hashlib.sha256(ds.PixelData).hexdigest()}
print(json.dumps(out))
`;
  return new Promise((resolve, reject) => {
    const child = execFile(PYTHON, ['-c', script], { maxBuffer: 1 << 28, timeout: 300_000 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`pydicom could not read a delivered file: ${err.message}\n${stderr.slice(-3000)}`));
      } else {
        resolve(new Map(Object.entries(JSON.parse(stdout) as Record<string, { sop: string; pixels: string }>)));
      }
    });
    child.stdin?.end(files.join('\n'));
  });
}

const pydicomMissing = (await pydicomAvailable()) ? [] : ['python3-pydicom'];

describeWithPeers(
  ['storescu'],
  'crash suite: SIGKILL at random points during a push',
  () => {
    const scratch = mkdtempSync(join(tmpdir(), 'xg-crash-suite-'));
    afterAll(() => {
      rmSync(scratch, { recursive: true, force: true });
    });

    it(`delivers every acknowledged instance exactly once and nothing unacknowledged or torn, over ${String(KILLS)} kills (seed ${String(SEED)})`, async () => {
      const random = generator(SEED);
      const dataDir = join(scratch, 'data');
      const outbox = join(scratch, 'outbox');
      const [dimsePort, httpPort] = [await freePort(), await freePort()];
      const configFile = join(scratch, 'gateway.yaml');
      // Profile none keeps the UIDs and the pixel data, so what is delivered can be compared with what
      // was sent; a short quiet period makes series complete, route and deliver between kills too.
      // Every kill during a delivery costs its job an attempt (lease-expired, "Daemon restarted during
      // the attempt"): 20 kills can use up the default 8 and leave a batch failed for an operator to
      // requeue, which is not what this suite is about, so the budget is the schema's maximum.
      writeFileSync(
        configFile,
        [
          `dataDir: ${dataDir}`,
          `dimse: { port: ${String(dimsePort)}, host: 127.0.0.1 }`,
          `http: { port: ${String(httpPort)} }`,
          'series: { quietPeriodMs: 700, checkIntervalMs: 100 }',
          'workers: { pollIntervalMs: 100, backoffBaseMs: 200, backoffMaxMs: 1000, maxAttempts: 100 }',
          'spool: { minFreeBytes: 0 }',
          'anonymise: { profile: none }',
          'folder: { enabled: false }',
          `sinks: [{ type: folder, path: ${outbox} }]`,
        ].join('\n'),
      );
      const sent = await writeSet(join(scratch, 'in'));
      const sopOf = new Map(sent.map((s) => [s.file, s.sop]));
      const acked = new Set<string>();

      const start = (): Promise<WatchedProcess> => spawnReadyDaemon(configFile, httpPort);
      /** What the sender still has to send (a console resends what failed), in order. */
      const push = (): LoggedProcess => {
        const rest = sent.filter((s) => !acked.has(s.sop)).map((s) => s.file);
        return spawnLogged(
          'storescu',
          ['-v', '-aec', 'XNAT', '127.0.0.1', String(dimsePort), ...(rest.length ? rest : [sent[0]?.file ?? ''])],
          { timeoutMs: 120_000 },
        );
      };
      /** What the killed process left: the instances it holds, and rows still marked not durable (ADR 0013) with their batch's state. */
      const heldNow = (): { held: Set<string>; notDurable: { sop: string; state: string }[] } => {
        const db = new Database(join(dataDir, 'gateway.db'), { readonly: true, fileMustExist: true });
        try {
          return {
            held: new Set(db.prepare('SELECT sop_instance_uid FROM instances').pluck().all() as string[]),
            notDurable: db
              .prepare(
                `SELECT i.sop_instance_uid AS sop, s.state FROM instances i JOIN series s ON s.id = i.series_id WHERE i.durable = 0`,
              )
              .all() as { sop: string; state: string }[],
          };
        } finally {
          db.close();
        }
      };
      let notDurableSeen = 0;
      const logs: string[] = [];
      /** The daemons' warnings and errors, for a failure message. */
      const problems = (): string =>
        logs
          .join('\n')
          .split('\n')
          .filter((l) => /"level":(40|50|60)/.test(l))
          .map((l) => l.slice(0, 600))
          .join('\n')
          .slice(-6000);

      const points: string[] = [];
      for (let k = 0; k < KILLS; k++) {
        const daemon = await start();
        const sender = push();
        const before = acked.size;
        // A kill point: after a random number of new acknowledgements (0–60) and a random delay
        // (0–300 ms), so it falls anywhere in receiving, committing, completing, routing and delivering.
        const wantAcks = Math.floor(random() * 61);
        const delayMs = Math.floor(random() * 300);
        await waitFor(
          () => acknowledged(sender.output()).size >= wantAcks || sender.child.exitCode !== null,
          `${String(wantAcks)} acknowledgements`,
          60_000,
          5,
        );
        await new Promise((r) => setTimeout(r, delayMs));
        await daemon.kill();
        logs.push(daemon.output());
        await sender.exited;
        for (const f of acknowledged(sender.output())) {
          acked.add(sopOf.get(f) ?? f);
        }
        points.push(`+${String(acked.size - before)}@${String(wantAcks)}/${String(delayMs)}ms`);
        // Every Success the sender saw is held at once: before any start-up recovery runs.
        const { held, notDurable } = heldNow();
        expect(
          [...acked].filter((s) => !held.has(s)),
          `round ${String(k)} (seed ${String(SEED)}, points ${points.join(' ')})`,
        ).toEqual([]);
        // A row whose file was not yet known durable never left its receiving batch: not routed, not delivered.
        expect(
          notDurable.filter((r) => r.state !== 'receiving'),
          `round ${String(k)} (seed ${String(SEED)})`,
        ).toEqual([]);
        notDurableSeen += notDurable.length;
      }

      // The last run: the sender sends the rest; everything completes and is delivered.
      const daemon = await start();
      const last = push();
      expect(await last.exited, last.output().slice(-2000)).toBe(0);
      for (const f of acknowledged(last.output())) {
        acked.add(sopOf.get(f) ?? f);
      }
      expect(acked.size).toBe(sent.length);
      interface Row {
        id: number;
        state: string;
      }
      interface Timeline {
        jobs: { state: string; attempts: { outcome: string | null }[] }[];
      }
      const api = async <T>(path: string): Promise<T> =>
        (await (await fetch(`http://127.0.0.1:${String(httpPort)}${path}`)).json()) as T;
      let rows: Row[] = [];
      await waitFor(
        async () => {
          rows = (await api<{ items: Row[] }>('/series?limit=500')).items;
          return rows.length > 0 && rows.every((r) => r.state === 'delivered' || r.state === 'failed');
        },
        'every series batch delivered',
        120_000,
        200,
      );
      const timelines = await Promise.all(rows.map((r) => api<Timeline>(`/series/${String(r.id)}`)));
      await daemon.stop('SIGTERM');
      console.log(
        `crash suite (seed ${String(SEED)}): kill points ${points.join(' ')}; rows found not durable after the kills: ${String(notDurableSeen)}`,
      );
      logs.push(daemon.output());
      const undelivered = rows.flatMap((r, i) => (r.state === 'delivered' ? [] : [{ ...r, timeline: timelines[i] }]));
      expect(undelivered, `${JSON.stringify(undelivered).slice(0, 4000)}\n${problems()}`).toEqual([]);
      // Every row was settled: marked durable by the running daemon or by start-up reconciliation.
      expect(heldNow().notDurable).toEqual([]);
      // Each delivery job reached "delivered" once (a retried attempt after a kill is not a second delivery).
      for (const t of timelines) {
        for (const j of t.jobs) {
          expect(j.attempts.filter((a) => a.outcome === 'delivered')).toHaveLength(1);
        }
      }

      // Exactly once in the outbox, whole, and only what was sent.
      const delivered = readdirSync(outbox, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && e.name.endsWith('.dcm') && !e.parentPath.includes('.partial'))
        .map((e) => join(e.parentPath, e.name));
      const read = await pixelDigests(delivered);
      const sentDigests = await pixelDigests(sent.map((s) => s.file));
      const expected = new Map([...sentDigests.values()].map((d) => [d.sop, d.pixels]));
      const bySop = new Map<string, number>();
      for (const d of read.values()) {
        bySop.set(d.sop, (bySop.get(d.sop) ?? 0) + 1);
        expect(d.pixels, `pixel data of ${d.sop}`).toBe(expected.get(d.sop));
      }
      expect([...bySop.entries()].filter(([, n]) => n !== 1)).toEqual([]);
      expect(new Set(bySop.keys())).toEqual(new Set(expected.keys()));
    }, 900_000);
  },
  pydicomMissing,
);
