//! Which presentation contexts the xnat-dimse sink proposes for a series, and which accepted one carries each instance.
import { describe, expect, it } from 'vitest';
import { TS } from '../../../../src/dicom/transfer-syntax.ts';
import { MAX_CONTEXTS, chooseContext, planContexts } from '../../../../src/sinks/xnat-dimse/contexts.ts';
import type { ContextResult } from '../../../../src/dicom/pdu.ts';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const MR = '1.2.840.10008.5.1.4.1.1.4';
const JPEG = '1.2.840.10008.1.2.4.50';
const inst = (sopClassUid: string, transferSyntaxUid: string): { sopClassUid: string; transferSyntaxUid: string } => ({
  sopClassUid,
  transferSyntaxUid,
});

/** Accepts every context (with the syntax proposed) except those listed with their result. */
function answer(
  plan: ReturnType<typeof planContexts>[number],
  refused: Record<number, number> = {},
): { accepted: Map<number, string>; results: ContextResult[] } {
  const results = plan.contexts.map((c) => ({
    id: c.id,
    result: refused[c.id] ?? 0,
    transferSyntax: refused[c.id] === undefined ? (c.transferSyntaxes[0] ?? null) : null,
  }));
  return {
    accepted: new Map(results.filter((r) => r.result === 0).map((r) => [r.id, r.transferSyntax ?? ''])),
    results,
  };
}

describe('planContexts', () => {
  it('proposes each (SOP class, syntax) once with exactly its syntax, on odd ids', () => {
    const [plan, ...more] = planContexts([
      inst(CT, TS.ExplicitLE),
      inst(CT, TS.ExplicitLE),
      inst(CT, JPEG),
      inst(MR, TS.ExplicitLE),
    ]);
    expect(more).toEqual([]);
    expect(plan?.contexts).toEqual([
      { id: 1, abstractSyntax: CT, transferSyntaxes: [TS.ExplicitLE] },
      { id: 3, abstractSyntax: CT, transferSyntaxes: [JPEG] },
      { id: 5, abstractSyntax: MR, transferSyntaxes: [TS.ExplicitLE] },
    ]);
    expect(plan?.instances).toEqual([0, 1, 2, 3]);
  });

  it('adds one Explicit VR LE fallback per SOP class for uncompressed data in another syntax', () => {
    const [plan] = planContexts([
      inst(CT, TS.ImplicitLE),
      inst(CT, TS.ExplicitBE),
      inst(CT, TS.DeflatedExplicitLE),
      inst(MR, TS.ImplicitLE),
    ]);
    expect(plan?.contexts.map((c) => [c.id, c.abstractSyntax === CT ? 'CT' : 'MR', c.transferSyntaxes[0]])).toEqual([
      [1, 'CT', TS.ImplicitLE],
      [3, 'CT', TS.ExplicitLE],
      [5, 'CT', TS.ExplicitBE],
      [7, 'CT', TS.DeflatedExplicitLE],
      [9, 'MR', TS.ImplicitLE],
      [11, 'MR', TS.ExplicitLE],
    ]);
  });

  it('splits a series needing more than 128 contexts over several associations, keeping instance order within each', () => {
    const classes = Array.from({ length: 130 }, (_, i) => `1.2.3.${String(i)}`);
    const series = [...classes.map((c) => inst(c, TS.ExplicitLE)), inst('1.2.3.0', TS.ExplicitLE)];
    const plans = planContexts(series);
    expect(plans.map((p) => p.contexts.length)).toEqual([MAX_CONTEXTS, 2]);
    expect(plans[0]?.contexts.at(-1)?.id).toBe(255);
    expect(plans[0]?.instances).toEqual([...Array.from({ length: 128 }, (_, i) => i), 130]);
    expect(plans[1]?.instances).toEqual([128, 129]);
  });

  it('keeps an exact context and its fallback on the same association', () => {
    const series = [
      ...Array.from({ length: 127 }, (_, i) => inst(`1.2.3.${String(i)}`, TS.ExplicitLE)),
      inst(CT, TS.ImplicitLE),
    ];
    const plans = planContexts(series);
    expect(plans.map((p) => p.contexts.length)).toEqual([127, 2]);
  });
});

describe('chooseContext', () => {
  it('sends the stored bytes when the exact syntax is accepted', () => {
    const [plan] = planContexts([inst(CT, TS.ImplicitLE)]);
    if (!plan) {
      throw new Error('no plan');
    }
    const { accepted, results } = answer(plan);
    expect(chooseContext(plan, accepted, results, inst(CT, TS.ImplicitLE))).toEqual({
      ok: true,
      contextId: 1,
      transcode: false,
    });
  });

  it('falls back to Explicit VR LE with transcoding when the exact syntax is refused', () => {
    const [plan] = planContexts([inst(CT, TS.ExplicitBE)]);
    if (!plan) {
      throw new Error('no plan');
    }
    const { accepted, results } = answer(plan, { 1: 4 });
    expect(chooseContext(plan, accepted, results, inst(CT, TS.ExplicitBE))).toEqual({
      ok: true,
      contextId: 3,
      transcode: true,
    });
  });

  it('counts a context accepted with a syntax we did not propose as refused', () => {
    const [plan] = planContexts([inst(CT, TS.ImplicitLE)]);
    if (!plan) {
      throw new Error('no plan');
    }
    const accepted = new Map([
      [1, TS.ExplicitLE],
      [3, TS.ImplicitLE],
    ]);
    const c = chooseContext(plan, accepted, [], inst(CT, TS.ImplicitLE));
    expect(c).toMatchObject({ ok: false, problem: 'transfer-syntax' });
  });

  it('never transcodes compressed data', () => {
    const [plan] = planContexts([inst(CT, JPEG)]);
    if (!plan) {
      throw new Error('no plan');
    }
    const { accepted, results } = answer(plan, { 1: 4 });
    const c = chooseContext(plan, accepted, results, inst(CT, JPEG));
    expect(c).toEqual({
      ok: false,
      problem: 'transfer-syntax',
      message: `The receiver does not accept transfer syntax ${JPEG} for SOP class ${CT} (compressed data is never transcoded).`,
    });
  });

  it('names both syntaxes when the fallback is refused too', () => {
    const [plan] = planContexts([inst(CT, TS.ImplicitLE)]);
    if (!plan) {
      throw new Error('no plan');
    }
    const { accepted, results } = answer(plan, { 1: 4, 3: 4 });
    expect(chooseContext(plan, accepted, results, inst(CT, TS.ImplicitLE))).toMatchObject({
      ok: false,
      problem: 'transfer-syntax',
      message: expect.stringMatching(
        /neither transfer syntax 1\.2\.840\.10008\.1\.2 nor Explicit VR Little Endian/,
      ) as unknown,
    });
  });

  it('reports a SOP class the receiver does not take at all', () => {
    const [plan] = planContexts([inst(CT, TS.ImplicitLE)]);
    if (!plan) {
      throw new Error('no plan');
    }
    const { accepted, results } = answer(plan, { 1: 3, 3: 3 });
    expect(chooseContext(plan, accepted, results, inst(CT, TS.ImplicitLE))).toMatchObject({
      ok: false,
      problem: 'sop-class',
    });
  });
});
