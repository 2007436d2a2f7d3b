// Routing benchmark: what the quarantine protocol costs per series, next to the de-identification
// that follows it. Prints figures; asserts nothing about speed.
//   ./gateway npm run bench:route -- [--count 1000] [--runs 3]
//
// Data: --count CT instances of 512×512 16-bit (~530 KB each), one series, written once into a
// temporary directory. Each run calls the route component's `decide` (src/transforms/route) on
// the series with the default built-in sets plus a DASHER protocol.txt and a five-rule YAML file,
// exactly as the router does: every instance header is read (up to the pixel data) and evaluated.
// The heap used before and after, and the process's peak RSS, show that headers are not kept.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEvents } from '../src/events.ts';
import { createLogger } from '../src/log.ts';
import { systemClock } from '../src/clock.ts';
import { routeConfig } from '../src/transforms/route/config.ts';
import { create as createRoute } from '../src/transforms/route/index.ts';
import { isIdentifying } from '../src/transforms/anonymise/table.ts';
import type { SeriesSnapshot } from '../src/contracts/series.ts';
import { newUid, writeSeries } from '../test/helpers/dicom-factory.ts';

const { values } = parseArgs({
  options: { count: { type: 'string', default: '1000' }, runs: { type: 'string', default: '3' } },
});
const count = Number(values.count);
const runs = Number(values.runs);
const work = mkdtempSync(join(tmpdir(), 'xg-bench-route-'));
try {
  const dir = join(work, 'series');
  const study = newUid();
  const series = newUid();
  await writeSeries(dir, { count, rows: 512, columns: 512, studyInstanceUid: study, seriesInstanceUid: series });
  writeFileSync(
    join(work, 'protocol.txt'),
    '0008,0060 Modality CT, MR, PET, RTSTRUCT, RTPLAN, RTDOSE\n0008,1090 ManufacturersModelName Aera, "SOMATOM Definition AS+"\n',
  );
  writeFileSync(
    join(work, 'rules.yaml'),
    `version: 1
rules:
  - { name: localisers, when: { attribute: ImageType, oneOf: [LOCALIZER, SCOUT] }, then: quarantine }
  - { name: thin, when: { all: [ { attribute: Modality, equals: CT }, { attribute: SliceThickness, lt: 0.5 } ] }, then: hospital }
  - { name: station, when: { attribute: StationName, regex: '^US-' }, then: quarantine }
  - { name: no-frame, when: { attribute: FrameOfReferenceUID, missing: true }, then: quarantine }
  - { name: big, when: { attribute: Rows, gt: 4096 }, then: quarantine }
`,
  );
  const cfg = routeConfig.parse({ protocolFile: join(work, 'protocol.txt'), rulesFile: join(work, 'rules.yaml') });
  const route = createRoute(
    cfg,
    { log: createLogger('silent'), clock: systemClock, events: createEvents() },
    { identifying: isIdentifying },
  );
  const files = readdirSync(dir).sort();
  const snapshot: SeriesSnapshot = {
    seriesId: 1,
    studyInstanceUid: study,
    seriesInstanceUid: series,
    batch: 1,
    modality: 'CT',
    instances: files.map((f, i) => ({
      instanceId: i + 1,
      sopInstanceUid: f,
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      instanceNumber: i + 1,
      path: join(dir, f),
      size: 0,
    })),
  };
  const seconds: number[] = [];
  let heapAfter = 0;
  const heapBefore = process.memoryUsage().heapUsed;
  let target = '';
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    const d = await route.decide(snapshot, AbortSignal.timeout(600_000));
    seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
    target = `${d.project} (${d.reasons.map((x) => x.rule).join(', ')})`;
    heapAfter = process.memoryUsage().heapUsed;
  }
  await route.stop();
  const median = [...seconds].sort((a, b) => a - b)[Math.floor(seconds.length / 2)] ?? 0;
  console.log(
    `Routing one series of ${String(count)} CT instances (512×512), ${String(runs)} runs: ${seconds.map((s) => s.toFixed(2)).join(', ')} s`,
  );
  console.log(`| instances | median s | instances/s | ms/instance | heap growth MB | peak RSS MB | decision |`);
  console.log(`|---|---|---|---|---|---|---|`);
  console.log(
    `| ${String(count)} | ${median.toFixed(2)} | ${(count / median).toFixed(0)} | ${((median * 1000) / count).toFixed(2)} | ${((heapAfter - heapBefore) / 1e6).toFixed(1)} | ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} | ${target} |`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
