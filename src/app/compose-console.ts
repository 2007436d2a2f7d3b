//! Wires the operator console and sign-in: what the pages read and write, from the daemon's parts.
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { FindHasher } from '../find/digest.ts';
import type { DropLedger } from '../contracts/drops.ts';
import { createAuditLog } from '../store/sqlite/audit.ts';
import type { Db } from '../store/sqlite/db.ts';
import { createFindIndex } from '../store/sqlite/find-index.ts';
import { createPseudonymLedger } from '../store/sqlite/pseudonyms.ts';
import { createSeriesList } from '../store/sqlite/series-list.ts';
import type { AccessOptions } from '../status/access.ts';
import { createSessionStore, createThrottle } from '../status/console/sessions.ts';
import type { ConsoleDeps, DeidSummary, Problem, SourcesView } from '../status/console/types.ts';
import { settingsFor } from '../transforms/anonymise/config.ts';

/** Failed sign-ins per peer address before it waits, and how long it waits. */
const SIGN_IN_FAILURES = 5;
const SIGN_IN_WINDOW_MS = 15 * 60_000;

export interface ConsoleParts {
  readonly cfg: Config;
  readonly db: Db;
  readonly clock: Clock;
  /** The find hasher once its key is loaded (the console is built after that). */
  readonly finder: () => FindHasher | null;
  readonly ledger: DropLedger;
  readonly sources: () => SourcesView;
  readonly problems: () => readonly Problem[];
}

/** Sign-in sessions and read access (http.auth), shared by the API and the console. */
export function composeAccess(
  cfg: Config,
  clock: Clock,
): AccessOptions & { sessions: ReturnType<typeof createSessionStore> } {
  return {
    auth: cfg.http.auth,
    adminTokenFile: cfg.http.adminTokenFile,
    sessions: createSessionStore(clock, { idleMs: cfg.http.sessionIdleMs, maxMs: cfg.http.sessionMaxMs }),
  };
}

/** Only options that change something are listed; 'off' and false are the profile's defaults. */
function setOptions(options: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== false && v !== 'off'));
}

export function composeConsole(p: ConsoleParts, access: ReturnType<typeof composeAccess>): ConsoleDeps {
  const { cfg, db, clock } = p;
  const audit = createAuditLog(db);
  const index = createFindIndex(db);
  const list = createSeriesList(db);
  const pseudonyms = createPseudonymLedger(db);
  const deid = async (seriesId: number, project: string | null, studyUid: string): Promise<DeidSummary | null> => {
    if (project === null) {
      return null;
    }
    const s = settingsFor(cfg.anonymise, project);
    const labels = await pseudonyms.studySession(project, studyUid);
    const row = await audit.latest('series.anonymised', seriesId);
    const d = row
      ? (JSON.parse(row.detail) as {
          project?: string;
          edition?: string;
          keyId?: string;
          instances?: number;
          uidsMapped?: number;
        })
      : null;
    return {
      project,
      profile: s.profile,
      options: setOptions(s.options),
      script: s.script,
      subjectLabel: labels?.subject ?? null,
      sessionLabel: labels?.label ?? null,
      // An audit row from an earlier routing (before a release) is about another project's copy.
      verified:
        row && d?.project === project
          ? {
              at: row.at,
              edition: d.edition ?? '',
              keyId: d.keyId ?? '',
              instances: d.instances ?? 0,
              uidsMapped: d.uidsMapped ?? 0,
            }
          : null,
    };
  };
  return {
    sessions: access.sessions,
    throttle: createThrottle(clock, { max: SIGN_IN_FAILURES, windowMs: SIGN_IN_WINDOW_MS }),
    adminTokenFile: cfg.http.adminTokenFile,
    passwordFile: cfg.http.passwordFile,
    audit: async (kind, seriesId, detail) => {
      await audit.record(kind, seriesId, detail, clock.now());
    },
    sources: p.sources,
    find: async (kind, text) => {
      const f = p.finder();
      return f ? list.byIds(await index.match(kind, f.ofQuery(kind, text), 500)) : [];
    },
    deid,
    rejectedFiles: async (dropId) =>
      [...(await p.ledger.handled(dropId)).values()]
        .filter((f) => f.outcome === 'rejected')
        .map((f) => ({ file: f.rel, code: f.code ?? null, reason: f.reason ?? null })),
    xnatUrl: cfg.http.xnatUrl,
    problems: p.problems,
    builtinRules: cfg.route.builtin,
    hospitalProject: cfg.route.hospitalProject,
    secureCookies: cfg.http.secureCookies,
  };
}
