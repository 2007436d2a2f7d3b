#!/usr/bin/python3
"""Synthesise a coherent, linked CT + RTSTRUCT + RTPLAN + RTDOSE set for one fictitious patient.

Independent of the gateway's TypeScript DICOM code: only pydicom (Debian python3-pydicom 2.3.1)
and the standard library. Used as a fixture by the de-identification tests (deid.md §4.3).

    python3 rt_linked_set.py OUTDIR [--study N] [--slices K]

Writes OUTDIR/<series>/<n>.dcm and OUTDIR/manifest.json. Study 1 holds a planning CT series, an
RTSTRUCT, an RTPLAN and an RTDOSE. Study 2 (a later date, same patient) holds a CT series and an
RTSTRUCT whose second ReferencedFrameOfReferenceSequence item references study 1's CT (propagated
prior contours) and whose first item relates the two frames of reference (registration). Give
study 2 the same --slices as study 1 so that its references to study 1 resolve.

Everything is deterministic: UIDs are ROOT + "<study>.<kind>.<n>" with fixed-width components (so
no UID is a prefix of another), dates are fixed, no clock or randomness is read. The manifest lists
every planted identifying value (`phi`, with `phiDetail` giving a kind and where it was planted),
so a no-leak check can search the de-identified output for each of them.
"""

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


