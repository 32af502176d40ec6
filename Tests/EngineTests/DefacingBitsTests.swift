@testable import Defacing
import XCTest

/// The bit-plane dilation the defacer's anatomy rests on, against the definition: a pixel is set
/// when a source pixel lies within the ellipse of half-widths rx columns and ry rows around it.
final class DefacingBitsTests: XCTestCase {
    func testDiscDilationIsTheEllipseDefinition() {
        var generator = SystemRandomNumberGenerator()
        for (columns, rows, rx, ry, density) in [(70, 40, 7.29, 7.29, 0.01), (128, 30, 3.5, 1.2, 0.02), (64, 64, 20.4, 9.7, 0.002),
                                                 (130, 20, 0.0, 4.0, 0.05), (90, 25, 11.0, 0.0, 0.03), (200, 10, 65.0, 2.5, 0.005)] {
            let shape = PlaneShape(columns: columns, rows: rows, wordsPerRow: (columns + 63) / 64)
            var source = [UInt64](repeating: 0, count: shape.wordCount)
            var set: [(Int, Int)] = []
            // Sources at both ends of a row and at a word's end, where a row's end cuts a dilation off.
            let edges: Set<[Int]> = [[columns - 2, 0], [1, rows - 1], [min(63, columns - 1), rows / 2]]
            for j in 0..<rows {
                for i in 0..<columns where edges.contains([i, j]) || Double.random(in: 0..<1, using: &generator) < density {
                    source[j * shape.wordsPerRow + i / 64] |= 1 << UInt64(i % 64)
                    set.append((i, j))
                }
            }
            var result = [UInt64](repeating: 0, count: shape.wordCount)
            source.withUnsafeBufferPointer { s in
                result.withUnsafeMutableBufferPointer { shape.dilateDisc(s.baseAddress!, into: $0.baseAddress!, rx: rx, ry: ry) }
            }
            // The half-width of each row offset, as the dilation defines the ellipse on the grid.
            let iry = Int(ry.rounded(.down))
            func width(_ d: Int) -> Int {
                let f = ry > 0 ? Double(d) / ry : 0
                return Int((rx * max(0, 1 - f * f).squareRoot()).rounded(.down))
            }
            var wrong = 0
            for j in 0..<rows {
                for i in 0..<columns {
                    let expected = set.contains { abs($0.1 - j) <= iry && abs($0.0 - i) <= width($0.1 - j) }
                    let got = result[j * shape.wordsPerRow + i / 64] & (1 << UInt64(i % 64)) != 0
                    if expected != got { wrong += 1 }
                }
                // Nothing beyond the last column.
                XCTAssertEqual(result[j * shape.wordsPerRow + shape.wordsPerRow - 1] & ~shape.tailMask, 0)
            }
            XCTAssertEqual(wrong, 0, "\(columns)x\(rows), rx \(rx), ry \(ry)")
        }
    }
}
