//! Reading a V8 CPU profile (.cpuprofile) into the tables the benches print: self time by function and by file, and time under each of our own functions.

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileRow {
  readonly name: string;
  readonly ms: number;
  readonly share: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  /** Self time per function (name file:line), largest first. */
  readonly functions: readonly ProfileRow[];
  /** Self time per source file or group (node internals, node_modules packages, GC, idle). */
  readonly files: readonly ProfileRow[];
  /**
   * Each sample charged to the innermost frame of ours (src/…) on its stack, so a library or node
   * call counts under the function of ours that made it; samples with none of ours on the stack
   * keep their own group.
   */
  readonly underOurs: readonly ProfileRow[];
}

/** A short name for where a frame's code lives: src/…, node:…, a package, or a V8 pseudo-frame. */
export function groupOf(f: CallFrame): string {
  if (!f.url) {
    return f.functionName.startsWith('(') ? f.functionName : '(native)';
  }
  const src = /\/(src|bench|test)\/(.+)$/.exec(f.url);
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url);
  if (nm) {
    return `pkg:${nm[1] ?? ''}`;
  }
  if (src) {
    return `${src[1] ?? ''}/${src[2] ?? ''}`;
  }
  if (f.url.startsWith('node:')) {
    return f.url.replace(/^node:internal\//, 'node:');
  }
  return f.url;
}

const frameName = (f: CallFrame): string =>
  `${f.functionName || '(anonymous)'} ${groupOf(f)}:${String(f.lineNumber + 1)}`;

function rows(m: Map<string, number>, total: number): ProfileRow[] {
  return [...m.entries()].map(([name, us]) => ({ name, ms: us / 1000, share: us / total })).sort((a, b) => b.ms - a.ms);
}

/** Summarises a profile as written by the inspector's Profiler.stop. */
export function summariseProfile(json: string): ProfileSummary {
  const p = JSON.parse(json) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    for (const ch of n.children ?? []) {
      parent.set(ch, n.id);
    }
  }
  const self = new Map<number, number>();
  // timeDeltas[i] is the time since the previous sample; charge each interval to the sample that ends it.
  p.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  const ours = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) {
      continue;
    }
    total += us;
    const name = frameName(n.callFrame);
    fns.set(name, (fns.get(name) ?? 0) + us);
    const g = groupOf(n.callFrame);
    files.set(g, (files.get(g) ?? 0) + us);
    let at: number | undefined = id;
    let owner = g;
    while (at !== undefined) {
      const f = byId.get(at)?.callFrame;
      if (f && groupOf(f).startsWith('src/')) {
        owner = frameName(f);
        break;
      }
      at = parent.get(at);
    }
    ours.set(owner, (ours.get(owner) ?? 0) + us);
  }
  return {
    totalMs: total / 1000,
    functions: rows(fns, total),
    files: rows(files, total),
    underOurs: rows(ours, total),
  };
}

/** Prints the first `n` rows of a table, in ms per instance as well when `instances` is given. */
export function printRows(title: string, r: readonly ProfileRow[], n: number, instances: number): void {
  console.log(`  ${title}`);
  for (const row of r.slice(0, n)) {
    console.log(
      `    ${(row.share * 100).toFixed(1).padStart(5)} %  ${((row.ms / instances) * 1000).toFixed(0).padStart(6)} µs/inst  ${row.name}`,
    );
  }
}
