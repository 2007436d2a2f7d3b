#!/usr/bin/python3
"""Copies a series with pydicom, changing what XNAT names its scan by (independent of our writer).

    python3 series_edit.py SRC_DIR OUT_DIR [--series-number N | --no-series-number] [--new-series]

Every *.dcm file of SRC_DIR is written to OUT_DIR under the same name: --series-number sets
SeriesNumber (0020,0011) to N; --no-series-number keeps the attribute (Type 2) but empties it;
--new-series gives the copy a new SeriesInstanceUID and new SOPInstanceUIDs (File Meta follows), so
it is another series of the same study and patient. Prints {"seriesInstanceUid", "files"} as JSON.
"""

import argparse
import json
import os
import sys

import pydicom
from pydicom.uid import generate_uid


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('src')
    ap.add_argument('out')
    number = ap.add_mutually_exclusive_group()
    number.add_argument('--series-number', type=int)
    number.add_argument('--no-series-number', action='store_true')
    ap.add_argument('--new-series', action='store_true')
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    series_uid = generate_uid() if a.new_series else None
    written = 0
    for name in sorted(os.listdir(a.src)):
        if not name.endswith('.dcm'):
            continue
        ds = pydicom.dcmread(os.path.join(a.src, name))
        if a.series_number is not None:
            ds.SeriesNumber = a.series_number
        elif a.no_series_number:
            ds.SeriesNumber = None
        if series_uid is not None:
            ds.SeriesInstanceUID = series_uid
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        series_uid = series_uid or ds.SeriesInstanceUID
        ds.save_as(os.path.join(a.out, name), write_like_original=False)
        written += 1
    json.dump({'seriesInstanceUid': series_uid, 'files': written}, sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
