import DICOM
import Deidentification
import Dispatch
import Foundation
import Platform
import Synchronization

/// What one image file says about its place in a volume (read from the header only).
public struct SliceHeader: Sendable {
    public let seriesUID: String
    public let isCT: Bool
    /// MR or PET: a modality this product does not deface (its head series are held, `UndefacedHeads`).
    public let isUndefacedModality: Bool
    /// PET (for the reason's wording).
    public let isPET: Bool
    /// Which part of the body the header names (read for MR and PET only; `.unnamed` otherwise).
    public let region: BodyRegion
    public let frames: Int
    public let rows: Int
    public let columns: Int
    /// ImagePositionPatient of each frame: the file's own for a single frame; for a multi-frame
    /// object (Enhanced CT) each frame's PlanePositionSequence. Empty when any frame has none.
    public let framePositions: [SIMD3<Double>]
    public let orientation: [Double]
    public let pixelSpacing: [Double]
    public let slope: Double
    public let intercept: Double
    public let signed: Bool
    public let bitsAllocated: Int
    /// Why the frames of a multi-frame object cannot be one stack of a volume (frames of different
    /// orientation, spacing or rescale); nil when they can, and for a single frame.
    public let framesDisagree: String?

    /// The first frame's position.
    public var position: SIMD3<Double>? { framePositions.first }

    public init(_ dataset: DicomItem, sopClass: String) {
        func numbers(_ tag: Tag) -> [Double] { dataset.strings(tag).compactMap(Double.init) }
        seriesUID = dataset.string(Tag(0x0020, 0x000E)) ?? ""
        let modality = dataset.string(.modality) ?? ""
        isCT = modality == "CT" || sopClass.hasPrefix("1.2.840.10008.5.1.4.1.1.2")
        // By the modality, or by the SOP class when the modality says nothing else (MR, Enhanced MR,
        // its legacy converted form; PET, Enhanced PET, its legacy converted form).
        func isClass(_ root: String) -> Bool { sopClass == root || sopClass.hasPrefix(root + ".") }
        isPET = !isCT && (modality == "PT" || isClass("1.2.840.10008.5.1.4.1.1.128") || isClass("1.2.840.10008.5.1.4.1.1.130"))
        isUndefacedModality = !isCT && (isPET || modality == "MR" || isClass("1.2.840.10008.5.1.4.1.1.4"))
        region = isUndefacedModality ? BodyRegion(dataset) : .unnamed
        frames = max(1, Int(dataset.string(.numberOfFrames) ?? "") ?? 1)
        rows = Int(dataset.uint16(.rows) ?? 0)
        columns = Int(dataset.uint16(.columns) ?? 0)
        signed = dataset.uint16(Tag(0x0028, 0x0103)) == 1
        bitsAllocated = Int(dataset.uint16(.bitsAllocated) ?? 0)
        let geometry = FrameGeometry(dataset, frames: frames)
        framePositions = geometry.positions
        orientation = geometry.orientation
        pixelSpacing = geometry.pixelSpacing
        slope = geometry.slope
        intercept = geometry.intercept
        framesDisagree = geometry.disagreement
    }

    /// Stored value for a Hounsfield value, in this slice's representation.
    package func stored(hu: Double) -> UInt16 {
        let raw = ((hu - intercept) / (slope == 0 ? 1 : slope)).rounded()
        if signed { return UInt16(bitPattern: Int16(clamping: Int(max(-32768, min(32767, raw))))) }
        return UInt16(clamping: Int(max(0, min(65535, raw))))
    }

    package func hu(stored value: UInt16) -> Int16 {
        let raw = signed ? Double(Int16(bitPattern: value)) : Double(value)
        return Int16(clamping: Int((raw * slope + intercept).rounded()))
    }
}

/// What to do with an MR or PET series of the head, which this product does not deface (config key
/// `undefaced_heads`).
public enum UndefacedHeads: String, Sendable, CaseIterable {
    /// Quarantined (`face-not-removed`): the default.
    case quarantine
    /// Delivered with the face, declared by RecognizableVisualFeatures=YES.
    case deliver
}

