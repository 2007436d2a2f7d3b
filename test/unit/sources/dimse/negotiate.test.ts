//! Presentation-context negotiation: accept what fits, skip what cannot be answered, never renumber.
import { describe, expect, it } from 'vitest';
import { negotiateContexts } from '../../../../src/sources/dimse/negotiate.ts';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const ELE = '1.2.840.10008.1.2.1';
const pc = (id: number, abstractSyntaxes = [CT], transferSyntaxes = [ELE]) => ({
  id,
  abstractSyntaxes,
  transferSyntaxes,
});

describe('negotiateContexts', () => {
  it("accepts storage and verification in the first syntax we store as received, in the sender's order", () => {
    const n = negotiateContexts([
      pc(1, [CT], ['1.2.3.4', '1.2.840.10008.1.2', ELE]),
      pc(3, ['1.2.840.10008.1.1'], ['1.2.840.10008.1.2']),
    ]);
    expect(n.results).toEqual([
      { id: 1, result: 0, transferSyntax: '1.2.840.10008.1.2' },
      { id: 3, result: 0, transferSyntax: '1.2.840.10008.1.2' },
    ]);
    expect([...n.accepted.keys()]).toEqual([1, 3]);
  });

  it('refuses query/retrieve classes (3) and unknown syntaxes (4)', () => {
    const n = negotiateContexts([pc(1, ['1.2.840.10008.5.1.4.1.2.2.1']), pc(3, [CT], ['1.2.3.4'])]);
    expect(n.results.map((r) => r.result)).toEqual([3, 4]);
    expect(n.accepted.size).toBe(0);
  });

  it('refuses an item with no abstract syntax or with two (3), and one without transfer syntaxes (4)', () => {
    const n = negotiateContexts([pc(1, []), pc(3, [CT, CT]), pc(5, [CT], [])]);
    expect(n.results.map((r) => r.result)).toEqual([3, 3, 4]);
  });

  it('answers the first 128 distinct odd ids of 300 and skips repeats, even and zero ids', () => {
    const items = Array.from({ length: 300 }, (_, i) => pc((i * 2 + 1) % 256));
    const n = negotiateContexts(items);
    expect(n.results).toHaveLength(128);
    expect(new Set(n.results.map((r) => r.id)).size).toBe(128);
    expect(n.results.every((r) => r.id % 2 === 1 && r.id <= 255)).toBe(true);
    // ids wrap round to 1, 3, … : 300 - 128 items repeat an id (the byte holds 1, 3, … 255, then 1 again)
    expect(n.skipped).toEqual({ invalidId: 0, duplicateId: 300 - 128 });
  });

  it('skips even and zero ids and keeps the first of a repeated id', () => {
    const n = negotiateContexts([pc(0), pc(2), pc(7), pc(7, ['1.2.840.10008.1.1']), pc(254)]);
    expect(n.results).toEqual([{ id: 7, result: 0, transferSyntax: ELE }]);
    expect(n.accepted.get(7)?.abstractSyntax).toBe(CT);
    expect(n.skipped).toEqual({ invalidId: 3, duplicateId: 1 });
  });
});
