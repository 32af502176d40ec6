import Audit
import DICOM
import Defacing
import Deidentification
import Dispatch
import Foundation
import Pixels
import Platform
import Synchronization

/// What the first pass learned about one file.
package struct FileInspection: Sendable {
    package var record: FileRecord
    package var accessionMismatch = false
    /// PatientID (with its issuer) of a readable file: one folder must hold one patient.
    package var patient: String?
    /// For image files that may be delivered: where they sit in their series.
    package var header: SliceHeader?
}

/// One file's trip: hash, load, check, de-identify, (deface,) save, hash.
package struct FileWork: Sendable {
    package var record: FileRecord
    package var accessionMismatch = false
    package var patient: String?
    /// Set when the output could not be written: a fault of the disk, not of the input.
    package var stagingFailure: String?
    /// The input's own SOPInstanceUID, to find different files that share one.
    package var sopInstanceUID: String?
    /// The image's SeriesInstanceUID (kept in memory only), to number the job's series.
    package var seriesUID: String?
    /// The masked image as delivered, for the series' QA picture.
    package var textPreview: TextPreview?

    package static func patientKey(_ dataset: DicomItem) -> String? {
        guard let id = dataset.string(.patientID), !id.isEmpty else { return nil }
        return id + "\u{1}" + (dataset.string(Tag(0x0010, 0x0021)) ?? "")
    }

    /// First pass with defacing on: the checks, and the header facts of a deliverable image.
    package static func inspect(_ planned: PlannedFile, folder: PatientFolder, deidentifier: Deidentifier) -> FileInspection {
        let inputPath = folder.url.path + "/" + planned.relativePath
        var record = FileRecord(inputPath: folder.name + "/" + planned.relativePath, inputSize: planned.size,
                                inputSHA256: nil, outcome: .delivered)
        let file: DicomFile
        do {
            file = try DicomFile(path: inputPath, lazyThreshold: 4096)
        } catch {
            let reason = QuarantineReason.unreadable(error.reason)
            record.outcome = .quarantined
            record.reason = reason.code + ": " + reason.description
            return FileInspection(record: record)
        }
        let accession = file.dataset.string(.accessionNumber) ?? ""
        if !accession.isEmpty && accession != folder.name {
            record.outcome = .ignored
            record.reason = "accession-mismatch"
            return FileInspection(record: record, accessionMismatch: true)
        }
        if let reason = deidentifier.quarantineReason(for: file) {
            record.outcome = .quarantined
            record.reason = reason.code + ": " + reason.description
            return FileInspection(record: record, patient: patientKey(file.dataset))
        }
        // A localizer that gets here is blanked on its own; it is no slice of a volume.
        let patient = patientKey(file.dataset)
        if Deidentifier.isLocalizer(file.dataset) { return FileInspection(record: record, patient: patient) }
        let sopClass = file.dataset.string(.sopClassUID) ?? ""
        return FileInspection(record: record, patient: patient, header: SliceHeader(file.dataset, sopClass: sopClass))
    }

    package static func run(_ planned: PlannedFile, folder: PatientFolder, stagedStudy: URL, patient: PatientContext,
                    deidentifier: Deidentifier, face: FaceInstructions? = nil) -> FileWork {
        var input: InputFile?
        var work = run(planned, folder: folder, stagedStudy: stagedStudy, patient: patient, deidentifier: deidentifier,
                       face: face, input: &input)
        // Taken last: a delivered file's pixel data was hashed for the input as it was written.
        work.record.inputSHA256 = input?.sha256
        return work
    }

    private static func run(_ planned: PlannedFile, folder: PatientFolder, stagedStudy: URL, patient: PatientContext,
                            deidentifier: Deidentifier, face: FaceInstructions?, input: inout InputFile?) -> FileWork {
        let inputPath = folder.url.path + "/" + planned.relativePath
        var record = FileRecord(inputPath: folder.name + "/" + planned.relativePath, inputSize: planned.size,
                                inputSHA256: nil, outcome: .quarantined)
        func quarantine(_ reason: QuarantineReason) -> FileWork {
            record.outcome = .quarantined
            record.reason = reason.code + ": " + reason.description
            return FileWork(record: record)
        }
        // Read once: hashed, and parsed from memory with unchanged pixel data left as the bytes read,
        // to be written from there; DCMTK loads from disk only what needs the pixels in memory.
        var file: DicomFile
        do {
            let read = try InputFile(path: inputPath)
            input = read
            if let parsed = try read.parse() {
                file = parsed
            } else {
                file = try DicomFile(path: inputPath, lazyThreshold: 64 * 1024)
            }
        } catch {
            return quarantine(.unreadable(error.reason))
        }
        let accession = file.dataset.string(.accessionNumber) ?? ""
        if !accession.isEmpty && accession != folder.name {
            record.outcome = .ignored
            record.reason = "accession-mismatch"
            return FileWork(record: record, accessionMismatch: true)
        }
        let owner = patientKey(file.dataset)
        if let reason = deidentifier.quarantineReason(for: file) {
            var work = quarantine(reason)
            work.patient = owner
            return work
        }
        let seriesUID = file.dataset.string(Tag(0x0020, 0x000E))
        var defaced = false
        var pixels = PixelResult()
        if deidentifier.blankLocalizers && Deidentifier.isLocalizer(file.dataset) {
            do {
                if file.detachedPixels != nil { file = try DicomFile(path: inputPath, lazyThreshold: 64 * 1024) }
                let header = SliceHeader(file.dataset, sopClass: file.dataset.string(.sopClassUID) ?? "")
                let values = try file.pixels16()
                try file.replacePixels16([UInt16](repeating: header.stored(hu: -1000), count: values.count))
                defaced = true
            } catch {
                return quarantine(.cannotDeface("the localizer cannot be blanked: \(error.reason)"))
            }
        } else {
            pixels = FilePixels.process(&file, input: input, path: inputPath, face: face, text: deidentifier.burnedIn)
            if let reason = pixels.quarantine {
                var work = quarantine(reason)
                work.patient = owner
                work.seriesUID = seriesUID
                return work
            }
            defaced = pixels.defaced
        }
        let instance = file.dataset.string(.sopInstanceUID)
        deidentifier.apply(to: file, patient: patient, defaced: defaced, textMasked: !pixels.masked.isEmpty,
                           faceKept: pixels.faceKept)
        let output = stagedStudy.appendingPathComponent(planned.outputPath)
        var written: WrittenFile?
        do {
            try FileManager.default.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
            written = try file.save(to: output.path)
        } catch {
            unlink(output.path)  // never leave a partial file where a delivery could pick it up
            let reason = (error as? DicomError)?.reason ?? SystemError.reason(error)
            var work = quarantine(.writeFailed(reason))
            work.stagingFailure = reason
            work.patient = owner
            return work
        }
        record.outcome = .delivered
        record.outputPath = planned.outputPath
        record.textRegions = pixels.masked
        if let written {
            record.outputSHA256 = written.sha256
            record.outputSize = Int64(written.size)
        } else {
            record.outputSHA256 = sha256(ofFile: output.path)
            var info = stat()
            if stat(output.path, &info) == 0 { record.outputSize = Int64(info.st_size) }
        }
        return FileWork(record: record, patient: owner, sopInstanceUID: instance, seriesUID: seriesUID,
                        textPreview: pixels.preview)
    }
}
