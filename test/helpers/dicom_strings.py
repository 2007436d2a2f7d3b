#!/usr/bin/python3
"""Text, pixel and parse oracles for the de-identification tests, independent of the gateway's
TypeScript DICOM code (pydicom only).

    python3 dicom_strings.py FILE...               every text value of every file
    python3 dicom_strings.py --pixel-md5 FILE...   md5 of each file's PixelData value as stored
    python3 dicom_strings.py --parse-ok FILE...    whether each file reads fully

Default mode prints {"files": [{file, ok, error?, strings: [{path, tag, vr, value, private,
components?, binary?}]}]}: every value of a string VR (AE AS CS DA DS DT IS LO LT PN SH ST TM UC
UI UR UT) at every depth, private elements and File Meta (path prefix "FileMetaInformation.")
included; multi-valued elements give one entry per value (path suffix "[i]"); PN entries carry
`components` (every non-empty component of every component group); values are decoded with the
file's Specific Character Set. Private or UN elements holding bytes (e.g. CSA headers) contribute
their printable runs of 4+ characters with `binary: true`.

--pixel-md5 prints {"files": [{file, ok, error?, pixelData: md5|null, length: n|null}]}: md5 of
the raw bytes of (7FE0,0010) as pydicom holds them (native bytes in the file's byte order, or the
encapsulated item stream with every fragment), so a byte-identity check across a transform is
independent of any decoder.

--parse-ok prints {"files": [{file, ok, error?, preamble, transferSyntax, elements, pixelDataLength,
pixelDataExpected?, fragments?}]}: the file is read (a bare dataset without preamble is retried with force, reported
as preamble: false), every element at every depth is converted (texts decoded, PN parsed), and
PixelData is checked: native data must hold at least Rows x Columns x Samples x Frames x
BitsAllocated bits (4:2:2 YBR counts two samples; longer data, e.g. padding, is not an error: compare
pixelDataLength with pixelDataExpected); encapsulated data must hold >= 1 fragment after the
offset table.

Always exits 0; the caller asserts on the JSON.
"""

import hashlib
import json
import re
import sys

import pydicom
from pydicom.encaps import decode_data_sequence
from pydicom.errors import InvalidDicomError

TEXT_VRS = {'AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UI', 'UR', 'UT'}
PRINTABLE = re.compile('[\x20-\x7e\xa0-\xff]{4,}')
PIXEL_TAG = 0x7FE00010
NATIVE = {'1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.2'}


def read(path, stop_before_pixels=False):
    """(dataset, has_preamble). Raises for a file that pydicom cannot read even with force."""
    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels), True
    except InvalidDicomError:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True), False


def tag_str(tag):
    return '(%04X,%04X)' % (tag.group, tag.element)


def text_of(vr, v):
    """The value as written: DS/IS keep their original text; PN and others decode via str()."""
    if vr in ('DS', 'IS'):
        orig = getattr(v, 'original_string', None)
        if isinstance(orig, str):
            return orig
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode('latin-1')
    return str(v)


def walk_strings(ds, prefix, out):
    for elem in ds:
        kw = elem.keyword or tag_str(elem.tag)
        path = prefix + kw
        private = elem.tag.is_private
        if elem.VR == 'SQ':
            for i, it in enumerate(elem.value or []):
                walk_strings(it, '%s[%d].' % (path, i), out)
            continue
        value = elem.value
        if value is None or value == '':
            continue
        if elem.VR in TEXT_VRS:
            values = list(value) if elem.VM > 1 else [value]
            for v, one in enumerate(values):
                text = text_of(elem.VR, one)
                if text == '':
                    continue
                entry = {'path': path + ('[%d]' % v if elem.VM > 1 else ''), 'tag': tag_str(elem.tag),
                         'vr': elem.VR, 'value': text, 'private': private}
                if elem.VR == 'PN':
                    entry['components'] = [c for grp in text.split('=') for c in grp.split('^') if c]
                out.append(entry)
        elif isinstance(value, (bytes, bytearray)) and (private or elem.VR == 'UN') and elem.tag != PIXEL_TAG:
            for run in PRINTABLE.findall(bytes(value).decode('latin-1')):
                out.append({'path': path, 'tag': tag_str(elem.tag), 'vr': elem.VR, 'value': run,
                            'private': private, 'binary': True})


