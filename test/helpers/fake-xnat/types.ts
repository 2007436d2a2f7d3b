//! The fake XNAT's public types: options, the request log, faults and the sessions it holds.

/** One project. */
export interface FakeProject {
  readonly id: string;
  /** Users that may write (upload, archive) and read; default every user. */
  readonly writers?: readonly string[];
  /** `prearchive_code`: 0 prearchive only, 4 auto-archive, 5 auto-archive with overwrite. Default 0. */
  readonly prearchiveCode?: 0 | 4 | 5;
}

/** Options for `startFakeXnat`. */
export interface FakeXnatOptions {
  /** user → password; default `{ admin: 'admin' }`. The user named `admin` is the site admin. */
  readonly users?: Record<string, string>;
  /** Default `[{ id: 'HOSPITAL' }, { id: 'QUARANTINE' }]`. */
  readonly projects?: readonly FakeProject[];
  /** A RECEIVING prearchive row is built after this long without a new file. Default 300 000 ms. */
  readonly idleMs?: number;
  /**
   * How long an archive operation keeps its prearchive row ARCHIVING (XNAT's archive is not
   * instant); files for that session arriving meanwhile start a new row `label_1`. Default 0.
   */
  readonly archiveDelayMs?: number;
  /** Inactivity lifetime of a JSESSIONID. Default 900 000 ms. */
  readonly sessionTtlMs?: number;
  /** Also start the fake DICOM SCP on a free port; default AE title 'XNAT'. Default false. */
  readonly dicom?: boolean | { readonly aeTitle?: string };
}

/** One HTTP request as the fake saw it (never the body). */
export interface LoggedRequest {
  readonly method: string;
  /** Path without the query string, as sent. */
  readonly path: string;
  readonly query: Record<string, string>;
  readonly status: number;
  readonly user: string | null;
  readonly auth: 'basic' | 'alias' | 'session' | null;
  readonly contentType: string | null;
  /** Request body bytes read. */
  readonly bytes: number;
  /** Epoch ms when the request arrived. */
  readonly at: number;
  /** The error text answered (status ≥ 400), or what a fault did. */
  readonly error?: string;
}

/** A fault applied to the next matching request(s), before authentication. */
export interface HttpFault {
  /** Matches any method when absent. */
  readonly method?: string;
  /** Tested against the path (without query); matches any path when absent. */
  readonly path?: RegExp;
  /** Answer this status instead of handling the request (the body is read first). */
  readonly status?: number;
  /** Default: an nginx-style HTML page for 502/503/504, else the status text. */
  readonly body?: string;
  /** Default text/html. */
  readonly contentType?: string;
  /** Wait this long first; without `status`/`drop` the request is then handled normally. */
  readonly delayMs?: number;
  /** Destroy the socket before reading the body, or after reading it. */
  readonly drop?: 'immediately' | 'after-body';
  /** How many requests this fault applies to. Default 1. */
  readonly times?: number;
}

/** A fault applied to C-STORE requests on the fake SCP. */
export interface DicomFault {
  /** C-STORE-RSP status, e.g. 0xA700, 0xC000, 0x0110. Default 0xA700. */
  readonly status?: number;
  /** (0000,0902) Error Comment. */
  readonly comment?: string;
  /** Abort the association (A-ABORT, then close the socket) instead of answering. */
  readonly abort?: boolean;
  /** Applies from the (n+1)th C-STORE after injection. Default 0. */
  readonly afterInstances?: number;
  /** Default 1. */
  readonly times?: number;
}

/** One scan (series) of a session. */
export interface FakeScan {
  /**
   * As XNAT names it: the SeriesNumber, else the SeriesInstanceUID with `_` for every non-word
   * character; `N-CT1`, `N-RTSTRUCT1`… when series share a number in one build; `N-CT1`, `N-OT1`…
   * when a merge finds the number taken by another series (ScanIdValidator).
   */
  readonly id: string;
  readonly seriesUid: string;
  readonly seriesDescription: string | null;
  readonly modality: string | null;
  /** The scan's XSI type (declared by the request for a scan created by PUT). */
  readonly xsiType: string;
  readonly files: {
    readonly sopInstanceUid: string;
    readonly sopClassUid: string;
    readonly md5: string;
    readonly size: number;
  }[];
}

/** A session in the archive (project is never null there) or the prearchive. */
export interface FakeSession {
  /** null = Unassigned. */
  readonly project: string | null;
  readonly subject: string;
  readonly label: string;
  readonly studyUid: string;
  readonly scans: FakeScan[];
}

export type PrearchiveStatus = 'RECEIVING' | 'READY' | 'CONFLICT' | 'ERROR' | 'ARCHIVING';

/** A prearchive row; `scans` are the files received so far (not the last build). */
export interface FakePrearchiveSession extends FakeSession {
  /** `yyyyMMdd_HHmmssSSS`. */
  readonly timestamp: string;
  /** The label, suffixed `_1`, `_2`… when a row for the same session was busy archiving. */
  readonly folderName: string;
  readonly status: PrearchiveStatus;
  /** Epoch ms of the last file received. */
  readonly lastmod: number;
  readonly autoArchive: boolean;
  /** Why the last archive attempt failed. */
  readonly message?: string;
}
