//! While a series is de-identified on its I/O thread, the event loop keeps turning: C-STORE
//! responses and the status server are served between instances, not after the series. Counted
//! in loop turns, not milliseconds (speed belongs to bench/).
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load.ts';
import { createIoThreads, type IoThreads } from '../../../src/dicom/io-thread.ts';
import { sniffFile } from '../../../src/dicom/sniff.ts';
import { openDb } from '../../../src/store/sqlite/db.ts';
import { createPseudonymLedger } from '../../../src/store/sqlite/pseudonyms.ts';
import { sqliteUnitOfWork } from '../../../src/store/sqlite/turns.ts';
import { settingsFor } from '../../../src/transforms/anonymise/config.ts';
import { loadOrCreateKey } from '../../../src/transforms/anonymise/keys.ts';
import { anonymiseSeries } from '../../../src/transforms/anonymise/series.ts';
import type { SeriesInput } from '../../../src/transforms/anonymise/series-types.ts';
import { writeSeries } from '../../helpers/dicom-factory.ts';
import { describeWithPeers } from '../../helpers/peers.ts';

const COUNT = 400;
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'xnatgw-anon-loop-'));
  await writeSeries(join(root, 'in'), {
    count: COUNT,
    rows: 64,
    columns: 64,
    patientName: 'Turner^Tess',
    patientId: 'MRN4711',
  });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describeWithPeers([], 'anonymise: the event loop during a series', () => {
  it('turns after every instance: no turn sees more than the four in flight written', async () => {
    const cfg = buildConfig({ dataDir: join(root, 'data'), folder: { enabled: false } }, {}, root);
    const db = openDb(join(root, 'data', 'gateway.db'));
    const threads = createIoThreads();
    // The turn in which each output file was written: the thread's replies, seen from the loop.
    let turns = 0;
    const writtenIn: number[] = [];
    const io: IoThreads = {
      use: (fn) =>
        threads.use((t) =>
          fn({
            shared: t.shared,
            readInto: (path, into, expected) => t.readInto(path, into, expected),
            createFile: (path, mode, head, rest) =>
              t.createFile(path, mode, head, rest).then((n) => {
                writtenIn.push(turns);
                return n;
              }),
          }),
        ),
      close: () => threads.close(),
    };
    try {
      // As the daemon's transform: inputs sniffed first (on libuv's pool, turns of their own), then the call.
      const inputs: SeriesInput[] = [];
      for (const name of (await readdir(join(root, 'in'))).sort()) {
        const path = join(root, 'in', name);
        const s = await sniffFile(path);
        if (s.kind !== 'part10') {
          throw new Error(`${path}: ${s.kind}`);
        }
        inputs.push({
          path,
          datasetOffset: s.datasetOffset,
          transferSyntaxUid: s.transferSyntaxUid,
          size: (await stat(path)).size,
        });
      }
      const settings = settingsFor(cfg.anonymise, 'LOOP');
      const { key } = await loadOrCreateKey(join(root, 'data', 'keys'), 'LOOP');
      await mkdir(join(root, 'out'));
      // One count per turn: an immediate set from an immediate runs in the next turn's check phase.
      let counting = true;
      const tick = (): void => {
        turns++;
        if (counting) {
          setImmediate(tick);
        }
      };
      setImmediate(tick);
      const r = await anonymiseSeries(inputs, join(root, 'out'), {
        settings,
        key,
        ledger: createPseudonymLedger(db),
        uow: sqliteUnitOfWork(db),
        script: null,
        now: () => Date.now(),
        io,
      }).finally(() => {
        counting = false;
      });
      expect(r.kind === 'failed' ? r.reason : r.kind).toBe('done');
      expect((await readdir(join(root, 'out'))).filter((f) => f.endsWith('.dcm'))).toHaveLength(COUNT);
      expect(writtenIn).toHaveLength(COUNT);
      // Each of the four instances in flight waits for the next turn after it is written, so no
      // turn sees more than four written (without that wait, a thousand replies could be one turn).
      const perTurn = new Map<number, number>();
      for (const t of writtenIn) {
        perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
      }
      expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(4);
    } finally {
      await io.close();
      db.close();
    }
  });
});
