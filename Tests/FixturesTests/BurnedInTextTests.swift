import Foundation
import TestSupport
import XCTest
@testable import Fixtures

final class BurnedInTextTests: XCTestCase {
    var folders: [URL] = []

    override func tearDown() {
        for f in folders { try? FileManager.default.removeItem(at: f) }
        folders = []
        super.tearDown()
    }

    func folder(_ name: String) throws -> URL {
        let f = try TestSupport.temporaryFolder(name)
        folders.append(f)
        return f
    }

    static let allText = String(BitmapFont.table.map(\.0))

    // MARK: - font

    func testRenderSizeAndCoverageRange() {
        for h in 7...24 {
            let r = BitmapFont.render("Hg 0/9", height: h)
            XCTAssertEqual(r.height, h)
            XCTAssertEqual(r.width, BitmapFont.width(of: "Hg 0/9", height: h))
            XCTAssertEqual(r.coverage.count, r.width * r.height)
            XCTAssertTrue(r.coverage.allSatisfy { $0 >= 0 && $0 <= 1 })
            // The design grid spans the whole height: "g" reaches the last row, "H" the first.
            XCTAssertTrue((0..<r.width).contains { r.coverage[$0] > 0 }, "top row empty at \(h) px")
            XCTAssertTrue((0..<r.width).contains { r.coverage[(h - 1) * r.width + $0] > 0 }, "bottom row empty at \(h) px")
        }
        // Letter spacing is one grid column: "II" is two 3-column glyphs and a gap, 7 columns.
        XCTAssertEqual(BitmapFont.width(of: "II", height: 9), 7)
        XCTAssertEqual(BitmapFont.width(of: "II", height: 18), 14)
        // Where strokes cover whole pixels, coverage is exactly 1.
        XCTAssertTrue(BitmapFont.render("HELLO", height: 24).coverage.contains(1))
    }

    func testEveryCharacterDrawsAndIsDistinct() {
        var seen: [[UInt16]: Character] = [:]
        for ch in BitmapFont.table.map(\.0) where ch != " " {
            let r = BitmapFont.renderLevels(String(ch), height: 9)
            XCTAssertTrue(r.levels.contains { $0 > 0 }, "\(ch) draws nothing")
            if let other = seen[r.levels] { XCTFail("\(ch) looks like \(other)") }
            seen[r.levels] = ch
        }
        XCTAssertEqual(BitmapFont.characters.count, 26 + 26 + 10 + 8 + 1)
    }

    /// The widest straight stroke of the font at `height`, in pixels, and how many runs were measured.
    /// Measured across strokes that stand alone in the smoothed design grid: in pixel rows where the
    /// grid rows they meet, taken together, hold ink runs of at most one design cell with three empty
    /// cells to the next, the longest run of inked pixels; likewise down pixel columns. Diagonals are left out: their
    /// horizontal runs are longer than the strokes are wide.
    func strokeWidth(height h: Int) -> (width: Int, runs: Int) {
        let g = 2 * BitmapFont.gridRows
        var widest = 0, runs = 0
        func isolated(_ cells: [Bool]) -> Bool {
            var run = 0, gap = 6, sawInk = false
            for ink in cells + [Bool](repeating: false, count: 6) {
                if ink {
                    if sawInk && run == 0 && gap < 6 { return false }
                    run += 1
                    sawInk = true
                    gap = 0
                } else {
                    if run > 2 { return false }
                    run = 0
                    gap += 1
                }
            }
            return true
        }
        /// Grid cells a pixel span [p, p+1) meets when `g` cells are `h` pixels.
        func cells(_ p: Int) -> ClosedRange<Int> { (p * g / h)...(((p + 1) * g + h - 1) / h - 1) }
        func longestRun(_ inked: [Bool]) -> Int {
            var best = 0, n = 0
            for x in inked { n = x ? n + 1 : 0; best = max(best, n) }
            return best
        }
        for ch in BitmapFont.table.map(\.0) where ch != " " {
            let grid = BitmapFont.smoothed(BitmapFont.layout(String(ch)))
            let gw = grid[0].count
            let r = BitmapFont.renderLevels(String(ch), height: h)
            func union(_ lines: [[Bool]]) -> [Bool] { lines.dropFirst().reduce(lines[0]) { zip($0, $1).map { $0 || $1 } } }
            for y in 0..<r.height where isolated(union(cells(y).map { grid[$0] })) {
                let run = longestRun((0..<r.width).map { r.levels[y * r.width + $0] > 0 })
                if run > 0 { widest = max(widest, run); runs += 1 }
            }
            for x in 0..<r.width where isolated(union(cells(x).map { c in grid.map { c < gw && $0[c] } })) {
                let run = longestRun((0..<r.height).map { r.levels[$0 * r.width + x] > 0 })
                if run > 0 { widest = max(widest, run); runs += 1 }
            }
        }
        return (widest, runs)
    }

