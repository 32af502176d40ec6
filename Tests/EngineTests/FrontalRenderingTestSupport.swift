@testable import Defacing
@testable import Pixels
import Foundation
import XCTest

/// Synthetic heads and PNG decoding for the rendering tests.
extension FrontalRenderingTests {
    // MARK: Synthetic heads

    /// Ellipsoid head with a nose bump at -y; partial volume at the surface like a real scan.
    enum Head {
        static let axes = SIMD3<Double>(60, 75, 80)
        static let noseCentre = SIMD3<Double>(0, -75, -5)
        static let noseAxes = SIMD3<Double>(9, 14, 18)
        static var noseTip: SIMD3<Double> { noseCentre - SIMD3(0, noseAxes.y, 0) }

        /// Approximate signed distance (mm) to an ellipsoid's surface.
        static func distance(_ p: SIMD3<Double>, _ centre: SIMD3<Double>, _ axes: SIMD3<Double>) -> Double {
            let q = (p - centre) / axes
            let r = (q * q).sum().squareRoot()
            let g = (q / axes * 2)  // gradient of |q|^2 scaled: distance ~ (|q|^2 - 1) / |grad|
            let grad = (g * g).sum().squareRoot()
            return grad > 0 ? (r * r - 1) / grad : -axes.min()
        }

        static func hu(_ p: SIMD3<Double>, nose: Bool = true, extra: (centre: SIMD3<Double>, radius: Double)? = nil) -> Int16 {
            var d = distance(p, .zero, axes)
            if nose { d = min(d, distance(p, noseCentre, noseAxes)) }
            if let e = extra { d = min(d, ((p - e.centre) * (p - e.centre)).sum().squareRoot() - e.radius) }
            // 2.5 mm partial-volume ramp from air (-1000) to soft tissue (40), as a scanner blurs it.
            let f = min(max(0.5 - d / 2.5, 0), 1)
            return f == 0 ? -1000 : Int16(-1000 + 1040 * f)
        }
    }

    /// Axial stack: rows along `columnDirection`, slice k centred on (0, 0, sliceZ[k]).
    static func headVolume(columns: Int = 96, spacing: Double = 2.5, columnDirection: SIMD3<Double> = SIMD3(0, 1, 0),
                           sliceZ: [Double]? = nil, extra: (centre: SIMD3<Double>, radius: Double)? = nil,
                           fast: Bool = false) -> Volume {
        let zs = sliceZ ?? stride(from: -100.0, through: 100, by: 2.5).map { $0 }
        let r = SIMD3<Double>(1, 0, 0), c = columnDirection / (columnDirection * columnDirection).sum().squareRoot()
        let half = Double(columns) / 2 * spacing
        let origins = zs.map { SIMD3(0, 0, $0) - r * half - c * half }
        var hu = [Int16](repeating: -1000, count: columns * columns * zs.count)
        for k in zs.indices {
            for j in 0..<columns {
                for i in 0..<columns {
                    let p = origins[k] + r * (Double(i) * spacing) + c * (Double(j) * spacing)
                    // The benchmark's big volume skips evaluating far-away air.
                    if fast && (abs(p.x) > 75 || abs(p.y) > 100 || abs(p.z) > 95) { continue }
                    hu[(k * columns + j) * columns + i] = Head.hu(p, extra: extra)
                }
            }
        }
        return Volume(columns: columns, rows: columns, slices: zs.count, hu: hu, origins: origins,
                      rowDirection: r, columnDirection: c, columnSpacing: spacing, rowSpacing: spacing)
    }

    /// Coronal stack: columns along +x, rows towards inferior (-z), slices stepping posterior (+y).
    static func coronalHeadVolume() -> Volume {
        let n = 96, spacing = 2.5
        let r = SIMD3<Double>(1, 0, 0), c = SIMD3<Double>(0, 0, -1)
        let ys = stride(from: -110.0, through: 100, by: 2.5).map { $0 }
        let origins = ys.map { SIMD3(-Double(n) / 2 * spacing, $0, 110) }
        var hu = [Int16](repeating: -1000, count: n * n * ys.count)
        for k in ys.indices {
            for j in 0..<n {
                for i in 0..<n { hu[(k * n + j) * n + i] = Head.hu(origins[k] + r * (Double(i) * spacing) + c * (Double(j) * spacing)) }
            }
        }
        return Volume(columns: n, rows: n, slices: ys.count, hu: hu, origins: origins,
                      rowDirection: r, columnDirection: c, columnSpacing: spacing, rowSpacing: spacing)
    }

