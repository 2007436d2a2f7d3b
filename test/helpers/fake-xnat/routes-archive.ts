//! Projects and the archive: /data/projects…, experiments, scans, resources and files (JSON only).
import { addProject, canRead, canWrite, scansOf, subjectId, type ArchivedRec } from './model.ts';
import { type Call, type Ctx, type Reply, json, notFound, resultSet, text } from './reply.ts';

function projectRow(id: string): Record<string, string> {
  return {
    ID: id,
    secondary_ID: id,
    name: id,
    description: '',
    pi_firstname: '',
    pi_lastname: '',
    URI: `/data/projects/${id}`,
  };
}

function listProjects(ctx: Ctx, call: Call): Reply {
  const user = call.who.user;
  // XNAT's upload UIs ask for the projects a user may add subjects to this way.
  const editOnly = call.query.permissions === 'edit';
  const ids = [...ctx.model.projects.keys()].filter((p) =>
    editOnly ? canWrite(ctx.model, user, p) : canRead(ctx.model, user, p),
  );
  return resultSet(ids.sort().map(projectRow));
}

function putProject(ctx: Ctx, call: Call, id: string): Reply {
  if (call.who.user !== 'admin' && !ctx.model.projects.has(id)) {
    return text(403, 'Only site administrators may create projects in this fake.');
  }
  if (!ctx.model.projects.has(id)) {
    addProject(ctx.model, { id });
  }
  return text(200, `/data/projects/${id}`);
}

function prearchiveCode(ctx: Ctx, call: Call, id: string, code: string | undefined): Reply {
  const p = ctx.model.projects.get(id);
  if (!p || !canRead(ctx.model, call.who.user, id)) {
    return notFound();
  }
  if (code === undefined) {
    return text(200, String(p.prearchiveCode));
  }
  if (!canWrite(ctx.model, call.who.user, id)) {
    return text(403, 'Forbidden');
  }
  if (code !== '0' && code !== '4' && code !== '5') {
    return text(400, `Invalid prearchive code: ${code}`);
  }
  p.prearchiveCode = Number(code) as 0 | 4 | 5;
  return text(200, code);
}

function findExperiment(ctx: Ctx, project: string, subject: string | undefined, e: string): ArchivedRec | undefined {
  const sessions = [...(ctx.model.archive.get(project)?.values() ?? [])];
  const s = sessions.find((x) => x.label === e || x.id === e);
  if (!s || subject === undefined) {
    return s;
  }
  return subject === s.subject || subject === subjectId(ctx.model, project, s.subject) ? s : undefined;
}

function experimentRow(ctx: Ctx, s: ArchivedRec): Record<string, string> {
  return {
    ID: s.id,
    label: s.label,
    UID: s.studyUid,
    project: s.project,
    subject_ID: subjectId(ctx.model, s.project, s.subject),
    subject_label: s.subject,
    xsiType: s.xsiType,
    URI: `/data/experiments/${s.id}`,
  };
}

function experimentItem(ctx: Ctx, s: ArchivedRec): Reply {
  const fields = experimentRow(ctx, s);
  return json({
    items: [{ children: [], meta: { 'xsi:type': fields.xsiType, isHistory: false }, data_fields: fields }],
  });
}

