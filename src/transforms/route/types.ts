//! What the quarantine protocol works with: one instance's attributes, a rule set, and a series decision.
// The route component decides, per completed series, between the hospital project and the
// quarantine project. Rules see instances (every instance of a series is evaluated, so one
// burned-in screen capture quarantines its whole series); the pipeline's router persists the
// decision, holds RT objects until their images arrive, and fans the series out to sinks.

/** Where a series goes: the configured hospital project, or the quarantine project. */
export type Target = 'hospital' | 'quarantine';

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

/** Where a rule was written: a config file and line, or the built-in sets. */
export type RuleSource = 'builtin' | 'protocol' | 'rules' | 'rt' | 'router' | 'release' | 'default';

/** One reason behind a decision. Never holds an identifying value. */
export interface RouteReason {
  /**
   * Stable id of the rule that fired, e.g. 'builtin:burned-in-annotation', 'builtin:missing-identifier',
   * 'protocol:modality', 'protocol:model', 'rules:<name>', 'rt:referenced-images-missing', 'release', 'default'.
   */
  readonly rule: string;
  readonly source: RuleSource;
  /** The file the rule came from and its 1-based line, for protocol and rules files. */
  readonly file?: string;
  readonly line?: number;
  /** One sentence for an operator, without patient data. */
  readonly message: string;
  /** The attribute keyword the rule looked at, when it looked at one. */
  readonly attribute?: string;
  /** The values that matched, only for attributes that cannot identify a patient (see RuleSet). */
  readonly values?: readonly string[];
  /** How many instances of the series matched. */
  readonly instances: number;
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
  readonly files: readonly { readonly path: string; readonly kind: 'protocol' | 'rules'; readonly sha256: string }[];
  evaluate(instance: InstanceView): InstanceVerdict;
}

/** What an RT object refers to, so it can wait for its images. */
export interface RtReferences {
  /** RTSTRUCT, RTPLAN, RTDOSE (by Modality, else by SOP Class). */
  readonly modality: string;
  /** Referenced series: RTReferencedSeriesSequence > SeriesInstanceUID, ReferencedSeriesSequence > SeriesInstanceUID, at any depth. */
  readonly seriesUids: readonly string[];
  /** Referenced instances: ReferencedSOPInstanceUID at any depth (images, structure sets, plans). */
  readonly sopInstanceUids: readonly string[];
}

/** The route component's verdict on a whole series (every instance evaluated). */
export interface SeriesDecision {
  readonly target: Target;
  readonly project: string;
  /** Merged over instances: one entry per rule that fired, with instance counts. */
  readonly reasons: readonly RouteReason[];
  readonly rulesHash: string;
  /** Set when the series is an RT object (RTSTRUCT, RTPLAN, RTDOSE): what it must wait for. */
  readonly rt: RtReferences | null;
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

/** The rules in force, for /status and logs: a bad edit keeps the previous rules and says so here. */
export interface RulesStatus {
  readonly hash: string;
  readonly loadedAt: number;
  readonly files: RuleSet['files'];
  /** The last reload that failed (the rules above stayed in force), or null. */
  readonly lastError: { readonly at: number; readonly problems: readonly string[] } | null;
}
