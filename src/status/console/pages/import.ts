//! The import folder: drops waiting and being read, recent drops, and (for administrators) rejected files.
import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../../deps.ts';
import type { ConsoleDeps } from '../types.ts';
import type { Renderer } from '../render.ts';

export function registerImport(app: FastifyInstance, deps: RouteDeps, c: ConsoleDeps, view: Renderer): void {
  app.get('/console/import', async (req, reply) => {
    const now = deps.clock.now();
    const f = (await deps.importFolder?.()) ?? null;
    // Drop and file names are chosen by staff and may name a patient: shown only to an administrator.
    const admin = req.viewer.who !== null;
    const recent = await Promise.all(
      (f?.recent ?? []).map(async (d) => ({
        ...d,
        name: admin ? d.name : null,
        rejected: admin && d.filesRejected > 0 ? await c.rejectedFiles(d.id) : [],
      })),
    );
    return view.page(
      req,
      reply,
      'import',
      { title: 'Import folder', active: 'import' },
      {
        now,
        folder: f,
        cfg: c.sources().folder,
        admin,
        recent,
        waiting: (f?.waiting ?? []).map((w) => ({ ...w, unchangedMs: now - w.lastChangeAt })),
      },
    );
  });
}
