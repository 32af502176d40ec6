@testable import Defacing
@testable import Pixels
import Foundation
import XCTest

/// Frontal QA rendering and the PNG encoder. Synthetic heads are analytic shapes in patient
/// coordinates sampled at each voxel's position, so any geometry (tilt, uneven slices, flipped or
/// coronal axes) images the same object and the renderings can be compared with each other.
final class FrontalRenderingTests: XCTestCase {

    // MARK: PNG

    func testChecksumsMatchKnownValues() {
        XCTAssertEqual(PNGWriter.crc32(Array("IEND".utf8)), 0xAE42_6082)
        XCTAssertEqual(PNGWriter.crc32(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(PNGWriter.adler32(Array("Wikipedia".utf8)), 0x11E6_0398)
        XCTAssertEqual(PNGWriter.adler32([UInt8](repeating: 255, count: 100_000)), Self.slowAdler([UInt8](repeating: 255, count: 100_000)))
    }

    /// Stored blocks are decoded here in Swift, with an independent bitwise CRC: no tools needed.
    func testStoredPNGDecodesInSwift() throws {
        for (w, h, channels) in [(1, 1, 1), (37, 23, 1), (300, 250, 1), (17, 9, 3)] {
            let pixels = Self.testPattern(width: w, height: h, channels: channels)
            let png = PNGWriter.encode(width: w, height: h, channels: channels, pixels: pixels, compression: .stored)
            let decoded = try Self.decodeStoredPNG(png)
            XCTAssertEqual(decoded.width, w)
            XCTAssertEqual(decoded.height, h)
            XCTAssertEqual(decoded.channels, channels)
            XCTAssertEqual(decoded.pixels, pixels, "\(w)x\(h)x\(channels)")
        }
    }

    /// The run-length (fixed Huffman) stream is checked by Python's zlib and a reference unfilter.
    func testCompressedPNGDecodesWithPython() throws {
        let render = FrontalRendering.render(Self.headVolume())
        let cases: [(Int, Int, Int, [UInt8])] = [
            (render.width, render.height, 1, render.pixels),
            (1, 1, 1, [7]),
            (600, 3, 1, [UInt8](repeating: 0, count: 1800)),  // runs longer than 258
            (64, 48, 1, Self.testPattern(width: 64, height: 48, channels: 1)),
            (31, 17, 3, Self.testPattern(width: 31, height: 17, channels: 3)),
        ]
        for (w, h, channels, pixels) in cases {
            let png = channels == 1 ? PNGWriter.grayscale(width: w, height: h, pixels: pixels)
                : PNGWriter.rgb(width: w, height: h, pixels: pixels)
            let result = try Self.python(Self.pythonDecoder, png: png, expected: pixels)
            XCTAssertEqual(result, "\(w) \(h) \(channels == 1 ? 0 : 2) OK", "\(w)x\(h)x\(channels)")
        }
        // Mostly black renderings should shrink well below the raw size.
        let png = PNGWriter.grayscale(width: render.width, height: render.height, pixels: render.pixels)
        XCTAssertLessThan(png.count, render.pixels.count / 2)
    }

    /// A second, independent decoder (libpng through OpenCV) when it is installed.
    func testRenderingDecodesWithOpenCV() throws {
        let render = FrontalRendering.render(Self.headVolume())
        let png = PNGWriter.grayscale(width: render.width, height: render.height, pixels: render.pixels)
        let script = """
            import sys
            try:
                import cv2
            except ImportError:
                print('SKIP'); sys.exit(0)
            img = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED)
            exp = open(sys.argv[2], 'rb').read()
            print(img.shape[1], img.shape[0], 'OK' if img.tobytes() == exp else 'MISMATCH')
            """
        let result = try Self.python(script, png: png, expected: render.pixels)
        if result == "SKIP" { throw XCTSkip("opencv not importable in python3") }
        XCTAssertEqual(result, "\(render.width) \(render.height) OK")
    }

    // MARK: Rendering

    /// The profile is seen from the patient's right with the face to the right: the skin that
    /// reaches furthest right is the nose's tip (z -28...16 mm in the phantom), and the back of the
    /// head is on the left.
    func testTheProfileShowsTheNoseFurthestToTheRight() throws {
        let v = PhantomSeries.axial().volume
        let r = ProfileRendering.render(v)
        var tip = (x: -1, row: -1)
        for row in 0..<r.height {
            guard let x = (0..<r.width).last(where: { r.pixels[row * r.width + $0] > 0 }) else { continue }
            if x > tip.x { tip = (x, row) }
        }
        let zTop = try XCTUnwrap(v.origins.map(\.z).max())
        let z = zTop - Double(tip.row)
        XCTAssertTrue((-30.0...18.0).contains(z), "the furthest-right skin is at z = \(z) mm, not the nose")
        XCTAssertGreaterThan(tip.x, r.width / 2, "the face is not on the right")
    }

    func testNoseIsTheBrightestAndClosestRegionNearTheCentre() throws {
        let volume = Self.headVolume()
        let frame = FrontalRendering.Frame(volume, millimetresPerPixel: 1)
        let image = FrontalRendering.render(volume)
        XCTAssertEqual(image.width, frame.width)
        XCTAssertEqual(image.height, frame.height)

        let brightest = image.pixels.indices.max { image.pixels[$0] < image.pixels[$1] }!
        let b = Self.millimetres(of: brightest, frame: frame)
        XCTAssertEqual(b.x, Head.noseTip.x, accuracy: 5, "brightest pixel at \(b)")
        XCTAssertEqual(b.z, Head.noseTip.z, accuracy: 5, "brightest pixel at \(b)")

        let depth = FrontalRendering.depthMap(volume, frame: frame, skinThreshold: -300)
        let closest = depth.indices.min { depth[$0] < depth[$1] }!
        let c = Self.millimetres(of: closest, frame: frame)
        XCTAssertEqual(c.x, Head.noseTip.x, accuracy: 3)
        XCTAssertEqual(c.z, Head.noseTip.z, accuracy: 3)
        XCTAssertEqual(Double(depth[closest]), Head.noseTip.y, accuracy: 1.5, "sub-voxel surface depth")

        // Background black, the head silhouette where the ellipsoid is.
        XCTAssertEqual(image.pixels[0], 0)
        let centre = Self.pixel(x: 0, z: 40, frame: frame)
        XCTAssertGreaterThan(image.pixels[centre], 100, "forehead")
        XCTAssertEqual(image.pixels[Self.pixel(x: Head.axes.x + 8, z: 0, frame: frame)], 0, "beside the head")
    }

    func testRemovingTheNoseChangesTheRenderingOnlyThere() {
        let before = Self.headVolume()
        var after = before
        // The nose's own voxels (where the head alone would be air) become air.
        for k in 0..<after.slices {
            for j in 0..<after.rows {
                for i in 0..<after.columns where Head.hu(after.position(i, j, k), nose: false) == -1000 {
                    after.hu[after.index(i, j, k)] = -1000
                }
            }
        }
        let frame = FrontalRendering.Frame(before, millimetresPerPixel: 1)
        let a = FrontalRendering.render(before), b = FrontalRendering.render(after)
        let da = FrontalRendering.depthMap(before, frame: frame, skinThreshold: -300)
        let db = FrontalRendering.depthMap(after, frame: frame, skinThreshold: -300)

        var noseDiff = 0.0, noseCount = 0
        for dz in -8...8 {
            for dx in -4...4 {
                let p = Self.pixel(x: Head.noseTip.x + Double(dx), z: Head.noseTip.z + Double(dz), frame: frame)
                noseDiff += abs(Double(a.pixels[p]) - Double(b.pixels[p]))
                noseCount += 1
                XCTAssertGreaterThan(db[p] - da[p], 5, "surface moved back where the nose was")
            }
        }
        XCTAssertGreaterThan(noseDiff / Double(noseCount), 15, "nose region changed")
        // Forehead and skull top untouched, pixel for pixel.
        for z in stride(from: 30.0, through: 75, by: 5) {
            for x in stride(from: -40.0, through: 40, by: 5) {
                let p = Self.pixel(x: x, z: z, frame: frame)
                XCTAssertEqual(a.pixels[p], b.pixels[p], "at x \(x) z \(z)")
            }
        }

        // Side by side: twice as wide plus the gap, same height, halves equal to the renderings.
        let png = FrontalRendering.beforeAfterPNG(before: before, after: after)
        let (w, h) = Self.pngSize(png)
        XCTAssertEqual(w, 2 * a.width + FrontalRendering.gapWidth)
        XCTAssertEqual(h, a.height)
        var expected = [UInt8]()
        for y in 0..<h {
            expected += a.pixels[y * a.width..<(y + 1) * a.width]
            expected += [UInt8](repeating: FrontalRendering.gapLevel, count: FrontalRendering.gapWidth)
            expected += b.pixels[y * b.width..<(y + 1) * b.width]
        }
        if let result = try? Self.python(Self.pythonDecoder, png: png, expected: expected) {
            XCTAssertEqual(result, "\(w) \(h) 0 OK")
        }
    }

    /// Patient's right (-x) on the image's left, superior up, as in a photograph of the patient.
    func testOrientationMatchesAPhotograph() {
        let plain = Self.headVolume()
        let marked = Self.headVolume(extra: (centre: SIMD3(-30, -62, 45), radius: 8))  // right forehead
        let frame = FrontalRendering.Frame(plain, millimetresPerPixel: 1)
        let a = FrontalRendering.render(plain).pixels, b = FrontalRendering.render(marked).pixels
        var sx = 0.0, sz = 0.0, n = 0.0
        for p in a.indices where a[p] != b[p] {
            let m = Self.millimetres(of: p, frame: frame)
            sx += m.x; sz += m.z; n += 1
        }
        XCTAssertGreaterThan(n, 50)
        XCTAssertEqual(sx / n, -30, accuracy: 4)
        XCTAssertEqual(sz / n, 45, accuracy: 4)
        XCTAssertLessThan(Self.pixel(x: -30, z: 45, frame: frame) % frame.width, frame.width / 2, "left half")
        XCTAssertLessThan(Self.pixel(x: -30, z: 45, frame: frame) / frame.width, frame.height / 2, "upper half")
    }

    /// Gantry tilt with uneven slices, rows running posterior-to-anterior, and a coronal stack
    /// (march along the slices) all image the same head at the same place.
    func testTiltedFlippedAndCoronalGeometriesRenderTheSameHead() {
        let reference = Self.headVolume()
        let refFrame = FrontalRendering.Frame(reference, millimetresPerPixel: 1)
        let refDepth = FrontalRendering.depthMap(reference, frame: refFrame, skinThreshold: -300)
        let refBox = Self.boundingBox(refDepth, frame: refFrame)

        // Gantry tilt: column direction (0, 0.948, -0.317); slice gaps alternate 2 and 3 mm.
        var zs = [Double](), z = -125.0
        while z <= 125 { zs.append(z); z += zs.count % 2 == 0 ? 2 : 3 }
        let tilted = Self.headVolume(columnDirection: SIMD3(0, 0.948, -0.317), sliceZ: zs)
        let flipped = Self.headVolume(columnDirection: SIMD3(0, -1, 0))
        let coronal = Self.coronalHeadVolume()

        for (name, volume) in [("tilted", tilted), ("flipped", flipped), ("coronal", coronal)] {
            let frame = FrontalRendering.Frame(volume, millimetresPerPixel: 1)
            let image = FrontalRendering.render(volume)
            // The image covers exactly the volume's x and z extent.
            XCTAssertEqual(image.width, Int(((frame.xMax - frame.xMin)).rounded(.down)) + 1, name)
            XCTAssertEqual(image.height, Int(((frame.zMax - frame.zMin)).rounded(.down)) + 1, name)
            XCTAssertEqual(image.pixels.count, image.width * image.height, name)

            let depth = FrontalRendering.depthMap(volume, frame: frame, skinThreshold: -300)
            let box = Self.boundingBox(depth, frame: frame)
            // Within the sampling (2.5 mm) plus a pixel, except below: rows marching posterior-inferior
            // (tilt) meet no surface turned more than 71.5 degrees from the viewer towards the feet,
            // so the underside of the ellipsoid, seen at grazing incidence from the front, is lost.
            let tolerance = name == "tilted" ? [3.0, 3, 6, 3] : [3.0, 3, 3, 3]
            for e in 0..<4 { XCTAssertEqual(box[e], refBox[e], accuracy: tolerance[e], "\(name) head extent \(box) vs \(refBox)") }

            // Same surface depth wherever both see the head, away from its silhouette (see above).
            var diffs = [Double]()
            for z in stride(from: -60.0, through: 60, by: 4) {
                for x in stride(from: -40.0, through: 40, by: 4) where (x / 60) * (x / 60) + (z / 80) * (z / 80) < 0.75 {
                    let d0 = refDepth[Self.pixel(x: x, z: z, frame: refFrame)], d1 = depth[Self.pixel(x: x, z: z, frame: frame)]
                    XCTAssert(d0.isFinite && d1.isFinite, "\(name) sees the head at x \(x) z \(z)")
                    diffs.append(abs(Double(d0 - d1)))
                }
            }
            diffs.sort()
            XCTAssertLessThan(diffs[diffs.count / 2], 0.75, "\(name) median depth difference")
            XCTAssertLessThan(diffs[diffs.count * 95 / 100], 2.5, "\(name) 95th percentile depth difference")

            let brightest = image.pixels.indices.max { image.pixels[$0] < image.pixels[$1] }!
            let b = Self.millimetres(of: brightest, frame: frame)
            XCTAssertEqual(b.x, Head.noseTip.x, accuracy: 6, name)
            XCTAssertEqual(b.z, Head.noseTip.z, accuracy: 6, name)
        }
    }

    func testScaleAndDegenerateVolumes() {
        let volume = Self.headVolume()
        let full = FrontalRendering.render(volume, millimetresPerPixel: 1)
        let half = FrontalRendering.render(volume, millimetresPerPixel: 2)
        XCTAssertEqual(half.width, (full.width - 1) / 2 + 1)
        XCTAssertEqual(half.height, (full.height - 1) / 2 + 1)

        // A single slice, all air: one black line.
        let air = Volume(columns: 4, rows: 4, slices: 1, hu: [Int16](repeating: -1000, count: 16), origins: [.zero],
                         rowDirection: SIMD3(1, 0, 0), columnDirection: SIMD3(0, 1, 0), columnSpacing: 1, rowSpacing: 1)
        let image = FrontalRendering.render(air)
        XCTAssertEqual(image.width, 4)
        XCTAssertEqual(image.height, 1)
        XCTAssertEqual(image.pixels, [0, 0, 0, 0])
        XCTAssertFalse(FrontalRendering.beforeAfterPNG(before: air, after: air).isEmpty)
    }

    /// Release timing for a 512 x 512 x 300 head CT. Opt-in, since it needs an optimised build:
    /// CTDEID_RENDER_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter FrontalRenderingTests/testTiming
    func testTimingOf512x512x300() throws {
        guard ProcessInfo.processInfo.environment["CTDEID_RENDER_BENCH"] == "1" else {
            throw XCTSkip("set CTDEID_RENDER_BENCH=1 and build with -c release")
        }
        // 0.5 mm pixels, 0.625 mm slices, 15 degree gantry tilt.
        let zs = (0..<300).map { -95 + Double($0) * 0.625 }
        let before = Self.headVolume(columns: 512, spacing: 0.5, columnDirection: SIMD3(0, 0.966, -0.259), sliceZ: zs, fast: true)
        var after = before
        for index in after.hu.indices where index % (512 * 512) / 512 < 90 { after.hu[index] = -1000 }  // crude "deface"
        var times = [Double]()
        var size = 0
        for _ in 0..<5 {
            let start = DispatchTime.now().uptimeNanoseconds
            size = FrontalRendering.beforeAfterPNG(before: before, after: after).count
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let one = DispatchTime.now().uptimeNanoseconds
        _ = FrontalRendering.render(before)
        let single = Double(DispatchTime.now().uptimeNanoseconds - one) / 1e9
        print(String(format: "render 512x512x300: %.1f ms; beforeAfterPNG (two renders + PNG, %d bytes): best %.1f ms, worst %.1f ms",
                     single * 1000, size, times.min()! * 1000, times.max()! * 1000))
    }

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