    func testStrokesStayThin() {
        for h in [7, 8] {
            let s = strokeWidth(height: h)
            XCTAssertLessThanOrEqual(s.width, 2, "\(h) px")
            XCTAssertGreaterThan(s.runs, 100, "\(h) px")
        }
        let s24 = strokeWidth(height: 24)
        XCTAssertGreaterThan(s24.runs, 300)
        XCTAssertLessThanOrEqual(s24.width, 4)
        XCTAssertGreaterThanOrEqual(s24.width, 3)
    }

    func testRenderingIsDeterministic() {
        for h in BurnedInTextStudy.standardHeights {
            let a = BitmapFont.renderLevels(Self.allText, height: h)
            let b = BitmapFont.renderLevels(Self.allText, height: h)
            XCTAssertEqual(a.levels, b.levels)
        }
        let series = BurnedInTextSeries(modality: .mr, slices: 2, rows: 96, columns: 96, accessionNumber: "X1")
        XCTAssertEqual(series.storedValues(slice: 1), series.storedValues(slice: 1))
        XCTAssertNotEqual(series.storedValues(slice: 0), series.storedValues(slice: 1))
    }

    // MARK: - drawing

    func testRotationTurnsTheBlockClockwise() {
        let flat = TextPlacement("AB\nC", x: 10, y: 20, height: 12)
        var turned = flat
        turned.rotated = true
        let f = BurnedInText.block(flat), t = BurnedInText.block(turned)
        XCTAssertEqual(f.width, t.height)
        XCTAssertEqual(f.height, t.width)
        for r in 0..<f.height {
            for c in 0..<f.width {
                XCTAssertEqual(f.levels[r * f.width + c], t.levels[c * t.width + (t.width - 1 - r)])
            }
        }
        // The first line is the rightmost column of the turned block.
        let lines = BurnedInText.boxes(of: turned).lineBoxes
        XCTAssertGreaterThan(lines[0].x0, lines[1].x1)
    }

    func testBlendingAndInk() {
        var v = [UInt16](repeating: UInt16(bitPattern: -1000), count: 40 * 40)
        v[0] = UInt16(bitPattern: 700)
        v[1] = UInt16(bitPattern: -1010)
        let placed = BurnedInText.draw([TextPlacement("I", x: 10, y: 10, height: 9)], into: &v, rows: 40, columns: 40, signed: true)
        XCTAssertEqual(placed[0].ink, 700)
        // At 9 px the grid maps 1:1, so "I" is solid ink on solid paper.
        XCTAssertEqual(placed[0].box, TextBox(x0: 10, y0: 10, x1: 12, y1: 16))
        XCTAssertEqual(Int16(bitPattern: v[10 * 40 + 10]), 700)
        XCTAssertEqual(Int16(bitPattern: v[11 * 40 + 10]), -1000)
        XCTAssertEqual(Int16(bitPattern: v[11 * 40 + 11]), 700)
        // Blends round half away from zero, as `round` does, but in exact integers.
        XCTAssertEqual(BurnedInText.roundedDivision(-81 * 3 - 40, 81), -3)
        XCTAssertEqual(BurnedInText.roundedDivision(-81 * 3 - 41, 81), -4)
        XCTAssertEqual(BurnedInText.roundedDivision(81 * 3 + 41, 81), 4)
        var u = [UInt16](repeating: 600, count: 40 * 40)
        u[5] = 12
        let dark = BurnedInText.draw([TextPlacement("-", x: 3, y: 3, height: 9, polarity: .dark)], into: &u, rows: 40, columns: 40, signed: false)
        XCTAssertEqual(dark[0].ink, 12)
        XCTAssertEqual(u[(3 + 3) * 40 + 3], 12)
        let explicit = BurnedInText.draw([TextPlacement("-", x: 3, y: 20, height: 9, ink: 4095)], into: &u, rows: 40, columns: 40, signed: false)
        XCTAssertEqual(explicit[0].ink, 4095)
        XCTAssertEqual(u[(20 + 3) * 40 + 4], 4095)
    }

