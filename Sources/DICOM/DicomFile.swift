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

/// Process-wide DCMTK set-up: codecs, logging, and the data dictionary check.
public enum DicomToolkit {
    /// Throws, naming the dictionary path tried, when DCMTK's data dictionary is missing:
    /// without it every tag reads as "unknown" and VR-dependent actions would go wrong.
    public static func initialize() throws(DicomError) {
        var buffer = [CChar](repeating: 0, count: 1024)
        if ctd_init(&buffer, buffer.count) != 0 {
            throw DicomError(reason: String(cBuffer: buffer))
        }
    }

    /// Whether the data dictionary knows the tag (a standard attribute of DCMTK's edition).
    public static func dictionaryKnows(_ tag: Tag) -> Bool {
        ctd_dictionary_knows(tag.group, tag.element) != 0
    }

    /// Whether the data dictionary allows `vr` for the tag (its own VR, or one its ambiguous VR
    /// stands for); nil when the dictionary does not know the tag. Asked for every element of
    /// every file, so the answers are kept.
    public static func dictionaryAllows(_ tag: Tag, vr: String) -> Bool? {
        let key = UInt64(tag.group) << 32 | UInt64(tag.element) << 16 | UInt64(vr.utf8.reduce(0) { $0 << 8 | UInt16($1) })
        if let known = allowedVRs.withLock({ $0[key] }) { return known }
        let answer = ctd_dictionary_allows(tag.group, tag.element, vr)
        let allows: Bool? = answer < 0 ? nil : answer == 1
        allowedVRs.withLock { $0[key] = allows }
        return allows
    }
    private static let allowedVRs = Mutex<[UInt64: Bool?]>([:])

    /// The VR the data dictionary gives a standard tag ("UN" when unknown).
    public static func dictionaryVR(_ tag: Tag) -> String {
        var vr: (CChar, CChar, CChar) = (0, 0, 0)
        withUnsafeMutablePointer(to: &vr) {
            $0.withMemoryRebound(to: CChar.self, capacity: 3) { ctd_dictionary_vr(tag.group, tag.element, $0) }
        }
        return String(decoding: [UInt8(bitPattern: vr.0), UInt8(bitPattern: vr.1)], as: UTF8.self)
    }
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

/// A dataset, file meta or sequence item. Borrowed from its file, which it keeps alive.
public struct DicomItem {
    package let pointer: OpaquePointer
    package let owner: DicomFile

    public var elements: [ElementInfo] {
        let capacity = Int(ctd_item_count(pointer))
        guard capacity > 0 else { return [] }
        let infos = [ctd_element](unsafeUninitializedCapacity: capacity) { buffer, count in
            count = Int(ctd_item_elements(pointer, buffer.baseAddress, UInt32(capacity)))
        }
        return infos.map { info in
            // Two bytes straight into a small (inline) string: no array per element.
            let vr = withUnsafeBytes(of: info.vr) { String(decoding: $0.prefix(2), as: UTF8.self) }
            return ElementInfo(tag: Tag(info.group, info.element), vr: vr, length: info.length,
                               itemCount: Int(info.item_count))
        }
    }

    /// Raw bytes of a string element (in the file's character set), padding trimmed.
    public func bytes(_ tag: Tag) -> [UInt8]? {
        var data: UnsafePointer<CChar>?
        var length = 0
        guard ctd_get_string(pointer, tag.group, tag.element, &data, &length) == 0, let data else { return nil }
        var bytes = [UInt8](UnsafeRawBufferPointer(start: data, count: length))
        while let last = bytes.last, last == 0x20 || last == 0 { bytes.removeLast() }
        return bytes
    }

    /// A string element decoded as UTF-8 (ASCII values such as UIDs, codes and dates).
    public func string(_ tag: Tag) -> String? {
        bytes(tag).map { String(decoding: Self.trimmed($0[...]), as: UTF8.self) }
    }

    /// The values of a multi-valued string element.
    public func strings(_ tag: Tag) -> [String] {
        guard let value = bytes(tag) else { return [] }
        return value.split(separator: 0x5C, omittingEmptySubsequences: false)  // backslash
            .map { String(decoding: Self.trimmed($0), as: UTF8.self) }
    }

    /// Padding and stray blanks (space, tab) off both ends, on the bytes: Foundation's trimming
    /// goes through NSString and showed in the profile.
    package static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var value = bytes
        while let first = value.first, first == 0x20 || first == 0x09 { value.removeFirst() }
        while let last = value.last, last == 0x20 || last == 0x09 || last == 0 { value.removeLast() }
        return value
    }

    /// Raw value bytes of a binary element, in host byte order.
    public func binary(_ tag: Tag) -> [UInt8]? {
        var data: UnsafePointer<UInt8>?
        var length = 0
        guard ctd_get_bytes(pointer, tag.group, tag.element, &data, &length) == 0 else { return nil }
        guard let data, length > 0 else { return [] }
        return [UInt8](UnsafeBufferPointer(start: data, count: length))
    }

