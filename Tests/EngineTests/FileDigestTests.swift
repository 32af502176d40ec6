@testable import Platform
import Crypto
import XCTest

/// The audit's SHA-256 must be SHA-256: the CPU-extension code (one stream, and two streams fed the
/// same bytes at once) and the swift-crypto fallback are checked against swift-crypto's SHA256 over
/// random messages cut at random places, every length around the 64-byte block and padding edges.
final class FileDigestTests: XCTestCase {
    func reference(_ bytes: [UInt8]) -> String { hexString(SHA256.hash(data: bytes)) }

    func testOneStreamIsSHA256() {
        var generator = SystemRandomNumberGenerator()
        let data = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for extensions in [true, false] {
            for length in Array(0...200) + [447, 448, 511, 512, 513, 4095, 4096] {
                var digest = FileDigest(extensions: extensions)
                var at = 0
                while at < length {  // cut at random places
                    let piece = min(length - at, Int.random(in: 0...130))
                    data.withUnsafeBytes { digest.update(UnsafeRawBufferPointer(rebasing: $0[at..<(at + piece)])) }
                    at += piece
                }
                XCTAssertEqual(digest.finalize(), reference(Array(data[0..<length])), "length \(length), extensions \(extensions)")
            }
        }
    }

    /// An input and its output: different headers, then the same pixel bytes fed to both at once.
    func testTwoStreamsFedTheSameBytesAreEachSHA256() {
        let data = (0..<70_000).map { _ in UInt8.random(in: 0...255) }
        for round in 0..<400 {
            let extensions = round % 4 != 3
            let firstHead = Int.random(in: 0...200), secondHead = Int.random(in: 0...200)
            let shared = round < 100 ? Int.random(in: 0...300) : Int.random(in: 0...60_000)
            var first = FileDigest(extensions: extensions), second = FileDigest(extensions: extensions)
            data.withUnsafeBytes { all in
                first.update(UnsafeRawBufferPointer(rebasing: all[60_000..<(60_000 + firstHead)]))
                second.update(UnsafeRawBufferPointer(rebasing: all[65_000..<(65_000 + secondHead)]))
                var at = 0
                while at < shared {
                    let piece = min(shared - at, Bool.random() ? Int.random(in: 0...70) : Int.random(in: 0...20_000))
                    FileDigest.update(&first, &second, with: UnsafeRawBufferPointer(rebasing: all[at..<(at + piece)]))
                    at += piece
                }
            }
            let firstMessage = Array(data[60_000..<(60_000 + firstHead)]) + data[0..<shared]
            let secondMessage = Array(data[65_000..<(65_000 + secondHead)]) + data[0..<shared]
            XCTAssertEqual(first.finalize(), reference(firstMessage), "round \(round)")
            XCTAssertEqual(second.finalize(), reference(secondMessage), "round \(round)")
        }
    }

    /// An edited input and its output: different headers, then different bytes of the same length
    /// (the pixels as read and as edited) fed to the two at once.
    func testTwoStreamsFedDifferentBytesAreEachSHA256() {
        let data = (0..<70_000).map { _ in UInt8.random(in: 0...255) }
        for round in 0..<400 {
            let extensions = round % 4 != 3
            let firstHead = Int.random(in: 0...200), secondHead = Int.random(in: 0...200)
            let length = round < 100 ? Int.random(in: 0...300) : Int.random(in: 0...30_000)
            var first = FileDigest(extensions: extensions), second = FileDigest(extensions: extensions)
            data.withUnsafeBytes { all in
                first.update(UnsafeRawBufferPointer(rebasing: all[60_000..<(60_000 + firstHead)]))
                second.update(UnsafeRawBufferPointer(rebasing: all[65_000..<(65_000 + secondHead)]))
                var at = 0
                while at < length {
                    let piece = min(length - at, Bool.random() ? Int.random(in: 0...70) : Int.random(in: 0...20_000))
                    FileDigest.update(&first, with: UnsafeRawBufferPointer(rebasing: all[at..<(at + piece)]),
                                      &second, with: UnsafeRawBufferPointer(rebasing: all[(30_000 + at)..<(30_000 + at + piece)]))
                    at += piece
                }
            }
            let firstMessage = Array(data[60_000..<(60_000 + firstHead)]) + data[0..<length]
            let secondMessage = Array(data[65_000..<(65_000 + secondHead)]) + data[30_000..<(30_000 + length)]
            XCTAssertEqual(first.finalize(), reference(firstMessage), "round \(round)")
            XCTAssertEqual(second.finalize(), reference(secondMessage), "round \(round)")
        }
    }

    func testKnownAnswers() {
        let empty = FileDigest()
        XCTAssertEqual(empty.finalize(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        var abc = FileDigest()
        Array("abc".utf8).withUnsafeBytes { abc.update($0) }
        XCTAssertEqual(abc.finalize(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
