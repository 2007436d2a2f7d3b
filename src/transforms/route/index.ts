//! The `route` transform: decides, per completed series, between the hospital and the quarantine project.
// Every instance header is read and evaluated (one burned-in screen capture quarantines its whole
// series), by one rule set taken when the series starts, so a reload mid-series cannot split it.
// Headers are evaluated as they are read and dropped (tally.ts); `explain` is explain.ts.
import type { ComponentContext, SeriesSnapshot } from '../../contracts/component.ts';
import type { RouteConfig } from './config.ts';
import { explainFiles, type ExplainedSeries } from './explain.ts';
import { eachLimited, failureOf, PARALLEL_READS } from './header-reads.ts';
import { identityReason, type RouteDeps } from './identity.ts';
import { readInstance } from './instance-view.ts';
import { createRuleSource } from './rule-source.ts';
import { createTally, type Tally } from './tally.ts';
import type { RuleSet, RulesStatus, SeriesDecision } from './types.ts';
import type { Lifecycle } from '../../contracts/lifecycle.ts';

/** The route component (see the module comment). */
/**
 * The route transform: the shared lifecycle (`start` watches the rule files, `stop` stops watching,
 * `ready` is false only while no rule set could ever be loaded, `describe` the rules in force) and
 * the decision.
 */
export interface Route extends Lifecycle {
  readonly id: 'route';
  /**
   * Reads every instance header of the series and applies the rules in force (one rule set for the
   * whole series). Fail closed: an unreadable instance quarantines the series with rule
   * 'builtin:unreadable'. Throws only when `signal` aborts. Also returns the RT references (union
   * over instances) when the series is RT.
   */
  decide(series: SeriesSnapshot, signal: AbortSignal): Promise<SeriesDecision>;
  /**
   * Offline/explain: groups files (folders are walked, hidden names skipped) by (StudyInstanceUID,
   * SeriesInstanceUID) and decides each group as `decide` would. Files that are not DICOM are listed
   * in `skipped` with a reason. An RT group whose referenced images are not among the files gets the
   * reason 'rt:waits-for-images' (its target stays as the rules decided).
   */
  explain(
    paths: readonly string[],
    signal: AbortSignal,
  ): Promise<{ series: ExplainedSeries[]; skipped: { path: string; reason: string }[] }>;
  rules(): RulesStatus;
}

/**
 * Loads the rules (throws RuleFileError when they do not validate: the daemon refuses to start).
 * `deps.identifying(tag)` says whether an attribute can identify a patient (reasons never show its values).
 */
export function create(cfg: RouteConfig, ctx: ComponentContext, deps: RouteDeps): Route {
  const source = createRuleSource(cfg, ctx, deps);

  async function decision(tally: Tally, rules: RuleSet): Promise<SeriesDecision> {
    const { target, reasons, rt } = tally.result();
    // Never merged on a conflicting key: such a series goes to quarantine, where an operator sees why.
    const conflict = await identityReason(
      tally.keys,
      tally.instances,
      cfg.hospitalProject,
      target === 'hospital' ? deps.studySession : undefined,
    );
    const to = conflict ? 'quarantine' : target;
    const project = to === 'hospital' ? cfg.hospitalProject : cfg.quarantineProject;
    const why = conflict ? (target === 'quarantine' ? [...reasons, conflict] : [conflict]) : reasons;
    return { target: to, project, reasons: why, rulesHash: rules.hash, rt };
  }

  return {
    type: 'route',
    id: 'route',
    async decide(series, signal) {
      signal.throwIfAborted();
      const rules = source.current();
      const tally = createTally(rules);
      await eachLimited(series.instances, PARALLEL_READS, signal, async (instance) => {
        try {
          tally.instance(await readInstance(instance.path));
        } catch (err) {
          signal.throwIfAborted();
          ctx.log.warn(
            { seriesId: series.seriesId, instanceId: instance.instanceId, failure: failureOf(err) },
            'An instance header could not be read; its series goes to quarantine.',
          );
          ctx.log.debug(
            { seriesId: series.seriesId, instanceId: instance.instanceId, err },
            'Instance header read failure.',
          );
          tally.unreadable();
        }
      });
      const d = await decision(tally, rules);
      ctx.log.debug(
        { seriesId: series.seriesId, target: d.target, rules: d.reasons.map((r) => r.rule), rulesHash: d.rulesHash },
        'Series routed.',
      );
      return d;
    },
    explain: (paths, signal) => explainFiles(paths, signal, () => source.current(), decision, cfg.rtWaitMs),
    rules: () => source.status(),
    start: () => {
      source.start();
      return Promise.resolve();
    },
    stop: () => source.close(),
    // The rules in force keep working when an edit fails to load: still ready, the error is described.
    ready: () => ({ ready: true }),
    describe: () => {
      const r = source.status();
      return {
        rulesHash: r.hash,
        ruleFiles: r.files.length,
        loadedAt: r.loadedAt,
        lastReloadFailedAt: r.lastError?.at ?? null,
      };
    },
  };
}
