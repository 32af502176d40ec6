import Foundation

/// Tissue classes of the analytic head. These are the labels the defacing tests rely on.
public enum Tissue: String, Sendable, CaseIterable {
    /// Outside the head, and the air cavities inside it (nostrils, mouth slit, nasal cavity,
    /// maxillary sinuses, airway).
    case air
    /// Scalp, forehead, deep tissue below the skull base, neck, tongue, spinal cord, the parts of the
    /// lower head behind y = -30 mm. Never facial.
    case softTissue
    /// Facial soft tissue (a subset of soft tissue): everything that is soft tissue in front of the
    /// facial skeleton and below the forehead, namely
    ///  * the skin layer of the cranium in rows with y < -40 mm and -30 mm <= z < 40 mm
    ///    (cheeks, eyelids, brow and lower forehead, upper lip/maxillary skin), outside the skull;
    ///  * the nose (z in [-28, 16] mm);
    ///  * both orbits (orbital fat) and eye globes (+10 HU);
    ///  * the lower head (z < -30 mm) in rows with y < -30 mm and z >= -76 mm, outside the mandible
    ///    (lips, chin, cheeks, perioral tissue); lips and chin also by their own shapes.
    case face
    /// Both external ears (x = +/-69...81 mm).
    case ear
    /// Skull (ellipsoidal shell ~6 mm), skull base plate, mandible, cervical spine.
    case bone
    /// Everything inside the inner skull surface above the skull base (z > zBase(y)).
    case brain
}

/// Position of every voxel of a synthetic axial series (DICOM patient coordinates, LPS, mm).
///
/// Voxel (column c, row r, slice k) has its centre at
/// `x = originX + Double(c) * pixelSpacing`, `y = originY + Double(r) * pixelSpacing`, `z = sliceZ[k]`.
/// All values are exactly what the DS strings in the files parse to, so a reader that evaluates the
/// same formula on the parsed ImagePositionPatient / PixelSpacing gets bit-identical coordinates
/// and hence `HeadPhantom.label` gives exactly the label used to render that voxel.
public struct VolumeGeometry: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    public let slices: Int
    /// Square pixels: row spacing == column spacing.
    public let pixelSpacing: Double
    public let sliceSpacing: Double
    /// Centre of the first voxel of each slice (ImagePositionPatient x, y).
    public let originX: Double
    public let originY: Double
    /// ImagePositionPatient z of each slice, from the neck (first) to the vertex (last).
    public let sliceZ: [Double]

    /// The standard mapping: a 256 mm field of view across the columns (0.5 mm pixels at 512),
    /// centred on x = y = 0; `slices` slices covering z in [-100, +100] mm (1 mm at 200 slices).
    public init(slices: Int, rows: Int, columns: Int) {
        precondition(slices > 0 && rows > 0 && columns > 0, "geometry needs positive sizes")
        self.rows = rows
        self.columns = columns
        self.slices = slices
        let s = DicomText.dsRoundTrip(HeadPhantom.fieldOfView / Double(columns))
        pixelSpacing = s
        originX = DicomText.dsRoundTrip(-Double(columns) * s / 2 + s / 2)
        originY = DicomText.dsRoundTrip(-Double(rows) * s / 2 + s / 2)
        let dz = DicomText.dsRoundTrip((HeadPhantom.zTop - HeadPhantom.zBottom) / Double(slices))
        sliceSpacing = dz
        sliceZ = (0..<slices).map { DicomText.dsRoundTrip(HeadPhantom.zBottom + (Double($0) + 0.5) * dz) }
    }

    @inline(__always) public func x(column c: Int) -> Double { originX + Double(c) * pixelSpacing }
    @inline(__always) public func y(row r: Int) -> Double { originY + Double(r) * pixelSpacing }
    @inline(__always) public func z(slice k: Int) -> Double { sliceZ[k] }
}