    // MARK: Helpers

    static func pixel(x: Double, z: Double, frame: FrontalRendering.Frame) -> Int {
        let c = Int(((x - frame.xMin) / frame.mm).rounded()), r = Int(((frame.zMax - z) / frame.mm).rounded())
        return r * frame.width + c
    }

    static func millimetres(of index: Int, frame: FrontalRendering.Frame) -> (x: Double, z: Double) {
        (frame.xMin + Double(index % frame.width) * frame.mm, frame.zMax - Double(index / frame.width) * frame.mm)
    }

    /// x min, x max, z min, z max (mm) of the pixels that see skin.
    static func boundingBox(_ depth: [Float], frame: FrontalRendering.Frame) -> [Double] {
        var box = [Double.infinity, -.infinity, .infinity, -.infinity]
        for p in depth.indices where depth[p].isFinite {
            let m = millimetres(of: p, frame: frame)
            box = [min(box[0], m.x), max(box[1], m.x), min(box[2], m.z), max(box[3], m.z)]
        }
        return box
    }

    static func testPattern(width: Int, height: Int, channels: Int) -> [UInt8] {
        var state: UInt32 = 12345
        return (0..<width * height * channels).map { i in
            state = state &* 1_664_525 &+ 1_013_904_223
            let x = i / channels % width, y = i / channels / width
            // Black runs, smooth ramps and noise, so every filter type gets chosen somewhere.
            switch (y / 4) % 3 {
            case 0: return x < width / 2 ? 0 : UInt8(truncatingIfNeeded: x * 3 + y)
            case 1: return UInt8(truncatingIfNeeded: state >> 24)
            default: return UInt8(truncatingIfNeeded: (x + y) * 5 + i % channels * 60)
            }
        }
    }

    static func slowAdler(_ data: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        return b << 16 | a
    }

