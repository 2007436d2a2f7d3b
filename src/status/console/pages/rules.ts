//! Rules: what decides in force (files with their lines and hashes, the built-in switches), and explain.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteDeps } from '../../server.ts';
import type { ConsoleDeps } from '../types.ts';
import { csrfOk, CSRF_FIELD, type PageFrame, type Renderer } from '../render.ts';
import { ErrorCode } from '../../../errors.ts';
import { abortOnDisconnect, type ExplainGate } from '../../explain-upload.ts';
import type { ExplainResult } from '../../routes/routing.ts';

/** A rule file as it is on disk now, line by line, and whether it is the content in force. */
interface FileView { path: string; kind: string; sha256: string; inForce: boolean; lines: string[] | null; error: string | null }

function fileView(f: { path: string; kind: string; sha256: string }): FileView {
  try {
    const text = readFileSync(f.path);
    const sha = createHash('sha256').update(text).digest('hex');
    const lines = text.toString('utf8').split(/\r?\n/);
    if (lines.at(-1) === '') {lines.pop();} // the newline ending the last line starts no line of its own
    return { ...f, inForce: sha === f.sha256, lines, error: null };
  } catch (err) {
    return { ...f, inForce: false, lines: null, error: `cannot be read now (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
}

type Outcome = { explained: unknown; error: string; status: number };

/**
 * Reads the multipart form (the CSRF field first, then the file) and explains the upload through
 * the same gate as POST /explain: one at a time, space reserved, size limited, removed afterwards.
 */
async function explainForm(req: FastifyRequest, reply: FastifyReply, gate: ExplainGate, maxBytes: number): Promise<Outcome> {
  const refused = (error: string, status: number): Outcome => ({ explained: null, error, status });
  try {
    let csrf: string | undefined;
    let explained: ExplainResult | null = null;
    for await (const part of req.parts()) {
      if (part.type === 'field') {
        if (part.fieldname === CSRF_FIELD && typeof part.value === 'string') {csrf = part.value;}
        continue;
      }
      // The token field comes before the file in the form, so a forged post is refused before its upload is stored.
      if (!csrfOk(req, csrf)) {break;}
      // The request's length bounds the file's (the form's other fields are a few hundred bytes).
      explained = await gate.explain(part.file, { declaredBytes: Number(req.headers['content-length'] ?? 0) || 0, signal: abortOnDisconnect(reply) });
    }
    if (!csrfOk(req, csrf)) {
      req.log.warn({ code: ErrorCode.CONSOLE_CSRF, ip: req.ip }, 'Explain refused: the form carried no valid CSRF token.');
      return refused('Refused: this form did not come from this console page, or it is out of date. Reload the page and try again.', 403);
    }
    if (explained === null) {return refused('Choose a DICOM file or a zip to explain.', 400);}
    return { explained, error: '', status: 200 };
  } catch (err) {
    if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
      return refused(`The upload is larger than http.explainMaxBytes (${String(maxBytes)} bytes).`, 413);
    }
    // Refusals the administrator can act on (another upload running, no space, too large, a rejected zip).
    const status = (err as { statusCode?: number }).statusCode;
    if (status !== undefined && ((status >= 400 && status < 500) || status === 507)) {return refused((err as Error).message, status);}
    throw err;
  }
}

export function registerRules(app: FastifyInstance, deps: RouteDeps, c: ConsoleDeps, view: Renderer): void {
  const routing = deps.routing;
  const show = (req: FastifyRequest, reply: FastifyReply, extra: { explained?: unknown; flash?: PageFrame['flash'] }, status = 200): FastifyReply => {
    const rules = routing?.rules() ?? null;
    return view.page(req, reply, 'rules', { title: 'Rules', active: 'rules', flash: extra.flash ?? null }, {
      rules, files: rules ? rules.files.map(fileView) : [], builtin: c.builtinRules, explained: extra.explained ?? null,
      canExplain: routing !== undefined && (req.viewer.who !== null || req.viewer.loopback),
    }, status);
  };
  app.get('/console/rules', (req, reply) => show(req, reply, {}));

  const gate = deps.explainGate;
  if (!routing || !gate) {return;}
  // The upload is a multipart form (works without JavaScript); the file streams to the work
  // folder under the same size limit as POST /explain and is removed once explained.
  app.register(async (scope) => {
    await scope.register(multipart, { limits: { files: 1, fields: 4, fieldSize: 1024, fileSize: routing.explainMaxBytes, parts: 6 } });
    scope.post('/console/rules/explain', async (req, reply) => {
      if (!req.viewer.loopback && req.viewer.who === null) {
        return show(req, reply, { flash: { kind: 'error', text: 'Explaining an upload from another machine needs an administrator: sign in first.' } }, 403);
      }
      if (!req.isMultipart()) {return show(req, reply, { flash: { kind: 'error', text: 'Choose a DICOM file or a zip to explain.' } }, 400);}
      const outcome = await explainForm(req, reply, gate, routing.explainMaxBytes);
      return show(req, reply, outcome.explained ? { explained: outcome.explained } : { flash: { kind: 'error', text: outcome.error } }, outcome.status);
    });
  });
}
