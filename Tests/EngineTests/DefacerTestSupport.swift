@testable import Defacing
import Fixtures
import Foundation

/// A phantom series as a Volume plus the exact label of every voxel centre.
struct PhantomSeries {
    var volume: Volume
    let labels: [Tissue]

    /// The standard axial geometry, rendered slice by slice.
    static func axial(slices: Int = 100, rows: Int = 128, columns: Int = 128) -> PhantomSeries {
        let g = VolumeGeometry(slices: slices, rows: rows, columns: columns)
        let phantom = HeadPhantom()
        let plane = rows * columns
        var hu = [Int16](repeating: 0, count: plane * slices)
        var labels = [Tissue](repeating: .air, count: plane * slices)
        hu.withUnsafeMutableBufferPointer { buffer in
            for k in 0..<slices {
                phantom.renderSlice(k, geometry: g, into: UnsafeMutableBufferPointer(rebasing: buffer[(k * plane)..<((k + 1) * plane)]))
            }
        }
        for k in 0..<slices {
            let l = phantom.labels(slice: k, geometry: g)
            for p in 0..<plane { labels[k * plane + p] = l[p] }
        }
        let volume = Volume(columns: columns, rows: rows, slices: slices, hu: hu,
                            origins: g.sliceZ.map { SIMD3(g.originX, g.originY, $0) },
                            rowDirection: SIMD3(1, 0, 0), columnDirection: SIMD3(0, 1, 0),
                            columnSpacing: g.pixelSpacing, rowSpacing: g.pixelSpacing)
        return PhantomSeries(volume: volume, labels: labels)
    }

    /// Any geometry, sampling the phantom at each voxel's true position.
    /// The head turned `yaw` degrees to its left (about z) and nodded `pitch` degrees chin down
    /// (about x) in an ordinary axial series: the phantom sampled at each voxel's position turned back.
    static func turned(yaw: Double, pitch: Double, slices: Int = 110, size: Int = 128) -> PhantomSeries {
        let spacing = 256.0 / Double(size)
        let o = -spacing * Double(size) / 2 + spacing / 2
        let a = yaw * .pi / 180, b = pitch * .pi / 180
        return sampled(columns: size, rows: size, origins: (0..<slices).map { SIMD3(o, o, -109 + 2 * Double($0)) },
                       rowDirection: SIMD3(1, 0, 0), columnDirection: SIMD3(0, 1, 0), spacing: spacing) { p in
            // Undo the nod (about x), then the turn (about z).
            let q = SIMD3(p.x, p.y * cos(b) - p.z * sin(b), p.y * sin(b) + p.z * cos(b))
            return SIMD3(q.x * cos(a) + q.y * sin(a), -q.x * sin(a) + q.y * cos(a), q.z)
        }
    }

    /// Only part of the head: axial slices 2 mm apart from `bottom` to `top` (mm).
    static func covering(_ bottom: Double, _ top: Double, size: Int = 128) -> PhantomSeries {
        let spacing = 256.0 / Double(size)
        let o = -spacing * Double(size) / 2 + spacing / 2
        return sampled(columns: size, rows: size, origins: stride(from: bottom, through: top, by: 2).map { SIMD3(o, o, $0) },
                       rowDirection: SIMD3(1, 0, 0), columnDirection: SIMD3(0, 1, 0), spacing: spacing)
    }

    static func sampled(columns: Int, rows: Int, origins: [SIMD3<Double>], rowDirection: SIMD3<Double>,
                        columnDirection: SIMD3<Double>, spacing: Double,
                        head: (SIMD3<Double>) -> SIMD3<Double> = { $0 }) -> PhantomSeries {
        let phantom = HeadPhantom()
        let plane = rows * columns
        var hu = [Int16](repeating: 0, count: plane * origins.count)
        var labels = [Tissue](repeating: .air, count: plane * origins.count)
        for k in origins.indices {
            for j in 0..<rows {
                for i in 0..<columns {
                    let p = head(origins[k] + rowDirection * (Double(i) * spacing) + columnDirection * (Double(j) * spacing))
                    hu[(k * rows + j) * columns + i] = phantom.hounsfield(x: p.x, y: p.y, z: p.z)
                    labels[(k * rows + j) * columns + i] = phantom.label(x: p.x, y: p.y, z: p.z)
                }
            }
        }
        let volume = Volume(columns: columns, rows: rows, slices: origins.count, hu: hu, origins: origins,
                            rowDirection: rowDirection, columnDirection: columnDirection,
                            columnSpacing: spacing, rowSpacing: spacing)
        return PhantomSeries(volume: volume, labels: labels)
    }