    static func bitwiseCRC(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = (c >> 1) ^ (c & 1 == 0 ? 0 : 0xEDB8_8320) }
        }
        return ~c
    }

    static func bigEndian(_ d: [UInt8], _ at: Int) -> Int {
        Int(d[at]) << 24 | Int(d[at + 1]) << 16 | Int(d[at + 2]) << 8 | Int(d[at + 3])
    }

    static func pngSize(_ png: Data) -> (Int, Int) {
        let d = [UInt8](png)
        return (bigEndian(d, 16), bigEndian(d, 20))
    }

    struct DecodeError: Error { let reason: String }

    /// Parses chunks (checking every CRC), inflates stored deflate blocks (checking Adler-32),
    /// and undoes the row filters.
    static func decodeStoredPNG(_ png: Data) throws -> (width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        let d = [UInt8](png)
        guard d.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else { throw DecodeError(reason: "signature") }
        var pos = 8, chunks = [(String, [UInt8])]()
        while pos < d.count {
            let n = bigEndian(d, pos)
            let typeAndBody = Array(d[pos + 4..<pos + 8 + n])
            guard bitwiseCRC(typeAndBody) == UInt32(bigEndian(d, pos + 8 + n)) else { throw DecodeError(reason: "crc") }
            chunks.append((String(decoding: typeAndBody[0..<4], as: UTF8.self), Array(typeAndBody[4...])))
            pos += 12 + n
        }
        guard chunks.map(\.0) == ["IHDR", "IDAT", "IEND"], chunks[2].1.isEmpty else { throw DecodeError(reason: "chunks") }
        let ihdr = chunks[0].1
        let width = bigEndian(ihdr, 0), height = bigEndian(ihdr, 4)
        guard Array(ihdr[8...]) == [8, ihdr[9], 0, 0, 0], ihdr[9] == 0 || ihdr[9] == 2 else { throw DecodeError(reason: "ihdr") }
        let bpp = ihdr[9] == 0 ? 1 : 3

        let z = chunks[1].1
        guard z[0] == 0x78, (Int(z[0]) << 8 | Int(z[1])) % 31 == 0 else { throw DecodeError(reason: "zlib header") }
        var raw = [UInt8](), p = 2, final = false
        while !final {
            final = z[p] & 1 == 1
            guard z[p] >> 1 & 3 == 0 else { throw DecodeError(reason: "not stored") }
            let len = Int(z[p + 1]) | Int(z[p + 2]) << 8, nlen = Int(z[p + 3]) | Int(z[p + 4]) << 8
            guard len ^ nlen == 0xFFFF else { throw DecodeError(reason: "nlen") }
            raw += z[p + 5..<p + 5 + len]
            p += 5 + len
        }
        guard p + 4 == z.count, UInt32(bigEndian(z, p)) == slowAdler(raw) else { throw DecodeError(reason: "adler") }

        let stride = width * bpp
        guard raw.count == height * (stride + 1) else { throw DecodeError(reason: "length") }
        var out = [UInt8](repeating: 0, count: height * stride)
        for y in 0..<height {
            let f = raw[y * (stride + 1)]
            for x in 0..<stride {
                let a = x >= bpp ? Int(out[y * stride + x - bpp]) : 0
                let b = y > 0 ? Int(out[(y - 1) * stride + x]) : 0
                let c = x >= bpp && y > 0 ? Int(out[(y - 1) * stride + x - bpp]) : 0
                let predictor: Int
                switch f {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let q = a + b - c
                    predictor = abs(q - a) <= abs(q - b) && abs(q - a) <= abs(q - c) ? a : (abs(q - b) <= abs(q - c) ? b : c)
                default: throw DecodeError(reason: "filter \(f)")
                }
                out[y * stride + x] = UInt8(truncatingIfNeeded: Int(raw[y * (stride + 1) + 1 + x]) + predictor)
            }
        }
        return (width, height, bpp, out)
    }

    /// Reference decoder: every chunk CRC via zlib.crc32, zlib.decompress, all five filters.
    static let pythonDecoder = """
        import struct, sys, zlib
        png = open(sys.argv[1], 'rb').read(); exp = open(sys.argv[2], 'rb').read()
        assert png[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
        pos, chunks = 8, []
        while pos < len(png):
            n, = struct.unpack('>I', png[pos:pos + 4]); t = png[pos + 4:pos + 8]; body = png[pos + 8:pos + 8 + n]
            assert zlib.crc32(t + body) & 0xffffffff == struct.unpack('>I', png[pos + 8 + n:pos + 12 + n])[0], t
            chunks.append((t, body)); pos += 12 + n
        assert [t for t, _ in chunks] == [b'IHDR', b'IDAT', b'IEND']
        w, h, depth, ctype, comp, filt, inter = struct.unpack('>IIBBBBB', chunks[0][1])
        assert depth == 8 and comp == 0 and filt == 0 and inter == 0
        bpp = {0: 1, 2: 3}[ctype]; stride = w * bpp
        raw = zlib.decompress(chunks[1][1]); assert len(raw) == h * (stride + 1)
        out, prev = bytearray(), bytearray(stride)
        for r in range(h):
            f = raw[r * (stride + 1)]; line = bytearray(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0; b = prev[x]; c = prev[x - bpp] if x >= bpp else 0
                if f == 0: p = 0
                elif f == 1: p = a
                elif f == 2: p = b
                elif f == 3: p = (a + b) // 2
                elif f == 4:
                    q = a + b - c; pa, pb, pc = abs(q - a), abs(q - b), abs(q - c)
                    p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                else: raise ValueError(f)
                line[x] = (line[x] + p) & 255
            out += line; prev = line
        print(w, h, ctype, 'OK' if bytes(out) == exp else 'MISMATCH')
        """

    /// Runs `script png expected` with python3 and returns its trimmed output; skips without python3.
    static func python(_ script: String, png: Data, expected: [UInt8]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("frontal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pngURL = dir.appendingPathComponent("image.png"), rawURL = dir.appendingPathComponent("expected.raw")
        try png.write(to: pngURL)
        try Data(expected).write(to: rawURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, pngURL.path, rawURL.path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out  // a failed assertion's traceback then shows in the test failure
        do { try process.run() } catch { throw XCTSkip("cannot run python3: \(error)") }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus == 127 { throw XCTSkip("python3 not found") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
