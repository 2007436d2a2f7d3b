//! What the quarantine protocol works with: one instance's attributes, a rule set, and a series decision.
// The route component decides, per completed series, between the hospital project and the
// quarantine project. Rules see instances (every instance of a series is evaluated, so one
// burned-in screen capture quarantines its whole series); the pipeline's router persists the
// decision, holds RT objects until their images arrive, and fans the series out to sinks.
import type {
  RouteReason,
  RtReferences,
  RuleFile,
  RuleSource,
  RulesStatus,
  SeriesDecision,
  Target,
} from '../../contracts/routing.ts';

export type { RouteReason, RtReferences, RuleFile, RuleSource, RulesStatus, SeriesDecision, Target };

/** One instance's top-level attributes as the rules see them. */
export interface InstanceView {
  /**
   * Values of a top-level attribute: undefined when absent, [] when present but empty. Text VRs are
   * decoded as Latin-1, split on '\' and trimmed; numeric binary VRs (US, UL, SS, SL, FL, FD, …) are
   * decimal strings; other binary VRs and sequences give [] (present, no comparable value).
   */
  values(tag: number): readonly string[] | undefined;
  /** SOPClassUID from the dataset, else from the File Meta (MediaStorageSOPClassUID); '' if neither. */
  readonly sopClassUid: string;
}

/** What the rules say about one instance. */
export interface InstanceVerdict {
  readonly target: Target;
  /** quarantine: every rule that fired for the instance; hospital: the allow rule, or 'default'. */
  readonly reasons: readonly RouteReason[];
}

/** A validated, immutable set of rules: protocol.txt, the YAML rules and the built-in sets together. */
export interface RuleSet {
  /** sha256 (hex) over the content of every file and the built-in switches: identifies what decided. */
  readonly hash: string;
  /** The files it was built from. */
  readonly files: readonly RuleFile[];
  evaluate(instance: InstanceView): InstanceVerdict;
}

/** The raw inputs of a rule set: file contents as read, and the built-in switches from config. */
export interface RuleInputs {
  readonly protocol: { readonly path: string; readonly text: string } | null;
  readonly rules: { readonly path: string; readonly text: string } | null;
  readonly builtin: {
    readonly burnedIn: {
      readonly enabled: boolean;
      readonly modalities: readonly string[];
      readonly seriesDescriptions: readonly string[];
    };
    readonly missingIdentifiers: boolean;
  };
}

/** A protocol or rules file that does not validate: one problem per line, each `path line N: message`. */
export class RuleFileError extends Error {
  override readonly name = 'RuleFileError';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('; '));
    this.problems = problems;
  }
}
