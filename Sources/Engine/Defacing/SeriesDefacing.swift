import Dispatch
import Foundation
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
    public let position: SIMD3<Double>?
    public let orientation: [Double]
    public let pixelSpacing: [Double]
    public let slope: Double
    public let intercept: Double
    public let signed: Bool
    public let bitsAllocated: Int

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
        let ipp = numbers(Tag(0x0020, 0x0032))
        position = ipp.count == 3 ? SIMD3(ipp[0], ipp[1], ipp[2]) : nil
        orientation = numbers(Tag(0x0020, 0x0037))
        pixelSpacing = numbers(Tag(0x0028, 0x0030))
        slope = numbers(Tag(0x0028, 0x1053)).first ?? 1
        intercept = numbers(Tag(0x0028, 0x1052)).first ?? 0
        signed = dataset.uint16(Tag(0x0028, 0x0103)) == 1
        bitsAllocated = Int(dataset.uint16(.bitsAllocated) ?? 0)
    }

    /// Stored value for a Hounsfield value, in this slice's representation.
    func stored(hu: Double) -> UInt16 {
        let raw = ((hu - intercept) / (slope == 0 ? 1 : slope)).rounded()
        if signed { return UInt16(bitPattern: Int16(clamping: Int(max(-32768, min(32767, raw))))) }
        return UInt16(clamping: Int(max(0, min(65535, raw))))
    }

    func hu(stored value: UInt16) -> Int16 {
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
    /// Defaced: per file (index into the job's files) the voxels to replace in its single frame.
    case defaced(removed: Int, slices: [Int: SliceEdit], png: Data?)
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
    func apply(to values: inout [UInt16], header: SliceHeader) {
        guard mode == .noise else {
            for p in pixels where Int(p) < values.count { values[Int(p)] = airValue }
            return
        }
        var state = seed | 1
        for p in pixels where Int(p) < values.count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            values[Int(p)] = header.stored(hu: -1000 + Double(Int(state % 41) - 20))
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
        if slices.contains(where: { $0.1.frames > 1 }) {
            return .quarantine("multi-frame CT: 3-D defacing of multi-frame objects is not supported; not delivered undefaced")
        }
        guard first.orientation.count == 6, first.pixelSpacing.count == 2, first.rows > 0, first.columns > 0,
              slices.allSatisfy({ $0.1.position != nil }) else {
            return .quarantine("no usable image geometry (ImagePositionPatient/ImageOrientationPatient/PixelSpacing): cannot check for a face")
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
        // Ordered along the normal, not by InstanceNumber.
        let ordered = slices.sorted { dot($0.1.position!, n) < dot($1.1.position!, n) }
        let depths = ordered.map { dot($0.1.position!, n) }

        // Decode every slice into Hounsfield units, each worker straight into its slices of the volume
        // (no staging copy, no lock, no fill that is overwritten anyway).
        let rows = first.rows, columns = first.columns, plane = rows * columns
        let failure = Mutex<String?>(nil)
        let next = Atomic<Int>(0)
        let voxels = [Int16](unsafeUninitializedCapacity: plane * ordered.count) { buffer, initialized in
            let volumeBase = SharedPointer(base: buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: min(workers, ordered.count)) { _ in
                var raw = RawPixels()
                while true {
                    let k = next.add(1, ordering: .relaxed).oldValue
                    if k >= ordered.count { return }
                    let (index, header) = ordered[k]
                    let slice = volumeBase.base + k * plane
                    if raw.read(path: paths[index], count: plane, { Self.decode($0, into: slice, count: plane, header: header) }) != nil {
                        continue
                    }
                    do {
                        let stored = try DicomFile(path: paths[index]).pixels16()
                        guard stored.count >= plane else { throw DicomError(reason: "pixel data shorter than one frame") }
                        stored.withUnsafeBufferPointer { Self.decode($0.baseAddress!, into: slice, count: plane, header: header) }
                    } catch {
                        slice.initialize(repeating: -1000, count: plane)
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
                            origins: ordered.map { $0.1.position! }, rowDirection: rowDirection,
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
        guard let mask = Defacer.faceMask(volume, options: options, isHead: true) else {
            return .metadataOnly("no face region found")
        }
        let before = FrontalRendering.render(volume)
        let removed = Defacer.apply(mask, to: &volume, options: options)
        let after = FrontalRendering.render(volume)
        var edits: [Int: SliceEdit] = [:]
        for (k, (index, header)) in ordered.enumerated() {
            let pixels = mask.setIndices(slice: k)
            if !pixels.isEmpty {
                edits[index] = SliceEdit(pixels: pixels, airValue: header.stored(hu: -1000), mode: options.mode,
                                         seed: options.seed &+ UInt64(k))
            }
        }
        return .defaced(removed: removed, slices: edits, png: FrontalRendering.sideBySidePNG(before, after))
    }
}

extension SeriesDefacing {
    /// Stored values to Hounsfield units. The common CT case (slope 1, integer intercept) is an integer
    /// shift, which the compiler vectorises; anything else goes through the header's general formula.
    static func decode(_ stored: UnsafePointer<UInt16>, into hu: UnsafeMutablePointer<Int16>, count: Int,
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

@inline(__always) func dot(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> Double { a.x * b.x + a.y * b.y + a.z * b.z }
