import Foundation

/// `ctdeid deface`: defacing alone, for review. Metadata is left as it is (apart from
/// RecognizableVisualFeatures on defaced series); every file is written below the output folder
/// under its own relative path, with a before/after PNG per series in `qa/`.
public struct FaceReview: Sendable {
    public let input: URL
    public let output: URL
    public let options: DefaceOptions
    public let workers: Int

    public init(input: URL, output: URL, options: DefaceOptions, workers: Int) {
        self.input = input
        self.output = output
        self.options = options
        self.workers = workers
    }

    public struct Outcome: Sendable {
        public let series: [SeriesRecord]
        public let filesWritten: Int
        public let filesSkipped: Int
    }

    public func run() throws -> Outcome {
        try DicomToolkit.initialize()
        let folder = try PatientFolder(url: input, keepNames: true)
        let paths = folder.files.map { input.path + "/" + $0.relativePath }
        var headers: [Int: SliceHeader] = [:]
        for (index, path) in paths.enumerated() {
            guard let file = try? DicomFile(path: path, lazyThreshold: 4096) else { continue }
            headers[index] = SliceHeader(file.dataset, sopClass: file.dataset.string(.sopClassUID) ?? "")
        }
        let defacing = SeriesDefacing(options: options, workers: workers)
        var records: [SeriesRecord] = []
        var edits: [Int: (SliceEdit?, SliceHeader)] = [:]
        let qa = output.appendingPathComponent("qa")
        for (number, files) in SeriesDefacing.groupBySeries(headers).enumerated() {
            var record = SeriesRecord(index: number + 1, files: files.count, verdict: "", reason: nil, voxelsRemoved: 0, qaImage: nil)
            switch defacing.process(series: files, headers: headers, paths: paths) {
            case .metadataOnly(let reason):
                record.verdict = "not defaced"
                record.reason = reason
            case .quarantine(let reason):
                record.verdict = "cannot deface"
                record.reason = reason
            case .defaced(let removed, let sliceEdits, let png):
                record.verdict = "defaced"
                record.voxelsRemoved = removed
                for file in files { edits[file] = (sliceEdits[file], headers[file]!) }
                if let png {
                    try FileManager.default.createDirectory(at: qa, withIntermediateDirectories: true)
                    let url = qa.appendingPathComponent("series-\(number + 1).png")
                    try png.write(to: url)
                    record.qaImage = url.path
                }
            }
            records.append(record)
        }
        var written = 0
        for (index, planned) in folder.files.enumerated() {
            guard let (edit, header) = edits[index] else { continue }
            let file = try DicomFile(path: paths[index], lazyThreshold: 64 * 1024)
            if let edit {
                var values = try file.pixels16()
                edit.apply(to: &values, header: header)
                try file.replacePixels16(values)
            }
            file.dataset.put(.recognizableVisualFeatures, "NO", vr: "CS")
            let target = output.appendingPathComponent(planned.relativePath)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try file.save(to: target.path)
            written += 1
        }
        return Outcome(series: records, filesWritten: written, filesSkipped: folder.files.count - written)
    }
}
