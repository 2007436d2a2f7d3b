//! C-ECHO of a configured PACS, for check-config: does it answer, and does it accept our AE title?
import { QrError } from '../../dicom/qr/failure.ts';
import type { PacsConfig } from './config.ts';
import { qrClientFor } from './pacs-client.ts';

/** A PACS that did not answer its C-ECHO: `refused` when it rejected us (fix the configuration), else unreachable. */
export interface EchoProblem {
  readonly pacs: string;
  readonly refused: boolean;
  readonly message: string;
}

/** C-ECHO to every PACS in turn (each within `timeoutMs`); the ones that failed, with why. */
export async function echoEachPacs(list: readonly PacsConfig[], timeoutMs: number): Promise<EchoProblem[]> {
  const out: EchoProblem[] = [];
  for (const p of list) {
    const client = qrClientFor(p);
    try {
      await client.echo(AbortSignal.timeout(timeoutMs));
    } catch (err) {
      const where = `${p.aeTitle}@${p.host}:${String(p.port)} as ${p.callingAe}`;
      if (!(err instanceof QrError)) {
        throw err;
      }
      // A permanent rejection (calling or called AE title not recognised) or no Verification context: configuration.
      const refused = (err.kind === 'rejected' && err.reject?.result === 1) || err.kind === 'context';
      out.push({ pacs: p.name, refused, message: `C-ECHO to ${where} failed: ${err.message}` });
    }
  }
  return out;
}