/// An analytic head in DICOM patient coordinates (LPS, millimetres): +x towards the patient's left,
/// +y posterior (so the face is at negative y), +z superior (vertex at z ~ +98 mm, neck continues
/// below z = -100 mm).
///
/// The head is a union of closed-form shapes (ellipsoids, spheres, elliptic cylinders, a nose wedge)
/// painted in a fixed order; for a voxel the *last* shape that contains it gives its tissue. Every
/// shape is evaluated along a row (fixed y and z) as an x-interval [lo, hi], so a slice is rendered by
/// filling spans, and `label(x:y:z:)` evaluates the very same intervals: rendering and labels agree
/// exactly for every voxel.
///
/// Shapes (centre; semi-axes) in paint order:
/// * Cranium rows (z >= -30):
///   1. skin ellipsoid (0,5,10; 74,92,88) — `.face` in rows y < -40 and z < 40, else `.softTissue`;
///   2. nose wedge z in [-28,16], tip at y = -108 (z = -20) — `.face`; nostrils — `.air`;
///   3. ears, ellipsoids (+/-75,10,2; 6,13,22) — `.ear`;
///   4. outer skull (0,5,10; 68,86,82) — `.bone`;
///   5. inner skull (0,5,10; 62,80,76) — `.softTissue` (below the skull base);
///   6. nasal cavity (0,-58,-6; 10,16,18) and maxillary sinuses (+/-24,-52,-12; 12,14,12) — `.air`;
///      hard palate, a plate -29 < z <= -24, -66 <= y <= -20, |x| <= 20 inside the inner skull — `.bone`;
///   7. skull base plate, zBase(y) - 7 < z <= zBase(y), inside the inner skull — `.bone`,
///      with zBase(y) = 18 for y <= -45, -22 for y >= -5, -27 - y in between;
///   8. brain: inside the inner skull and z > zBase(y) — `.brain`;
///   9. orbital walls, spheres (+/-30,-63,4; r 18) inside the inner skull — `.bone`;
///  10. orbits, spheres (+/-30,-63,4; r 13) — `.face`; eye globes (+/-30,-66,4; r 11) — `.face` at +10 HU.
/// * Lower-head rows (z < -30):
///   1. neck, elliptic cylinder (0,18; 50,56) — `.softTissue`;
///   2. lower head ellipsoid (0,-2,-30; 70,88,58) — `.face` in rows y < -30 and z >= -76, else `.softTissue`;
///   3. lips (0,-88,-36; 24,6,5), (0,-85,-47; 22,6,5.5) and chin (0,-68,-70; 26,9,13) — `.face`;
///      mouth slit (0,-86,-41.5; 20,8,1) — `.air`;
///   4. mandible, rows y <= 0 and -74 <= z: outer ellipsoid (0,-10,-34; 57.2,66,40) — `.bone`,
///      inner (0,-10,-34; 46,54,34) — `.softTissue`;
///   5. airway, elliptic cylinder (0,4; 9,6) for z <= -38 — `.air`;
///   6. cervical spine, cylinder (0,32; r 13) — `.bone`, spinal canal (0,32; r 6) — `.softTissue`.
///
/// Where the face label ends, the image shows why, as in a real head, or the boundary is one of the
/// defacer's stated limits (a plane behind the eyes, above the brow, below the jaw): the orbits sit in
/// 5 mm of bone (never within the defacer's 2.5 mm margin of brain or of tissue enclosed by the skull),
/// the facial skin lies outside the skull, the jaw carries the upper face's bone, and the chin stands
/// out from the neck.
public struct HeadPhantom: Sendable {
    public init() {}

    /// Hounsfield units by tissue.
    public static let airHU: Int16 = -1000
    public static let softTissueHU: Int16 = 40
    public static let eyeHU: Int16 = 10
    public static let boneHU: Int16 = 1200
    public static let brainHU: Int16 = 35

    /// Field of view across the columns (mm) and the z range covered by a series.
    public static let fieldOfView = 256.0
    public static let zBottom = -100.0
    public static let zTop = 100.0