/// How a series is treated when defacing is on.
public enum SeriesVerdict: Sendable {
    /// Not a head CT: metadata de-identification only.
    case metadataOnly(String)
    /// An MR or PET series of the head, delivered with its face by the site's choice.
    case faceKept(String)
    /// An MR or PET series of the head, held: every file quarantined `face-not-removed`.
    case faceNotRemoved(String)
    /// Defaced: per file (index into the job's files) the voxels to replace in its frames; the
    /// frontal and the profile skin renderings before | after, as PNG; the stored values of the files
    /// the toolkit decoded (nil when every file was read in place).
    case defaced(removed: Int, slices: [Int: SliceEdit], png: Data?, profile: Data?, decoded: DecodedSeries?)
    /// A head series that cannot be made safe: every file of it is quarantined with this reason.
    case quarantine(String)
}

/// The voxels of one slice to overwrite, and with what.
public struct SliceEdit: Sendable {
    /// Pixel indices (row * columns + column) to replace.
    public let pixels: [Int32]
    public let airValue: UInt16
    public let mode: DefaceMode
    public let seed: UInt64

    /// Applies the edit to a frame's stored values.
    package func apply(to values: inout [UInt16], header: SliceHeader) {
        forEachReplacement(header: header) { p, value in
            if p < values.count { values[p] = value }
        }
    }

    /// Applies the edit to 16-bit little-endian stored values as they lie in a file.
    package func apply(toLittleEndian bytes: UnsafeMutableRawBufferPointer, header: SliceHeader) {
        forEachReplacement(header: header) { p, value in
            if 2 * p + 1 < bytes.count { bytes.storeBytes(of: value.littleEndian, toByteOffset: 2 * p, as: UInt16.self) }
        }
    }

    /// Every (pixel index, stored value) in the edit's order, which the noise sequence follows.
    private func forEachReplacement(header: SliceHeader, _ body: (Int, UInt16) -> Void) {
        guard mode == .noise else {
            for p in pixels { body(Int(p), airValue) }
            return
        }
        var state = seed | 1
        for p in pixels {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            body(Int(p), header.stored(hu: -1000 + Double(Int(state % 41) - 20)))
        }
    }
}

/// Finds, assembles and defaces the head CT series of a job.
public struct SeriesDefacing: Sendable {
    public let options: DefaceOptions
    public let workers: Int
    public let undefacedHeads: UndefacedHeads
    /// Fewer slices than this cannot show where the face ends, so a head series that short is quarantined.
    public static let minimumSlices = 10

    public init(options: DefaceOptions, workers: Int, undefacedHeads: UndefacedHeads = .quarantine) {
        self.options = options
        self.workers = max(1, workers)
        self.undefacedHeads = undefacedHeads
    }

    /// CT files (or those `including`) grouped by series, each sorted, series ordered by their first
    /// file: stable across runs, and numbered without naming anything (the series UID is an original UID).
    public static func groupBySeries(_ headers: [Int: SliceHeader], including: (SliceHeader) -> Bool = \.isCT) -> [[Int]] {
        var bySeries: [String: [Int]] = [:]
        for (index, header) in headers where including(header) { bySeries[header.seriesUID, default: []].append(index) }
        return bySeries.values.map { $0.sorted() }.sorted { $0[0] < $1[0] }
    }

    /// An MR or PET series: delivered (metadata only) when its header names a region away from the
    /// head; otherwise its face is still in it, and it is held or delivered as the site chose.
    public func judgeUndefaced(series files: [Int], headers: [Int: SliceHeader]) -> SeriesVerdict {
        let slices = files.compactMap { headers[$0] }
        let kind = slices.contains { $0.isPET } ? "PET" : "MR"
        let why: String
        switch BodyRegion.of(slices.map(\.region)) {
        case .elsewhere:
            return .metadataOnly("\(kind) series of a region away from the head (by its header)")
        case .head(let keyword):
            why = "\(kind) series of the head (by its \(keyword))"
        case .unnamed:
            why = "\(kind) series whose header names no part of the body: it may show a head"
        }
        switch undefacedHeads {
        case .quarantine:
            return .faceNotRemoved("\(why): this product defaces CT only; not delivered with a face (undefaced_heads = deliver delivers it, marked RecognizableVisualFeatures=YES)")
        case .deliver:
            return .faceKept("\(why): delivered with its face (undefaced_heads = deliver), marked RecognizableVisualFeatures=YES")
        }
    }

