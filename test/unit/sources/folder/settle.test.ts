// The stability check: a drop is read only once whole scans stop changing for stableMs.
import { describe, expect, it } from 'vitest';
import type { DropScan, ScannedFile } from '../../../../src/sources/folder/scan.ts';
import { createSettler } from '../../../../src/sources/folder/settle.ts';

const T0 = 1_700_000_000_000;

function file(rel: string, size = 100, mtimeMs = T0 - 60_000): ScannedFile {
  return { rel, abs: `/import/drop/${rel}`, size, mtimeMs };
}

function scanOf(files: ScannedFile[], o: { marker?: boolean; inProgress?: string | null } = {}): DropScan {
  return {
    files,
    inProgress: o.inProgress ?? null,
    marker: o.marker ?? false,
    bytes: files.reduce((n, f) => n + f.size, 0),
  };
}

const two = (): ScannedFile[] => [file('a.dcm'), file('b.dcm', 200)];

describe('createSettler', () => {
  it('is not ready on the first scan, even with stableMs 0', () => {
    const s = createSettler(0);
    const v = s.observe('drop', 'folder', scanOf(two()), T0);
    expect(v.ready).toBe(false);
    expect(v.waiting.scans).toBe(1);
    expect(v.waiting.waitingFor).toBe('unchanged for 0 s of 0 s');
    // A second identical scan, even at the same instant, is enough with stableMs 0.
    expect(s.observe('drop', 'folder', scanOf(two()), T0).ready).toBe(true);
  });

  it('a ready marker makes the first scan ready', () => {
    const s = createSettler(60_000);
    const v = s.observe('drop', 'folder', scanOf(two(), { marker: true }), T0);
    expect(v.ready).toBe(true);
    expect(v.waiting.waitingFor).toBe('');
  });

  it('is ready once unchanged for stableMs over at least two scans', () => {
    const s = createSettler(30_000);
    expect(s.observe('drop', 'folder', scanOf(two()), T0).ready).toBe(false);
    const mid = s.observe('drop', 'folder', scanOf(two()), T0 + 29_999);
    expect(mid.ready).toBe(false);
    expect(mid.waiting.waitingFor).toBe('unchanged for 30 s of 30 s'); // rounded, still short by 1 ms
    const done = s.observe('drop', 'folder', scanOf(two()), T0 + 30_000);
    expect(done.ready).toBe(true);
    expect(done.waiting).toEqual({
      name: 'drop',
      kind: 'folder',
      firstSeenAt: T0,
      lastChangeAt: T0,
      scans: 3,
      files: 2,
      bytes: 300,
      waitingFor: '',
    });
  });

  it('a single scan long after first sight is not enough: it needs a second one', () => {
    const s = createSettler(1_000);
    expect(s.observe('drop', 'file', scanOf([file('')]), T0).ready).toBe(false);
    // Two scans, far apart: ready.
    expect(s.observe('drop', 'file', scanOf([file('')]), T0 + 5_000).ready).toBe(true);
  });

  const changes: [string, (f: ScannedFile[]) => ScannedFile[]][] = [
    ['a size change', ([a, b]) => [a as ScannedFile, { ...(b as ScannedFile), size: 201 }]],
    ['an mtime change', ([a, b]) => [a as ScannedFile, { ...(b as ScannedFile), mtimeMs: T0 + 1 }]],
    ['a file added', (f) => [...f, file('c.dcm')]],
    ['a file removed', ([a]) => [a as ScannedFile]],
    ['a file renamed', ([a, b]) => [a as ScannedFile, { ...(b as ScannedFile), rel: 'b.dcm.renamed' }]],
  ];
  for (const [what, change] of changes) {
    it(`${what} resets the stability clock`, () => {
      const s = createSettler(10_000);
      s.observe('drop', 'folder', scanOf(two()), T0);
      s.observe('drop', 'folder', scanOf(two()), T0 + 9_000);
      const changed = s.observe('drop', 'folder', scanOf(change(two())), T0 + 10_000);
      expect(changed.ready).toBe(false);
      expect(changed.waiting.lastChangeAt).toBe(T0 + 10_000);
      expect(changed.waiting.firstSeenAt).toBe(T0);
      // Unchanged since T0 + 10 s, but for less than 10 s: still waiting.
      const later = s.observe('drop', 'folder', scanOf(change(two())), T0 + 19_999);
      expect(later.ready).toBe(false);
      expect(later.waiting.waitingFor).toBe('unchanged for 10 s of 10 s');
      expect(s.observe('drop', 'folder', scanOf(change(two())), T0 + 20_000).ready).toBe(true);
    });
  }

  it('the marker appearing counts as a change (and makes it ready)', () => {
    const s = createSettler(10_000);
    s.observe('drop', 'folder', scanOf(two()), T0);
    const v = s.observe('drop', 'folder', scanOf(two(), { marker: true }), T0 + 1_000);
    expect(v.ready).toBe(true);
    expect(v.waiting.lastChangeAt).toBe(T0 + 1_000);
  });

  it('an in-progress name keeps the drop waiting, even with the marker and long stability', () => {
    const s = createSettler(0);
    const inProgress = 'drop/sub/x.part';
    for (let i = 0; i < 5; i++) {
      const v = s.observe('drop', 'folder', scanOf(two(), { marker: true, inProgress }), T0 + i * 60_000);
      expect(v.ready).toBe(false);
      expect(v.waiting.waitingFor).toBe('a file or folder with an in-progress name (e.g. *.part) is present');
      // No file name in the operator text: it may identify a patient.
      expect(v.waiting.waitingFor).not.toContain('x.part');
    }
    // Renamed to its final name: the marker makes it ready at once.
    expect(s.observe('drop', 'folder', scanOf(two(), { marker: true }), T0 + 300_001).ready).toBe(true);
  });

  it('an empty drop is never ready, marker or not', () => {
    const s = createSettler(0);
    for (let i = 0; i < 4; i++) {
      const v = s.observe('drop', 'folder', scanOf([], { marker: i % 2 === 1 }), T0 + i * 60_000);
      expect(v.ready).toBe(false);
      expect(v.waiting.waitingFor).toBe('the drop is empty');
      expect(v.waiting.files).toBe(0);
    }
  });

  it('restart() makes a stable drop wait a full stableMs and two more scans', () => {
    const s = createSettler(10_000);
    s.observe('drop', 'folder', scanOf(two()), T0);
    expect(s.observe('drop', 'folder', scanOf(two()), T0 + 10_000).ready).toBe(true);
    s.restart('drop', T0 + 20_000);
    // Same scan as before the restart; the clock starts at the first scan after it.
    const first = s.observe('drop', 'folder', scanOf(two()), T0 + 30_000);
    expect(first.ready).toBe(false);
    expect(first.waiting.scans).toBe(1);
    expect(first.waiting.lastChangeAt).toBe(T0 + 30_000);
    expect(first.waiting.firstSeenAt).toBe(T0);
    expect(s.observe('drop', 'folder', scanOf(two()), T0 + 39_999).ready).toBe(false);
    expect(s.observe('drop', 'folder', scanOf(two()), T0 + 40_000).ready).toBe(true);
  });

  it('restart() with stableMs 0 still needs two scans', () => {
    const s = createSettler(0);
    s.observe('drop', 'folder', scanOf(two()), T0);
    expect(s.observe('drop', 'folder', scanOf(two()), T0).ready).toBe(true);
    s.restart('drop', T0 + 1);
    expect(s.observe('drop', 'folder', scanOf(two()), T0 + 2).ready).toBe(false);
    expect(s.observe('drop', 'folder', scanOf(two()), T0 + 2).ready).toBe(true);
  });

  it('restart() of an unknown drop does nothing', () => {
    const s = createSettler(0);
    s.restart('ghost', T0);
    expect(s.has('ghost')).toBe(false);
    expect(s.names()).toEqual([]);
  });

  it('drops are tracked independently; forget() starts one afresh', () => {
    const s = createSettler(5_000);
    s.observe('a', 'folder', scanOf(two()), T0);
    s.observe('b', 'file', scanOf([file('')]), T0 + 1_000);
    expect(s.names().sort()).toEqual(['a', 'b']);
    expect(s.observe('a', 'folder', scanOf(two()), T0 + 5_000).ready).toBe(true);
    expect(s.observe('b', 'file', scanOf([file('')]), T0 + 5_000).ready).toBe(false);
    s.forget('a');
    expect(s.has('a')).toBe(false);
    expect(s.has('b')).toBe(true);
    const again = s.observe('a', 'folder', scanOf(two()), T0 + 10_000);
    expect(again.ready).toBe(false);
    expect(again.waiting.firstSeenAt).toBe(T0 + 10_000);
  });

  it('waitingFor reports whole seconds of quiet against stableMs', () => {
    const s = createSettler(120_000);
    s.observe('drop', 'folder', scanOf(two()), T0);
    expect(s.observe('drop', 'folder', scanOf(two()), T0 + 44_600).waiting.waitingFor).toBe(
      'unchanged for 45 s of 120 s',
    );
    expect(s.observe('drop', 'folder', scanOf(two()), T0 + 44_600).waiting.kind).toBe('folder');
  });
});