    /// Internal material: a tissue plus its HU (the eye is `.face` at a different HU).
    enum Material: UInt8 {
        case air, soft, face, eye, ear, bone, brain

        var tissue: Tissue {
            switch self {
            case .air: return .air
            case .soft: return .softTissue
            case .face, .eye: return .face
            case .ear: return .ear
            case .bone: return .bone
            case .brain: return .brain
            }
        }

        var hu: Int16 {
            switch self {
            case .air: return HeadPhantom.airHU
            case .soft, .face, .ear: return HeadPhantom.softTissueHU
            case .eye: return HeadPhantom.eyeHU
            case .bone: return HeadPhantom.boneHU
            case .brain: return HeadPhantom.brainHU
            }
        }
    }

    /// Tissue at a point (mm, LPS).
    public func label(x: Double, y: Double, z: Double) -> Tissue {
        material(x: x, y: y, z: z).tissue
    }

    /// CT number at a point (mm, LPS).
    public func hounsfield(x: Double, y: Double, z: Double) -> Int16 {
        material(x: x, y: y, z: z).hu
    }

    func material(x: Double, y: Double, z: Double) -> Material {
        var m = Material.air
        forEachSpan(y: y, z: z) { lo, hi, mat in
            if x >= lo && x <= hi { m = mat }
        }
        return m
    }

    /// Renders slice `k` of `geometry` into `buffer` (rows * columns, row-major) in HU.
    public func renderSlice(_ k: Int, geometry g: VolumeGeometry, into buffer: UnsafeMutableBufferPointer<Int16>) {
        precondition(buffer.count >= g.rows * g.columns, "buffer too small")
        let z = g.sliceZ[k]
        for r in 0..<g.rows {
            let base = r * g.columns
            let y = g.y(row: r)
            buffer.baseAddress!.advanced(by: base).update(repeating: HeadPhantom.airHU, count: g.columns)
            paintRow(y: y, z: z, geometry: g) { c0, c1, mat in
                let hu = mat.hu
                for c in c0...c1 { buffer[base + c] = hu }
            }
        }
    }

    /// HU values of slice `k` (rows * columns, row-major).
    public func slice(_ k: Int, geometry g: VolumeGeometry) -> [Int16] {
        [Int16](unsafeUninitializedCapacity: g.rows * g.columns) { buf, n in
            renderSlice(k, geometry: g, into: buf)
            n = g.rows * g.columns
        }
    }

    /// Tissue labels of slice `k` (rows * columns, row-major), identical to `label` at each voxel centre.
    public func labels(slice k: Int, geometry g: VolumeGeometry) -> [Tissue] {
        var out = [Tissue](repeating: .air, count: g.rows * g.columns)
        let z = g.sliceZ[k]
        for r in 0..<g.rows {
            let base = r * g.columns
            paintRow(y: g.y(row: r), z: z, geometry: g) { c0, c1, mat in
                let t = mat.tissue
                for c in c0...c1 { out[base + c] = t }
            }
        }
        return out
    }

    /// Calls `fill(c0, c1, material)` for each span, in paint order, with the columns whose centres
    /// x satisfy lo <= x <= hi (exactly the test `material(x:y:z:)` makes).
    @inline(__always)
    func paintRow(y: Double, z: Double, geometry g: VolumeGeometry, _ fill: (Int, Int, Material) -> Void) {
        let cols = g.columns
        forEachSpan(y: y, z: z) { lo, hi, mat in
            // first column with x >= lo
            var c0 = Int(max(0, min(Double(cols), ((lo - g.originX) / g.pixelSpacing).rounded(.up))))
            while c0 > 0 && g.x(column: c0 - 1) >= lo { c0 -= 1 }
            while c0 < cols && g.x(column: c0) < lo { c0 += 1 }
            // last column with x <= hi
            var c1 = Int(max(-1, min(Double(cols - 1), ((hi - g.originX) / g.pixelSpacing).rounded(.down))))
            while c1 < cols - 1 && g.x(column: c1 + 1) <= hi { c1 += 1 }
            while c1 >= 0 && g.x(column: c1) > hi { c1 -= 1 }
            if c0 <= c1 { fill(c0, c1, mat) }
        }
    }

