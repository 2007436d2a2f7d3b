#!/usr/bin/python3
"""Reference-integrity oracle, independent of the gateway's TypeScript DICOM code (pydicom only).

    python3 dicom_refs.py DIR_OR_FILE [DIR_OR_FILE ...]

Reads every DICOM file under the arguments (non-DICOM files such as manifest.json are skipped) and
prints one JSON object:

  instances:  [{file, sopInstanceUid, sopClassUid, seriesUid, studyUid, frameOfReferenceUid,
                mediaStorageSopInstanceUid, metaConsistent}]
  references: [{file, path, keyword, uid, kind, resolves, via?}]
              every UI value at every depth (private elements included) except the instance's own
              identity (top-level SOPInstanceUID, SOPClassUID, StudyInstanceUID, SeriesInstanceUID,
              FrameOfReferenceUID) and well-known UIDs (below `structural`).
              kind: 'sop' | 'series' | 'study' | 'frameOfReference' | 'other'
              - sop: ReferencedSOPInstanceUID (and the other SOP-instance keywords) resolves against
                every instance's SOPInstanceUID, or against a StudyInstanceUID (`via: 'study'`: the
                RTReferencedStudySequence quirk, where the item holds a Study Instance UID);
              - series/study: nested SeriesInstanceUID/StudyInstanceUID against the instances';
              - frameOfReference: nested FrameOfReferenceUID, ReferencedFrameOfReferenceUID,
                RelatedFrameOfReferenceUID against the instances' top-level FrameOfReferenceUID;
              - other (DoseReferenceUID, ReferencedDoseReferenceUID, private UIDs, ...): resolves
                when the same value also occurs at another place (any file, any path).
  structural: [{file, path, keyword, uid}]  UIDs under the DICOM root 1.2.840.10008. (SOP classes,
              coding schemes, well-known frames); never remapped by a de-identifier.
  unresolved: number of references of kind sop/series/study/frameOfReference that do not resolve
  unresolvedOther: number of 'other' references whose value occurs only once
  counts:     {kind: {total, resolved}}, sop also {viaStudy}
  errors:     [{file, error}] files that look like DICOM but could not be read

Always exits 0; the caller asserts on the JSON.
"""

import json
import os
import sys

import pydicom
from pydicom.errors import InvalidDicomError

IDENTITY = ('SOPInstanceUID', 'SOPClassUID', 'StudyInstanceUID', 'SeriesInstanceUID', 'FrameOfReferenceUID')
SOP_KEYWORDS = {'ReferencedSOPInstanceUID', 'ReferencedSOPInstanceUIDInFile', 'SOPInstanceUID',
                'AffectedSOPInstanceUID', 'RequestedSOPInstanceUID'}
SERIES_KEYWORDS = {'SeriesInstanceUID'}
STUDY_KEYWORDS = {'StudyInstanceUID'}
FOR_KEYWORDS = {'FrameOfReferenceUID', 'ReferencedFrameOfReferenceUID', 'RelatedFrameOfReferenceUID'}
DICOM_ROOT = '1.2.840.10008.'


def files_under(args):
    for a in args:
        if os.path.isdir(a):
            for root, dirs, names in os.walk(a):
                dirs.sort()
                for n in sorted(names):
                    yield os.path.join(root, n)
        else:
            yield a


def read(path):
    """A dataset, or None for a file that is not DICOM (JSON, text, ...)."""
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        pass
    with open(path, 'rb') as fh:
        head = fh.read(8)
    # A bare dataset (no preamble) starts with a group 0x0002 or 0x0008 tag, either byte order.
    if len(head) < 8 or head[:2] not in (b'\x02\x00', b'\x08\x00', b'\x00\x02', b'\x00\x08'):
        return None
    return pydicom.dcmread(path, stop_before_pixels=True, force=True)


