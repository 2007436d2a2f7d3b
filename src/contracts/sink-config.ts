//! Config keys every sink type shares (spread into each sink's own strictObject).
import { z } from 'zod';

/** An XNAT project id as XNAT accepts it in labels and routing ([A-Za-z0-9_-]). */
export const projectId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'an XNAT project id: letters, digits, _ and - only');

export const sinkCommon = {
  projects: z
    .array(projectId)
    .min(1)
    .optional()
    .meta({
      description:
        'Target projects (chosen by the quarantine protocol) this sink delivers; omitted: every project. ' +
        'Each project needs at least one sink; a series goes to every sink listing its project, one job each.',
    }),
};