    // MARK: - geometry

    /// Outer radius of the bony socket around each orbit (radius 13): 5 mm of bone, more than the
    /// defacer's 2.5 mm margin around the intracranial space measured diagonally (5 / sqrt(3)).
    static let orbitWall = 18.0

    /// Skull base height (mm) as a function of y: high under the frontal lobes (above the orbits),
    /// low under the occipital lobes.
    @inline(__always) static func zBase(_ y: Double) -> Double {
        if y <= -45 { return 18 }
        if y >= -5 { return -22 }
        return -27 - y
    }

    /// x-interval of an ellipsoid at (y, z), or nil.
    @inline(__always)
    static func ellipsoid(_ cx: Double, _ cy: Double, _ cz: Double,
                          _ a: Double, _ b: Double, _ c: Double,
                          _ y: Double, _ z: Double) -> (Double, Double)? {
        let dy = (y - cy) / b, dz = (z - cz) / c
        let t = 1 - dy * dy - dz * dz
        if t < 0 { return nil }
        let h = a * t.squareRoot()
        return (cx - h, cx + h)
    }

    /// x-interval of a vertical elliptic cylinder at y, or nil.
    @inline(__always)
    static func cylinder(_ cx: Double, _ cy: Double, _ a: Double, _ b: Double, _ y: Double) -> (Double, Double)? {
        let dy = (y - cy) / b
        let t = 1 - dy * dy
        if t < 0 { return nil }
        let h = a * t.squareRoot()
        return (cx - h, cx + h)
    }