class Generator:
    def __init__(self, outdir, study, slices):
        self.outdir = outdir
        self.study = study
        self.slices = slices
        self.phi = Phi()
        self.files = []
        # Every UI value written outside the instance's own identity and outside 1.2.840.10008.*,
        # classified as dicom_refs.py does; sopViaStudy counts the RTReferencedStudySequence quirk
        # (a ReferencedSOPInstanceUID holding a Study Instance UID), also counted under sop.
        self.expected = {'sop': 0, 'sopViaStudy': 0, 'series': 0, 'study': 0, 'frameOfReference': 0, 'other': 0}
        (self.date, self.time, self.accession, self.study_id, self.rp_id, self.sps_id,
         self.study_desc) = STUDIES[study]
        self.study_uid = uid(study, K_STUDY)
        self.for_uid = uid(study, K_FOR)

    # ---- common modules -------------------------------------------------------------------
    def base(self, sop_class, sop_uid, modality, series_uid, series_number, series_desc, series_time):
        ds = Dataset()
        ds.SpecificCharacterSet = 'ISO_IR 100'
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = sop_uid
        ds.InstanceCreationDate = self.date
        ds.InstanceCreationTime = series_time
        ds.InstanceCreatorUID = ROOT + '9.99.102'
        ds.StudyDate = self.date
        ds.SeriesDate = self.date
        ds.StudyTime = self.time
        ds.SeriesTime = series_time
        ds.AccessionNumber = self.accession
        ds.Modality = modality
        ds.Manufacturer = MANUFACTURER
        ds.InstitutionName = INSTITUTION
        ds.InstitutionAddress = INSTITUTION_ADDRESS
        ds.ReferringPhysicianName = REFERRING
        ds.StationName = STATION
        ds.StudyDescription = self.study_desc
        ds.SeriesDescription = series_desc
        ds.InstitutionalDepartmentName = DEPARTMENT
        ds.PhysiciansOfRecord = PHYSICIAN_OF_RECORD
        ds.OperatorsName = OPERATOR
        ds.ManufacturerModelName = MODEL
        for k, v in PATIENT.items():
            setattr(ds, k, v)
        ds.OtherPatientIDsSequence = seq(item(PatientID=OTHER_PATIENT_ID[0], IssuerOfPatientID=OTHER_PATIENT_ID[1],
                                              TypeOfPatientID='TEXT'))
        ds.DeviceSerialNumber = DEVICE_SERIAL
        ds.SoftwareVersions = 'RTLINKEDSET 1.0'
        ds.StudyInstanceUID = self.study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = self.study_id
        ds.SeriesNumber = series_number
        ds.RequestAttributesSequence = seq(item(
            RequestedProcedureID=self.rp_id,
            ScheduledProcedureStepID=self.sps_id,
            RequestedProcedureDescription=self.study_desc,
            ScheduledProtocolCodeSequence=seq(item(
                CodeValue='RTPLAN01', CodingSchemeDesignator='99ACME', CodeMeaning='RT planning protocol',
                # Items of items: a content item naming the person who scheduled the step.
                ProtocolContextSequence=seq(item(
                    ValueType='PNAME',
                    ConceptNameCodeSequence=seq(code('121008', 'DCM', 'Person Observer Name')),
                    PersonName=SCHEDULER,
                )),
            )),
        ))
        self.private_top(ds)
        return ds

    def private_top(self, ds):
        """A private block at top level: LO, OB (CSA-header-like bytes) and an SQ with PN-like text."""
        block = ds.private_block(0x0029, CREATOR, create=True)
        block.add_new(0x10, 'LO', 'HIS ref %s' % PATIENT['PatientID'])
        blob = ('PATIENT=%s;DOB=%s;' % (PATIENT['PatientName'], PATIENT['PatientBirthDate'])).encode('ascii')
        block.add_new(0x11, 'OB', blob + b'\x00' * (len(blob) % 2))
        inner = Dataset()
        iblock = inner.private_block(0x0029, CREATOR, create=True)
        iblock.add_new(0x01, 'LO', 'Approved by %s' % PRIVATE_PN)
        iblock.add_new(0x02, 'PN', PRIVATE_PN)
        iblock.add_new(0x03, 'DA', self.date)
        block.add_new(0x12, 'SQ', seq(inner))
        undefined_length(ds[block.get_tag(0x12)])

    def private_rt(self, ds, text):
        """Private elements inside an RT sequence item (group 3007, odd, next to the RT group 3006)."""
        block = ds.private_block(0x3007, RT_CREATOR, create=True)
        block.add_new(0x01, 'LO', text)
        block.add_new(0x02, 'PN', PATIENT['PatientName'])

    def save(self, ds, series_name, n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION
        ds.file_meta = meta
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        ds.preamble = b'\x00' * 128
        self.expected['other'] += 1     # InstanceCreatorUID, the same in every file
        rel = os.path.join(series_name, '%d.dcm' % n)
        path = os.path.join(self.outdir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        ds.save_as(path, write_like_original=False)
        self.files.append({
            'file': rel,
            'series': series_name,
            'modality': ds.Modality,
            'sopClassUid': ds.SOPClassUID,
            'sopInstanceUid': ds.SOPInstanceUID,
            'seriesUid': ds.SeriesInstanceUID,
            'studyUid': ds.StudyInstanceUID,
            'frameOfReferenceUid': getattr(ds, 'FrameOfReferenceUID', None),
        })

    # ---- CT -------------------------------------------------------------------------------
    def z(self, i):
        return -THICKNESS * (self.slices - 1) / 2.0 + THICKNESS * i

    def ct_uid(self, study, i):
        return uid(study, K_CT, i + 1)

    def ct_pixels(self, i):
        """Air outside an elliptic body, soft tissue with a texture, a dense target near the centre."""
        out = []
        for r in range(ROWS):
            y = ORIGIN + r * SPACING
            for c in range(COLS):
                x = ORIGIN + c * SPACING
                if (x / 58.0) ** 2 + (y / 48.0) ** 2 > 1.0:
                    hu = -1000
                elif x * x + y * y < 15.0 ** 2 and abs(self.z(i)) < THICKNESS * self.slices / 4.0:
                    hu = 60 + (r * 3 + c * 5 + i * 7) % 20
                elif (x + 30) ** 2 + (y - 5) ** 2 < 9.0 ** 2:
                    hu = 700 + (r + c) % 50          # bone
                else:
                    hu = 20 + (r * 7 + c * 13 + i * 31) % 40
                out.append(hu + 1024)
        return struct.pack('<%dH' % len(out), *out)

    def write_ct(self):
        series_uid = uid(self.study, K_CT_SERIES)
        series_time = '%02d%s' % (int(self.time[:2]), '2000')
        for i in range(self.slices):
            ds = self.base(CT_IMAGE, self.ct_uid(self.study, i), 'CT', series_uid, 1,
                           'Planning CT' if self.study == 1 else 'Verification CT', series_time)
            ds.ImageType = ['ORIGINAL', 'PRIMARY', 'AXIAL']
            ds.AcquisitionDate = self.date
            ds.ContentDate = self.date
            ds.AcquisitionTime = '%s17%02d' % (self.time[:2], i)
            ds.ContentTime = ds.AcquisitionTime
            ds.AcquisitionDateTime = '%s%s.250000' % (self.date, ds.AcquisitionTime)
            ds.PatientPosition = 'HFS'
            ds.BodyPartExamined = 'PELVIS'
            ds.ScanOptions = 'HELICAL'
            ds.SliceThickness = fmt(THICKNESS)
            ds.KVP = '120'
            ds.DataCollectionDiameter = '500'
            ds.ReconstructionDiameter = fmt(SPACING * COLS)
            ds.DistanceSourceToDetector = '1040'
            ds.DistanceSourceToPatient = '570'
            ds.GantryDetectorTilt = '0'
            ds.TableHeight = '150'
            ds.RotationDirection = 'CW'
            ds.ExposureTime = '1000'
            ds.XRayTubeCurrent = '250'
            ds.Exposure = '250'
            ds.ConvolutionKernel = 'STANDARD'
            ds.FrameOfReferenceUID = self.for_uid
            ds.PositionReferenceIndicator = ''
            ds.AcquisitionNumber = 1
            ds.InstanceNumber = i + 1
            ds.ImagePositionPatient = [fmt(ORIGIN), fmt(ORIGIN), fmt(self.z(i))]
            ds.ImageOrientationPatient = ['1', '0', '0', '0', '1', '0']
            ds.SliceLocation = fmt(self.z(i))
            ds.ImageComments = CT_COMMENT
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = 'MONOCHROME2'
            ds.Rows = ROWS
            ds.Columns = COLS
            ds.PixelSpacing = [fmt(SPACING), fmt(SPACING)]
            ds.BitsAllocated = 16
            ds.BitsStored = 12
            ds.HighBit = 11
            ds.PixelRepresentation = 0
            ds.WindowCenter = '40'
            ds.WindowWidth = '400'
            ds.RescaleIntercept = '-1024'
            ds.RescaleSlope = '1'
            ds.RescaleType = 'HU'
            ds.PixelData = self.ct_pixels(i)
            ds['PixelData'].VR = 'OW'
            self.save(ds, 'CT', i + 1)
        return series_uid

    # ---- RTSTRUCT -------------------------------------------------------------------------
    def contour_image(self, study, i):
        self.expected['sop'] += 1
        return item(ReferencedSOPClassUID=CT_IMAGE, ReferencedSOPInstanceUID=self.ct_uid(study, i))

    def referenced_for(self, study, ct_series_uid):
        """A ReferencedFrameOfReferenceSequence item listing every CT slice of `study`."""
        self.expected['frameOfReference'] += 1
        self.expected['sop'] += 1          # RTReferencedStudySequence > ReferencedSOPInstanceUID ...
        self.expected['sopViaStudy'] += 1  # ... holding the Study Instance UID (the quirk)
        self.expected['series'] += 1
        return item(
            FrameOfReferenceUID=uid(study, K_FOR),
            RTReferencedStudySequence=seq(item(
                ReferencedSOPClassUID=DETACHED_STUDY,
                ReferencedSOPInstanceUID=uid(study, K_STUDY),
                RTReferencedSeriesSequence=seq(item(
                    SeriesInstanceUID=ct_series_uid,
                    ContourImageSequence=seq(*[self.contour_image(study, i) for i in range(self.slices)]),
                )),
            )),
        )

    def circle(self, cx, cy, radius, z, points=16):
        data = []
        for k in range(points):
            a = 2 * math.pi * k / points
            data += [fmt(cx + radius * math.cos(a)), fmt(cy + radius * math.sin(a)), fmt(z)]
        return data

    def write_rtstruct(self, ct_series_uid):
        sname = 'Smith'
        series_time = '%s4000' % self.time[:2]
        ds = self.base(RT_STRUCT, uid(self.study, K_RTS), 'RTSTRUCT', uid(self.study, K_RTS_SERIES), 2,
                       'Structures %s' % sname, series_time)
        # Frame of Reference module: required for RT Structure Set by current editions (dciodvfy 2022).
        ds.FrameOfReferenceUID = self.for_uid
        ds.PositionReferenceIndicator = ''
        ds.StructureSetLabel = '%s_%s' % (sname, self.date)   # SH: 16 chars max
        ds.StructureSetName = 'Pelvis %s' % sname
        ds.StructureSetDescription = 'Contours for %s' % PATIENT['PatientName']
        ds.InstanceNumber = 1
        ds.StructureSetDate = self.date
        ds.StructureSetTime = series_time
        ds.ApprovalStatus = 'APPROVED'
        ds.ReviewDate = self.date
        ds.ReviewTime = series_time
        ds.ReviewerName = REVIEWER
        refs = [self.referenced_for(self.study, ct_series_uid)]
        rois = [(1, 'BODY', 'EXTERNAL', self.study, list(range(self.slices)), 55.0),
                (2, 'GTV_%s' % sname, 'GTV', self.study,
                 [i for i in range(self.slices) if abs(self.z(i)) < THICKNESS * self.slices / 4.0], 15.0)]
        if self.study > 1:
            prior_for = uid(1, K_FOR)
            # Registration-style relation between this study's frame and the prior one.
            self.expected['frameOfReference'] += 1
            refs[0].FrameOfReferenceRelationshipSequence = seq(item(
                RelatedFrameOfReferenceUID=prior_for,
                FrameOfReferenceTransformationType='HOMOGENEOUS',
                FrameOfReferenceTransformationMatrix=['1', '0', '0', '2.5', '0', '1', '0', '-1.5', '0', '0', '1', '0',
                                                      '0', '0', '0', '1'],
                FrameOfReferenceTransformationComment='Rigid registration to prior plan of %s' % sname,
            ))
            refs.append(self.referenced_for(1, uid(1, K_CT_SERIES)))
            rois.append((3, 'GTV_prior_%s' % sname, 'GTV', 1,
                         [i for i in range(self.slices) if abs(self.z(i)) < THICKNESS * self.slices / 4.0], 15.0))
        ds.ReferencedFrameOfReferenceSequence = seq(*refs)
        roi_items, contour_items, obs_items = [], [], []
        for number, name, kind, study, slices, radius in rois:
            self.expected['frameOfReference'] += 1
            it = item(ROINumber=number, ReferencedFrameOfReferenceUID=uid(study, K_FOR), ROIName=name,
                      ROIDescription='%s of %s' % (kind, PATIENT['PatientName']),
                      ROIGenerationAlgorithm='MANUAL')
            self.private_rt(it, 'drawn by %s' % ROI_INTERPRETER)
            roi_items.append(it)
            contours = []
            for n, i in enumerate(slices):
                contours.append(item(
                    ContourImageSequence=seq(self.contour_image(study, i)),
                    ContourGeometricType='CLOSED_PLANAR',
                    NumberOfContourPoints=16,
                    ContourNumber=n + 1,
                    ContourData=self.circle(0.0, 0.0, radius, self.z(i)),
                ))
            ci = item(ReferencedROINumber=number, ROIDisplayColor=[255, 0, 0] if kind == 'GTV' else [0, 255, 0],
                      ContourSequence=seq(*contours))
            self.private_rt(ci, 'reviewed %s' % self.date)
            contour_items.append(ci)
            obs_items.append(item(ObservationNumber=number, ReferencedROINumber=number, ROIObservationLabel=name,
                                  RTROIInterpretedType=kind, ROIInterpreter=ROI_INTERPRETER))
        undefined_length(ds['ReferencedFrameOfReferenceSequence'])
        ds.StructureSetROISequence = seq(*roi_items)
        ds.ROIContourSequence = seq(*contour_items)
        undefined_length(ds['ROIContourSequence'])
        ds.RTROIObservationsSequence = seq(*obs_items)
        self.phi.add(ds.StructureSetLabel, 'text', 'StructureSetLabel')
        self.phi.add(ds.StructureSetName, 'text', 'StructureSetName')
        self.phi.add(ds.SeriesDescription, 'text', 'SeriesDescription')
        for number, name, _k, _s, _sl, _r in rois:
            if sname in name:
                self.phi.add(name, 'text', 'StructureSetROISequence.ROIName')
        self.save(ds, 'RTSTRUCT', 1)
        return ds.SOPInstanceUID

    # ---- RTPLAN ---------------------------------------------------------------------------
    def write_rtplan(self, rtstruct_uid):
        series_time = '%s5000' % self.time[:2]
        ds = self.base(RT_PLAN, uid(self.study, K_PLAN), 'RTPLAN', uid(self.study, K_PLAN_SERIES), 3,
                       'Plan Smith', series_time)
        ds.FrameOfReferenceUID = self.for_uid
        ds.PositionReferenceIndicator = ''
        ds.InstanceNumber = 1
        ds.RTPlanLabel = 'Smith_Pelvis'
        ds.RTPlanName = 'Pelvis 60Gy'
        ds.RTPlanDate = self.date
        ds.RTPlanTime = series_time
        ds.RTPlanGeometry = 'PATIENT'
        ds.PlanIntent = 'CURATIVE'
        ds.ReferencedStructureSetSequence = seq(item(ReferencedSOPClassUID=RT_STRUCT,
                                                     ReferencedSOPInstanceUID=rtstruct_uid))
        self.expected['sop'] += 1
        dose_ref_uid = uid(self.study, K_DOSEREF)
        dref = item(DoseReferenceNumber=1, DoseReferenceUID=dose_ref_uid, DoseReferenceStructureType='VOLUME',
                    DoseReferenceDescription='PTV %s' % PATIENT['PatientName'].split('^')[0],
                    ReferencedROINumber=2, DoseReferenceType='TARGET', DeliveryMaximumDose='62',
                    TargetPrescriptionDose='60')
        self.private_rt(dref, 'prescribed by %s' % PHYSICIAN_OF_RECORD)
        ds.DoseReferenceSequence = seq(dref)
        ds.ToleranceTableSequence = seq(item(ToleranceTableNumber=1, ToleranceTableLabel='T1',
                                             GantryAngleTolerance='0.5'))
        ds.PatientSetupSequence = seq(item(PatientSetupNumber=1, PatientPosition='HFS',
                                           SetupTechnique='ISOCENTRIC',
                                           SetupTechniqueDescription='Tattoos for %s' % PATIENT['PatientName']))
        ds.FractionGroupSequence = seq(item(
            FractionGroupNumber=1, NumberOfFractionsPlanned=30, NumberOfBeams=1, NumberOfBrachyApplicationSetups=0,
            ReferencedBeamSequence=seq(item(ReferencedBeamNumber=1, BeamMeterset='200', BeamDose='2',
                                            ReferencedDoseReferenceUID=dose_ref_uid)),
        ))
        self.expected['other'] += 2     # DoseReferenceUID and ReferencedDoseReferenceUID, equal
        iso = ['0', '0', fmt(self.z(self.slices // 2))]
        beam = item(
            TreatmentMachineName=MACHINE, Manufacturer=MANUFACTURER, InstitutionName=INSTITUTION,
            InstitutionAddress=INSTITUTION_ADDRESS, DeviceSerialNumber='SN90210',
            PrimaryDosimeterUnit='MU', SourceAxisDistance='1000',
            BeamLimitingDeviceSequence=seq(item(RTBeamLimitingDeviceType='ASYMX', NumberOfLeafJawPairs=1),
                                           item(RTBeamLimitingDeviceType='ASYMY', NumberOfLeafJawPairs=1)),
            BeamNumber=1, BeamName='AP', BeamDescription='AP field %s' % PATIENT['PatientName'].split('^')[0],
            BeamType='STATIC', RadiationType='PHOTON', TreatmentDeliveryType='TREATMENT',
            NumberOfWedges=0, NumberOfCompensators=0, NumberOfBoli=0, NumberOfBlocks=0,
            FinalCumulativeMetersetWeight='1', NumberOfControlPoints=2,
            ControlPointSequence=seq(
                item(ControlPointIndex=0, NominalBeamEnergy='6', DoseRateSet='600',
                     BeamLimitingDevicePositionSequence=seq(
                         item(RTBeamLimitingDeviceType='ASYMX', LeafJawPositions=['-50', '50']),
                         item(RTBeamLimitingDeviceType='ASYMY', LeafJawPositions=['-50', '50'])), GantryAngle='0', GantryRotationDirection='NONE',
                     BeamLimitingDeviceAngle='0', BeamLimitingDeviceRotationDirection='NONE',
                     PatientSupportAngle='0', PatientSupportRotationDirection='NONE',
                     TableTopEccentricAngle='0', TableTopEccentricRotationDirection='NONE',
                     TableTopVerticalPosition='', TableTopLongitudinalPosition='', TableTopLateralPosition='',
                     IsocenterPosition=iso, CumulativeMetersetWeight='0'),
                item(ControlPointIndex=1, CumulativeMetersetWeight='1'),
            ),
            ReferencedPatientSetupNumber=1, ReferencedToleranceTableNumber=1,
        )
        ds.BeamSequence = seq(beam)
        self.phi.add(ds.RTPlanLabel, 'text', 'RTPlanLabel')
        self.phi.add(MACHINE, 'device', 'BeamSequence.TreatmentMachineName')
        self.phi.add('SN90210', 'device', 'BeamSequence.DeviceSerialNumber')
        self.save(ds, 'RTPLAN', 1)
        return ds.SOPInstanceUID

    # ---- RTDOSE ---------------------------------------------------------------------------
    def write_rtdose(self, plan_uid):
        series_time = '%s5500' % self.time[:2]
        ds = self.base(RT_DOSE, uid(self.study, K_DOSE), 'RTDOSE', uid(self.study, K_DOSE_SERIES), 4,
                       'Dose Smith_Pelvis', series_time)
        ds.FrameOfReferenceUID = self.for_uid
        ds.PositionReferenceIndicator = ''
        ds.InstanceNumber = 1
        ds.ContentDate = self.date
        ds.ContentTime = series_time
        ds.ImagePositionPatient = [fmt(-60.0), fmt(-60.0), fmt(self.z(2))]
        ds.ImageOrientationPatient = ['1', '0', '0', '0', '1', '0']
        ds.PixelSpacing = [fmt(DOSE_SPACING), fmt(DOSE_SPACING)]
        ds.SliceThickness = ''
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = 'MONOCHROME2'
        ds.Rows = DOSE_ROWS
        ds.Columns = DOSE_COLS
        # 16 bits (the RT Dose module allows 16 or 32): dciodvfy 2022 asserts on 32-bit OW.
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.NumberOfFrames = DOSE_FRAMES
        ds.FrameIncrementPointer = 0x3004000C
        ds.GridFrameOffsetVector = [fmt(THICKNESS * f) for f in range(DOSE_FRAMES)]
        ds.DoseUnits = 'GY'
        ds.DoseType = 'PHYSICAL'
        ds.DoseComment = 'Calculated for %s' % PATIENT['PatientName']
        ds.DoseSummationType = 'PLAN'
        ds.DoseGridScaling = '0.001'
        rp = item(ReferencedSOPClassUID=RT_PLAN, ReferencedSOPInstanceUID=plan_uid)
        self.private_rt(rp, 'plan of %s' % PATIENT['PatientID'])
        ds.ReferencedRTPlanSequence = seq(rp)
        self.expected['sop'] += 1
        values = []
        for f in range(DOSE_FRAMES):
            for r in range(DOSE_ROWS):
                for c in range(DOSE_COLS):
                    d2 = (r - 7.5) ** 2 + (c - 7.5) ** 2
                    values.append(int(60000 * max(0.0, 1.0 - d2 / 80.0)) + f * 100 + r * 16 + c)
        ds.PixelData = struct.pack('<%dH' % len(values), *values)
        ds['PixelData'].VR = 'OW'
        self.phi.add(ds.DoseComment, 'text', 'DoseComment')
        self.save(ds, 'RTDOSE', 1)

    # ---- manifest ------------------------------------------------------------------------
    def plant_phi(self):
        p = self.phi
        p.person(PATIENT['PatientName'], 'PatientName')
        p.add(PATIENT['PatientID'], 'id', 'PatientID')
        p.add(OTHER_PATIENT_ID[0], 'id', 'OtherPatientIDsSequence.PatientID')
        p.add(PATIENT['PatientBirthDate'], 'date', 'PatientBirthDate')
        p.add(PATIENT['PatientAddress'], 'address', 'PatientAddress')
        p.add('Elm Street', 'address', 'PatientAddress')
        p.add(PATIENT['PatientTelephoneNumbers'], 'id', 'PatientTelephoneNumbers')
        p.person(REFERRING, 'ReferringPhysicianName')
        p.person(OPERATOR, 'OperatorsName')
        p.person(PHYSICIAN_OF_RECORD, 'PhysiciansOfRecord')
        p.person(REVIEWER, 'ReviewerName')
        p.person(ROI_INTERPRETER, 'RTROIObservationsSequence.ROIInterpreter')
        p.person(SCHEDULER, 'RequestAttributesSequence.ScheduledProtocolCodeSequence.ProtocolContextSequence.PersonName')
        p.person(PRIVATE_PN, '(0029,1012) private SQ > PN')
        p.add(self.accession, 'id', 'AccessionNumber')
        p.add(self.study_id, 'id', 'StudyID')
        p.add(self.rp_id, 'id', 'RequestAttributesSequence.RequestedProcedureID')
        p.add(self.sps_id, 'id', 'RequestAttributesSequence.ScheduledProcedureStepID')
        p.add(self.date, 'date', 'StudyDate')
        p.add(PATIENT['PatientBirthDate'], 'date', 'PatientBirthDate')
        p.add(INSTITUTION, 'institution', 'InstitutionName')
        p.add(INSTITUTION_ADDRESS, 'institution', 'InstitutionAddress')
        p.add(DEPARTMENT, 'institution', 'InstitutionalDepartmentName')
        p.add(STATION, 'device', 'StationName')
        p.add(DEVICE_SERIAL, 'device', 'DeviceSerialNumber')
        p.add(CT_COMMENT, 'text', 'ImageComments')
        for f in self.files:
            for key in ('sopInstanceUid', 'seriesUid', 'studyUid', 'frameOfReferenceUid'):
                p.add(f[key], 'uid', f['file'] + ':' + key)
        if self.study == 1:
            p.add(uid(1, K_DOSEREF), 'uid', 'RTPLAN:DoseReferenceUID')
        else:
            prior = [uid(1, K_STUDY), uid(1, K_FOR), uid(1, K_CT_SERIES)]
            prior += [self.ct_uid(1, i) for i in range(self.slices)]
            for key in prior:
                p.add(key, 'uid', 'RTSTRUCT: reference to study 1')

    def run(self):
        ct_series = self.write_ct()
        rts = self.write_rtstruct(ct_series)
        if self.study == 1:
            plan = self.write_rtplan(rts)
            self.write_rtdose(plan)
        self.plant_phi()
        phi_detail = sorted(self.phi.items.values(), key=lambda x: (x['kind'], x['value']))
        manifest = {
            'generator': 'test/helpers/rt_linked_set.py',
            'study': self.study,
            'slices': self.slices,
            'patient': {'name': PATIENT['PatientName'], 'id': PATIENT['PatientID'],
                        'issuer': PATIENT['IssuerOfPatientID'], 'birthDate': PATIENT['PatientBirthDate']},
            'studyUid': self.study_uid,
            'frameOfReferenceUid': self.for_uid,
            'studyDate': self.date,
            'files': self.files,
            # References to other instances this study's files make, by kind (ReferencedSOPClassUIDs
            # and other well-known UIDs excluded); what dicom_refs.py should count independently.
            'expectedReferences': self.expected,
            'phi': [x['value'] for x in phi_detail],
            'phiDetail': phi_detail,
        }
        with open(os.path.join(self.outdir, 'manifest.json'), 'w', encoding='utf-8') as fh:
            json.dump(manifest, fh, indent=2, ensure_ascii=False)
            fh.write('\n')
        return manifest


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('outdir')
    ap.add_argument('--study', type=int, default=1, choices=sorted(STUDIES))
    ap.add_argument('--slices', type=int, default=8)
    args = ap.parse_args(argv)
    if not 2 <= args.slices <= 400:
        ap.error('--slices must be between 2 and 400')
    os.makedirs(args.outdir, exist_ok=True)
    manifest = Generator(args.outdir, args.study, args.slices).run()
    print(json.dumps({'files': len(manifest['files']), 'outdir': args.outdir}))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
