"""An independent STOW-RS client for the tests: pydicom writes the PS3.10 files, http.client sends them.

The multipart/related body is framed here (RFC 2046), not by the gateway's code, and sent with
chunked transfer encoding in odd-sized chunks, so delimiters fall across chunk boundaries.
Python's email package is not used for the body: its generator rewrites line endings inside
binary payloads (CR and LF bytes of pixel data), which would corrupt the DICOM files.

Usage: stow_post.py SPEC_JSON. SPEC: {"url", "token", "accept"?, "chunk"?, "parts": [PART, ...]}
PART: {"file": path} sends the file re-encoded by pydicom (dcmread → dcmwrite, PS3.10);
      {"file": path, "study": uid} also sets StudyInstanceUID (and new series/instance UIDs);
      {"raw": path} sends the file's bytes as they are; "truncate": n cuts the encoded part to n bytes;
      "contentType" overrides the part's Content-Type.
Prints one JSON object: {"status", "headers", "body"} (body parsed when it is JSON).
"""
import http.client
import io
import json
import os
import sys
import uuid
import urllib.parse

import pydicom
from pydicom.uid import generate_uid


def encode(part):
    if 'raw' in part:
        with open(part['raw'], 'rb') as f:
            data = f.read()
    else:
        ds = pydicom.dcmread(part['file'])
        if 'study' in part:
            ds.StudyInstanceUID = part['study']
            ds.SeriesInstanceUID = part.get('series') or generate_uid(prefix='2.25.')
            ds.SOPInstanceUID = generate_uid(prefix='2.25.')
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        out = io.BytesIO()
        pydicom.dcmwrite(out, ds, write_like_original=False)
        data = out.getvalue()
    if 'truncate' in part:
        data = data[:part['truncate']]
    return data


def main():
    spec = json.loads(sys.argv[1])
    boundary = 'py-' + uuid.uuid4().hex
    pieces = [b'This preamble is ignored.\r\n']
    for i, part in enumerate(spec['parts']):
        ctype = part.get('contentType', 'application/dicom')
        pieces.append(('\r\n' if i else '') .encode() + f'--{boundary}\r\nContent-Type: {ctype}\r\n\r\n'.encode())
        pieces.append(encode(part))
    pieces.append(f'\r\n--{boundary}--\r\n'.encode())
    body = b''.join(pieces)
    chunk = int(spec.get('chunk', 7777))

    def chunks():
        for at in range(0, len(body), chunk):
            yield body[at:at + chunk]

    url = urllib.parse.urlsplit(spec['url'])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    headers = {
        'Content-Type': f'multipart/related; type="application/dicom"; boundary={boundary}',
        'Accept': spec.get('accept', 'application/dicom+json'),
    }
    if spec.get('token'):
        headers['Authorization'] = 'Bearer ' + spec['token']
    conn.request('POST', url.path, body=chunks(), headers=headers, encode_chunked=True)
    res = conn.getresponse()
    raw = res.read().decode('utf-8')
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw
    print(json.dumps({'status': res.status, 'headers': {k.lower(): v for k, v in res.getheaders()}, 'body': parsed}))


if __name__ == '__main__':
    main()