def walk_ui(ds, prefix, top, out):
    """(path, keyword, value) for every UI value at every depth; sequences recursed."""
    for elem in ds:
        kw = elem.keyword or ('(%04X,%04X)' % (elem.tag.group, elem.tag.element))
        path = prefix + kw
        if elem.VR == 'SQ':
            for i, it in enumerate(elem.value):
                walk_ui(it, '%s[%d].' % (path, i), False, out)
            continue
        if elem.VR != 'UI' or elem.value is None or elem.value == '':
            continue
        if top and elem.keyword in IDENTITY:
            continue
        values = list(elem.value) if elem.VM > 1 else [elem.value]
        for v, value in enumerate(values):
            value = str(value).rstrip('\x00 ')
            if value:
                out.append((path + ('[%d]' % v if elem.VM > 1 else ''), elem.keyword, value))


def kind_of(keyword):
    if keyword in SOP_KEYWORDS:
        return 'sop'
    if keyword in SERIES_KEYWORDS:
        return 'series'
    if keyword in STUDY_KEYWORDS:
        return 'study'
    if keyword in FOR_KEYWORDS:
        return 'frameOfReference'
    return 'other'


def main(argv):
    instances, raw, errors = [], [], []
    for path in files_under(argv):
        try:
            ds = read(path)
        except Exception as e:  # noqa: BLE001 - reported, never fatal
            errors.append({'file': path, 'error': '%s: %s' % (type(e).__name__, e)})
            continue
        if ds is None:
            continue
        meta = getattr(ds, 'file_meta', None)
        media = str(getattr(meta, 'MediaStorageSOPInstanceUID', '') or '') or None
        sop = str(ds.get('SOPInstanceUID', '') or '') or None
        if sop is not None:
            instances.append({
                'file': path,
                'sopInstanceUid': sop,
                'sopClassUid': str(ds.get('SOPClassUID', '') or '') or None,
                'seriesUid': str(ds.get('SeriesInstanceUID', '') or '') or None,
                'studyUid': str(ds.get('StudyInstanceUID', '') or '') or None,
                'frameOfReferenceUid': str(ds.get('FrameOfReferenceUID', '') or '') or None,
                'mediaStorageSopInstanceUid': media,
                'metaConsistent': media is None or media == sop,
            })
        found = []
        walk_ui(ds, '', True, found)
        raw.extend((path, p, kw, v) for p, kw, v in found)

    sops = {i['sopInstanceUid'] for i in instances}
    series = {i['seriesUid'] for i in instances if i['seriesUid']}
    studies = {i['studyUid'] for i in instances if i['studyUid']}
    fors = {i['frameOfReferenceUid'] for i in instances if i['frameOfReferenceUid']}
    occurrences = {}
    for _f, _p, _k, v in raw:
        occurrences[v] = occurrences.get(v, 0) + 1
    for uid in sops | series | studies | fors:
        occurrences[uid] = occurrences.get(uid, 0) + 1

    references, structural = [], []
    counts = {k: {'total': 0, 'resolved': 0} for k in ('sop', 'series', 'study', 'frameOfReference', 'other')}
    counts['sop']['viaStudy'] = 0
    unresolved = unresolved_other = 0
    for f, p, kw, v in raw:
        if v.startswith(DICOM_ROOT):
            structural.append({'file': f, 'path': p, 'keyword': kw, 'uid': v})
            continue
        kind = kind_of(kw)
        ref = {'file': f, 'path': p, 'keyword': kw, 'uid': v, 'kind': kind}
        if kind == 'sop':
            ok = v in sops
            if not ok and v in studies:
                ok = True
                ref['via'] = 'study'
                counts['sop']['viaStudy'] += 1
        elif kind == 'series':
            ok = v in series
        elif kind == 'study':
            ok = v in studies
        elif kind == 'frameOfReference':
            ok = v in fors
        else:
            ok = occurrences.get(v, 0) > 1
        ref['resolves'] = ok
        counts[kind]['total'] += 1
        if ok:
            counts[kind]['resolved'] += 1
        elif kind == 'other':
            unresolved_other += 1
        else:
            unresolved += 1
        references.append(ref)

    json.dump({'instances': instances, 'references': references, 'structural': structural,
               'unresolved': unresolved, 'unresolvedOther': unresolved_other, 'counts': counts,
               'errors': errors}, sys.stdout, indent=1)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
