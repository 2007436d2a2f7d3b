//! The two ways a DicomEdit script fails: at load (ScriptError) and while editing an instance.
// Both carry the 1-based line and column of the offending text, so an operator can fix the script
// without reading logs of every instance (XNAT reports script errors only in dicom.log).

/** A source position, 1-based. */
export interface Pos {
  readonly line: number;
  readonly column: number;
}

/** The script cannot be loaded: a syntax error or something this gateway does not support. */
export class ScriptError extends Error {
  override readonly name = 'ScriptError';
  readonly line: number;
  readonly column: number;
  /** The message without the position. */
  readonly reason: string;
  constructor(reason: string, at: Pos) {
    super(`line ${String(at.line)}, column ${String(at.column)}: ${reason}`);
    this.line = at.line;
    this.column = at.column;
    this.reason = reason;
  }
}

/**
 * A statement failed on this instance (an argument element is absent, a date does not parse, an
 * unknown variable…). XNAT fails the object in the same cases; retrying cannot help.
 */
export class ScriptRuntimeError extends Error {
  override readonly name = 'ScriptRuntimeError';
  readonly line: number;
  readonly column: number;
  readonly reason: string;
  constructor(reason: string, at: Pos, options?: { cause?: unknown }) {
    super(`line ${String(at.line)}, column ${String(at.column)}: ${reason}`, options);
    this.line = at.line;
    this.column = at.column;
    this.reason = reason;
  }
}
