//! Rules: what decides in force (files with their lines and hashes, the built-in switches), and explain.
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteDeps } from '../../server.ts';
import type { ConsoleDeps } from '../types.ts';
import { csrfOk, CSRF_FIELD, type PageFrame, type Renderer } from '../render.ts';
import { ErrorCode } from '../../../errors.ts';

/** A rule file as it is on disk now, line by line, and whether it is the content in force. */
interface FileView {
  path: string;
  kind: string;
  sha256: string;
  inForce: boolean;
  lines: string[] | null;
  error: string | null;
}

function fileView(f: { path: string; kind: string; sha256: string }): FileView {
  try {
    const text = readFileSync(f.path);
    const sha = createHash('sha256').update(text).digest('hex');
    const lines = text.toString('utf8').split(/\r?\n/);
    if (lines.at(-1) === '') {
      lines.pop();
    } // the newline ending the last line starts no line of its own
    return { ...f, inForce: sha === f.sha256, lines, error: null };
  } catch (err) {
    return {
      ...f,
      inForce: false,
      lines: null,
      error: `cannot be read now (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    };
  }
}

type Outcome = { explained: unknown; error: string; status: number };

/**
 * Reads the multipart form (the CSRF field first, then the file, streamed to a private folder
 * under the work folder) and explains the upload; the folder is removed whatever happens.
 */
async function explainForm(
  req: FastifyRequest,
  reply: FastifyReply,
  routing: NonNullable<RouteDeps['routing']>,
): Promise<Outcome> {
  const refused = (error: string, status: number): Outcome => ({ explained: null, error, status });
  const dir = join(routing.uploadDir, `explain-${randomUUID()}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    let csrf: string | undefined;
    let file: string | null = null;
    for await (const part of req.parts()) {
      if (part.type === 'field') {
        if (part.fieldname === CSRF_FIELD && typeof part.value === 'string') {
          csrf = part.value;
        }
        continue;
      }
      // The token field comes before the file in the form, so a forged post is refused before its upload is stored.
      if (!csrfOk(req, csrf)) {
        break;
      }
      file = join(dir, 'upload');
      await pipeline(part.file, createWriteStream(file, { mode: 0o600 }));
    }
    if (!csrfOk(req, csrf)) {
      req.log.warn(
        { code: ErrorCode.CONSOLE_CSRF, ip: req.ip },
        'Explain refused: the form carried no valid CSRF token.',
      );
      return refused(
        'Refused: this form did not come from this console page, or it is out of date. Reload the page and try again.',
        403,
      );
    }
    if (file === null) {
      return refused('Choose a DICOM file or a zip to explain.', 400);
    }
    const controller = new AbortController();
    req.raw.on('close', () => {
      if (!reply.sent) {
        controller.abort();
      }
    });
    const result = await routing.explainUpload(file, controller.signal);
    return {
      explained: {
        series: result.series,
        skipped: result.skipped.map((k) => ({
          path: k.path.startsWith(dir) ? k.path.slice(dir.length + 1) : k.path,
          reason: k.reason,
        })),
      },
      error: '',
      status: 200,
    };
  } catch (err) {
    if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
      return refused(`The upload is larger than http.explainMaxBytes (${String(routing.explainMaxBytes)} bytes).`, 413);
    }
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function registerRules(app: FastifyInstance, deps: RouteDeps, c: ConsoleDeps, view: Renderer): void {
  const routing = deps.routing;
  const show = (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: { explained?: unknown; flash?: PageFrame['flash'] },
    status = 200,
  ): FastifyReply => {
    const rules = routing?.rules() ?? null;
    return view.page(
      req,
      reply,
      'rules',
      { title: 'Rules', active: 'rules', flash: extra.flash ?? null },
      {
        rules,
        files: rules ? rules.files.map(fileView) : [],
        builtin: c.builtinRules,
        explained: extra.explained ?? null,
        canExplain: routing !== undefined && (req.viewer.who !== null || req.viewer.loopback),
      },
      status,
    );
  };
  app.get('/console/rules', (req, reply) => show(req, reply, {}));

  if (!routing) {
    return;
  }
  // The upload is a multipart form (works without JavaScript); the file streams to the work
  // folder under the same size limit as POST /explain and is removed once explained.
  app.register(async (scope) => {
    await scope.register(multipart, {
      limits: { files: 1, fields: 4, fieldSize: 1024, fileSize: routing.explainMaxBytes, parts: 6 },
    });
    scope.post('/console/rules/explain', async (req, reply) => {
      if (!req.viewer.loopback && req.viewer.who === null) {
        return show(
          req,
          reply,
          {
            flash: {
              kind: 'error',
              text: 'Explaining an upload from another machine needs an administrator: sign in first.',
            },
          },
          403,
        );
      }
      if (!req.isMultipart()) {
        return show(req, reply, { flash: { kind: 'error', text: 'Choose a DICOM file or a zip to explain.' } }, 400);
      }
      const outcome = await explainForm(req, reply, routing);
      return show(
        req,
        reply,
        outcome.explained ? { explained: outcome.explained } : { flash: { kind: 'error', text: outcome.error } },
        outcome.status,
      );
    });
  });
}