    /// Gantry tilt: rows sheared, column direction (0, cos t, -sin t), slices stacked along the normal.
    static func tilted(degrees: Double = 18.5, slices: Int = 120, size: Int = 128) -> PhantomSeries {
        let t = degrees * .pi / 180
        let row = SIMD3<Double>(1, 0, 0), column = SIMD3<Double>(0, cos(t), -sin(t))
        let normal = SIMD3<Double>(0, sin(t), cos(t))
        let spacing = 256.0 / Double(size)
        let half = spacing * Double(size - 1) / 2
        let origins = (0..<slices).map { k -> SIMD3<Double> in
            let d = -120.0 + Double(k) * 240.0 / Double(slices - 1)
            return normal * d - row * half - column * half
        }
        return sampled(columns: size, rows: size, origins: origins, rowDirection: row, columnDirection: column, spacing: spacing)
    }

    /// A head-and-neck series, as radiotherapy plans and CT angiography cover: the phantom's head,
    /// its neck continued down to the upper chest, shoulders, a sternum and a rib joined to the
    /// spine, and the spine joined to the skull base, so that the mandible, the skull, the spine,
    /// the ribs and the sternum are one bone (as at CT resolution they can be). 2 mm voxels, z from
    /// -260 to +98 mm. Everything added is soft tissue or bone, never face.
    static func headAndNeck() -> PhantomSeries {
        let size = 128, spacing = 2.0
        let o = -spacing * Double(size) / 2 + spacing / 2
        let zs = Array(stride(from: -259.0, through: 97.0, by: 2.0))
        var series = sampled(columns: size, rows: size, origins: zs.map { SIMD3(o, o, $0) },
                             rowDirection: SIMD3(1, 0, 0), columnDirection: SIMD3(0, 1, 0), spacing: spacing)
        func inEllipse(_ x: Double, _ y: Double, _ cx: Double, _ cy: Double, _ a: Double, _ b: Double) -> Bool {
            let u = (x - cx) / a, v = (y - cy) / b
            return u * u + v * v <= 1
        }
        var hu = series.volume.hu
        var labels = series.labels
        for k in zs.indices {
            let z = zs[k]
            for j in 0..<size {
                for i in 0..<size {
                    let x = o + Double(i) * spacing, y = o + Double(j) * spacing
                    let n = (k * size + j) * size + i
                    var tissue: Tissue?
                    // Shoulders and chest below z = -170: a wide body, the neck rising from it.
                    if z < -170 && inEllipse(x, y, 0, 10, 120, 90) { tissue = .softTissue }
                    // The sternum, in front.
                    if z < -175 && z > -255 && abs(x) <= 12 && y >= -78 && y <= -70 { tissue = .bone }
                    // A rib from the sternum round to the spine, and the spine down through the chest.
                    if z >= -232 && z <= -226 && inEllipse(x, y, 0, 0, 110, 78) && !inEllipse(x, y, 0, 0, 102, 70) { tissue = .bone }
                    if z >= -232 && z <= -226 && abs(x) <= 4 && y >= 32 && y <= 74 { tissue = .bone }
                    if z < -100 && inEllipse(x, y, 0, 32, 13, 13) { tissue = inEllipse(x, y, 0, 32, 6, 6) ? .softTissue : .bone }
                    // The spine's top joined to the skull base plate.
                    if z >= -34 && z <= -24 && abs(x) <= 8 && y >= 19 && y <= 45 { tissue = .bone }
                    guard let tissue else { continue }
                    labels[n] = tissue
                    hu[n] = tissue == .bone ? HeadPhantom.boneHU : HeadPhantom.softTissueHU
                }
            }
        }
        series.volume.hu = hu
        return PhantomSeries(volume: series.volume, labels: labels)
    }

