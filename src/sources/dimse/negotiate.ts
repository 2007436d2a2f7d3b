//! Presentation-context negotiation: Verification and every storage class, in a syntax we store as received.
// PS3.8 §9.3.2.2: context ids are odd integers 1–255, unique within a request, so a request can
// carry at most 128. We answer what fits and skip the rest: an even or zero id, or an id seen
// before, cannot be answered in an A-ASSOCIATE-AC without breaking the protocol ourselves.
import type { ProposedItem } from '../../dicom/associate.ts';
import type { ContextResult } from '../../dicom/pdu.ts';
import { isAcceptedAbstractSyntax } from '../../dicom/sop-class.ts';
import { isStorableTransferSyntax } from '../../dicom/transfer-syntax.ts';

/** PS3.8 Table 9-18 results. */
export const ContextResultCode = { Accept: 0, AbstractSyntaxNotSupported: 3, TransferSyntaxesNotSupported: 4 } as const;

/** An accepted context: what arrives on it and how it is encoded. */
export interface AcceptedContext {
  readonly abstractSyntax: string;
  readonly transferSyntax: string;
}

export interface Negotiation {
  /** One result per answerable item, in the order proposed. */
  readonly results: readonly ContextResult[];
  readonly accepted: ReadonlyMap<number, AcceptedContext>;
  /** Items left unanswered: an even or zero id, or an id already proposed. */
  readonly skipped: { readonly invalidId: number; readonly duplicateId: number };
}

/**
 * Judges every proposed item. We take the first proposed syntax we can store as received (the
 * sender's preference order), so nothing is ever transcoded.
 */
export function negotiateContexts(proposed: readonly ProposedItem[]): Negotiation {
  const results: ContextResult[] = [];
  const accepted = new Map<number, AcceptedContext>();
  const seen = new Set<number>();
  const skipped = { invalidId: 0, duplicateId: 0 };
  for (const pc of proposed) {
    if (pc.id % 2 === 0) {
      skipped.invalidId++;
      continue;
    }
    if (seen.has(pc.id)) {
      skipped.duplicateId++;
      continue;
    }
    seen.add(pc.id);
    const [abstractSyntax] = pc.abstractSyntaxes;
    if (pc.abstractSyntaxes.length !== 1 || abstractSyntax === undefined || !isAcceptedAbstractSyntax(abstractSyntax)) {
      results.push({ id: pc.id, result: ContextResultCode.AbstractSyntaxNotSupported, transferSyntax: null });
      continue;
    }
    const ts = pc.transferSyntaxes.find(isStorableTransferSyntax);
    if (ts === undefined) {
      results.push({ id: pc.id, result: ContextResultCode.TransferSyntaxesNotSupported, transferSyntax: null });
      continue;
    }
    results.push({ id: pc.id, result: ContextResultCode.Accept, transferSyntax: ts });
    accepted.set(pc.id, { abstractSyntax, transferSyntax: ts });
  }
  return { results, accepted, skipped };
}
