//! What the pull service lends each PACS's runner and its steps: the ledger, the clock, the breakers, the running tasks.
import type { Clock } from '../../clock.ts';
import type { QrClient } from '../../dicom/qr/api.ts';
import type { Logger } from '../../log.ts';
import type { Breakers } from '../../resilience/breaker.ts';
import type { PullLedger } from '../../contracts/pull-ledger.ts';
import type { PacsConfig, PullConfig } from './config.ts';
import type { RetrieveTarget } from './ports.ts';

/** A query or retrieve running for a row (by row id in `tasks`). */
export interface Task {
  readonly pullId: number;
  readonly pacs: string;
  readonly ctrl: AbortController;
  done: Promise<void>;
}

/** Shared by every runner of the service. */
export interface RunnerContext {
  readonly ledger: PullLedger;
  readonly config: PullConfig;
  readonly target: RetrieveTarget;
  readonly clock: Clock;
  readonly log: Logger;
  /** One circuit per PACS (by name). */
  readonly breakers: Breakers;
  /** The running tasks by row id. */
  readonly tasks: Map<number, Task>;
  readonly stopping: () => boolean;
  /** The delay before attempt `attempt` again (capped exponential, jittered). */
  readonly backoff: (attempt: number) => number;
  /** Something about the pull changed (the console refreshes). */
  readonly changed: (pullId: number) => void;
  /** Ends the pull if no row has anything left to happen. */
  readonly maybeEnd: (pullId: number) => Promise<void>;
}

/** What one step (a query or a retrieve) of a row against PACS `p` works with. */
export interface PacsStep extends RunnerContext {
  readonly p: PacsConfig;
  readonly client: QrClient;
  readonly plog: Logger;
  /** Pauses every active pull of the PACS with `reason`: a configuration problem every row would meet. */
  pauseAll(reason: string): Promise<void>;
}