    /// Decides and, for head series, computes the edits. `paths[i]` is file i; `headers` holds the CT
    /// files' headers by file index.
    public func process(series files: [Int], headers: [Int: SliceHeader], paths: [String]) -> SeriesVerdict {
        let slices = files.compactMap { index in headers[index].map { (index, $0) } }
        guard let first = slices.first?.1 else { return .metadataOnly("no CT images") }
        if let (_, header) = slices.first(where: { $0.1.framesDisagree != nil }) {
            return .quarantine("multi-frame CT with \(header.framesDisagree!): cannot assemble a volume")
        }
        guard first.orientation.count == 6, first.pixelSpacing.count == 2, first.rows > 0, first.columns > 0,
              slices.allSatisfy({ $0.1.framePositions.count == $0.1.frames }) else {
            return .quarantine("no usable image geometry (ImagePositionPatient/ImageOrientationPatient/PixelSpacing, or a multi-frame object's functional groups): cannot check for a face")
        }
        guard first.bitsAllocated == 16 else {
            return .quarantine("pixel data is not 16-bit: cannot check for a face")
        }
        for (_, header) in slices where header.rows != first.rows || header.columns != first.columns
            || zip(header.orientation, first.orientation).contains(where: { abs($0 - $1) > 1e-3 })
            || zip(header.pixelSpacing, first.pixelSpacing).contains(where: { abs($0 - $1) > 1e-4 }) {
            return .quarantine("mixed geometry within the series: cannot assemble a volume")
        }
        let rowDirection = SIMD3(first.orientation[0], first.orientation[1], first.orientation[2])
        let columnDirection = SIMD3(first.orientation[3], first.orientation[4], first.orientation[5])
        let n = SIMD3(rowDirection.y * columnDirection.z - rowDirection.z * columnDirection.y,
                      rowDirection.z * columnDirection.x - rowDirection.x * columnDirection.z,
                      rowDirection.x * columnDirection.y - rowDirection.y * columnDirection.x)
        // Every frame of every file is one slice, ordered along the normal, not by InstanceNumber
        // or frame number.
        let ordered = slices.flatMap { index, header in
            header.framePositions.enumerated().map { StackedFrame(file: index, frame: $0.offset, position: $0.element, header: header) }
        }.sorted { dot($0.position, n) < dot($1.position, n) }
        let depths = ordered.map { dot($0.position, n) }
        // Where each file's frames go in the volume.
        var targetsOfFile: [Int: [(frame: Int, slice: Int)]] = [:]
        for (k, frame) in ordered.enumerated() { targetsOfFile[frame.file, default: []].append((frame.frame, k)) }
        let slicesOfFile = targetsOfFile
        let filesToRead = slicesOfFile.keys.sorted()

        // Decode every file into Hounsfield units, each worker straight into its slices of the volume
        // (no staging copy, no lock, no fill that is overwritten anyway).
        let rows = first.rows, columns = first.columns, plane = rows * columns
        let failure = Mutex<String?>(nil)
        // Files the toolkit decoded (compressed, or not readable in place): their stored values are
        // kept in the volume for the pixel stage, which would otherwise decode them again.
        let decodedByToolkit = Mutex<Set<Int>>([])
        let next = Atomic<Int>(0)
        let voxels = [Int16](unsafeUninitializedCapacity: plane * ordered.count) { buffer, initialized in
            let volumeBase = SharedPointer(base: buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: min(workers, filesToRead.count)) { _ in
                var raw = RawPixels()
                while true {
                    let j = next.add(1, ordering: .relaxed).oldValue
                    if j >= filesToRead.count { return }
                    let index = filesToRead[j]
                    let targets = slicesOfFile[index]!
                    let header = headers[index]!
                    if header.frames == 1 {
                        let slice = volumeBase.base + targets[0].slice * plane
                        if raw.read(path: paths[index], count: plane, { Self.decode($0, into: slice, count: plane, header: header) }) != nil {
                            continue
                        }
                    }
                    do {
                        let stored = try DicomFile(path: paths[index]).pixels16()
                        guard stored.count >= plane * header.frames else {
                            throw DicomError(reason: "pixel data shorter than its \(header.frames) frame(s)")
                        }
                        decodedByToolkit.withLock { _ = $0.insert(index) }
                        stored.withUnsafeBufferPointer { all in
                            for (frame, k) in targets {
                                Self.decode(all.baseAddress! + frame * plane, into: volumeBase.base + k * plane, count: plane, header: header)
                            }
                        }
                    } catch {
                        for (_, k) in targets { (volumeBase.base + k * plane).initialize(repeating: -1000, count: plane) }
                        let reason = (error as? DicomError)?.reason ?? "\(error)"
                        failure.withLock { $0 = $0 ?? reason }
                    }
                }
            }
            initialized = plane * ordered.count
        }
        if let reason = failure.withLock({ $0 }) {
            return .quarantine("pixel data cannot be decoded (\(reason)): cannot check for a face")
        }
        var volume = Volume(columns: columns, rows: rows, slices: ordered.count, hu: voxels,
                            origins: ordered.map(\.position), rowDirection: rowDirection,
                            columnDirection: columnDirection, columnSpacing: first.pixelSpacing[1],
                            rowSpacing: first.pixelSpacing[0])
        let check = Defacer.checkHead(volume)
        guard check.isHead else { return .metadataOnly(check.reason) }
        if abs(n.z) < 0.7 {
            return .quarantine("non-axial head CT series: a reformat shows the face; only axial series are defaced")
        }
        if ordered.count < Self.minimumSlices {
            return .quarantine("head CT series with \(ordered.count) slice(s): too few to find and remove the face in 3-D")
        }
        let gaps = zip(depths.dropFirst(), depths).map { $0 - $1 }
        if let smallest = gaps.min(), smallest < 0.01 {
            return .quarantine("two slices at the same position: cannot assemble a volume")
        }
        let median = gaps.sorted()[gaps.count / 2]
        if let largest = gaps.max(), largest > 3 * median {
            return .quarantine(String(format: "missing slices: a gap of %.1f mm where slices are %.1f mm apart", largest, median))
        }
        // The before renderings need only the volume as read: they are drawn on a thread of their
        // own while the face is found, whose serial steps leave cores idle.
        let drawing = BeforeRenderings(volume)
        let found = Defacer.faceMask(volume, options: options, isHead: true)
        let (before, sideBefore, surfaces) = drawing.wait()
        guard let mask = found else { return .metadataOnly("no face region found") }
        let removed = Defacer.apply(mask, to: &volume, options: options)
        // The after renderings with their pictures, and the edits, at once.
        let defaced = volume
        let pictures = Mutex<[Int: Data]>([:])
        let edits = Mutex<[Int: SliceEdit]>([:])
        DispatchQueue.concurrentPerform(iterations: 3) { task in
            switch task {
            case 0:
                let after = FrontalRendering.render(defaced, continuing: surfaces[0]).image
                let png = FrontalRendering.sideBySidePNG(before, after)
                pictures.withLock { $0[0] = png }
            case 1:
                let after = ProfileRendering.render(defaced, continuing: surfaces[1]).image
                let png = FrontalRendering.sideBySidePNG(sideBefore, after)
                pictures.withLock { $0[1] = png }
            default:
                let all = Self.edits(mask, ordered: ordered, plane: plane, options: options)
                edits.withLock { $0 = all }
            }
        }
        let png = pictures.withLock { $0 }
        let toolkitFiles = decodedByToolkit.withLock { $0 }
        let decoded = toolkitFiles.isEmpty ? nil
            : DecodedSeries(volume: defaced, placements: slicesOfFile.filter { toolkitFiles.contains($0.key) }
                                .mapValues { $0.map { DecodedSeries.Placement(frame: $0.frame, slice: $0.slice) } },
                            headers: headers.filter { toolkitFiles.contains($0.key) })
        return .defaced(removed: removed, slices: edits.withLock { $0 }, png: png[0], profile: png[1], decoded: decoded)
    }

