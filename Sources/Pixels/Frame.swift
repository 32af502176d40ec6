/// One frame's stored values, row-major, kept as 16-bit keys that sort like the values: signed
/// data as stored, unsigned data with its top bit flipped (value = key + bias). Every value a
/// 16-bit or 8-bit image can hold has a key, and the screen, which runs on every frame, compares
/// eight keys per SSE2 instruction where Int32 needs several instructions for four.
public struct Frame: Sendable {
    public let width: Int
    public let height: Int
    /// The keys; `self[p]` is the value of pixel p.
    package var keys: [Int16]
    /// 0 for signed data, 32768 for unsigned.
    package let bias: Int32
    /// PixelPaddingValue: pixels outside the scanned field, neither anatomy nor text.
    public let padding: Int32?

    /// From values (a test's, or anything already widened); they must fit in 16 bits, signed or not.
    public init(width: Int, height: Int, values: [Int32], padding: Int32? = nil) {
        let bias: Int32 = values.contains { $0 > Int32(Int16.max) } ? 32768 : 0
        precondition(values.allSatisfy { $0 &- bias >= Int32(Int16.min) && $0 &- bias <= Int32(Int16.max) },
                     "a frame holds 16-bit values")
        self.init(width: width, height: height, keys: values.map { Int16(truncatingIfNeeded: $0 &- bias) }, bias: bias, padding: padding)
    }

    /// From one frame of stored values as decoded (16-bit words; 8-bit data widened, unsigned).
    package init(width: Int, height: Int, stored: UnsafeBufferPointer<UInt16>, signed: Bool, padding: Int32?) {
        let flip: UInt16 = signed ? 0 : 0x8000
        let keys = [Int16](unsafeUninitializedCapacity: stored.count) { out, initialized in
            for p in 0..<stored.count { out[p] = Int16(bitPattern: stored[p] ^ flip) }
            initialized = stored.count
        }
        self.init(width: width, height: height, keys: keys, bias: signed ? 0 : 32768, padding: padding)
    }

    /// From one frame of native pixel data as it lies in the file (little endian; 8 or 16 bits).
    package init(width: Int, height: Int, bytes: UnsafeRawBufferPointer, bits: Int, signed: Bool, padding: Int32?) {
        let count = width * height
        let flip: UInt16 = signed && bits == 16 ? 0 : 0x8000
        let keys = [Int16](unsafeUninitializedCapacity: count) { out, initialized in
            if bits == 16 {
                // One copy, then the top bit flipped (unsigned) or the bytes swapped (a big-endian host) in place.
                UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<(2 * count)]))
                if flip != 0 || UInt16(littleEndian: 1) != 1 {
                    for p in 0..<count { out[p] = Int16(bitPattern: UInt16(littleEndian: UInt16(bitPattern: out[p])) ^ flip) }
                }
            } else {
                for p in 0..<count { out[p] = Int16(bitPattern: UInt16(bytes[p]) ^ flip) }
            }
            initialized = count
        }
        self.init(width: width, height: height, keys: keys, bias: flip == 0 ? 0 : 32768, padding: padding)
    }

    /// Writes the frame back as native pixel data (little endian; 8 or 16 bits).
    package func store(into bytes: UnsafeMutableRawBufferPointer, bits: Int) {
        let flip: UInt16 = bias == 0 ? 0 : 0x8000
        for p in 0..<keys.count {
            let word = UInt16(bitPattern: keys[p]) ^ flip
            if bits == 16 {
                bytes.storeBytes(of: word.littleEndian, toByteOffset: 2 * p, as: UInt16.self)
            } else {
                bytes[p] = UInt8(truncatingIfNeeded: word)
            }
        }
    }

    private init(width: Int, height: Int, keys: [Int16], bias: Int32, padding: Int32?) {
        self.width = width
        self.height = height
        self.keys = keys
        self.bias = bias
        self.padding = padding
    }

    /// The value of pixel `index` (raster order).
    public subscript(_ index: Int) -> Int32 {
        get { Int32(keys[index]) &+ bias }
        set { keys[index] = key(newValue) }
    }

    package func key(_ value: Int32) -> Int16 { Int16(truncatingIfNeeded: value &- bias) }

    /// The frame's values as stored (16-bit words), for writing back.
    package func store(into words: UnsafeMutableBufferPointer<UInt16>) {
        let flip: UInt16 = bias == 0 ? 0 : 0x8000
        for p in 0..<min(words.count, keys.count) { words[p] = UInt16(bitPattern: keys[p]) ^ flip }
    }

    /// Lowest and highest value of the pixels that are not padding (nil: nothing but padding).
    /// Branch-free loops over locals, which the compiler vectorises: this runs on every frame.
    public var range: (lo: Int32, hi: Int32)? {
        var lo = Int16.max, hi = Int16.min
        keys.withUnsafeBufferPointer { keys in
            if let padding {
                let skipped = key(padding)
                for k in keys {
                    let kept = k != skipped
                    lo = min(lo, kept ? k : .max); hi = max(hi, kept ? k : .min)
                }
            } else {
                for k in keys { lo = min(lo, k); hi = max(hi, k) }
            }
        }
        return lo <= hi ? (Int32(lo) &+ bias, Int32(hi) &+ bias) : nil
    }
}