    /// Enumerates the spans of row (y, z) in paint order.
    @inline(__always)
    func forEachSpan(y: Double, z: Double, _ body: (Double, Double, Material) -> Void) {
        typealias H = HeadPhantom
        if z >= -30 {
            // 1. skin of the cranium
            // The lower forehead (brow) is face: up to 24 mm above the orbits, which end at z = 17.
            let faceZone = y < -40 && z < 40
            if let s = H.ellipsoid(0, 5, 10, 74, 92, 88, y, z) { body(s.0, s.1, faceZone ? .face : .soft) }
            // 2. nose wedge + nostrils
            if z >= -28 && z <= 16 {
                let front = z >= -20 ? -108 + (z + 20) * (22.0 / 36.0) : -108 + (-20 - z) * 2
                if y >= front && y <= -70 {
                    let w = min(15, 2 + (y - front) * 0.55)
                    body(-w, w, .face)
                }
                for sx in stride(from: -6.0, through: 6.0, by: 12.0) {
                    if let s = H.ellipsoid(sx, -95, -25, 3.5, 6, 3, y, z) { body(s.0, s.1, .air) }
                }
            }
            // 3. ears
            for sx in stride(from: -75.0, through: 75.0, by: 150.0) {
                if let s = H.ellipsoid(sx, 10, 2, 6, 13, 22, y, z) { body(s.0, s.1, .ear) }
            }
            // 4./5. skull shell and the tissue inside it
            if let s = H.ellipsoid(0, 5, 10, 68, 86, 82, y, z) { body(s.0, s.1, .bone) }
            let inner = H.ellipsoid(0, 5, 10, 62, 80, 76, y, z)
            if let s = inner { body(s.0, s.1, .soft) }
            // 6. air cavities
            if let s = H.ellipsoid(0, -58, -6, 10, 16, 18, y, z) { body(s.0, s.1, .air) }
            for sx in stride(from: -24.0, through: 24.0, by: 48.0) {
                if let s = H.ellipsoid(sx, -52, -12, 12, 14, 12, y, z) { body(s.0, s.1, .air) }
            }
            // The hard palate: the floor of the nose, level when the head is upright (the defacer
            // measures a head's nod on it).
            if let s = inner, z > -29, z <= -24, y >= -66, y <= -20 { body(max(s.0, -20), min(s.1, 20), .bone) }
            // 7. skull base
            let zb = H.zBase(y)
            if let s = inner, z > zb - 7, z <= zb { body(s.0, s.1, .bone) }
            // 8. brain
            if let s = inner, z > zb { body(s.0, s.1, .brain) }
            // 9. orbital walls. Inside the skull the orbit is a bony socket (roof under the frontal
            // lobe, floor over the maxillary sinus, lateral and medial walls): its contents touch
            // neither brain nor deep tissue. Without it the orbits sat in the deep soft tissue, their
            // tops 1 mm under the brain, with nothing in the image between face and the rest.
            for sx in stride(from: -30.0, through: 30.0, by: 60.0) {
                if let inside = inner, let s = H.ellipsoid(sx, -63, 4, H.orbitWall, H.orbitWall, H.orbitWall, y, z) {
                    let lo = max(s.0, inside.0), hi = min(s.1, inside.1)
                    if lo <= hi { body(lo, hi, .bone) }
                }
            }
            // 10. orbits and eyes
            for sx in stride(from: -30.0, through: 30.0, by: 60.0) {
                if let s = H.ellipsoid(sx, -63, 4, 13, 13, 13, y, z) { body(s.0, s.1, .face) }
            }
            for sx in stride(from: -30.0, through: 30.0, by: 60.0) {
                if let s = H.ellipsoid(sx, -66, 4, 11, 11, 11, y, z) { body(s.0, s.1, .eye) }
            }
        } else {
            // 1. neck
            if let s = H.cylinder(0, 18, 50, 56, y) { body(s.0, s.1, .soft) }
            // 2. lower head
            let faceZone = y < -30 && z >= -76
            if let s = H.ellipsoid(0, -2, -30, 70, 88, 58, y, z) { body(s.0, s.1, faceZone ? .face : .soft) }
            // 3. lips, chin, mouth
            if let s = H.ellipsoid(0, -88, -36, 24, 6, 5, y, z) { body(s.0, s.1, .face) }
            if let s = H.ellipsoid(0, -85, -47, 22, 6, 5.5, y, z) { body(s.0, s.1, .face) }
            // The soft-tissue chin is about a centimetre deep, and below the jaw's face zone (z < -76)
            // its underside stands out from the throat. (A 32 mm deep ball used to reach back under
            // the jaw into the submental tissue, where nothing in the image separates chin from neck.)
            if let s = H.ellipsoid(0, -68, -70, 26, 9, 13, y, z) { body(s.0, s.1, .face) }
            if let s = H.ellipsoid(0, -86, -41.5, 20, 8, 1, y, z) { body(s.0, s.1, .air) }
            // 4. mandible. The upper jaw rests on the lower: at the occlusal plane (z = -30), where the
            // cranium's shell stops, the mandible's outline encloses the shell's. (With an outline 10%
            // smaller the shell's rim overhung the cheek by 1-4 mm, and a slice tilted across z = -30
            // showed cheek enclosed in a ring of bone, rim in front and jaw behind, as no cheek is.)
            // The inside (tongue, floor of the mouth) stays as it was, so the bone is thicker: the
            // tongue keeps its distance from the upper lip.
            if y <= 0 && z >= -74 {
                if let s = H.ellipsoid(0, -10, -34, 57.2, 66, 40, y, z) { body(s.0, s.1, .bone) }
                if let s = H.ellipsoid(0, -10, -34, 46, 54, 34, y, z) { body(s.0, s.1, .soft) }
            }
            // 5. airway
            if z <= -38, let s = H.cylinder(0, 4, 9, 6, y) { body(s.0, s.1, .air) }
            // 6. cervical spine
            if let s = H.cylinder(0, 32, 13, 13, y) { body(s.0, s.1, .bone) }
            if let s = H.cylinder(0, 32, 6, 6, y) { body(s.0, s.1, .soft) }
        }
    }
}
