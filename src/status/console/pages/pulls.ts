//! Pulls: the PACS with their C-ECHO, the list of pulls, uploading a list, and one pull's rows with pause/resume/cancel and choosing a candidate.
// Acting needs a signed-in administrator and the form's CSRF token (checkForm; the upload reads the
// token field before the file). Accession numbers, patient IDs and dates are shown only to a
// signed-in administrator. The rows refresh live (htmx) and the page works without JavaScript.
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DaemonError, ErrorCode } from '../../../errors.ts';
import { RowStateError } from '../../../contracts/pull-row-state.ts';
import type { PullsView, RouteDeps } from '../../deps.ts';
import { pullDetail, pullSummary } from '../../routes/pulls.ts';
import { checkForm, formOf } from '../forms.ts';
import { parseCookies } from '../cookies.ts';
import { csrfOk, CSRF_COOKIE, CSRF_FIELD, type PageFrame, type Renderer } from '../render.ts';

const ACTIONS = { pause: 'paused', resume: 'resumed', cancel: 'cancelled' } as const;
type Action = keyof typeof ACTIONS;

/** The list page: PACS, pulls, the upload form. */
async function listPage(
  v: PullsView | undefined,
  req: FastifyRequest,
  reply: FastifyReply,
  view: Renderer,
  flash: PageFrame['flash'],
  status = 200,
): Promise<FastifyReply> {
  const pulls = v ? (await v.ledger.pulls()).map(pullSummary) : [];
  return view.page(
    req,
    reply,
    'pulls',
    { title: 'Pulls', active: 'pulls', flash },
    { configured: v !== undefined, pacs: v?.pacs() ?? [], pulls },
    status,
  );
}

/** Reads the upload form: the CSRF field first, then PACS and project, then the list (bounded by pull.maxFileBytes). */
async function readUpload(
  req: FastifyRequest,
): Promise<{ csrf: boolean; pacs: string; project: string; name: string | null; file: Buffer | null }> {
  const out = { csrf: false, pacs: '', project: '', name: null as string | null, file: null as Buffer | null };
  let token: string | undefined;
  for await (const part of req.parts()) {
    if (part.type === 'field') {
      const value = typeof part.value === 'string' ? part.value : '';
      if (part.fieldname === CSRF_FIELD) {
        token = value;
      } else if (part.fieldname === 'pacs') {
        out.pacs = value;
      } else if (part.fieldname === 'project') {
        out.project = value.trim();
      }
      continue;
    }
    out.csrf = csrfOk(req, token);
    // A forged post is refused before its file is read.
    if (!out.csrf) {
      part.file.resume();
      continue;
    }
    out.file = await part.toBuffer();
    out.name = part.filename || null;
  }
  out.csrf = csrfOk(req, token);
  return out;
}

