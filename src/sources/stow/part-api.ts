//! What a STOW-RS part receiver is given and promises: the body reader writes bytes in, a PartOutcome comes out.
import type { ErrorCode } from '../../errors.ts';
import type { Intake } from '../../contracts/source.ts';

export type PartOutcome =
  | {
      readonly ok: true;
      readonly sopClassUid: string;
      readonly sopInstanceUid: string;
      readonly outcome: 'stored' | 'duplicate' | 'replaced';
    }
  | {
      readonly ok: false;
      readonly sopClassUid: string | null;
      readonly sopInstanceUid: string | null;
      readonly reason: number;
      readonly code: ErrorCode;
      readonly message: string;
    };

export interface PartContext {
  readonly intake: Intake;
  readonly associationUid: string;
  /** The token's name: recorded as the calling AE of the instance and association. */
  readonly sender: string;
  readonly peerIp: string;
  /** The StudyInstanceUID of the request's path, when it names one. */
  readonly studyUid: string | null;
}

export interface PartReceiver {
  /** Takes the next bytes of the part; false: wait for `drained()` before the next write. */
  write(data: Buffer): boolean;
  drained(): Promise<void>;
  /** The part's body is complete: store it (or say why not). Never rejects. */
  finish(): Promise<PartOutcome>;
  /** The part was cut off (the body ended or the client went away): nothing of it is kept. Never rejects. */
  abort(): Promise<void>;
  /** The SOP class and instance, once the head has been read (for the failure of a part cut off). */
  identity(): { readonly sopClassUid: string | null; readonly sopInstanceUid: string | null };
}
