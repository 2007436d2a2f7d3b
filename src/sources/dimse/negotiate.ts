//! Presentation-context negotiation: Verification and every storage class, in a syntax we store as received.
import type { association as assoc } from 'dcmjs-dimse';
import dimse from 'dcmjs-dimse';
import { isAcceptedAbstractSyntax } from '../../dicom/sop-class.ts';
import { isStorableTransferSyntax } from '../../dicom/transfer-syntax.ts';

const { PresentationContextResult } = dimse.constants;

/**
 * Sets the result of every proposed context. We take the first proposed syntax we can store as
 * received (the sender's preference order), so nothing is ever transcoded.
 * Returns how many contexts were accepted.
 */
export function negotiateContexts(association: InstanceType<typeof assoc.Association>): number {
  let accepted = 0;
  for (const { id } of association.getPresentationContexts()) {
    const pc = association.getPresentationContext(id);
    if (!isAcceptedAbstractSyntax(pc.getAbstractSyntaxUid())) {
      pc.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
      continue;
    }
    const ts = pc.getTransferSyntaxUids().find(isStorableTransferSyntax);
    if (ts === undefined) {
      pc.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
      continue;
    }
    pc.setResult(PresentationContextResult.Accept, ts);
    accepted++;
  }
  return accepted;
}
