// Fuzz target: one input file through the per-file paths of the pipeline (FileWork.run): the
// metadata-only fast path (InputFile: parsed from memory, pixel data copied on save), then DCMTK's
// load, checks, the pixel round trip that defacing and localizer blanking use, de-identification, save.
// `make fuzz` builds it with -sanitize=fuzzer,address and -DFUZZING; an ordinary build replays
// files given as arguments through the same path (to reproduce a crash without libFuzzer).
#if FUZZING
import CLibFuzzer
#endif
import DICOM
import Defacing
import Deidentification
import Fixtures
import Foundation

enum Harness {
    /// Inputs and outputs live in memory, one folder per process (libFuzzer -fork/-jobs run several).
    /// Removed at exit, which is how libFuzzer ends a run; left behind after a crash, with the input.
    static let directory: String = {
        let path = "/dev/shm/ctdeid-fuzz-\(getpid())"
        mkdir(path, 0o700)
        atexit {
            unlink(Harness.directory + "/input.dcm")
            unlink(Harness.directory + "/output.dcm")
            rmdir(Harness.directory)
        }
        return path
    }()

    /// The service's default profile, a fixed site secret and a date shift, as a job would use them.
    static let deidentifier: Deidentifier = {
        do {
            try DicomToolkit.initialize()
            var deidentifier = Deidentifier(profile: try Profile(options: ProfileOption.defaults),
                                            uids: UIDRemapper(secret: SiteSecret(bytes: Array(repeating: 7, count: 32))))
            // Lets localizers through to the blanking path instead of stopping at the checks.
            deidentifier.blankLocalizers = true
            return deidentifier
        } catch {
            fatalError("fuzz harness set-up: \(error)")
        }
    }()

    static let patient = PatientContext(deidentificationID: "FUZZ-0001", dateShifter: DateShifter(days: -400))

    static func run(_ bytes: UnsafeRawBufferPointer) {
        let deidentifier = Self.deidentifier  // first: it initialises DCMTK (codecs, logging off)
        let input = directory + "/input.dcm", output = directory + "/output.dcm"
        defer { unlink(input); unlink(output) }
        guard write(bytes, to: input) else { fatalError("cannot write \(input)") }
        fastPath(input: input, output: output)
        // A low lazy threshold so that values larger than it take the on-disk path, as pixel
        // data of real slices does with the pipeline's 64 KiB threshold.
        guard let file = try? DicomFile(path: input, lazyThreshold: 1024) else { return }
        let dataset = file.dataset
        _ = dataset.string(.accessionNumber)
        _ = dataset.string(.patientID).map { $0 + (dataset.string(Tag(0x0010, 0x0021)) ?? "") }
        if let reason = deidentifier.quarantineReason(for: file) {
            _ = reason.code + ": " + reason.description
            return
        }
        var defaced = false
        if dataset.elements.contains(where: { $0.tag == .pixelData }) {
            // What defacing and localizer blanking do: read the header facts, decode, edit, re-encode.
            let header = SliceHeader(dataset, sopClass: dataset.string(.sopClassUID) ?? "")
            if var values = try? file.pixels16() {
                let edited = min(values.count, max(1, header.columns) * max(1, header.rows) / 4)
                for index in 0..<edited { values[index] = 0 }
                _ = try? file.replacePixels16(values)
                defaced = true
            }
        }
        deidentifier.apply(to: file, patient: patient, defaced: defaced)
        guard (try? file.save(to: output)) != nil else { return }
        // What was written must load again: a delivered file nobody can read is a failure too.
        do {
            _ = try DicomFile(path: output, lazyThreshold: 0).dataset.elements
        } catch {
            fatalError("the de-identified output of a loadable input does not load: \(error.reason)")
        }
    }

    /// The metadata-only path of FileWork.run: read once, header parsed from memory, pixel data
    /// written from the bytes read on save.
    static func fastPath(input: String, output: String) {
        guard let source = try? InputFile(path: input), let file = try? source.parse(),
              deidentifier.quarantineReason(for: file) == nil else { return }
        deidentifier.apply(to: file, patient: patient)
        guard (try? file.save(to: output)) != nil else { return }
        do {
            _ = try DicomFile(path: output, lazyThreshold: 0).dataset.elements
        } catch {
            fatalError("the de-identified output (fast path) of a loadable input does not load: \(error.reason)")
        }
        unlink(output)
    }

    static func write(_ bytes: UnsafeRawBufferPointer, to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }
}

/// Small synthetic CT slices with planted PHI, for the seed corpus (`FuzzDeidentify --seeds DIR`).
func writeSeeds(to directory: String) throws {
    let scratch = URL(fileURLWithPath: directory).appendingPathComponent(".synthetic")
    defer { try? FileManager.default.removeItem(at: scratch) }
    try SampleInbox.write(to: scratch.appendingPathComponent("inbox"), mappingCSV: scratch.appendingPathComponent("mapping.csv"),
                          patients: 2, slices: 2, size: 32)
    let files = FileManager.default.enumerator(at: scratch.appendingPathComponent("inbox"), includingPropertiesForKeys: [.isRegularFileKey])?
        .compactMap { $0 as? URL }
        .filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true } ?? []
    for (index, file) in files.sorted(by: { $0.path < $1.path }).enumerated() {
        let target = URL(fileURLWithPath: directory).appendingPathComponent("synthetic-\(index).dcm")
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: file, to: target)
    }
}

if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "--seeds" {
    do {
        try writeSeeds(to: CommandLine.arguments[2])
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("cannot write seeds: \(error)\n".utf8))
        exit(1)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    Harness.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

#if FUZZING
// SwiftPM links this file's top-level code as `main`, so hand libFuzzer the command line here.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
#else
let paths = CommandLine.arguments.dropFirst()
if paths.isEmpty {
    FileHandle.standardError.write(Data("usage: FuzzDeidentify FILE... (replays inputs; `make fuzz` builds the fuzzer)\n".utf8))
    exit(2)
}
for path in paths {
    guard let data = FileManager.default.contents(atPath: path) else {
        FileHandle.standardError.write(Data("cannot read \(path)\n".utf8))
        exit(1)
    }
    data.withUnsafeBytes { Harness.run($0) }
    print("ok \(path)")
}
#endif
