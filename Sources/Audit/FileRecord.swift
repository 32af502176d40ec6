import Foundation
import GRDB
import Mapping
import Pixels
import Platform

/// Outcome of one input file.
public enum FileOutcome: String, Sendable {
    case delivered, quarantined, ignored
}

public struct FileRecord: Sendable {
    public var inputPath: String
    public var inputSize: Int64
    public var inputSHA256: String?
    public var outputPath: String?
    public var outputSize: Int64?
    public var outputSHA256: String?
    public var outcome: FileOutcome
    public var reason: String?
    /// Burned-in text masked in the delivered file (boxes only; the text itself is never kept).
    public var textRegions: [TextRegion] = []
    /// The file's image series within the job (1, 2, ... in the order the series first appear), for per-series counts.
    public var seriesIndex: Int?

    public init(inputPath: String, inputSize: Int64, inputSHA256: String?, outputPath: String? = nil,
                outputSize: Int64? = nil, outputSHA256: String? = nil, outcome: FileOutcome, reason: String? = nil) {
        self.inputPath = inputPath
        self.inputSize = inputSize
        self.inputSHA256 = inputSHA256
        self.outputPath = outputPath
        self.outputSize = outputSize
        self.outputSHA256 = outputSHA256
        self.outcome = outcome
        self.reason = reason
    }
}
