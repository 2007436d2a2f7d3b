import { describe, expect, it } from 'vitest';
import { runScript } from '../../../../../src/transforms/anonymise/dicomedit/evaluate.ts';
import { parseScript } from '../../../../../src/transforms/anonymise/dicomedit/parser.ts';
import { fakeHost, fakeTarget } from './fake-target.ts';

function run(statements: string, elements: Record<string, string> = {}) {
  const target = fakeTarget(elements);
  const { changed } = runScript(parseScript(`version "6.6"\n${statements}`), target, {}, fakeHost());
  return { dump: target.dump(), changed };
}

// DicomEdit names private elements (gggg,{Creator}xx): the block number bb in (gggg,bbxx) is
// whatever the creator element (gggg,00bb) of the same item says, and may differ between files.
describe('deleting by creator', () => {
  it("deletes a creator's elements in every block it holds, keeping the creator elements", () => {
    const fuji = {
      '(0029,0010)': 'SIEMENS CSA HEADER',
      '(0029,0012)': 'FujiFILM TM',
      '(0029,00E1)': 'FujiFILM TM',
      '(0029,1008)': 'csa',
      '(0029,1203)': 'f12',
      '(0029,1231)': 'f12',
      '(0029,E101)': 'fE1',
      '(0029,E131)': 'fE1',
    };
    expect(Object.keys(run('- (0029, {FujiFILM TM}XX)', fuji).dump)).toEqual([
      '(0029,0010)',
      '(0029,0012)',
      '(0029,00E1)',
      '(0029,1008)',
    ]);
    expect(Object.keys(run('- (0029,{FujiFILM TM}31)', fuji).dump)).toEqual([
      '(0029,0010)',
      '(0029,0012)',
      '(0029,00E1)',
      '(0029,1008)',
      '(0029,1203)',
      '(0029,E101)',
    ]);
  });
});

describe('reading and writing by creator', () => {
  const siemens = {
    '(0019,0010)': 'SIEMENS MR HEADER',
    '(0019,100C)': '1000',
    '(0019,0011)': 'OTHER',
    '(0019,110C)': 'other',
  };

  it('reads, assigns and deletes through the block the creator reserved', () => {
    const r = run(
      '(0010,4000) := (0019,{SIEMENS MR HEADER}0C)\n(0019,{SIEMENS MR HEADER}0C) := "0"\n- (0019,{OTHER}0C)',
      siemens,
    );
    expect(r.dump).toEqual({
      '(0010,4000)': '1000',
      '(0019,0010)': 'SIEMENS MR HEADER',
      '(0019,0011)': 'OTHER',
      '(0019,100C)': '0',
    });
  });

  it('reserves the lowest free block for a creator not yet in the group', () => {
    const r = run('(0019,{ACME 1.0}01) := "new"', siemens);
    expect(r.dump).toMatchObject({ '(0019,0012)': 'ACME 1.0', '(0019,1201)': 'new' });
    expect(r.changed).toBe(2);
  });

  it('leaves ?= and - alone when the creator has no block', () => {
    expect(run('(0019,{ACME}01) ?= "x"\n- (0019,{ACME}01)', siemens).changed).toBe(0);
  });

  it('assigns a new element in the block its creator already holds, and ?= only to existing ones', () => {
    const r = run('(0019,{OTHER}0D) := "new"\n(0019,{OTHER}0C) ?= "changed"\n(0019,{OTHER}0E) ?= "never"', siemens);
    expect(r.dump).toEqual({ ...siemens, '(0019,110D)': 'new', '(0019,110C)': 'changed' });
  });

  it('fails the statement when every block of the group is taken', () => {
    const full = Object.fromEntries(
      Array.from({ length: 0xf0 }, (_, i) => [`(0019,00${(i + 0x10).toString(16).toUpperCase()})`, `C${String(i)}`]),
    );
    expect(() => run('(0010,0010) := "x"\n(0019,{ACME}01) := "x"', full)).toThrow(
      'line 3, column 1: cannot assign (0019,{ACME}01): no free private block in this group',
    );
  });

  it('creates a private element inside a sequence item, its creator in the same item', () => {
    const r = run('(0008,1115)[0]/(0019,{ACME}01) := "x"');
    expect(r.dump).toEqual({ '(0008,1115)[0]/(0019,0010)': 'ACME', '(0008,1115)[0]/(0019,1001)': 'x' });
  });
});
