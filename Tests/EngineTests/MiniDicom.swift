@testable import Defacing
import Foundation

/// Just enough DICOM to read an uncompressed explicit-VR little-endian CT series into a Volume
/// (test use only: no sequences of undefined length, no compression).
enum MiniDicom {
    struct Slice {
        var position = SIMD3<Double>(0, 0, 0)
        var orientation: [Double] = []
        var spacing: [Double] = []
        var rows = 0, columns = 0
        var slope = 1.0, intercept = 0.0
        var signed = true
        var pixels: [Int16] = []
    }

    static func read(_ url: URL) throws -> Slice {
        let data = try Data(contentsOf: url)
        guard data.count > 132, String(decoding: data[128..<132], as: UTF8.self) == "DICM" else {
            throw CocoaError(.fileReadCorruptFile)
        }
        var s = Slice()
        func u16(_ o: Int) -> Int { Int(data[o]) | Int(data[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        func numbers(_ o: Int, _ n: Int) -> [Double] {
            String(decoding: data[o..<(o + n)], as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: "\0")))
                .split(separator: "\\").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        }
        let longVRs: Set<String> = ["OB", "OW", "OF", "SQ", "UT", "UN", "OD", "OL", "UC", "UR", "OV", "SV", "UV"]
        /// Reads elements from p until `end` or an item delimiter; returns the position after them.
        func elements(from start: Int, to end: Int, top: Bool) throws -> Int {
            var p = start
            while p + 8 <= end {
                let group = u16(p), element = u16(p + 2)
                if group == 0xFFFE {
                    // Item delimiter ends an undefined-length item.
                    return p + 8
                }
                let vr = String(decoding: data[(p + 4)..<(p + 6)], as: UTF8.self)
                var length: Int, header: Int
                if longVRs.contains(vr) { length = u32(p + 8); header = 12 } else { length = u16(p + 6); header = 8 }
                let value = p + header
                if length == 0xFFFF_FFFF {
                    guard vr == "SQ" else { throw CocoaError(.fileReadCorruptFile) }
                    p = try sequence(from: value)
                    continue
                }
                if top {
                    switch (group, element) {
                    case (0x0020, 0x0032): let v = numbers(value, length); s.position = SIMD3(v[0], v[1], v[2])
                    case (0x0020, 0x0037): s.orientation = numbers(value, length)
                    case (0x0028, 0x0030): s.spacing = numbers(value, length)
                    case (0x0028, 0x0010): s.rows = u16(value)
                    case (0x0028, 0x0011): s.columns = u16(value)
                    case (0x0028, 0x0103): s.signed = u16(value) == 1
                    case (0x0028, 0x1052): s.intercept = numbers(value, length).first ?? 0
                    case (0x0028, 0x1053): s.slope = numbers(value, length).first ?? 1
                    case (0x7FE0, 0x0010):
                        let n = s.rows * s.columns
                        s.pixels = (0..<n).map { i in
                            let raw = u16(value + 2 * i)
                            let stored = s.signed ? Double(Int16(truncatingIfNeeded: raw)) : Double(raw)
                            return Int16(clamping: Int((stored * s.slope + s.intercept).rounded()))
                        }
                    default: break
                    }
                }
                p = value + length
            }
            return p
        }
        /// Skips an undefined-length sequence; returns the position after its delimiter.
        func sequence(from start: Int) throws -> Int {
            var p = start
            while p + 8 <= data.count {
                let element = u16(p + 2), length = u32(p + 4)
                if element == 0xE0DD { return p + 8 }
                if length == 0xFFFF_FFFF { p = try elements(from: p + 8, to: data.count, top: false) } else { p += 8 + length }
            }
            return p
        }
        _ = try elements(from: 132, to: data.count, top: true)
        return s
    }

    /// All DICOM files of a folder as one volume, sorted along the slice normal.
    static func volume(folder: URL) throws -> Volume {
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension != "md" }
        var slices = files.compactMap { try? read($0) }.filter { !$0.pixels.isEmpty }
        let o = slices[0].orientation
        let row = SIMD3(o[0], o[1], o[2]), column = SIMD3(o[3], o[4], o[5])
        let normal = SIMD3(row.y * column.z - row.z * column.y, row.z * column.x - row.x * column.z,
                           row.x * column.y - row.y * column.x)
        slices.sort { ($0.position * normal).sum() < ($1.position * normal).sum() }
        return Volume(columns: slices[0].columns, rows: slices[0].rows, slices: slices.count,
                      hu: slices.flatMap(\.pixels), origins: slices.map(\.position),
                      rowDirection: row, columnDirection: column,
                      columnSpacing: slices[0].spacing[1], rowSpacing: slices[0].spacing[0])
    }
}
