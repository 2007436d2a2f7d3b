//! What a routing decision is made of: target, reasons, RT references and the rules in force.
// Shared by the route transform that decides, the router and the stores that keep the decision,
// and the status server that shows it; no patient data in any of them.

/** One file a rule set was built from: a DASHER protocol.txt or a YAML rules file. */
export interface RuleFile {
  readonly path: string;
  readonly kind: 'protocol' | 'rules';
  readonly sha256: string;
}

/** Where a series goes: the configured hospital project, or the quarantine project. */
export type Target = 'hospital' | 'quarantine';

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

/** The rules in force, for /status and logs: a bad edit keeps the previous rules and says so here. */
export interface RulesStatus {
  readonly hash: string;
  readonly loadedAt: number;
  readonly files: readonly RuleFile[];
  /** The last reload that failed (the rules above stayed in force), or null. */
  readonly lastError: { readonly at: number; readonly problems: readonly string[] } | null;
}
