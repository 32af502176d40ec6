/// The stored values of a defaced series' files as its volume holds them, so that a file the toolkit
/// had to decode (compressed, or not readable in place) is decoded once: for the volume, and not again
/// when its pixels are edited and written.
///
/// The volume holds Hounsfield units after the face was removed. Where the decoding was an integer
/// shift (rescale slope 1, a whole intercept) and no value was clamped, the stored value is the unit
/// minus the intercept, exactly; the face's voxels are overwritten by the file's `SliceEdit` anyway.
/// For anything else `stored(file:)` says nil and the file is decoded again.
public final class DecodedSeries: Sendable {
    package struct Placement: Sendable {
        package let frame: Int
        package let slice: Int
    }

    private let volume: Volume
    private let placements: [Int: [Placement]]
    private let headers: [Int: SliceHeader]

    /// `placements[file]` says which slice of the volume holds each of the file's frames.
    package init(volume: Volume, placements: [Int: [Placement]], headers: [Int: SliceHeader]) {
        self.volume = volume
        self.placements = placements
        self.headers = headers
    }

    /// One of the series' files, as the volume holds it.
    package struct File: Sendable {
        package let series: DecodedSeries
        package let index: Int

        /// Its stored values, frame after frame, or nil when the volume cannot give them back exactly.
        package func stored() -> [UInt16]? { series.stored(file: index) }
    }

    /// File `index`, when the toolkit decoded it for the volume (nil: it was read in place, or is not in the series).
    package func file(_ index: Int) -> File? { placements[index] == nil ? nil : File(series: self, index: index) }

    private func stored(file: Int) -> [UInt16]? {
        guard let placed = placements[file], let header = headers[file], header.frames == placed.count,
              header.slope == 1, header.intercept == header.intercept.rounded(), abs(header.intercept) < 32768 else { return nil }
        let plane = volume.columns * volume.rows
        let shift = Int32(header.intercept)
        var exact = true
        let values = volume.hu.withUnsafeBufferPointer { hu in
            [UInt16](unsafeUninitializedCapacity: plane * placed.count) { buffer, initialized in
                for placement in placed {
                    let from = hu.baseAddress! + placement.slice * plane
                    let to = buffer.baseAddress! + placement.frame * plane
                    for p in 0..<plane {
                        let unit = from[p]
                        // A unit at either end of Int16 may have been clamped when it was decoded.
                        if unit == .min || unit == .max { exact = false }
                        to[p] = UInt16(truncatingIfNeeded: Int32(unit) &- shift)
                    }
                }
                initialized = plane * placed.count
            }
        }
        return exact ? values : nil
    }
}