    /// One edit per file; a multi-frame file's pixel indices run on through its frames.
    package static func edits(_ mask: FaceMask, ordered: [StackedFrame], plane: Int, options: DefaceOptions) -> [Int: SliceEdit] {
        var pixelsOfFile: [Int: [Int32]] = [:]
        var firstSlice: [Int: Int] = [:]
        for (k, frame) in ordered.enumerated() {
            let pixels = mask.setIndices(slice: k)
            guard !pixels.isEmpty else { continue }
            let offset = Int32(frame.frame * plane)
            pixelsOfFile[frame.file, default: []] += offset == 0 ? pixels : pixels.map { $0 + offset }
            if firstSlice[frame.file] == nil { firstSlice[frame.file] = k }
        }
        var edits: [Int: SliceEdit] = [:]
        for (file, pixels) in pixelsOfFile {
            let k = firstSlice[file]!
            edits[file] = SliceEdit(pixels: pixels, airValue: ordered[k].header.stored(hu: -1000), mode: options.mode,
                                    seed: options.seed &+ UInt64(k))
        }
        return edits
    }
}

/// The frontal and profile renderings of a volume as read, drawn on a thread of their own. It holds
/// the voxels only until it is done, so the caller's volume is then the only reference to them and
/// is edited in place, not copied.
package final class BeforeRenderings: @unchecked Sendable {
    private var volume: Volume?
    private var result: (frontal: SeriesDefacing.Rendering, profile: SeriesDefacing.Rendering,
                         surfaces: [FrontalRendering.SurfaceHits])?
    private let done = DispatchSemaphore(value: 0)

    package init(_ volume: Volume) {
        self.volume = volume
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            result = SeriesDefacing.renderings(self.volume!)
            self.volume = nil
            done.signal()
        }
    }

    package func wait() -> (frontal: SeriesDefacing.Rendering, profile: SeriesDefacing.Rendering,
                    surfaces: [FrontalRendering.SurfaceHits]) {
        done.wait()
        return result!
    }
}

