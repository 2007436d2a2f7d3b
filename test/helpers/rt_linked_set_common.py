"""Constants and small builders shared by rt_linked_set.py and rt_linked_set_rt.py."""
import argparse
import json
import math
import os
import struct
import sys

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

# pydicom's registered example root (https://pydicom.github.io); 26 characters.
ROOT = '1.2.826.0.1.3680043.8.498.'
IMPLEMENTATION_CLASS_UID = ROOT + '9.99.101'
IMPLEMENTATION_VERSION = 'RTLINKEDSET_1'

CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2'
RT_STRUCT = '1.2.840.10008.5.1.4.1.1.481.3'
RT_PLAN = '1.2.840.10008.5.1.4.1.1.481.5'
RT_DOSE = '1.2.840.10008.5.1.4.1.1.481.2'
# The real-world quirk: RTReferencedStudySequence items name the (retired) Detached Study
# Management SOP Class and put the Study Instance UID in ReferencedSOPInstanceUID.
DETACHED_STUDY = '1.2.840.10008.3.1.2.3.1'

# UID kinds (two digits) for uid(study, kind, n).
K_STUDY, K_FOR, K_CT_SERIES, K_CT, K_RTS_SERIES, K_RTS = 10, 11, 20, 21, 30, 31
K_PLAN_SERIES, K_PLAN, K_DOSE_SERIES, K_DOSE, K_DOSEREF = 40, 41, 50, 51, 60


def uid(study, kind, n=1):
    """ROOT + study (1 digit) + kind (2 digits) + n (3 digits, from 101): equal widths, no prefixes."""
    return '%s%d.%d.%d' % (ROOT, study, kind, 100 + n)


PATIENT = {
    'PatientName': 'Smith^John^Q',
    'PatientID': 'MRN0012345',
    'IssuerOfPatientID': 'HOSP',
    'PatientBirthDate': '19580314',
    'PatientSex': 'M',
    'PatientAge': '065Y',
    'PatientSize': '1.78',
    'PatientWeight': '82',
    'PatientAddress': '12 Elm Street, Springfield',
    'PatientTelephoneNumbers': '555-0147',
    'EthnicGroup': 'WHITE',
}
OTHER_PATIENT_ID = ('9434765919', 'NHS')
REFERRING = 'Jones^Mary^^Dr'
OPERATOR = 'Brown^Alice'
PHYSICIAN_OF_RECORD = 'Okafor^Chidi'
REVIEWER = 'Green^Peter'
ROI_INTERPRETER = 'Taylor^Morgan'
SCHEDULER = 'Novak^Ilse'           # the PN nested in RequestAttributesSequence (items of items)
PRIVATE_PN = 'Kowalski^Piotr'      # PN-like text in private elements
INSTITUTION = 'Springfield Klinikum S\u00fcd'
INSTITUTION_ADDRESS = '1 Hospital Road, Springfield 4711'
DEPARTMENT = 'Radiotherapy Springfield'
STATION = 'CTSIM01'
DEVICE_SERIAL = 'SN77812'
MACHINE = 'LINAC_SPRING2'
MANUFACTURER = 'ACME Medical Systems'
MODEL = 'ACME CT 64'

STUDIES = {
    # date, time, accession, study id, requested procedure id, scheduled step id, description
    1: ('20240312', '091500', 'ACC24031201', 'ST4711', 'RP88123', 'SPS88123', 'RT planning CT pelvis'),
    2: ('20240419', '143000', 'ACC24041907', 'ST4790', 'RP88460', 'SPS88460', 'RT verification CT pelvis'),
}
# Free text that names the patient, as clinicians write it.
CT_COMMENT = 'pt Smith tattoo marks ok, MRN0012345'
CREATOR = 'ACME_GW_TEST 1.0'
RT_CREATOR = 'ACME_RT 1.0'

ROWS = COLS = 64
SPACING = 2.0          # mm; FOV 128 mm
THICKNESS = 3.0        # mm
ORIGIN = -63.0         # centre of the first pixel, x and y
DOSE_ROWS = DOSE_COLS = 16
DOSE_SPACING = 8.0
DOSE_FRAMES = 4


class Phi:
    """Collects planted identifying values: value, kind, and the first few places it was put."""

    def __init__(self):
        self.items = {}

    def add(self, value, kind, where):
        if value is None or value == '':
            return
        value = str(value)
        item = self.items.setdefault(value, {'value': value, 'kind': kind, 'where': []})
        if len(item['where']) < 8 and where not in item['where']:
            item['where'].append(where)

    def person(self, pn, where):
        """A PN and each of its components of three characters or more."""
        self.add(pn, 'name', where)
        for comp in pn.replace('=', '^').split('^'):
            if len(comp) >= 3:
                self.add(comp, 'name', where)


def seq(*items):
    return Sequence(list(items))


def item(**kw):
    ds = Dataset()
    for k, v in kw.items():
        setattr(ds, k, v)
    return ds


def undefined_length(elem):
    """Encode a sequence (and everything nested in it) with undefined lengths and delimiters, as
    many vendors do; pydicom writes explicit lengths otherwise, so the set carries both forms."""
    elem.is_undefined_length = True
    for it in elem.value:
        it.is_undefined_length_sequence_item = True
        for sub in it:
            if sub.VR == 'SQ':
                undefined_length(sub)


def code(value, scheme, meaning):
    return item(CodeValue=value, CodingSchemeDesignator=scheme, CodeMeaning=meaning)


def fmt(x):
    """DS text without trailing zeros (pydicom accepts str for DS and keeps it verbatim)."""
    s = ('%.6f' % x).rstrip('0').rstrip('.')
    return '0' if s in ('-0', '') else s
