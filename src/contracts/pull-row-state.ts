//! The life of one row of a pull list: its states, which moves between them are allowed, and which are final.
// A row is worked in two steps against the PACS: `query` (study C-FIND for exact matches, then the
// expected counts per series) and `retrieve` (C-MOVE or C-GET, then waiting for what was counted
// to arrive). Between attempts a row waits in `pending` or `queued` with a due time; it is never
// left `retrieving` by a crash (start-up recovery puts it back in `queued`).

export const ROW_STATES = [
  'pending', // valid; the study is not resolved yet
  'queued', // resolved with expected counts; waiting for its retrieve (or its retry)
  'retrieving', // a retrieve runs (C-MOVE/C-GET issued, or waiting for arrivals)
  'invalid', // the row cannot be used as given (reason recorded)
  'duplicate', // the same request as an earlier row (duplicate_of)
  'not-found', // no study matches exactly
  'ambiguous', // several studies match; candidates recorded, a person chooses
  'failed', // given up, with the reason
  'partial', // given up with n of m instances received
  'complete', // every expected instance received
  'delivered', // every series delivered to XNAT
  'verified', // every series verified in XNAT with the same instance count
  'cancelled', // the pull was cancelled before this row ended
] as const;

export type RowState = (typeof ROW_STATES)[number];

/** States in which the PACS still has work to do for the row. */
export const ACTIVE_STATES: ReadonlySet<RowState> = new Set(['pending', 'queued', 'retrieving']);

/** States after which nothing more happens to the row (complete and delivered still await XNAT). */
export const SETTLED_STATES: ReadonlySet<RowState> = new Set([
  'invalid',
  'duplicate',
  'not-found',
  'ambiguous',
  'failed',
  'partial',
  'verified',
  'cancelled',
]);

/** The terminal outcomes the completeness report counts as success. */
export const SUCCESS_STATES: ReadonlySet<RowState> = new Set(['complete', 'delivered', 'verified']);

const ALLOWED: Readonly<Record<RowState, readonly RowState[]>> = {
  pending: ['pending', 'queued', 'not-found', 'ambiguous', 'duplicate', 'failed', 'cancelled'],
  queued: ['queued', 'retrieving', 'complete', 'cancelled', 'failed'],
  retrieving: ['queued', 'complete', 'partial', 'failed', 'cancelled'],
  invalid: [],
  duplicate: [],
  'not-found': ['pending'],
  // A person picks one of the candidates: the row is queued for that study.
  ambiguous: ['pending', 'queued'],
  // Retrying a given-up row by hand starts it again where it was (with fresh attempts).
  failed: ['pending', 'queued'],
  partial: ['queued', 'complete'],
  // A series whose delivery failed for good ends the row `failed` with the job's reason.
  complete: ['delivered', 'queued', 'failed'],
  delivered: ['verified', 'queued', 'failed'],
  // Re-verification found fewer instances in XNAT than were delivered.
  verified: ['delivered', 'queued'],
  cancelled: [],
};

export function canMove(from: RowState, to: RowState): boolean {
  return ALLOWED[from].includes(to);
}

export class RowStateError extends Error {
  override readonly name = 'RowStateError';
}

/** Throws RowStateError for a move the state machine does not allow (a bug or a race the caller must handle). */
export function assertMove(from: RowState, to: RowState): void {
  if (!canMove(from, to)) {
    throw new RowStateError(`A pull row cannot go from ${from} to ${to}.`);
  }
}

export function isRowState(s: string): s is RowState {
  return (ROW_STATES as readonly string[]).includes(s);
}
