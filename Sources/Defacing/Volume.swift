/// A CT series as one 3-D block of Hounsfield units, slices ordered along the slice normal.
/// Voxel (i, j, k): column i, row j, slice k; stored at (k * rows + j) * columns + i.
/// Geometry follows DICOM patient coordinates (LPS, mm): slice k's voxel (0, 0) is at `origins[k]`,
/// columns step along `rowDirection` by `columnSpacing`, rows along `columnDirection` by `rowSpacing`.
/// Gantry tilt and uneven spacing are carried by `origins` (one per slice), not resampled away.
public struct Volume: Sendable {
    public let columns: Int
    public let rows: Int
    public let slices: Int
    public var hu: [Int16]
    public let origins: [SIMD3<Double>]
    /// Direction of increasing column index (ImageOrientationPatient values 1-3).
    public let rowDirection: SIMD3<Double>
    /// Direction of increasing row index (ImageOrientationPatient values 4-6).
    public let columnDirection: SIMD3<Double>
    /// Distance between adjacent columns (PixelSpacing value 2).
    public let columnSpacing: Double
    /// Distance between adjacent rows (PixelSpacing value 1).
    public let rowSpacing: Double

    public init(columns: Int, rows: Int, slices: Int, hu: [Int16], origins: [SIMD3<Double>],
                rowDirection: SIMD3<Double>, columnDirection: SIMD3<Double>, columnSpacing: Double, rowSpacing: Double) {
        precondition(hu.count == columns * rows * slices && origins.count == slices)
        self.columns = columns
        self.rows = rows
        self.slices = slices
        self.hu = hu
        self.origins = origins
        self.rowDirection = rowDirection
        self.columnDirection = columnDirection
        self.columnSpacing = columnSpacing
        self.rowSpacing = rowSpacing
    }

    @inline(__always) public func index(_ i: Int, _ j: Int, _ k: Int) -> Int { (k * rows + j) * columns + i }

    /// Patient position of a voxel centre.
    @inline(__always) public func position(_ i: Int, _ j: Int, _ k: Int) -> SIMD3<Double> {
        origins[k] + rowDirection * (Double(i) * columnSpacing) + columnDirection * (Double(j) * rowSpacing)
    }

    /// The slice normal (row direction x column direction).
    public var normal: SIMD3<Double> {
        let a = rowDirection, b = columnDirection
        return SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
    }

    /// Distance along the normal between slice k and slice k + 1 (uneven spacing is allowed).
    public func sliceGap(after k: Int) -> Double {
        let d = origins[k + 1] - origins[k]
        let n = normal
        return abs(d.x * n.x + d.y * n.y + d.z * n.z)
    }
}

/// Voxels to remove, one bit per voxel in the same order as `Volume.hu`.
public struct FaceMask: Sendable, Equatable {
    public let columns: Int
    public let rows: Int
    public let slices: Int
    public private(set) var bits: [UInt64]

    public init(columns: Int, rows: Int, slices: Int) {
        self.columns = columns
        self.rows = rows
        self.slices = slices
        bits = [UInt64](repeating: 0, count: (columns * rows * slices + 63) / 64)
    }

    /// From whole 64-bit words in the same order (the caller guarantees the layout).
    package init(columns: Int, rows: Int, slices: Int, words: [UInt64]) {
        precondition(words.count == (columns * rows * slices + 63) / 64)
        self.columns = columns
        self.rows = rows
        self.slices = slices
        bits = words
    }

    @inline(__always) public subscript(index: Int) -> Bool {
        get { bits[index >> 6] & (1 << UInt64(index & 63)) != 0 }
        set {
            if newValue { bits[index >> 6] |= 1 << UInt64(index & 63) } else { bits[index >> 6] &= ~(1 << UInt64(index & 63)) }
        }
    }

    public var count: Int { bits.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// Pixel indices (row * columns + column) of the set voxels of slice k, read a word at a time.
    package func setIndices(slice k: Int) -> [Int32] {
        let plane = rows * columns
        let start = k * plane, end = start + plane
        var out: [Int32] = []
        bits.withUnsafeBufferPointer { words in
            var w = start >> 6
            while w << 6 < end {
                var word = words[w]
                // Bits of the neighbouring slices that share the first or last word.
                if w << 6 < start { word &= ~0 << UInt64(start - w << 6) }
                if (w + 1) << 6 > end { word &= (1 << UInt64(end - w << 6)) &- 1 }
                while word != 0 {
                    out.append(Int32(w << 6 + word.trailingZeroBitCount - start))
                    word &= word &- 1
                }
                w += 1
            }
        }
        return out
    }
}

/// What removed voxels become.
public enum DefaceMode: String, Sendable, CaseIterable {
    /// Air, -1000 HU (default).
    case remove
    /// Air-like noise around -1000 HU, so the cut is less conspicuous in a rendering.
    case noise
}
