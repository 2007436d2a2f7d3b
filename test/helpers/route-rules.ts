//! The quarantine-protocol rules that fired for each series a running daemon knows (from its status server).

/** One list of rule ids per series, in /series order. */
export async function routeRules(httpPort: number): Promise<string[][]> {
  const base = `http://127.0.0.1:${String(httpPort)}`;
  const list = (await (await fetch(`${base}/series`)).json()) as { items: { id: number }[] };
  const out: string[][] = [];
  for (const { id } of list.items) {
    const s = (await (await fetch(`${base}/series/${String(id)}`)).json()) as {
      route: { reasons: { rule: string }[] } | null;
    };
    out.push((s.route?.reasons ?? []).map((r) => r.rule));
  }
  return out;
}
