//! One series of an offline anonymise run: the built-in burned-in check, then the engine, retried without an instance it cannot parse.
import { mkdir, rm } from 'node:fs/promises';
import { HeaderError } from '../dicom/elements.ts';
import type { IoThreads } from '../dicom/io-thread.ts';
import { ScriptRuntimeError } from '../transforms/anonymise/dicomedit/errors.ts';
import { anonymiseSeries } from '../transforms/anonymise/series.ts';
import {
  InstanceReadError,
  type SeriesDeps,
  type SeriesInput,
  type SeriesOutcome,
} from '../transforms/anonymise/series-types.ts';
import { burnedInReasons, type Builtin } from '../transforms/route/builtin.ts';
import { readInstance } from '../transforms/route/instance-view.ts';
import type { OfflineSkip } from './offline-input.ts';

/**
 * The built-in burned-in rules over every instance of a series, as the daemon's router applies
 * them: the reasons (rule and message, no values), or none. An instance whose header cannot be
 * read is left to the engine, which names it.
 */
export async function burnedIn(builtin: Builtin, inputs: readonly SeriesInput[]): Promise<string[]> {
  const reasons = new Map<string, string>();
  for (const input of inputs) {
    let view;
    try {
      view = (await readInstance(input.path, input)).view;
    } catch (err) {
      if (err instanceof HeaderError) {
        continue;
      }
      throw err;
    }
    for (const r of burnedInReasons(builtin, view, () => undefined)) {
      reasons.set(r.rule, `${r.message} (${r.rule})`);
    }
  }
  return [...reasons.values()];
}

export type EngineDeps = Omit<SeriesDeps, 'refuseBurnedIn'> & { readonly io: IoThreads };

/**
 * De-identifies one series into `work`. An instance that cannot be parsed is listed in `skipped`
 * and the series is de-identified again without it, so one broken file does not cost its series.
 */
export async function runSeries(
  inputs: readonly SeriesInput[],
  work: string,
  deps: EngineDeps,
  refuseBurnedIn: boolean,
  skipped: OfflineSkip[],
): Promise<{ outcome: SeriesOutcome; inputs: readonly SeriesInput[] }> {
  let remaining = inputs;
  for (;;) {
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true, mode: 0o700 });
    try {
      return { outcome: await anonymiseSeries(remaining, work, { ...deps, refuseBurnedIn }), inputs: remaining };
    } catch (err) {
      if (err instanceof InstanceReadError) {
        const bad = remaining[err.index];
        if (bad) {
          skipped.push({
            path: bad.path,
            reason: `DICOM, but it cannot be parsed for de-identification (${err.message})`,
            dicom: true,
          });
        }
        remaining = remaining.filter((_, i) => i !== err.index);
        if (remaining.length === 0) {
          return {
            outcome: { kind: 'failed', reason: 'No instance of the series could be parsed.' },
            inputs: remaining,
          };
        }
        continue;
      }
      if (err instanceof HeaderError) {
        return {
          outcome: { kind: 'failed', reason: `An instance could not be parsed (${err.message}).` },
          inputs: remaining,
        };
      }
      if (err instanceof ScriptRuntimeError) {
        return {
          outcome: { kind: 'failed', reason: `The DicomEdit script failed at ${err.message}.` },
          inputs: remaining,
        };
      }
      throw err;
    }
  }
}