    /// Every changed pixel lies in a box, and every box (and line box) has a changed pixel on each edge.
    func testStandardBoxesAreExact() {
        for sc in BurnedInTextStudy.standardCases() {
            let s = sc.series
            for k in 0..<s.slices {
                let plain = s.storedValues(slice: k)
                let (drawn, placed) = s.slice(k, placements: sc.placements(slice: k))
                XCTAssertEqual(placed.map(\.box), sc.texts[k].map(\.box), "\(sc.name) slice \(k)")
                XCTAssertEqual(placed.map(\.lineBoxes), sc.texts[k].map(\.lineBoxes), "\(sc.name) slice \(k)")
                let boxes = placed.map(\.box)
                for i in boxes.indices {
                    for j in boxes.indices where j > i {
                        XCTAssertFalse(boxes[i].intersects(boxes[j]), "\(sc.name) slice \(k): boxes \(i) and \(j) overlap")
                    }
                }
                var changed = 0
                for y in 0..<s.rows {
                    for x in 0..<s.columns where plain[y * s.columns + x] != drawn[y * s.columns + x] {
                        changed += 1
                        XCTAssertTrue(boxes.contains { $0.contains(x: x, y: y) }, "\(sc.name) slice \(k): (\(x),\(y)) changed outside every box")
                    }
                }
                XCTAssertEqual(changed > 0, !placed.isEmpty, "\(sc.name) slice \(k)")
                func changedAt(_ x: Int, _ y: Int) -> Bool { plain[y * s.columns + x] != drawn[y * s.columns + x] }
                for p in placed {
                    for b in [p.box] + p.lineBoxes {
                        let msg = "\(sc.name) slice \(k) \(p.text.debugDescription) \(b)"
                        XCTAssertTrue((b.x0...b.x1).contains { changedAt($0, b.y0) }, "top edge: " + msg)
                        XCTAssertTrue((b.x0...b.x1).contains { changedAt($0, b.y1) }, "bottom edge: " + msg)
                        XCTAssertTrue((b.y0...b.y1).contains { changedAt(b.x0, $0) }, "left edge: " + msg)
                        XCTAssertTrue((b.y0...b.y1).contains { changedAt(b.x1, $0) }, "right edge: " + msg)
                    }
                }
            }
        }
    }

    /// The standard cases are what they claim: the right heights, both polarities, rotation, and text
    /// that lies wholly on air or wholly on tissue (with a margin of 2 px) in the text-free slice.
    func testStandardCasesCoverWhatTheyClaim() {
        let cases = BurnedInTextStudy.standardCases()
        XCTAssertEqual(Set(cases.map(\.series.accessionNumber)).count, cases.count)
        var seen: Set<String> = []
        for sc in cases {
            let s = sc.series
            XCTAssertFalse(sc.textFreeSlices.isEmpty, sc.name)
            for (k, texts) in sc.texts.enumerated() {
                for t in texts {
                    let p = t.placement
                    seen.insert("\(p.height) \(p.polarity) \(t.background)")
                    if p.rotated { seen.insert("rotated \(p.lines.count)") }
                    if p.lines.count > 1 { seen.insert("block") }
                    let b = t.box
                    for y in max(0, b.y0 - 2)...min(s.rows - 1, b.y1 + 2) {
                        for x in max(0, b.x0 - 2)...min(s.columns - 1, b.x1 + 2) {
                            let r = s.region(slice: k, row: y, column: x)
                            XCTAssertEqual(r == .air, t.background == .air, "\(sc.name) slice \(k) \(p.text.debugDescription) at (\(x),\(y)): \(r)")
                            if t.background == .tissue { XCTAssertEqual(r, .tissue) }
                        }
                    }
                }
            }
        }
        for h in BurnedInTextStudy.standardHeights {
            XCTAssertTrue(seen.contains("\(h) bright air"), "\(h) px bright over air")
            XCTAssertTrue(seen.contains("\(h) bright tissue"), "\(h) px bright over tissue")
        }
        for h in [8, 12, 16, 24] { XCTAssertTrue(seen.contains("\(h) dark tissue"), "\(h) px dark over tissue") }
        XCTAssertTrue(seen.contains("rotated 3") || seen.contains("rotated 2"))
        XCTAssertTrue(seen.contains("block"))
    }