export function registerPulls(app: FastifyInstance, deps: RouteDeps, view: Renderer): void {
  const v = deps.pulls;
  app.get<{ Querystring: { error?: string } }>('/console/pulls', (req, reply) => listPage(v, req, reply, view, null));
  if (!v) {
    return;
  }

  const byUid = async (id: string): Promise<Awaited<ReturnType<PullsView['ledger']['getPullByUid']>>> =>
    /^[0-9a-f-]{36}$/.test(id) ? v.ledger.getPullByUid(id) : null;
  const detailModel = async (req: FastifyRequest, id: string): Promise<Record<string, unknown> | null> => {
    const p = await byUid(id);
    if (!p) {
      return null;
    }
    const admin = req.viewer.who !== null;
    return { ...(await pullDetail(v, p, admin)), admin, live: `/console/pulls/${p.uid}?fragment=rows` };
  };

  app.get<{ Params: { id: string }; Querystring: { fragment?: string; done?: string } }>(
    '/console/pulls/:id',
    async (req, reply) => {
      const model = await detailModel(req, req.params.id);
      if (!model) {
        return view.page(
          req,
          reply,
          'message',
          { title: 'Not found', active: 'pulls' },
          {
            heading: 'Not found',
            text: `There is no pull ${req.params.id}.`,
            link: { href: '/console/pulls', label: 'Pulls' },
          },
          404,
        );
      }
      // The live rows keep the choose buttons: their forms carry this browser's CSRF cookie value.
      if (req.query.fragment === 'rows') {
        return view.fragment(reply, 'pull-rows', {
          ...model,
          csrf: parseCookies(req.headers.cookie).get(CSRF_COOKIE) ?? null,
        });
      }
      const done = req.query.done;
      const flash =
        done === 'submitted'
          ? { kind: 'ok' as const, text: "The list was accepted; its rows are worked within the PACS's schedule." }
          : done && done in ACTIONS
            ? { kind: 'ok' as const, text: `The pull was ${ACTIONS[done as Action]}.` }
            : done === 'chosen'
              ? { kind: 'ok' as const, text: 'The row will be pulled with the study chosen.' }
              : null;
      return view.page(req, reply, 'pull', { title: 'Pull', active: 'pulls', flash }, model);
    },
  );

  app.register(async (scope) => {
    await scope.register(multipart, {
      limits: { files: 1, fields: 4, fieldSize: 1024, fileSize: v.maxFileBytes, parts: 6 },
    });
    scope.post('/console/pulls', async (req, reply) => {
      if (!req.isMultipart()) {
        return listPage(v, req, reply, view, { kind: 'error', text: 'Choose a CSV or XLSX list to upload.' }, 400);
      }
      let form;
      try {
        form = await readUpload(req);
      } catch (err) {
        if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
          return listPage(
            v,
            req,
            reply,
            view,
            { kind: 'error', text: `The list is larger than pull.maxFileBytes (${String(v.maxFileBytes)} bytes).` },
            413,
          );
        }
        throw err;
      }
      if (!form.csrf) {
        req.log.warn(
          { code: ErrorCode.CONSOLE_CSRF, ip: req.ip },
          'Pull upload refused: the form carried no valid CSRF token.',
        );
        return listPage(
          v,
          req,
          reply,
          view,
          {
            kind: 'error',
            text: 'Refused: this form did not come from this console page, or it is out of date. Reload the page and try again.',
          },
          403,
        );
      }
      if (req.viewer.who === null) {
        return listPage(
          v,
          req,
          reply,
          view,
          { kind: 'error', text: 'Submitting a pull needs an administrator: sign in first.' },
          403,
        );
      }
      if (!form.file || form.file.length === 0) {
        return listPage(v, req, reply, view, { kind: 'error', text: 'Choose a CSV or XLSX list to upload.' }, 400);
      }
      try {
        const p = await v.service.submit(form.file, {
          pacs: form.pacs,
          project: form.project || null,
          fileName: form.name,
        });
        req.log.info(
          { pull: p.uid, pacs: p.pacs, rows: p.rowsTotal, by: req.viewer.who },
          'Pull list accepted (console).',
        );
        return await reply.code(303).header('Location', `/console/pulls/${p.uid}?done=submitted`).send();
      } catch (err) {
        if (err instanceof DaemonError) {
          return listPage(v, req, reply, view, { kind: 'error', text: `${err.code}: ${err.message}` }, 400);
        }
        throw err;
      }
    });
  });

  for (const action of Object.keys(ACTIONS) as Action[]) {
    app.post<{ Params: { id: string } }>(`/console/pulls/:id/${action}`, async (req, reply) => {
      const ok = checkForm(req, reply, view, {
        admin: true,
        action: `${action[0]?.toUpperCase() ?? ''}${action.slice(1)} the pull`,
        active: 'pulls',
      });
      if (!ok?.who) {
        return reply;
      }
      const record = await byUid(req.params.id);
      if (!record) {
        return listPage(v, req, reply, view, { kind: 'error', text: `There is no pull ${req.params.id}.` }, 404);
      }
      if (record.state === 'ended' || record.state === 'cancelled') {
        return listPage(
          v,
          req,
          reply,
          view,
          { kind: 'error', text: `Pull ${record.uid} has ${record.state === 'ended' ? 'ended' : 'been cancelled'}.` },
          409,
        );
      }
      if (action === 'pause') {
        await v.service.pause(record.id, `paused by ${ok.who}`);
      } else if (action === 'resume') {
        await v.service.resume(record.id);
      } else {
        await v.service.cancel(record.id);
      }
      req.log.info({ pull: record.uid, by: ok.who }, `Pull ${ACTIONS[action]} (console).`);
      return reply.code(303).header('Location', `/console/pulls/${record.uid}?done=${action}`).send();
    });
  }

  app.post<{ Params: { id: string; line: string } }>('/console/pulls/:id/rows/:line/choose', async (req, reply) => {
    const ok = checkForm(req, reply, view, { admin: true, action: 'Choosing a study', active: 'pulls' });
    if (!ok?.who) {
      return reply;
    }
    const record = await byUid(req.params.id);
    const row = record ? (await v.ledger.rows(record.id)).find((r) => String(r.line) === req.params.line) : undefined;
    const study = formOf(req).study ?? '';
    if (!record || !row) {
      return listPage(v, req, reply, view, { kind: 'error', text: 'There is no such pull row.' }, 404);
    }
    if (!(row.candidates ?? []).some((c) => c.studyInstanceUid === study)) {
      return listPage(v, req, reply, view, { kind: 'error', text: "Choose one of the row's candidates." }, 400);
    }
    try {
      await v.service.choose(row.id, study);
    } catch (err) {
      if (err instanceof RowStateError) {
        return listPage(v, req, reply, view, { kind: 'error', text: err.message }, 409);
      }
      throw err;
    }
    req.log.info({ pull: record.uid, line: row.line, by: ok.who }, 'Pull row candidate chosen (console).');
    return reply.code(303).header('Location', `/console/pulls/${record.uid}?done=chosen`).send();
  });
}
