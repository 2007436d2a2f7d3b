//! Presentation contexts for a series: which to propose, and which accepted one carries each instance.
// We propose each stored transfer syntax on its own, so an accepting peer can only choose the exact
// syntax and the stored bytes go out unchanged. Uncompressed data not in Explicit VR Little Endian
// gets a second context with Explicit VR Little Endian, used (with transcoding) only when the
// exact one is refused. There is deliberately no Implicit VR Little Endian last resort: it would
// lose the VR of private elements (dcmjs-dimse #52), and XNAT accepts Explicit VR Little Endian.
import { TS } from '../../dicom/transfer-syntax.ts';
import type { ContextResult, ProposedContext } from '../../dicom/pdu.ts';

/** PS3.8 §9.3.2.2: context ids are odd, 1–255, so one association carries at most 128. */
export const MAX_CONTEXTS = 128;

/** Uncompressed syntaxes we can rewrite as Explicit VR Little Endian without touching pixel data. */
const TRANSCODABLE: ReadonlySet<string> = new Set([TS.ImplicitLE, TS.ExplicitBE, TS.DeflatedExplicitLE]);

export function needsFallback(transferSyntaxUid: string): boolean {
  return TRANSCODABLE.has(transferSyntaxUid);
}

interface Keyed {
  readonly sopClassUid: string;
  readonly transferSyntaxUid: string;
}

/** Contexts for one association and the instances (indexes into the series) it carries. */
export interface ContextPlan {
  readonly contexts: readonly ProposedContext[];
  /** Indexes of the instances sent on this association, in series order. */
  readonly instances: readonly number[];
  /** `${sopClass}|${ts}` → id of the context proposing exactly that syntax. */
  readonly exact: ReadonlyMap<string, number>;
  /** SOP class → id of its Explicit VR Little Endian fallback context. */
  readonly fallback: ReadonlyMap<string, number>;
}

const keyOf = (i: Keyed): string => `${i.sopClassUid}|${i.transferSyntaxUid}`;

/**
 * Groups the series' (SOP class, syntax) pairs into associations of at most 128 contexts, in order
 * of first appearance. A series needing more (over 64 pairs with fallbacks: practically never)
 * is sent on several associations one after the other; each pair's contexts stay together.
 */
export function planContexts(instances: readonly Keyed[]): ContextPlan[] {
  const plans: {
    contexts: ProposedContext[];
    instances: number[];
    exact: Map<string, number>;
    fallback: Map<string, number>;
  }[] = [];
  const planOfKey = new Map<string, number>();
  instances.forEach((inst, index) => {
    const key = keyOf(inst);
    let p = planOfKey.get(key);
    if (p === undefined) {
      let plan = plans.at(-1);
      const wantsFallback = needsFallback(inst.transferSyntaxUid) && !plan?.fallback.has(inst.sopClassUid);
      if (!plan || plan.contexts.length + (wantsFallback ? 2 : 1) > MAX_CONTEXTS) {
        plan = { contexts: [], instances: [], exact: new Map(), fallback: new Map() };
        plans.push(plan);
      }
      const nextId = (): number => plan.contexts.length * 2 + 1;
      const id = nextId();
      plan.contexts.push({ id, abstractSyntax: inst.sopClassUid, transferSyntaxes: [inst.transferSyntaxUid] });
      plan.exact.set(key, id);
      if (needsFallback(inst.transferSyntaxUid) && !plan.fallback.has(inst.sopClassUid)) {
        const fid = nextId();
        plan.contexts.push({ id: fid, abstractSyntax: inst.sopClassUid, transferSyntaxes: [TS.ExplicitLE] });
        plan.fallback.set(inst.sopClassUid, fid);
      }
      p = plans.length - 1;
      planOfKey.set(key, p);
    }
    plans[p]?.instances.push(index);
  });
  return plans;
}

/** How one instance travels: on `contextId`, transcoded to Explicit VR LE or not; or why it cannot. */
export type Choice =
  | { readonly ok: true; readonly contextId: number; readonly transcode: boolean }
  | { readonly ok: false; readonly problem: 'sop-class' | 'transfer-syntax'; readonly message: string };

/**
 * Picks the accepted context for an instance: the exact syntax, else (uncompressed only) the
 * Explicit VR LE fallback. A context counts as accepted only with the syntax we proposed in it.
 */
export function chooseContext(
  plan: ContextPlan,
  accepted: ReadonlyMap<number, string>,
  results: readonly ContextResult[],
  inst: Keyed,
): Choice {
  const exact = plan.exact.get(keyOf(inst));
  if (exact !== undefined && accepted.get(exact) === inst.transferSyntaxUid) {
    return { ok: true, contextId: exact, transcode: false };
  }
  const fallback = needsFallback(inst.transferSyntaxUid) ? plan.fallback.get(inst.sopClassUid) : undefined;
  if (fallback !== undefined && accepted.get(fallback) === TS.ExplicitLE) {
    return { ok: true, contextId: fallback, transcode: true };
  }
  const ours = new Set([exact, fallback].filter((id) => id !== undefined));
  const mine = results.filter((r) => ours.has(r.id));
  // Result 3: the receiver does not take this SOP class at all; no syntax would help.
  if (mine.length > 0 && mine.every((r) => r.result === 3)) {
    return { ok: false, problem: 'sop-class', message: `The receiver does not accept SOP class ${inst.sopClassUid}.` };
  }
  const ts = inst.transferSyntaxUid;
  const message =
    fallback !== undefined
      ? `The receiver accepts neither transfer syntax ${ts} nor Explicit VR Little Endian for SOP class ${inst.sopClassUid}.`
      : `The receiver does not accept transfer syntax ${ts} for SOP class ${inst.sopClassUid}${ts === TS.ExplicitLE ? '' : ' (compressed data is never transcoded)'}.`;
  return { ok: false, problem: 'transfer-syntax', message };
}
