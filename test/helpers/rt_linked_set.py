#!/usr/bin/python3
"""Synthesise a linked CT + RTSTRUCT + RTPLAN + RTDOSE set for one fictitious patient, with pydicom only.

`python3 rt_linked_set.py OUTDIR [--study N] [--slices K]` writes OUTDIR/<series>/<n>.dcm and
OUTDIR/manifest.json. Study 2 (a later date, same patient; give it study 1's --slices) holds a CT
and an RTSTRUCT that also references study 1's CT. Deterministic (fixed UIDs, dates); the manifest
lists every planted identifying value for no-leak checks (deid.md §4.3).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rt_linked_set_common import *  # noqa: E402,F401,F403  (constants and builders)
from rt_linked_set_rt import RtObjects  # noqa: E402


class Generator(RtObjects):
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