extension SeriesDefacing {
    package typealias Rendering = (width: Int, height: Int, pixels: [UInt8])

    /// The frontal and the profile rendering, one on each of two threads (each is single-threaded),
    /// and their surfaces.
    package static func renderings(_ volume: Volume) -> (frontal: Rendering, profile: Rendering, surfaces: [FrontalRendering.SurfaceHits]) {
        let results = Mutex<[Int: (image: Rendering, surface: FrontalRendering.SurfaceHits)]>([:])
        DispatchQueue.concurrentPerform(iterations: 2) { view in
            let rendering = view == 0 ? FrontalRendering.render(volume, continuing: nil)
                : ProfileRendering.render(volume, continuing: nil)
            results.withLock { $0[view] = rendering }
        }
        let both = results.withLock { $0 }
        return (both[0]!.image, both[1]!.image, [both[0]!.surface, both[1]!.surface])
    }

    /// Stored values to Hounsfield units. The common CT case (slope 1, integer intercept) is an integer
    /// shift, which the compiler vectorises; anything else goes through the header's general formula.
    package static func decode(_ stored: UnsafePointer<UInt16>, into hu: UnsafeMutablePointer<Int16>, count: Int,
                       header: SliceHeader) {
        guard header.slope == 1, header.intercept == header.intercept.rounded(), abs(header.intercept) < 32768 else {
            for p in 0..<count { hu[p] = header.hu(stored: stored[p]) }
            return
        }
        let shift = Int32(header.intercept)
        if header.signed {
            for p in 0..<count { hu[p] = Int16(clamping: Int32(Int16(bitPattern: stored[p])) &+ shift) }
        } else {
            for p in 0..<count { hu[p] = Int16(clamping: Int32(stored[p]) &+ shift) }
        }
    }
}

/// One frame of a file as a slice of the volume.
package struct StackedFrame {
    package let file: Int
    package let frame: Int
    package let position: SIMD3<Double>
    package let header: SliceHeader
}

@inline(__always) package func dot(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> Double { a.x * b.x + a.y * b.y + a.z * b.z }
