"""RTSTRUCT, RTPLAN and RTDOSE builders of rt_linked_set.py (a mixin of its Generator): contour
images per CT slice, RTSTRUCT's Study UID quirk, the plan's structure set, the dose's plan, all
on one frame of reference."""
from rt_linked_set_common import *  # noqa: F401,F403  (the set's constants and builders)


class RtObjects:
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