    // MARK: - files

    func testTextFreeSlicesAreIdenticalToPlainSeries() throws {
        let root = try folder("bit-plain")
        for sc in BurnedInTextStudy.standardCases() {
            let withText = try sc.write(into: root.appendingPathComponent("text"))
            let plain = try sc.series.write(into: root.appendingPathComponent("plain/" + sc.series.accessionNumber))
            XCTAssertEqual(withText.count, sc.series.slices)
            for k in 0..<sc.series.slices {
                let a = try Data(contentsOf: withText[k].file), b = try Data(contentsOf: plain[k].file)
                XCTAssertEqual(a == b, sc.texts[k].isEmpty, "\(sc.name) slice \(k)")
                XCTAssertEqual(withText[k].boxes, sc.texts[k].map(\.box))
            }
            XCTAssertEqual(withText[0].file.deletingLastPathComponent().lastPathComponent, sc.series.accessionNumber)
        }
    }

    func testWritingIsDeterministic() throws {
        let root = try folder("bit-det")
        let sc = BurnedInTextStudy.standardCases()[1]
        let a = try sc.write(into: root.appendingPathComponent("a"))
        let b = try sc.write(into: root.appendingPathComponent("b"))
        for (x, y) in zip(a, b) { XCTAssertEqual(try Data(contentsOf: x.file), try Data(contentsOf: y.file)) }
        let other = BurnedInTextSeries(modality: .mr, slices: 4, rows: 256, columns: 256, accessionNumber: "BIT0099")
        XCTAssertNotEqual(other.studyInstanceUID, sc.series.studyInstanceUID)
        XCTAssertNotEqual(other.storedValues(slice: 0), sc.series.storedValues(slice: 0))
    }

