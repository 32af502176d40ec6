@testable import Pixels
import XCTest

/// A frame keeps its pixels as 16-bit keys; these check that every stored value survives the trip
/// (read from the file's bytes, masked, written back) and that the keys sort like the values.
final class FrameTests: XCTestCase {
    private func bytes(_ words: [UInt16]) -> [UInt8] { words.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } }

    func testSignedUnsignedAndEightBitValuesComeBackAsStored() {
        let cases: [(words: [UInt16], bits: Int, signed: Bool, values: [Int32])] = [
            ([0xFC18, 0x0000, 0x04B0, 0x8000, 0x7FFF, 0xFFFF], 16, true, [-1000, 0, 1200, -32768, 32767, -1]),
            ([0x0000, 0x7FFF, 0x8000, 0xFFFF, 0x0400, 0x1234], 16, false, [0, 32767, 32768, 65535, 1024, 0x1234]),
        ]
        for c in cases {
            let stored = bytes(c.words)
            let frame = stored.withUnsafeBytes { Frame(width: 3, height: 2, bytes: $0, bits: c.bits, signed: c.signed, padding: nil) }
            XCTAssertEqual((0..<6).map { frame[$0] }, c.values, "signed \(c.signed)")
            XCTAssertEqual(frame.range?.lo, c.values.min())
            XCTAssertEqual(frame.range?.hi, c.values.max())
            var written = [UInt8](repeating: 0, count: stored.count)
            written.withUnsafeMutableBytes { frame.store(into: $0, bits: c.bits) }
            XCTAssertEqual(written, stored, "signed \(c.signed)")
            let fromWords = c.words.withUnsafeBufferPointer { Frame(width: 3, height: 2, stored: $0, signed: c.signed, padding: nil) }
            XCTAssertEqual((0..<6).map { fromWords[$0] }, c.values)
        }
        let eight: [UInt8] = [0, 17, 128, 255, 3, 200]
        let frame = eight.withUnsafeBytes { Frame(width: 3, height: 2, bytes: $0, bits: 8, signed: false, padding: nil) }
        XCTAssertEqual((0..<6).map { frame[$0] }, [0, 17, 128, 255, 3, 200])
        var written = [UInt8](repeating: 9, count: 6)
        written.withUnsafeMutableBytes { frame.store(into: $0, bits: 8) }
        XCTAssertEqual(written, eight)
    }

    func testTheRangeLeavesOutThePaddingAndAMaskWritesTheValueAsked() {
        var frame = Frame(width: 4, height: 1, values: [60000, 100, 40000, 60000], padding: 60000)
        XCTAssertEqual(frame.range?.lo, 100)
        XCTAssertEqual(frame.range?.hi, 40000)
        let mask = TextMask(regions: [], rectangles: [PixelBox(x0: 1, y0: 0, x1: 3, y1: 1)], rows: [])
        XCTAssertEqual(mask.apply(to: &frame, value: 60000), 2)
        XCTAssertNil(frame.range, "nothing but padding is left")
        XCTAssertEqual(frame[2], 60000)
    }
}