    /// The head and neck under a thermoplastic immobilisation mask, as in radiotherapy planning: a
    /// 2 mm shell (+100 HU), perforated or not, moulded onto the skin of the face, forehead and chin
    /// and down the sides of the head (or `standOff` voxels of air away from it), from z = -100 to
    /// 70 mm. `device` holds its voxels (labelled air).
    static func headAndNeckUnderAMask(standOff: Int = 0, perforated: Bool = true) -> (series: PhantomSeries, device: Set<Int>) {
        var series = headAndNeck()
        let v = series.volume
        let columns = v.columns, rows = v.rows
        var device = Set<Int>()
        for k in 0..<v.slices {
            let z = v.position(0, 0, k).z
            guard z >= -100, z <= 70 else { continue }
            func place(_ i: Int, _ j: Int) {
                // Perforations: every third 4 mm cell of the mesh is open.
                guard !perforated || (i / 2 + k / 2 + j / 2) % 3 != 0 else { return }
                guard i >= 0, j >= 0, i < columns, j < rows else { return }
                let n = (k * rows + j) * columns + i
                if series.labels[n] == .air { device.insert(n) }
            }
            // In front: the air voxel just before the first tissue met from the front of each column.
            for i in 0..<columns {
                guard let j = (0..<rows).first(where: { series.labels[(k * rows + $0) * columns + i] != .air }), j > 0 else { continue }
                if v.position(i, j, k).y < -20 { place(i, j - 1 - standOff) }
            }
            // On the sides, in front of the ears' line.
            for j in 0..<rows where v.position(0, j, k).y < -20 {
                if let i = (0..<columns).first(where: { series.labels[(k * rows + j) * columns + $0] != .air }), i > 0 { place(i - 1 - standOff, j) }
                if let i = (0..<columns).reversed().first(where: { series.labels[(k * rows + j) * columns + $0] != .air }), i < columns - 1 {
                    place(i + 1 + standOff, j)
                }
            }
        }
        for n in device { series.volume.hu[n] = 100 }
        return (series, device)
    }

    /// Uneven spacing: slices 2 mm apart below z = 0, 5 mm apart above.
    static func uneven(size: Int = 128) -> PhantomSeries {
        let spacing = 256.0 / Double(size)
        let zs = Array(stride(from: -99.0, through: -1.0, by: 2.0)) + Array(stride(from: 4.0, through: 99.0, by: 5.0))
        let o = -spacing * Double(size) / 2 + spacing / 2
        return sampled(columns: size, rows: size, origins: zs.map { SIMD3(o, o, $0) },
                       rowDirection: SIMD3(1, 0, 0), columnDirection: SIMD3(0, 1, 0), spacing: spacing)
    }
}

/// What defacing did, by label.
struct DefaceStatistics: CustomStringConvertible {
    var face = 0, faceRemoved = 0
    var ear = 0, earRemoved = 0
    var brainChanged = 0, boneChanged = 0
    /// Changed voxels whose label is neither face nor (when allowed) ear.
    var otherChanged: [Tissue: Int] = [:]
    var missedFace: [Int] = []
    var otherChangedIndices: [Int] = []

    /// `removedAt`: what a removed voxel reads afterwards (-1000 exactly, or the noise range).
    init(before: Volume, after: Volume, labels: [Tissue], earsAllowed: Bool,
         removedAt: ClosedRange<Int16> = -1000 ... -1000) {
        for n in labels.indices {
            let changed = before.hu[n] != after.hu[n]
            switch labels[n] {
            case .face:
                face += 1
                if removedAt.contains(after.hu[n]) { faceRemoved += 1 } else { missedFace.append(n) }
            case .ear:
                ear += 1
                if removedAt.contains(after.hu[n]) { earRemoved += 1 }
                if changed && !earsAllowed { otherChanged[.ear, default: 0] += 1; otherChangedIndices.append(n) }
            case .brain:
                if changed { brainChanged += 1 }
            case .bone:
                if changed { boneChanged += 1 }
            default:
                if changed { otherChanged[labels[n], default: 0] += 1; otherChangedIndices.append(n) }
            }
        }
    }

    var faceFraction: Double { face == 0 ? 1 : Double(faceRemoved) / Double(face) }
    var otherCount: Int { otherChanged.values.reduce(0, +) }

    var description: String {
        String(format: "face %d/%d removed (%.2f%%), ears %d/%d, brain changed %d, bone changed %d, other changed %d %@",
               faceRemoved, face, 100 * faceFraction, earRemoved, ear, brainChanged, boneChanged, otherCount,
               otherChanged.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","))
    }

    /// Where the misses are, for diagnosis: "z: count" for voxels given by flat index.
    static func byPosition(_ indices: [Int], _ v: Volume, limit: Int = 30) -> String {
        var lines: [String] = []
        for n in indices.prefix(limit) {
            let k = n / (v.rows * v.columns), j = (n / v.columns) % v.rows, i = n % v.columns
            let p = v.position(i, j, k)
            lines.append(String(format: "(%.1f, %.1f, %.1f)", p.x, p.y, p.z))
        }
        return lines.joined(separator: " ")
    }
}

extension DefaceStatistics {
    static func histogram(_ indices: [Int], _ v: Volume) -> String {
        var byZ: [Int: Int] = [:]
        for n in indices {
            let k = n / (v.rows * v.columns), j = (n / v.columns) % v.rows, i = n % v.columns
            byZ[Int(v.position(i, j, k).z.rounded()), default: 0] += 1
        }
        return byZ.sorted { $0.key < $1.key }.map { "z\($0.key):\($0.value)" }.joined(separator: " ")
    }
}