function scanRoutes(ctx: Ctx, s: ArchivedRec, rest: string): Reply {
  const base = `/data/experiments/${s.id}/scans`;
  const scans = scansOf(s.files.values(), s.declared);
  if (rest === '') {
    return resultSet(
      scans.map((sc) => ({
        ID: sc.id,
        type: sc.seriesDescription,
        series_description: sc.seriesDescription,
        UID: sc.seriesUid,
        quality: 'usable',
        xsiType: sc.xsiType,
        URI: `${base}/${sc.id}`,
      })),
    );
  }
  const m = /^\/([^/]+)\/resources(?:\/([^/]+)\/files)?$/.exec(rest);
  const scan = scans.find((sc) => sc.id === m?.[1]);
  if (!m || !scan) {
    return notFound();
  }
  const files = [...s.files.values()].filter((f) => f.scanId === scan.id);
  if (m[2] === undefined) {
    const size = files.reduce((n, f) => n + f.size, 0);
    return resultSet([
      {
        xnat_abstractresource_id: '1',
        cat_id: scan.id,
        category: 'scans',
        label: 'DICOM',
        file_count: files.length,
        file_size: size,
        format: 'DICOM',
        content: 'RAW',
      },
    ]);
  }
  if (m[2] !== 'DICOM') {
    return notFound();
  }
  return resultSet(
    files.map((f) => ({
      Name: f.name,
      Size: f.size,
      URI: `${base}/${scan.id}/resources/DICOM/files/${f.name}`,
      collection: 'DICOM',
      file_format: 'DICOM',
      digest: f.md5,
    })),
  );
}

function experimentRoutes(ctx: Ctx, call: Call, p: string, tail: string): Reply {
  const m = /^(?:\/subjects\/([^/]+))?\/experiments(?:\/([^/]+)(\/scans.*)?)?$/.exec(tail);
  if (!m) {
    return notFound();
  }
  const [, subject, e, scans] = m;
  if (e === undefined) {
    const all = [...(ctx.model.archive.get(p)?.values() ?? [])];
    const mine =
      subject === undefined
        ? all
        : all.filter((s) => s.subject === subject || subjectId(ctx.model, p, s.subject) === subject);
    return resultSet(mine.map((s) => experimentRow(ctx, s)));
  }
  const s = findExperiment(ctx, p, subject, e);
  if (!s) {
    return notFound();
  }
  return scans === undefined ? experimentItem(ctx, s) : scanRoutes(ctx, s, scans.replace(/^\/scans/, ''));
}

/** Routes under /data/projects (and /data/archive/projects); null when the path is not ours. */
export function archiveRoutes(ctx: Ctx, call: Call): Reply | null {
  const path = call.path.replace(/^\/data\/archive\//, '/data/');
  if (path === '/data/projects') {
    return call.method === 'GET' ? listProjects(ctx, call) : text(405, 'Method Not Allowed');
  }
  const byId = /^\/data\/experiments\/([^/]+)(\/scans.*)?$/.exec(path);
  if (byId?.[1] !== undefined) {
    // The URIs in scan and file listings point here; the session must be readable.
    const s = [...ctx.model.archive.values()]
      .flatMap((x) => [...x.values()])
      .find((x) => x.id === byId[1] && canRead(ctx.model, call.who.user, x.project));
    if (!s || call.method !== 'GET') {
      return s ? text(405, 'Method Not Allowed') : notFound();
    }
    return byId[2] === undefined ? experimentItem(ctx, s) : scanRoutes(ctx, s, byId[2].replace(/^\/scans/, ''));
  }
  const m = /^\/data\/projects\/([^/]+)(.*)$/.exec(path);
  if (!m?.[1]) {
    return null;
  }
  const [, p, tail = ''] = m;
  if (tail === '' && call.method === 'PUT') {
    return putProject(ctx, call, p);
  }
  // XNAT answers 404 for a project the user may not see, as if it did not exist.
  if (!canRead(ctx.model, call.who.user, p)) {
    return notFound();
  }
  const code = /^\/prearchive_code(?:\/(\d+))?$/.exec(tail);
  if (code) {
    return prearchiveCode(ctx, call, p, call.method === 'PUT' ? code[1] : undefined);
  }
  if (call.method !== 'GET') {
    return text(405, 'Method Not Allowed');
  }
  if (tail === '') {
    return json({
      items: [{ children: [], meta: { 'xsi:type': 'xnat:projectData', isHistory: false }, data_fields: projectRow(p) }],
    });
  }
  if (tail === '/subjects') {
    const subjects = [...(ctx.model.subjects.get(p)?.entries() ?? [])];
    return resultSet(subjects.map(([label, id]) => ({ ID: id, label, project: p, URI: `/data/subjects/${id}` })));
  }
  return experimentRoutes(ctx, call, p, tail);
}
