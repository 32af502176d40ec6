import CDCMTK
import CPlatform
import Foundation
import Platform
import Synchronization

/// Why DCMTK could not read or write a file. Never carries element values.
public struct DicomError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    package init(reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// One element as seen while walking an item.
public struct ElementInfo: Sendable {
    public let tag: Tag
    public let vr: String
    /// Value length in bytes as read (0xFFFFFFFF when undefined).
    public let length: UInt32
    public let itemCount: Int
    public var isSequence: Bool { vr == "SQ" }
}

/// A loaded DICOM Part 10 file. Not thread-safe: one file belongs to one thread at a time.
public final class DicomFile {
    fileprivate let handle: OpaquePointer

    /// Values longer than `lazyThreshold` bytes stay on disk until saved (0 loads everything).
    /// `path` is in RawName's text form: input names need not be UTF-8.
    public init(path: String, lazyThreshold: UInt32 = 4096) throws(DicomError) {
        var buffer = [CChar](repeating: 0, count: 512)
        guard let handle = ctd_load(RawName.systemPath(path), lazyThreshold, &buffer, buffer.count) else {
            throw DicomError(reason: String(cBuffer: buffer))
        }
        self.handle = handle
        dataset.readByDictionary()
    }

    /// An empty file, to build test data in memory.
    public init() {
        handle = ctd_new()!
    }

    package init(handle: OpaquePointer) {
        self.handle = handle
        dataset.readByDictionary()
    }

    /// Pixel data left in the input file (see `InputFile.parse`), and the file it is in.
    package private(set) var detachedPixels: DetachedPixelData?
    private var source: InputFile?

    package func detach(_ pixels: DetachedPixelData, from input: InputFile) {
        detachedPixels = pixels
        source = input
    }

    /// The value length of the top-level Pixel Data element (0xFFFFFFFF when encapsulated), nil
    /// when there is none.
    public var pixelDataLength: UInt32? {
        if let detachedPixels { return detachedPixels.declaredLength }
        return dataset.elements.first(where: { $0.tag == .pixelData })?.length
    }

    deinit { ctd_free(handle) }

    /// The fragments of encapsulated pixel data after the Basic Offset Table; nil when the pixel
    /// data is not encapsulated. From the bytes read when the pixel data was left in them.
    package var pixelFragments: [PixelFragment]? {
        if let detachedPixels, let source {
            guard detachedPixels.declaredLength == 0xFFFF_FFFF else { return nil }
            return source.withDetachedPixels { PixelFragments.parse($0) }
        }
        var fragments: [PixelFragment] = []
        var index: UInt32 = 0
        var length: UInt32 = 0, tailCount: UInt32 = 0
        var tail: (UInt8, UInt8, UInt8) = (0, 0, 0)
        while withUnsafeMutablePointer(to: &tail, {
            $0.withMemoryRebound(to: UInt8.self, capacity: 3) { ctd_pixel_fragment(handle, index, &length, $0, &tailCount) }
        }) == 0 {
            if index > 0 { fragments.append(PixelFragment(length: Int(length), tail: Array([tail.0, tail.1, tail.2].prefix(Int(tailCount))))) }
            index += 1
        }
        return index == 0 ? nil : fragments
    }

    public var dataset: DicomItem { DicomItem(pointer: ctd_dataset(handle)!, owner: self) }
    public var meta: DicomItem { DicomItem(pointer: ctd_meta(handle)!, owner: self) }
    public var transferSyntax: String { String(cString: ctd_transfer_syntax(handle)) }

    /// Writes in the original transfer syntax with a new file meta and a zeroed preamble. Returns
    /// the SHA-256 and size of what was written when they were computed while writing (detached
    /// pixel data), nil when the caller must hash the file.
    @discardableResult
    public func save(to path: String) throws(DicomError) -> WrittenFile? {
        if let detachedPixels, let source {
            return try save(to: path, pixels: detachedPixels, from: source)
        }
        var buffer = [CChar](repeating: 0, count: 512)
        if ctd_save(handle, path, &buffer, buffer.count) != 0 {
            throw DicomError(reason: String(cBuffer: buffer))
        }
        return nil
    }
}

/// A file as written: its SHA-256 (lower-case hex) and size in bytes.
public struct WrittenFile: Sendable {
    public let sha256: String
    public let size: Int
}

extension DicomFile {
    /// Header as DCMTK encodes it, then the detached pixel element: its header and value bytes
    /// as read. Byte for byte what `ctd_save` writes for the same file. The output's SHA-256 is
    /// taken from the very buffers handed to write(2).
    private func save(to path: String, pixels: DetachedPixelData, from source: InputFile) throws(DicomError) -> WrittenFile {
        var header: UnsafeMutablePointer<UInt8>?
        var count = 0
        var error = [CChar](repeating: 0, count: 512)
        guard ctd_encode(handle, &header, &count, &error, error.count) == 0, let header else {
            throw DicomError(reason: String(cBuffer: error))
        }
        defer { ctd_bytes_free(header) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw DicomError(reason: "cannot create the output: " + String(cString: strerror(errno))) }
        defer { close(fd) }
        var digest = FileDigest()
        var failure: DicomError?
        func emit(_ bytes: UnsafeRawBufferPointer) -> Bool {
            failure = writeAll(fd, bytes)
            return failure == nil
        }
        let head = UnsafeRawBufferPointer(start: header, count: count)
        digest.update(head)
        pixels.elementHeader.withUnsafeBytes { digest.update($0) }
        guard emit(head), pixels.elementHeader.withUnsafeBytes({ emit($0) }) else { throw failure! }
        // The pixel value is hashed for the input and this output in one pass, as it is written.
        guard source.streamDetachedPixels(into: &digest, emit) else {
            throw failure ?? DicomError(reason: "the pixel data of the input is no longer in memory")
        }
        // Start writing back now, so the job's one flush before delivery finds little left to do.
        _ = ctd_start_writeback(fd)
        return WrittenFile(sha256: digest.finalize(),
                           size: count + pixels.elementHeader.count + pixels.valueCount)
    }
}

extension String {
    /// Text from a NUL-terminated C buffer filled by the shim.
    package init(cBuffer buffer: [CChar]) {
        let bytes = buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
        self = String(decoding: bytes, as: UTF8.self)
    }
}

extension DicomFile {
    /// How many times `pixels16` was called in this process: the pixel stage promises one decoding
    /// per file, and a test holds it to that.
    package static let pixelDecodings = Atomic<Int>(0)

    /// Stored pixel values of every frame (16-bit words), decoded when compressed.
    public func pixels16() throws(DicomError) -> [UInt16] {
        guard detachedPixels == nil else { throw DicomError(reason: "the pixel data was left in the input file") }
        Self.pixelDecodings.add(1, ordering: .relaxed)
        if JPEG2000Codec.transferSyntaxes.contains(transferSyntax) { return try jpeg2000Pixels() }
        var buffer: UnsafeMutablePointer<UInt16>?
        var count = 0
        var error = [CChar](repeating: 0, count: 512)
        guard ctd_get_pixels16(handle, &buffer, &count, &error, error.count) == 0, let buffer else {
            throw DicomError(reason: String(cBuffer: error))
        }
        defer { ctd_pixels_free(buffer) }
        return [UInt16](UnsafeBufferPointer(start: buffer, count: count))
    }

    /// Replaces the pixel data. Returns whether the original transfer syntax is kept (lossless
    /// inputs); a lossy input is then written uncompressed.
    @discardableResult
    public func replacePixels16(_ pixels: [UInt16]) throws(DicomError) -> Bool {
        guard detachedPixels == nil else { throw DicomError(reason: "the pixel data was left in the input file") }
        if JPEG2000Codec.transferSyntaxes.contains(transferSyntax), try replaceJPEG2000Losslessly(pixels) { return true }
        var kept: Int32 = 0
        var error = [CChar](repeating: 0, count: 512)
        let status = pixels.withUnsafeBufferPointer { ctd_put_pixels16(handle, $0.baseAddress, $0.count, &kept, &error, error.count) }
        guard status == 0 else { throw DicomError(reason: String(cBuffer: error)) }
        return kept != 0
    }
}

extension DicomFile {
    /// The frames of encapsulated pixel data, each as its fragments' bytes joined: one fragment per
    /// frame, all of them for a single frame, or else split after each fragment that ends a
    /// codestream (PS3.5 A.4).
    package func encapsulatedFrames() throws(DicomError) -> [[UInt8]] {
        var fragments: [[UInt8]] = []
        var index: UInt32 = 1
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        while ctd_pixel_fragment_bytes(handle, index, &data, &length) == 0 {
            fragments.append(length == 0 ? [] : [UInt8](UnsafeBufferPointer(start: data, count: Int(length))))
            index += 1
        }
        let frames = max(1, dataset.string(.numberOfFrames).flatMap { Int($0) } ?? 1)
        guard !fragments.isEmpty else { throw DicomError(reason: "the encapsulated pixel data has no fragment") }
        if fragments.count == frames { return fragments }
        if frames == 1 { return [fragments.flatMap { $0 }] }
        var joined: [[UInt8]] = []
        var current: [UInt8] = []
        for fragment in fragments {
            current += fragment
            let tail = PixelFragment(length: fragment.count, tail: Array(fragment.suffix(3)))
            if PixelFragments.endsFrame(tail) {
                joined.append(current)
                current = []
            }
        }
        guard current.isEmpty, joined.count == frames else {
            throw DicomError(reason: "\(fragments.count) fragments cannot be split into \(frames) frames")
        }
        return joined
    }

    /// Every frame decoded with OpenJPEG, each checked against Rows and Columns.
    private func jpeg2000Pixels() throws(DicomError) -> [UInt16] {
        let rows = Int(dataset.uint16(.rows) ?? 0), columns = Int(dataset.uint16(.columns) ?? 0)
        var words: [UInt16] = []
        for (index, frame) in try encapsulatedFrames().enumerated() {
            let decoded = try JPEG2000Codec.decode(frame)
            guard decoded.coding.width == columns, decoded.coding.height == rows else {
                throw DicomError(reason: "JPEG 2000 frame \(index + 1) is \(decoded.coding.width)x\(decoded.coding.height), the header says \(columns)x\(rows)")
            }
            words += decoded.words
        }
        return words
    }

    /// Re-encodes edited pixels of a lossless JPEG 2000 input in its own transfer syntax, with its
    /// precision and signedness. Returns false, changing nothing, when the input was lossy (the
    /// caller writes it uncompressed with the lossy history kept).
    private func replaceJPEG2000Losslessly(_ pixels: [UInt16]) throws(DicomError) -> Bool {
        let frames = try encapsulatedFrames()
        let coding = try JPEG2000Codec.coding(of: frames[0])
        let lossyBefore = dataset.string(Tag(0x0028, 0x2110))?.trimmingCharacters(in: .whitespaces) == "01"
        guard transferSyntax == JPEG2000Codec.losslessOnly || (coding.reversible && !lossyBefore) else { return false }
        let plane = coding.width * coding.height
        guard plane > 0, pixels.count == plane * frames.count else {
            throw DicomError(reason: "\(pixels.count) samples do not fill \(frames.count) frame(s) of \(coding.width)x\(coding.height)")
        }
        let signed = dataset.uint16(Tag(0x0028, 0x0103)).map { $0 == 1 } ?? coding.signed
        var encoded: [[UInt8]] = []
        for k in 0..<frames.count {
            encoded.append(try JPEG2000Codec.encodeLossless(
                Array(pixels[k * plane..<(k + 1) * plane]), width: coding.width, height: coding.height,
                precision: coding.precision, signed: signed
            ))
        }
        var error = [CChar](repeating: 0, count: 512)
        let status = withFramePointers(encoded) { pointers, lengths in
            ctd_put_encapsulated(handle, pointers, lengths, UInt32(encoded.count), &error, error.count)
        }
        guard status == 0 else { throw DicomError(reason: String(cBuffer: error)) }
        return true
    }
}

/// Base addresses and lengths of byte arrays, valid inside `body`.
private func withFramePointers<R>(
    _ frames: [[UInt8]], _ body: (UnsafePointer<UnsafePointer<UInt8>?>, UnsafePointer<Int>) -> R
) -> R {
    let copies = frames.map { frame -> UnsafeMutablePointer<UInt8> in
        let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: max(frame.count, 1))
        copy.initialize(from: frame, count: frame.count)
        return copy
    }
    defer { copies.forEach { $0.deallocate() } }
    let pointers: [UnsafePointer<UInt8>?] = copies.map { UnsafePointer($0) }
    let lengths = frames.map(\.count)
    return pointers.withUnsafeBufferPointer { p in lengths.withUnsafeBufferPointer { l in body(p.baseAddress!, l.baseAddress!) } }
}
