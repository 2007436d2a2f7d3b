//! A worksheet read as rows of text, and the error for a workbook that cannot be read as one.

export class XlsxError extends Error {
  override readonly name = 'XlsxError';
}

export interface SheetRow {
  /** The spreadsheet's row number (1-based), for messages. */
  readonly line: number;
  readonly fields: string[];
}

export interface Sheet {
  readonly name: string;
  readonly rows: SheetRow[];
}
