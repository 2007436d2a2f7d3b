//! Explain: which project each series of some files would go to, and why, without sending anything.
//! Backs `xnat-gateway explain` and POST /explain; both use the route component the daemon uses.
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { extractZip, ZipNoSpace, ZipRejected } from '../sources/folder/unzip.ts';
import type { DiskSpace } from '../spool/disk-space.ts';
import type { Route } from '../transforms/route/index.ts';
import type { ExplainResult } from '../status/deps.ts';

async function isZip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, 0);
    return bytesRead === 4 && b.readUInt32LE(0) === 0x04034b50;
  } finally {
    await fh.close();
  }
}

/**
 * An uploaded file: a zip is unpacked (with the import folder's limits, its declared expansion
 * reserved in `space` first) beside it, then explained.
 */
export async function explainUpload(
  route: Route,
  cfg: Config,
  file: string,
  signal: AbortSignal,
  space?: DiskSpace,
): Promise<ExplainResult> {
  if (!(await isZip(file))) {
    return route.explain([file], signal);
  }
  const dir = join(dirname(file), 'unzipped');
  let extracted;
  try {
    extracted = await extractZip(file, dir, {
      maxEntries: cfg.folder.maxZipEntries,
      maxExpandedBytes: cfg.folder.maxZipExpandedBytes,
      maxRatio: cfg.folder.maxZipRatio,
      signal,
      ...(space
        ? {
            reserve: (bytes: number) =>
              space.reserve(dir, bytes) ??
              new ZipNoSpace(
                `The zip expands to ${String(bytes)} bytes: not enough free space above spool.minFreeBytes now; try again later.`,
              ),
          }
        : {}),
    });
  } catch (err) {
    if (err instanceof ZipRejected) {
      throw Object.assign(new Error(`The zip was rejected: ${err.message}.`), { statusCode: 400 });
    }
    if (err instanceof ZipNoSpace) {
      throw Object.assign(new Error(err.message), { statusCode: 507 });
    }
    throw err;
  }
  const result = await route.explain([dir], signal);
  const skipped = [
    ...extracted.skipped.map((s) => ({ path: s.rel, reason: s.reason })),
    ...result.skipped.map((s) => ({ ...s, path: s.path.startsWith(dir) ? s.path.slice(dir.length + 1) : s.path })),
  ];
  return { series: result.series, skipped };
}

/** One line of `explain --json`: the fields the issue names, plus what helps a script. */
export function explainJson(s: ExplainResult['series'][number]): Record<string, unknown> {
  return {
    seriesInstanceUid: s.seriesInstanceUid,
    project: s.decision.project,
    reasons: s.decision.reasons,
    target: s.decision.target,
    modality: s.modality,
    instances: s.instances,
    studyInstanceUid: s.studyInstanceUid,
    rulesHash: s.decision.rulesHash,
  };
}

/** The human-readable form: one block per series. */
export function explainText(r: ExplainResult): string {
  const lines: string[] = [];
  for (const s of r.series) {
    lines.push(
      `${s.seriesInstanceUid} (${s.modality || 'no modality'}, ${String(s.instances)} instance${s.instances === 1 ? '' : 's'}) -> ${s.decision.project}`,
    );
    for (const why of s.decision.reasons) {
      const where = why.file ? ` [${why.file}${why.line ? ` line ${String(why.line)}` : ''}]` : '';
      const values = why.values?.length ? ` (${why.values.join(', ')})` : '';
      const count = why.instances > 0 ? `, ${String(why.instances)} instance${why.instances === 1 ? '' : 's'}` : '';
      lines.push(`  - ${why.rule}: ${why.message}${values}${where}${count}`);
    }
  }
  for (const k of r.skipped) {
    lines.push(`skipped ${k.path}: ${k.reason}`);
  }
  lines.push(`rules ${r.series[0]?.decision.rulesHash.slice(0, 12) ?? ''}`);
  return lines.join('\n');
}
