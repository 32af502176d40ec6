/// Straight scans through each slice along one image axis, in physical steps. The anterior scan runs
/// from the image edge nearest the patient's front (-y, decided from the orientation, not from the
/// row order) towards the back; with gantry tilt it follows the sheared column direction.
struct FaceRays: Sendable {
    let columns: Int
    let rows: Int
    /// true: a ray steps through rows (j) and ray u is column u; false: it steps through columns.
    let alongRows: Bool
    /// true: step 0 is index 0.
    let fromStart: Bool
    let length: Int
    let count: Int
    /// Millimetres per step and per ray.
    let step: Double
    let spacing: Double
    let stepVector: SIMD3<Double>
    let rayVector: SIMD3<Double>
    let origins: [SIMD3<Double>]
    let rowOffset: SIMD3<Double>

    init(_ v: Volume, alongRows: Bool, fromStart: Bool) {
        columns = v.columns
        rows = v.rows
        self.alongRows = alongRows
        self.fromStart = fromStart
        let sign: Double = fromStart ? 1 : -1
        if alongRows {
            length = v.rows; count = v.columns; step = v.rowSpacing; spacing = v.columnSpacing
            stepVector = v.columnDirection * (v.rowSpacing * sign)
            rayVector = v.rowDirection * v.columnSpacing
            rowOffset = fromStart ? .zero : v.columnDirection * (v.rowSpacing * Double(v.rows - 1))
        } else {
            length = v.columns; count = v.rows; step = v.columnSpacing; spacing = v.rowSpacing
            stepVector = v.rowDirection * (v.columnSpacing * sign)
            rayVector = v.columnDirection * v.rowSpacing
            rowOffset = fromStart ? .zero : v.rowDirection * (v.columnSpacing * Double(v.columns - 1))
        }
        origins = v.origins
    }

    /// The anterior scan, or nil when no image axis points within about 66 degrees of anterior.
    static func anterior(_ v: Volume) -> FaceRays? {
        let ai = -v.rowDirection.y, aj = -v.columnDirection.y
        if abs(aj) >= abs(ai) {
            guard abs(aj) >= 0.4 else { return nil }
            return FaceRays(v, alongRows: true, fromStart: aj < 0)
        }
        guard abs(ai) >= 0.4 else { return nil }
        return FaceRays(v, alongRows: false, fromStart: ai < 0)
    }

    /// The two scans across the anterior one (from the patient's right and left sides).
    static func lateral(_ anterior: FaceRays, _ v: Volume) -> [FaceRays] {
        [FaceRays(v, alongRows: !anterior.alongRows, fromStart: true),
         FaceRays(v, alongRows: !anterior.alongRows, fromStart: false)]
    }

    /// The first step of every ray of slice k at which `bits` is set (-1 where none is), a word at a
    /// time: most rays cross a long stretch of air before they meet the head.
    func firstSet(_ bits: BitVolume, slice k: Int, into out: UnsafeMutablePointer<Int32>) {
        out.initialize(repeating: -1, count: count)
        let plane = bits.plane(k), n = bits.wordsPerRow
        if alongRows {
            // Ray u is column u: go through the rows in step order, keeping the columns already met.
            var found = [UInt64](repeating: 0, count: n)
            var left = columns
            for t in 0..<length where left > 0 {
                let row = plane + (fromStart ? t : length - 1 - t) * n
                for x in 0..<n {
                    var new = row[x] & ~found[x]
                    if new == 0 { continue }
                    found[x] |= new
                    while new != 0 {
                        let u = x << 6 + new.trailingZeroBitCount
                        if u < count { out[u] = Int32(t); left -= 1 }
                        new &= new &- 1
                    }
                }
            }
        } else {
            // Ray u is row u: its first (or last) set column.
            for u in 0..<count {
                let row = plane + u * n
                if fromStart {
                    if let x = (0..<n).first(where: { row[$0] != 0 }) {
                        out[u] = Int32(x << 6 + row[x].trailingZeroBitCount)
                    }
                } else if let x = (0..<n).last(where: { row[$0] != 0 }) {
                    out[u] = Int32(length - 1 - (x << 6 + 63 - row[x].leadingZeroBitCount))
                }
            }
        }
    }

    /// Column and row of step t of ray u.
    @inline(__always) func pixel(_ u: Int, _ t: Int) -> (i: Int, j: Int) {
        let s = fromStart ? t : length - 1 - t
        return alongRows ? (u, s) : (s, u)
    }

    /// Patient position of step 0 of ray u in slice k.
    @inline(__always) func start(_ k: Int, _ u: Int) -> SIMD3<Double> {
        origins[k] + rowOffset + rayVector * Double(u)
    }
}
