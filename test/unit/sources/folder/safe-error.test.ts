import { describe, expect, it } from 'vitest';
import { open } from 'node:fs/promises';
import { safeError } from '../../../../src/sources/folder/safe-error.ts';

describe('safeError', () => {
  it('keeps the code and syscall of a real fs error and drops its path', async () => {
    const err = await open('/nonexistent/SMITH^JOHN/IM0001', 'r').then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as Error).message).toContain('SMITH^JOHN');
    const safe = safeError(err);
    expect(safe).toMatchObject({ code: 'ENOENT', syscall: 'open' });
    expect(safe.message).not.toContain('SMITH');
    expect(safe.message).toContain('<path>');
  });

  it('describes non-errors too', () => {
    expect(safeError('plain')).toEqual({ code: undefined, syscall: undefined, message: 'plain' });
  });
});
