//! Builds the route transform's RuleSet from protocol.txt, the YAML rules and the built-in sets.
// Evaluation order for one instance (the contract docs/routing.md describes):
//   1. Missing Modality (always) and missing PatientName/PatientID/StudyInstanceUID (when
//      builtin.missingIdentifiers is on) collect quarantine reasons.
//   2. User rules in file order, first match wins. `then: hospital` sends the instance to the
//      hospital unless step 1 fired: an explicit exception that skips steps 3 and 4 (and when step 1
//      did fire, the verdict is quarantine with step 1's reasons only, since the rule vouched for
//      the rest). `then: quarantine` adds its reason and evaluation goes on, to collect every reason.
//   3. The built-in burned-in checks: each that fires adds a reason.
//   4. protocol.txt: Modality include list, ManufacturerModelName exclude list.
//   5. No reason → hospital, with rule 'default'. When no user rule matched and the rules file says
//      `default: quarantine`, a 'default' reason is added, so such an instance is always quarantined.
import { createHash } from 'node:crypto';
import { burnedInReasons, compileBuiltin, missingReasons, type Builtin } from './builtin.ts';
import { capValues, valuePolicy, type ShowValues } from './attribute-values.ts';
import { matchCondition } from './conditions.ts';
import { parseProtocol, protocolReasons, type Protocol } from './protocol.ts';
import { parseRulesFile, type Rule, type RulesFile } from './rules-file.ts';
import {
  RuleFileError,
  type InstanceView,
  type InstanceVerdict,
  type RouteReason,
  type RuleInputs,
  type RuleSet,
  type Target,
} from './types.ts';

const DEFAULT_HOSPITAL: RouteReason = {
  rule: 'default',
  source: 'default',
  message: 'No rule sent it to quarantine.',
  instances: 1,
};

/**
 * Validates every input and returns the rule set. Throws RuleFileError listing every problem found,
 * each `${path} line N: message` (or `${path}: …` for a missing protocol line, and
 * `builtin.burnedIn.seriesDescriptions[i]: …` for a bad built-in pattern).
 * `o.identifying(tag)` says whether an attribute can identify a patient; reasons never carry its values.
 */
export function buildRuleSet(inputs: RuleInputs, o: { identifying(tag: number): boolean }): RuleSet {
  const problems: string[] = [];
  const protocol = inputs.protocol ? parseProtocol(inputs.protocol.path, inputs.protocol.text, problems) : null;
  const rules = inputs.rules ? parseRulesFile(inputs.rules.path, inputs.rules.text, problems) : null;
  const builtin = compileBuiltin(inputs.builtin, problems);
  if (problems.length > 0) {
    throw new RuleFileError(problems);
  }
  const show = valuePolicy((tag) => o.identifying(tag));
  const files: RuleSet['files'][number][] = [];
  if (inputs.protocol) {
    files.push({ path: inputs.protocol.path, kind: 'protocol', sha256: sha256(inputs.protocol.text) });
  }
  if (inputs.rules) {
    files.push({ path: inputs.rules.path, kind: 'rules', sha256: sha256(inputs.rules.text) });
  }
  return Object.freeze({
    hash: rulesHash(inputs),
    files: Object.freeze(files.map((f) => Object.freeze(f))),
    evaluate: (instance: InstanceView) => evaluate({ protocol, rules, builtin, show }, instance),
  });
}

interface Compiled {
  readonly protocol: Protocol | null;
  readonly rules: RulesFile | null;
  readonly builtin: Builtin;
  readonly show: ShowValues;
}

function evaluate(c: Compiled, instance: InstanceView): InstanceVerdict {
  const reasons = missingReasons(c.builtin, instance);
  const hit = c.rules ? firstMatch(c.rules, instance, c.show) : null;
  if (hit?.rule.then === 'hospital') {
    return reasons.length > 0 ? { target: 'quarantine', reasons } : { target: 'hospital', reasons: [hit.reason] };
  }
  if (hit) {
    reasons.push(hit.reason);
  }
  reasons.push(...burnedInReasons(c.builtin, instance, c.show));
  if (c.protocol) {
    reasons.push(...protocolReasons(c.protocol, instance, c.show));
  }
  if (!hit && c.rules?.default === 'quarantine') {
    const line = c.rules.defaultLine;
    reasons.push({
      rule: 'default',
      source: 'default',
      file: c.rules.path,
      ...(line === null ? {} : { line }),
      message: "No rule matched, and the rules file's default is quarantine.",
      instances: 1,
    });
  }
  return reasons.length > 0 ? { target: 'quarantine', reasons } : { target: 'hospital', reasons: [DEFAULT_HOSPITAL] };
}

function firstMatch(
  file: RulesFile,
  instance: InstanceView,
  show: ShowValues,
): { rule: Rule; reason: RouteReason } | null {
  for (const rule of file.rules) {
    const m = matchCondition(rule.when, instance);
    if (!m) {
      continue;
    }
    const verb = rule.then === 'hospital' ? 'sends it to the hospital project' : 'sends it to quarantine';
    const values = m.leaf ? show(m.leaf.tag, m.leaf.values) : undefined;
    const reason: RouteReason = {
      rule: `rules:${rule.name}`,
      source: 'rules',
      file: file.path,
      line: rule.line,
      message: `Rule ${rule.name} ${verb}${rule.reason === null ? '.' : `: ${rule.reason}`}`,
      instances: 1,
      ...(m.leaf ? { attribute: m.leaf.attribute } : {}),
      ...(values ? { values } : {}),
    };
    return { rule, reason };
  }
  return null;
}

/**
 * The verdict on a series from the verdicts on its instances: quarantine when any instance is (a
 * series is never split). Reasons of the deciding side are merged by rule and attribute: instance
 * counts summed, values unioned (at most 5). No instance at all is quarantine (fail closed).
 */
export function mergeVerdicts(verdicts: Iterable<InstanceVerdict>): { target: Target; reasons: RouteReason[] } {
  const all = [...verdicts];
  if (all.length === 0) {
    return {
      target: 'quarantine',
      reasons: [{ rule: 'default', source: 'default', message: 'The series has no instances to judge.', instances: 0 }],
    };
  }
  const target: Target = all.some((v) => v.target === 'quarantine') ? 'quarantine' : 'hospital';
  const merged = new Map<string, RouteReason>();
  for (const verdict of all) {
    if (verdict.target !== target) {
      continue;
    }
    for (const r of verdict.reasons) {
      const key = `${r.rule}\u0000${r.attribute ?? ''}`;
      const seen = merged.get(key);
      merged.set(key, seen ? combine(seen, r) : r);
    }
  }
  return { target, reasons: [...merged.values()] };
}

function combine(a: RouteReason, b: RouteReason): RouteReason {
  const values = capValues([...(a.values ?? []), ...(b.values ?? [])]);
  const out: RouteReason = { ...a, instances: a.instances + b.instances };
  return values ? { ...out, values } : out;
}

/** sha256 (hex) of a canonical JSON of the file contents and the built-in settings. */
function rulesHash(inputs: RuleInputs): string {
  // Keys are written in a fixed order, so the hash does not depend on how config was built.
  const b = inputs.builtin;
  const canonical = {
    protocol: inputs.protocol?.text ?? null,
    rules: inputs.rules?.text ?? null,
    builtin: {
      burnedIn: {
        enabled: b.burnedIn.enabled,
        modalities: [...b.burnedIn.modalities],
        seriesDescriptions: [...b.burnedIn.seriesDescriptions],
      },
      missingIdentifiers: b.missingIdentifiers,
    },
  };
  return sha256(JSON.stringify(canonical));
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
