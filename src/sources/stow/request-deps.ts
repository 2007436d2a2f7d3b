//! What the handling of one STOW-RS request is given: the intake, token and lockout checks, limits, and the stop flag.
import type { ComponentContext } from '../../contracts/component.ts';
import type { Intake } from '../../contracts/source.ts';
import type { Lockout } from './lockout.ts';
import type { TokenStore } from './tokens.ts';

export interface RequestDeps extends ComponentContext {
  readonly intake: Intake;
  readonly tokens: TokenStore;
  readonly lockout: Lockout;
  readonly maxRequestBytes: number;
  /** The socket's idle timeout, suspended while the gateway itself is busy (storing a part). */
  readonly idleTimeoutMs: number;
  /** True once the source is stopping: the request ends after its current part. */
  readonly stopping: () => boolean;
}