    func testFilesParseBack() throws {
        let root = try folder("bit-parse")
        for sc in BurnedInTextStudy.standardCases() {
            let s = sc.series
            let written = try sc.write(into: root)
            var uids: Set<String> = []
            for w in written {
                let f = try MiniDicomReader.parseFile(try Data(contentsOf: w.file))
                let ds = f.dataset
                func text(_ g: UInt16, _ e: UInt16) -> String? { ds.first(g, e)?.trimmed }
                func us(_ g: UInt16, _ e: UInt16) -> UInt16? { ds.first(g, e)?.uint16 }
                XCTAssertEqual(f.meta.first { $0.element == 0x0010 }?.trimmed, DicomWriter.explicitVRLittleEndian)
                XCTAssertEqual(f.meta.first { $0.element == 0x0002 }?.trimmed, s.sopClassUID)
                XCTAssertEqual(text(0x0008, 0x0016), s.modality == .ct ? "1.2.840.10008.5.1.4.1.1.2" : "1.2.840.10008.5.1.4.1.1.4")
                XCTAssertEqual(text(0x0008, 0x0018), w.sopInstanceUID)
                XCTAssertEqual(text(0x0008, 0x0060), s.modality.rawValue)
                XCTAssertEqual(text(0x0008, 0x0050), s.accessionNumber)
                XCTAssertEqual(text(0x0010, 0x0010), "DOE^JANE")
                XCTAssertEqual(text(0x0010, 0x0020), "12345678")
                XCTAssertEqual(text(0x0008, 0x0020), "20240117")
                XCTAssertEqual(text(0x0020, 0x000D), s.studyInstanceUID)
                XCTAssertEqual(text(0x0020, 0x000E), s.seriesInstanceUID)
                XCTAssertEqual(text(0x0020, 0x0052), s.frameOfReferenceUID)
                XCTAssertEqual(text(0x0020, 0x0037), "1\\0\\0\\0\\1\\0")
                XCTAssertEqual(text(0x0020, 0x0013), String(w.slice + 1))
                XCTAssertEqual(text(0x0020, 0x0032)?.split(separator: "\\").count, 3)
                XCTAssertNotNil(text(0x0028, 0x0030))
                XCTAssertNotNil(text(0x0018, 0x0050))
                XCTAssertEqual(us(0x0028, 0x0002), 1)
                XCTAssertEqual(text(0x0028, 0x0004), "MONOCHROME2")
                XCTAssertEqual(us(0x0028, 0x0010), UInt16(s.rows))
                XCTAssertEqual(us(0x0028, 0x0011), UInt16(s.columns))
                XCTAssertEqual(us(0x0028, 0x0100), 16)
                XCTAssertEqual(us(0x0028, 0x0101), s.modality == .ct ? 16 : 12)
                XCTAssertEqual(us(0x0028, 0x0102), s.modality == .ct ? 15 : 11)
                XCTAssertEqual(us(0x0028, 0x0103), s.modality == .ct ? 1 : 0)
                XCTAssertNil(ds.first(0x0028, 0x0301), "BurnedInAnnotation must not be set")
                if s.modality == .ct {
                    XCTAssertEqual(text(0x0028, 0x1052), String(s.ctRescaleIntercept))
                    XCTAssertEqual(text(0x0028, 0x1053), "1")
                } else {
                    XCTAssertNil(ds.first(0x0028, 0x1052))
                }
                let pixels = try XCTUnwrap(ds.first(0x7FE0, 0x0010))
                XCTAssertEqual(pixels.vr, "OW")
                let expected = s.slice(w.slice, placements: sc.placements(slice: w.slice)).values
                let bytes = [UInt8](pixels.value)
                XCTAssertEqual(bytes.count, s.rows * s.columns * 2)
                let values = (0..<(bytes.count / 2)).map { UInt16(bytes[2 * $0]) | UInt16(bytes[2 * $0 + 1]) << 8 }
                XCTAssertEqual(values, expected)
                if s.modality == .mr { XCTAssertTrue(values.allSatisfy { $0 < 4096 }) }
                uids.insert(w.sopInstanceUID)
            }
            XCTAssertEqual(uids.count, s.slices)
            if let dcmdump = TestSupport.which("dcmdump") {
                let (status, out) = try TestSupport.run(dcmdump, ["-q", "+E", written[1].file.path])
                XCTAssertEqual(status, 0, out)
            }
        }
    }

    /// Tesseract, where installed, reads the larger standard text after a 2x upscale, as the product does.
    func testTesseractReadsLargeText() throws {
        guard let tesseract = TestSupport.which("tesseract") else { throw XCTSkip("tesseract not installed") }
        let root = try folder("bit-ocr")
        for (text, h) in [("DOE^JANE 1950/01/01", 24), ("ST MARY HOSPITAL", 16), ("NAME: DOE^JANE", 12)] {
            let r = BitmapFont.render(text, height: h)
            let pad = 2 * h, scale = 2
            let w = (r.width + 2 * pad) * scale, hh = (r.height + 2 * pad) * scale
            var pgm = Data("P5\n\(w) \(hh)\n255\n".utf8)
            for y in 0..<hh {
                for x in 0..<w {
                    let sx = x / scale - pad, sy = y / scale - pad
                    let c = sx >= 0 && sy >= 0 && sx < r.width && sy < r.height ? r.coverage[sy * r.width + sx] : 0
                    pgm.append(UInt8(255 - Int((c * 255).rounded())))
                }
            }
            let url = root.appendingPathComponent("t\(h).pgm")
            try pgm.write(to: url)
            let (status, out) = try TestSupport.run(tesseract, [url.path, "stdout", "--psm", "7", "-l", "eng"])
            XCTAssertEqual(status, 0, out)
            let read = out.uppercased().filter { $0.isLetter || $0.isNumber }
            let want = text.uppercased().filter { $0.isLetter || $0.isNumber }
            XCTAssertTrue(read.contains(want), "\(h) px: tesseract read \(out.debugDescription), wanted \(text)")
        }
    }
}
