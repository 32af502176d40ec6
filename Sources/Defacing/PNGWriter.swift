import Foundation

/// Minimal PNG encoder (8-bit grayscale or RGB), pure Swift, so QA images need no image library.
/// Each row gets the PNG filter (None, Sub, Up, Paeth) with the smallest absolute sum; the zlib
/// stream uses one fixed-Huffman deflate block whose only matches are at distance 1 (run-length),
/// which shrinks the mostly-black renderings several times at almost no cost.
public enum PNGWriter {
    public static func grayscale(width: Int, height: Int, pixels: [UInt8]) -> Data {
        encode(width: width, height: height, channels: 1, pixels: pixels, compression: .runLength)
    }

    /// `pixels` holds R, G, B per pixel, row by row.
    public static func rgb(width: Int, height: Int, pixels: [UInt8]) -> Data {
        encode(width: width, height: height, channels: 3, pixels: pixels, compression: .runLength)
    }

    package enum Compression { case stored, runLength }

    package static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8], compression: Compression) -> Data {
        precondition(width > 0 && height > 0 && (channels == 1 || channels == 3))
        precondition(width <= Int(Int32.max) && height <= Int(Int32.max), "PNG dimensions are 31-bit")
        precondition(pixels.count == width * height * channels)
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var ihdr = [UInt8]()
        appendBigEndian(UInt32(width), to: &ihdr)
        appendBigEndian(UInt32(height), to: &ihdr)
        // Bit depth 8; colour type 0 (gray) or 2 (RGB); deflate; adaptive filtering; no interlace.
        ihdr += [8, channels == 1 ? 0 : 2, 0, 0, 0]
        appendChunk("IHDR", ihdr, to: &png)
        let raw = filtered(width: width, height: height, bytesPerPixel: channels, pixels: pixels)
        appendChunk("IDAT", zlib(raw, compression: compression), to: &png)
        appendChunk("IEND", [], to: &png)
        return png
    }

    // MARK: Filtering

    /// Rows prefixed by their filter type byte, as the zlib stream expects them.
    package static func filtered(width: Int, height: Int, bytesPerPixel bpp: Int, pixels: [UInt8]) -> [UInt8] {
        let stride = width * bpp
        var out = [UInt8](repeating: 0, count: height * (stride + 1))
        var candidate = [[UInt8]](repeating: [UInt8](repeating: 0, count: stride), count: 4)
        pixels.withUnsafeBufferPointer { px in
            for row in 0..<height {
                let cur = row * stride, prev = cur - stride
                for f in 0..<4 {
                    candidate[f].withUnsafeMutableBufferPointer { c in
                        for x in 0..<stride {
                            let a = x >= bpp ? Int(px[cur + x - bpp]) : 0
                            let b = row > 0 ? Int(px[prev + x]) : 0
                            let predictor: Int
                            switch f {
                            case 0: predictor = 0
                            case 1: predictor = a
                            case 2: predictor = b
                            default:
                                let cc = row > 0 && x >= bpp ? Int(px[prev + x - bpp]) : 0
                                let p = a + b - cc
                                let pa = abs(p - a), pb = abs(p - b), pc = abs(p - cc)
                                predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : cc)
                            }
                            c[x] = UInt8(truncatingIfNeeded: Int(px[cur + x]) - predictor)
                        }
                    }
                }
                // Usual heuristic: residuals read as signed bytes, smallest absolute sum wins.
                var best = 0, bestCost = Int.max
                for f in 0..<4 {
                    let cost = candidate[f].reduce(0) { $0 + abs(Int(Int8(bitPattern: $1))) }
                    if cost < bestCost { best = f; bestCost = cost }
                }
                let base = row * (stride + 1)
                out[base] = best == 3 ? 4 : UInt8(best)  // Paeth is filter type 4
                out.replaceSubrange(base + 1..<base + 1 + stride, with: candidate[best])
            }
        }
        return out
    }

    // MARK: zlib / deflate

    package static func zlib(_ data: [UInt8], compression: Compression) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]  // deflate, 32 KiB window, check bits valid (0x7801 % 31 == 0)
        switch compression {
        case .stored: appendStored(data, to: &out)
        case .runLength: appendRunLength(data, to: &out)
        }
        appendBigEndian(adler32(data), to: &out)
        return out
    }

    private static func appendStored(_ data: [UInt8], to out: inout [UInt8]) {
        var start = 0
        repeat {
            let n = min(65535, data.count - start)
            let final = start + n == data.count
            out.append(final ? 1 : 0)  // BFINAL, BTYPE 00, padded to the byte
            out += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[start..<start + n]
            start += n
        } while start < data.count
    }

    /// Length codes 257...285: (base length, extra bits), RFC 1951 section 3.2.5.
    private static let lengthBase: [(base: Int, extra: Int)] = [
        (3, 0), (4, 0), (5, 0), (6, 0), (7, 0), (8, 0), (9, 0), (10, 0),
        (11, 1), (13, 1), (15, 1), (17, 1), (19, 2), (23, 2), (27, 2), (31, 2),
        (35, 3), (43, 3), (51, 3), (59, 3), (67, 4), (83, 4), (99, 4), (115, 4),
        (131, 5), (163, 5), (195, 5), (227, 5), (258, 0),
    ]

    private struct BitWriter {
        package var bytes: [UInt8]
        package var buffer: UInt64 = 0
        package var count = 0

        /// Appends `n` bits of `value`, least significant first (deflate's bit order).
        package mutating func write(_ value: UInt32, _ n: Int) {
            buffer |= UInt64(value) << UInt64(count)
            count += n
            while count >= 8 {
                bytes.append(UInt8(truncatingIfNeeded: buffer))
                buffer >>= 8
                count -= 8
            }
        }

        /// Huffman codes are defined most significant bit first, so they go in reversed.
        package mutating func writeCode(_ code: UInt32, _ n: Int) {
            var reversed: UInt32 = 0
            for b in 0..<n where code & (1 << UInt32(b)) != 0 { reversed |= 1 << UInt32(n - 1 - b) }
            write(reversed, n)
        }

        package mutating func flush() {
            if count > 0 { bytes.append(UInt8(truncatingIfNeeded: buffer)) }
            buffer = 0
            count = 0
        }
    }

    /// Fixed-Huffman literal/length code (RFC 1951 section 3.2.6).
    @inline(__always) private static func writeSymbol(_ s: Int, _ w: inout BitWriter) {
        switch s {
        case 0...143: w.writeCode(UInt32(0x30 + s), 8)
        case 144...255: w.writeCode(UInt32(0x190 + s - 144), 9)
        case 256...279: w.writeCode(UInt32(s - 256), 7)
        default: w.writeCode(UInt32(0xC0 + s - 280), 8)
        }
    }

    /// One fixed-Huffman block: literals, and runs of a repeated byte as matches at distance 1.
    private static func appendRunLength(_ data: [UInt8], to out: inout [UInt8]) {
        var w = BitWriter(bytes: out)
        w.write(1, 1)  // BFINAL
        w.write(1, 2)  // BTYPE 01: fixed Huffman
        var p = 0
        let n = data.count
        while p < n {
            let b = data[p]
            writeSymbol(Int(b), &w)
            p += 1
            var run = 0
            while p + run < n && data[p + run] == b { run += 1 }
            while run >= 3 {
                let length = min(run, 258)
                // Largest base not above the length; the table is short, a scan is fine.
                var code = lengthBase.count - 1
                while lengthBase[code].base > length { code -= 1 }
                writeSymbol(257 + code, &w)
                if lengthBase[code].extra > 0 { w.write(UInt32(length - lengthBase[code].base), lengthBase[code].extra) }
                w.writeCode(0, 5)  // distance code 0 = distance 1, no extra bits
                run -= length
                p += length
            }
            for _ in 0..<run { writeSymbol(Int(b), &w) }
            p += run
        }
        writeSymbol(256, &w)  // end of block
        w.flush()
        out = w.bytes
    }

    package static func adler32(_ data: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        var i = 0
        while i < data.count {
            // 5552 bytes is the most that cannot overflow 32 bits before the modulo.
            let end = min(i + 5552, data.count)
            while i < end {
                a &+= UInt32(data[i])
                b &+= a
                i += 1
            }
            a %= 65521
            b %= 65521
        }
        return b << 16 | a
    }

    // MARK: Chunks

    private static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    package static func crc32<S: Sequence>(_ bytes: S, initial: UInt32 = 0) -> UInt32 where S.Element == UInt8 {
        var c = ~initial
        for byte in bytes { c = crcTable[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        return ~c
    }

    private static func appendChunk(_ type: String, _ body: [UInt8], to png: inout Data) {
        let typeBytes = Array(type.utf8)
        var header = [UInt8]()
        appendBigEndian(UInt32(body.count), to: &header)
        png.append(contentsOf: header)
        png.append(contentsOf: typeBytes)
        png.append(contentsOf: body)
        var crc = [UInt8]()
        appendBigEndian(crc32(body, initial: crc32(typeBytes)), to: &crc)
        png.append(contentsOf: crc)
    }

    private static func appendBigEndian(_ v: UInt32, to out: inout [UInt8]) {
        out += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }
}
