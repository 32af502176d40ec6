import Audit
import DICOM
import Defacing
import Deidentification
import Foundation
import Pixels

/// `ctdeid deface`: defacing alone, for review. Metadata is left as it is (apart from
/// RecognizableVisualFeatures on defaced series); every file is written below the output folder
/// under its own relative path, with a before/after PNG per series in `qa/`.
public struct FaceReview: Sendable {
    public let input: URL
    public let output: URL
    public let options: DefaceOptions
    public let workers: Int
    /// Burned-in text in the written files: masked (default), or such files are not written.
    public let burnedIn: BurnedInPolicy

    public init(input: URL, output: URL, options: DefaceOptions, workers: Int, burnedIn: BurnedInPolicy = .mask) {
        self.input = input
        self.output = output
        self.options = options
        self.workers = workers
        self.burnedIn = burnedIn
    }

    public struct Outcome: Sendable {
        public let series: [SeriesRecord]
        public let filesWritten: Int
        public let filesSkipped: Int
        /// Files not written because text was found in their pixels (policy quarantine) or remained after masking.
        public let filesWithheld: Int
    }

    public func run() throws -> Outcome {
        try DicomToolkit.initialize()
        try burnedIn.checkReady()
        defer { BurnedInPolicy.closeReaders() }
        let folder = try PatientFolder(url: input, keepNames: true)
        let paths = folder.files.map { input.path + "/" + $0.relativePath }
        var headers: [Int: SliceHeader] = [:]
        for (index, path) in paths.enumerated() {
            guard let file = try? DicomFile(path: path, lazyThreshold: 4096) else { continue }
            headers[index] = SliceHeader(file.dataset, sopClass: file.dataset.string(.sopClassUID) ?? "")
        }
        let plan = PixelPlan(defacing: SeriesDefacing(options: options, workers: workers), headers: headers, paths: paths,
                             judgesUndefaced: false)
        var records: [SeriesRecord] = []
        let qa = output.appendingPathComponent("qa")
        var written = 0, withheld = 0
        _ = try plan.run(judged: { number, files, verdict in
            var record = SeriesRecord(index: number, files: files.count, verdict: "", reason: nil, voxelsRemoved: 0, qaImage: nil)
            switch verdict {
            case .metadataOnly(let reason):
                record.verdict = "not defaced"
                record.reason = reason
            case .quarantine(let reason):
                record.verdict = "cannot deface"
                record.reason = reason
            case .faceKept(let reason), .faceNotRemoved(let reason):  // MR and PET: not judged here
                record.verdict = "not defaced"
                record.reason = reason
            case .defaced(let removed, _, let png, let profile, _):
                record.verdict = "defaced"
                record.voxelsRemoved = removed
                for (picture, suffix) in [(png, ""), (profile, "-profile")] {
                    guard let picture else { continue }
                    try FileManager.default.createDirectory(at: qa, withIntermediateDirectories: true)
                    let url = qa.appendingPathComponent("series-\(number)\(suffix).png")
                    try picture.write(to: url)
                    if suffix.isEmpty { record.qaImage = url.path } else { record.qaProfile = url.path }
                }
            }
            records.append(record)
        }, write: { files, face in
            // Only the files of defaced series are written.
            for index in files {
                let instructions = face(index)
                guard case .deface? = instructions else { continue }
                var file = try DicomFile(path: paths[index], lazyThreshold: 64 * 1024)
                let pixels = FilePixels.process(&file, input: nil, path: paths[index], face: instructions, text: burnedIn)
                if let reason = pixels.quarantine {
                    if case .cannotDeface = reason { throw DicomError(reason: "\(folder.files[index].relativePath): \(reason)") }
                    withheld += 1
                    continue
                }
                file.dataset.put(.recognizableVisualFeatures, "NO", vr: "CS")
                if !pixels.masked.isEmpty { file.dataset.put(.burnedInAnnotation, "NO", vr: "CS") }
                let target = output.appendingPathComponent(folder.files[index].relativePath)
                try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try file.save(to: target.path)
                written += 1
            }
            return true
        })
        return Outcome(series: records, filesWritten: written, filesSkipped: folder.files.count - written - withheld,
                       filesWithheld: withheld)
    }
}
