//! Runs the de-identification engine (anonymiseSeries) on instances built by the test factory,
//! with a real key, ledger (SQLite file) and output directory, and reads the output back.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig } from '../../src/config/load.ts';
import { readDicomFile } from '../../src/dicom/dataset-file.ts';
import { parseDataset, type Element } from '../../src/dicom/dataset.ts';
import { parsePart10Header } from '../../src/dicom/part10.ts';
import { sniffFile } from '../../src/dicom/sniff.ts';
import { openDb, type Db } from '../../src/store/sqlite/db.ts';
import { createPseudonymLedger } from '../../src/store/sqlite/pseudonyms.ts';
import { sqliteUnitOfWork } from '../../src/store/sqlite/turns.ts';
import { settingsFor } from '../../src/transforms/anonymise/config.ts';
import type { TransformStep } from '../../src/transforms/anonymise/actions.ts';
import { loadOrCreateKey } from '../../src/transforms/anonymise/keys.ts';
import { anonymiseSeries } from '../../src/transforms/anonymise/series.ts';
import type { SeriesInput, SeriesOutcome } from '../../src/transforms/anonymise/series-types.ts';
import { encodeInstance, type InstanceOptions } from './dicom-factory.ts';

export interface DeidOptions {
  /** Merged into the config's `anonymise` section (profile, options, pseudonyms …). */
  readonly anonymise?: Record<string, unknown>;
  readonly project?: string;
  readonly skip?: readonly (TransformStep | 'identity')[];
  readonly refuseBurnedIn?: boolean;
}

export interface DeidResult {
  readonly outcome: SeriesOutcome;
  /** Each output file's File Meta and dataset, in input order (empty unless done). */
  readonly outputs: readonly { readonly path: string; readonly meta: Element[]; readonly elements: Element[] }[];
}

/** A scratch area with its own data directory (key, ledger): several runs share a ledger, as successive series do. */
export interface DeidScratch {
  readonly root: string;
  readonly db: Db;
  /** De-identifies `instances` (one series) and reads the output. */
  run(instances: readonly (InstanceOptions | Buffer)[], o?: DeidOptions): Promise<DeidResult>;
  /** Closes the ledger and removes the scratch area. */
  close(): Promise<void>;
}

export async function deidScratch(prefix = 'xnatgw-deid-'): Promise<DeidScratch> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  await mkdir(join(root, 'data'), { recursive: true });
  const db = openDb(join(root, 'data', 'gateway.db'));
  const ledger = createPseudonymLedger(db);
  const uow = sqliteUnitOfWork(db);
  let n = 0;
  return {
    root,
    db,
    async run(instances, o = {}) {
      const dir = join(root, `run-${String(++n)}`);
      await mkdir(join(dir, 'in'), { recursive: true });
      await mkdir(join(dir, 'out'), { recursive: true });
      const inputs: SeriesInput[] = [];
      for (const [i, spec] of instances.entries()) {
        const path = join(dir, 'in', `${String(i + 1).padStart(4, '0')}.dcm`);
        await writeFile(path, Buffer.isBuffer(spec) ? spec : encodeInstance(spec).bytes);
        const s = await sniffFile(path);
        if (s.kind !== 'part10' && s.kind !== 'bare') {
          throw new Error(`fixture ${path} is not DICOM: ${s.kind === 'not-dicom' ? s.reason : s.kind}`);
        }
        inputs.push({ path, datasetOffset: s.datasetOffset, transferSyntaxUid: s.transferSyntaxUid });
      }
      const project = o.project ?? 'HOLES';
      const cfg = buildConfig(
        { dataDir: join(root, 'data'), folder: { enabled: false }, anonymise: o.anonymise ?? {} },
        {},
        root,
      );
      const { key } = await loadOrCreateKey(join(root, 'data', 'keys'), project);
      const outcome = await anonymiseSeries(inputs, join(dir, 'out'), {
        settings: settingsFor(cfg.anonymise, project),
        key,
        ledger,
        uow,
        script: null,
        now: () => 1_700_000_000_000,
        refuseBurnedIn: o.refuseBurnedIn,
        skip: o.skip ? new Set(o.skip) : undefined,
      });
      const outputs = [];
      if (outcome.kind === 'done') {
        for (const inst of outcome.instances) {
          const bytes = await readFile(inst.path);
          const meta = parsePart10Header(bytes.subarray(0, 65536));
          if (!meta) {
            throw new Error(`output ${inst.path} has no File Meta`);
          }
          const file = await readDicomFile(inst.path, meta);
          const metaEls = parseDataset(bytes.subarray(132, meta.datasetOffset), {
            explicitVr: true,
            littleEndian: true,
            deflated: false,
          }).elements;
          outputs.push({ path: inst.path, meta: metaEls, elements: file.main.elements });
        }
      }
      return { outcome, outputs };
    },
    async close() {
      db.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