    public func uint16(_ tag: Tag) -> UInt16? {
        guard let raw = binary(tag), raw.count >= 2 else { return nil }
        return raw.withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) }
    }

    public func items(_ tag: Tag) -> [DicomItem] {
        var result: [DicomItem] = []
        var index: UInt32 = 0
        while let item = ctd_sequence_item(pointer, tag.group, tag.element, index) {
            result.append(DicomItem(pointer: item, owner: owner))
            index += 1
        }
        return result
    }

    /// Sets a value given as DICOM text (backslash between values). `vr` nil keeps the
    /// element's VR, or uses the dictionary's for a new or UN element.
    @discardableResult
    public func put(_ tag: Tag, _ value: String, vr: String? = nil) -> Bool {
        var utf8 = Array(value.utf8)
        utf8.append(0)
        return utf8.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                if let vr { return ctd_put_string(pointer, tag.group, tag.element, vr, chars.baseAddress, chars.count - 1) == 0 }
                return ctd_put_string(pointer, tag.group, tag.element, nil, chars.baseAddress, chars.count - 1) == 0
            }
        }
    }

    /// Makes the element zero-length (an empty sequence for SQ), creating it when absent.
    package static let stringVRs: Set<String> = ["AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"]

    /// A standard attribute written with a VR its dictionary entry does not allow (a StudyDate as
    /// LO or OB) is read by the dictionary, at every depth, as the file is loaded: written again
    /// with the dictionary's VR when its value reads as such (text, or numbers written as text),
    /// else removed. Everything that reads the file (the safety checks, head detection, the
    /// profile) then sees the real VR, and the output carries it. UN is read by the dictionary by
    /// DCMTK itself (see the shim's `ctd_init`); private and unknown tags are left to the profile.
    package func readByDictionary() {
        // DCMTK's own classes for pixel and overlay data report internal names ("Pi", "Ov"): not a VR read from the file.
        for element in elements where !element.tag.isPrivate && element.vr != "UN" && !element.tag.isGroupLength
            && element.vr.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) {
            guard DicomToolkit.dictionaryAllows(element.tag, vr: element.vr) == false else {
                if element.isSequence { for child in items(element.tag) { child.readByDictionary() } }
                continue
            }
            let dictionaryVR = DicomToolkit.dictionaryVR(element.tag)
            let readable = !element.isSequence && dictionaryVR != "SQ"
                && (Self.stringVRs.contains(dictionaryVR) || Self.stringVRs.contains(element.vr))
            if readable, let bytes = bytes(element.tag) ?? binary(element.tag), put(element.tag, bytes: bytes, vr: dictionaryVR) {
                continue
            }
            remove(element.tag)
        }
    }

    /// Sets a string element's value from its bytes as they are (in the item's character set).
    @discardableResult
    public func put(_ tag: Tag, bytes: [UInt8], vr: String) -> Bool {
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { ctd_put_string(pointer, tag.group, tag.element, vr, $0.baseAddress, $0.count) == 0 }
        }
    }

    @discardableResult
    public func putEmpty(_ tag: Tag, vr: String? = nil) -> Bool {
        if let vr { return ctd_put_empty(pointer, tag.group, tag.element, vr) == 0 }
        return ctd_put_empty(pointer, tag.group, tag.element, nil) == 0
    }

    @discardableResult
    public func remove(_ tag: Tag) -> Bool { ctd_delete(pointer, tag.group, tag.element) == 0 }

    /// Appends an empty item to a sequence, creating the sequence when absent.
    public func appendItem(_ tag: Tag) -> DicomItem? {
        ctd_sequence_append(pointer, tag.group, tag.element).map { DicomItem(pointer: $0, owner: owner) }
    }
}

/// Converts text in a dataset's SpecificCharacterSet to UTF-8. Conversion can fail (ISO 2022
/// IR 87, charsets declared inside a sequence item); callers keep the raw bytes for matching.
public final class CharsetConverter {
    private let handle: OpaquePointer?
    /// Japanese code extensions: DCMTK converts them through the C library's iconv, which on glibc
    /// does not know ISO 2022 IR 87 by that name; Foundation's ISO-2022-JP reads the same escapes
    /// (ESC $ B to JIS X 0208, ESC ( B back to ASCII).
    private let japanese: Bool

    public init(specificCharacterSet: String) {
        handle = ctd_charset_new(specificCharacterSet)
        let terms = specificCharacterSet.split(separator: "\\", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        japanese = terms.contains { ["ISO 2022 IR 87", "ISO 2022 IR 13", "ISO 2022 IR 159"].contains($0) }
    }

    deinit { if let handle { ctd_charset_free(handle) } }

    public func utf8(_ bytes: [UInt8]) -> String? {
        // ISO 2022 text is 7-bit too: only bytes without ESC read as ASCII.
        if bytes.allSatisfy({ $0 < 0x80 && $0 != 0x1B }) { return String(decoding: bytes, as: UTF8.self) }
        if let handle {
            var out: UnsafeMutablePointer<CChar>?
            var length = 0
            let status = bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { ctd_charset_convert(handle, $0.baseAddress, $0.count, &out, &length) }
            }
            if status == 0, let out {
                defer { ctd_string_free(out) }
                return String(cString: out)
            }
        }
        return japanese ? String(data: Data(bytes), encoding: .iso2022JP) : nil
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
