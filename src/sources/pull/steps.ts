//! One step of a row against its PACS, recorded in the ledger as it ends: the query (C-FIND) or the retrieve (C-MOVE/C-GET and the arrivals).
import { ErrorCode } from '../../errors.ts';
import type { PullRow } from '../../contracts/pull-ledger.ts';
import type { PacsStep } from './context.ts';
import { recordIncomplete, stepFailed } from './failure.ts';
import { queryRow } from './query.ts';
import { retrieveStudy } from './retrieve.ts';
import type { AssociationPermit, StudyPermit } from './throttle.ts';

/** Study C-FIND with exact matching, then the counts per series: resolved, not found, ambiguous or empty. */
export async function runQuery(
  s: PacsStep,
  row: PullRow,
  permit: AssociationPermit,
  ctrl: AbortController,
): Promise<void> {
  const { ledger, plog, clock } = s;
  try {
    plog.debug(
      { line: row.line, accessionNumber: row.key.accessionNumber, patientId: row.key.patientId },
      'Querying the PACS for a row.',
    );
    const out = await s.client.findSession(ctrl.signal, (f) => queryRow(f, row));
    permit.release();
    s.breakers.succeeded(s.p.name);
    const at = clock.now();
    switch (out.kind) {
      case 'resolved': {
        const r = await ledger.resolved(row.id, { studyInstanceUid: out.studyInstanceUid, series: out.series, at });
        plog.info(
          { line: row.line, series: out.series.length, outcome: r },
          r === 'queued' ? 'Pull row resolved.' : 'Pull row names a study already in this pull.',
        );
        break;
      }
      case 'not-found':
        await ledger.notFound(row.id, { reason: out.reason, at });
        plog.info({ line: row.line, code: ErrorCode.PULL_NOT_FOUND }, 'Pull row: no study found.');
        break;
      case 'ambiguous':
        await ledger.ambiguous(row.id, { candidates: out.candidates, at });
        plog.info(
          { line: row.line, code: ErrorCode.PULL_AMBIGUOUS, candidates: out.candidates.length },
          'Pull row matches several studies; a person must choose.',
        );
        break;
      case 'empty':
        await ledger.queryFailed(row.id, { code: ErrorCode.PULL_NOT_FOUND, reason: out.reason, at, final: true });
        break;
    }
  } catch (err) {
    permit.release();
    await stepFailed(s, row, 'query', err, ctrl);
  }
}

/** C-MOVE or C-GET of the study's missing series, judged by what arrived against the counts. */
export async function runRetrieve(
  s: PacsStep,
  row: PullRow,
  study: StudyPermit,
  permit: AssociationPermit,
  ctrl: AbortController,
): Promise<void> {
  const { ledger, plog, clock, p, breakers, config } = s;
  try {
    if (row.studyInstanceUid === null) {
      throw new Error(`Pull row ${String(row.id)} is queued without a study.`);
    }
    const uid = row.studyInstanceUid;
    await ledger.startRetrieve(row.id, clock.now());
    s.changed(row.pullId);
    const series = await ledger.series(row.id);
    const v = await retrieveStudy(
      {
        client: s.client,
        pacs: p,
        target: s.target,
        clock,
        signal: ctrl.signal,
        arrivalTimeoutMs: config.arrivalTimeoutMs,
        arrivalPollMs: config.arrivalPollMs,
        associationsDone: () => {
          permit.release();
        },
        onReceived: async (m) => {
          await ledger.recordReceived(row.id, m, clock.now());
          s.changed(row.pullId);
        },
      },
      uid,
      series,
    );
    const at = clock.now();
    const counts = v.result
      ? { status: v.result.status, completed: v.result.completed, failed: v.result.failed, warning: v.result.warning }
      : null;
    if (v.kind === 'complete') {
      breakers.succeeded(p.name);
      await ledger.retrieved(row.id, { outcome: { state: 'complete' }, counts, received: v.received, at });
      if (v.fetched) {
        // Nothing more is coming for these series: no need to wait out the quiet period.
        await s.target.arrived?.(
          uid,
          series.map((x) => x.seriesInstanceUid),
        );
      }
      plog.info(
        { line: row.line, fetched: v.fetched },
        v.fetched ? 'Pull row complete.' : 'Pull row was already complete.',
      );
      return;
    }
    if (ctrl.signal.aborted) {
      await ledger.recordReceived(row.id, v.received, at);
      await ledger.requeue(row.id, at);
      return;
    }
    if (v.destinationUnknown) {
      breakers.failed(p.name, { code: v.code, error: v.reason });
      await ledger.recordReceived(row.id, v.received, at);
      await ledger.requeue(row.id, at);
      await s.pauseAll(`${v.code}: ${v.reason}`);
      return;
    }
    await recordIncomplete(s, row, v, counts, at);
  } catch (err) {
    permit.release();
    await stepFailed(s, row, 'retrieve', err, ctrl);
  } finally {
    study.release();
  }
}