def strings_mode(files):
    res = []
    for f in files:
        try:
            ds, _pre = read(f, stop_before_pixels=True)
            out = []
            meta = getattr(ds, 'file_meta', None)
            if meta is not None:
                walk_strings(meta, 'FileMetaInformation.', out)
            walk_strings(ds, '', out)
            res.append({'file': f, 'ok': True, 'strings': out})
        except Exception as e:  # noqa: BLE001 - reported per file
            res.append({'file': f, 'ok': False, 'error': '%s: %s' % (type(e).__name__, e), 'strings': []})
    return res


def pixel_md5_mode(files):
    res = []
    for f in files:
        try:
            ds, _pre = read(f)
            if PIXEL_TAG in ds:
                data = bytes(ds[PIXEL_TAG].value or b'')
                res.append({'file': f, 'ok': True, 'pixelData': hashlib.md5(data).hexdigest(), 'length': len(data)})
            else:
                res.append({'file': f, 'ok': True, 'pixelData': None, 'length': None})
        except Exception as e:  # noqa: BLE001 - reported per file
            res.append({'file': f, 'ok': False, 'error': '%s: %s' % (type(e).__name__, e),
                        'pixelData': None, 'length': None})
    return res


def touch_all(ds):
    n = 0
    for elem in ds.iterall():
        v = elem.value
        if elem.VR == 'PN':
            for one in (v if elem.VM > 1 else [v]):
                if one is not None:
                    str(one)
                    getattr(one, 'components', None)
        n += 1
    return n


def native_length(ds):
    """Bytes native PixelData must hold, or None when Rows/Columns/BitsAllocated are missing."""
    rows, cols, bits = (int(ds.get(k, 0) or 0) for k in ('Rows', 'Columns', 'BitsAllocated'))
    if not (rows and cols and bits):
        return None
    samples = int(ds.get('SamplesPerPixel', 1) or 1)
    frames = int(ds.get('NumberOfFrames', 1) or 1)
    if samples == 3 and str(ds.get('PhotometricInterpretation', '')).strip() in ('YBR_FULL_422', 'YBR_PARTIAL_422'):
        samples = 2      # 4:2:2 subsampling stores two values per pixel
    return (rows * cols * samples * frames * bits + 7) // 8


def transfer_syntax(ds):
    meta = getattr(ds, 'file_meta', None)
    ts = getattr(meta, 'TransferSyntaxUID', None) if meta is not None else None
    if ts:
        return str(ts)
    return ('1.2.840.10008.1.2' if ds.is_implicit_VR else
            '1.2.840.10008.1.2.1' if ds.is_little_endian else '1.2.840.10008.1.2.2')


def parse_ok_mode(files):
    res = []
    for f in files:
        entry = {'file': f, 'ok': False}
        try:
            ds, pre = read(f)
            entry['preamble'] = pre
            entry['transferSyntax'] = transfer_syntax(ds)
            n = touch_all(ds)
            meta = getattr(ds, 'file_meta', None)
            if meta is not None:
                n += touch_all(meta)
            entry['elements'] = n
            entry['pixelDataLength'] = None
            if PIXEL_TAG in ds:
                data = bytes(ds[PIXEL_TAG].value or b'')
                entry['pixelDataLength'] = len(data)
                if entry['transferSyntax'] in NATIVE:
                    expected = native_length(ds)
                    entry['pixelDataExpected'] = expected
                    if expected is not None and len(data) < expected:
                        raise ValueError('PixelData holds %d bytes, expected %d' % (len(data), expected))
                else:
                    # decode_data_sequence skips the Basic Offset Table item and returns the fragments.
                    entry['fragments'] = len(decode_data_sequence(data))
                    if entry['fragments'] < 1:
                        raise ValueError('encapsulated PixelData without a fragment')
            entry['ok'] = True
        except Exception as e:  # noqa: BLE001 - reported per file
            entry['error'] = '%s: %s' % (type(e).__name__, e)
        res.append(entry)
    return res


def main(argv):
    mode = 'strings'
    files = []
    for a in argv:
        if a == '--pixel-md5':
            mode = 'pixel'
        elif a == '--parse-ok':
            mode = 'parse'
        else:
            files.append(a)
    fn = {'strings': strings_mode, 'pixel': pixel_md5_mode, 'parse': parse_ok_mode}[mode]
    json.dump({'files': fn(files)}, sys.stdout, ensure_ascii=False)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
