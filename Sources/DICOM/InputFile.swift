import CDCMTK
import Foundation
import Platform

/// An input file read once: its SHA-256 (the audit's proof of what came in) and, for a file whose
/// pixel data ends it, a header parsed from memory with the pixel data left as the bytes read.
/// Unchanged pixel data is then written from those bytes, and hashed for the input and the output
/// in one pass as it is written: the pixels are read once, never decoded, copied into DCMTK or read back.
public final class InputFile {
    public let path: String
    public let size: Int
    /// The bytes as read (preamble zeroed once `parse` ran), while any of them is still needed:
    /// not yet hashed, or the detached pixel value to be written.
    private var bytes: [UInt8]?
    /// The input's digest over `bytes[..<hashed]`; the rest is hashed when the pixels are written,
    /// or when `sha256` is asked for.
    private var digest = FileDigest()
    private var hashed = 0
    private var finished: String?
    /// The detached pixel value's place in `bytes`.
    private var detached: Range<Int>?
    /// The detached value is native pixel data (not encapsulated fragments).
    private var nativeDetached = false
    /// The detached value as read, once it was edited in place before the input's digest reached
    /// it: the input is hashed from here, in step with the output from the edited bytes.
    private var original: [UInt8]?

    /// Files above this size take DCMTK's streaming path (values stay on disk until written).
    public static let maximumInMemory = 512 << 20

    /// Opens and reads the file. Throws with the errno text (e.g. "Permission denied"). `path` is in
    /// RawName's text form: input names need not be UTF-8.
    public init(path: String) throws(DicomError) {
        self.path = path
        let fd = open(RawName.systemPath(path), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DicomError(reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw DicomError(reason: String(cString: strerror(errno))) }
        let total = Int(info.st_size)
        size = total
        if total <= Self.maximumInMemory {
            // Read straight into uninitialised storage: zero-filling half a megabyte per file showed.
            var failure: String?
            let data = [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
                var filled = 0
                while filled < total {
                    let count = pread(fd, buffer.baseAddress! + filled, total - filled, off_t(filled))
                    if count < 0 && errno == EINTR { continue }
                    guard count > 0 else {
                        failure = count == 0 ? "the file shrank while it was read" : String(cString: strerror(errno))
                        break
                    }
                    filled += count
                }
                initialized = failure == nil ? total : 0
            }
            if let failure { throw DicomError(reason: failure) }
            bytes = data
        } else {
            var block = [UInt8](repeating: 0, count: 1 << 20)
            var offset = 0
            while true {
                let count = block.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
                if count < 0 && errno == EINTR { continue }
                if count < 0 { throw DicomError(reason: String(cString: strerror(errno))) }
                if count == 0 { break }
                block.withUnsafeBytes { digest.update(UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
                offset += count
            }
            finished = digest.finalize()
        }
    }

    /// Lower-case hex SHA-256 of every byte read (what is not hashed yet is hashed now).
    public var sha256: String {
        if let finished { return finished }
        hash(upTo: bytes?.count ?? 0)
        let value = digest.finalize()
        finished = value
        original = nil
        return value
    }

    private func hash(upTo end: Int) {
        guard let bytes, end > hashed else { return }
        bytes.withUnsafeBytes { all in
            guard let original, let detached, hashed < detached.upperBound, end > detached.lowerBound else {
                digest.update(UnsafeRawBufferPointer(rebasing: all[hashed..<end]))
                return
            }
            // The edited stretch is hashed as it was read.
            digest.update(UnsafeRawBufferPointer(rebasing: all[hashed..<max(hashed, detached.lowerBound)]))
            let from = max(hashed, detached.lowerBound), to = min(end, detached.upperBound)
            original.withUnsafeBytes {
                digest.update(UnsafeRawBufferPointer(rebasing: $0[(from - detached.lowerBound)..<(to - detached.lowerBound)]))
            }
            if end > to { digest.update(UnsafeRawBufferPointer(rebasing: all[to..<end])) }
        }
        hashed = end
    }

    /// The file's header, parsed from memory, with pixel data detached when it can be copied
    /// verbatim; nil when the file must be loaded by DCMTK from disk (too large, pixel data not
    /// the last element, big endian or deflated). Throws when the file is not readable DICOM.
    /// Call once: the bytes are kept only when the pixel data is detached (it is written from them).
    public func parse() throws(DicomError) -> DicomFile? {
        guard let count = bytes?.count, count > 0 else { return nil }
        // The preamble may carry text; the output keeps the (zeroed) preamble it was read with.
        // It is hashed for the input first.
        if count >= 128 {
            hash(upTo: 128)
            for index in 0..<128 { bytes![index] = 0 }
        }
        var headerLength = 0
        var error = [CChar](repeating: 0, count: 512)
        let handle = bytes!.withUnsafeBufferPointer { ctd_load_header($0.baseAddress, $0.count, &headerLength, &error, error.count) }
        guard let handle else {
            release()
            throw DicomError(reason: String(cBuffer: error))
        }
        let file = DicomFile(handle: handle)
        guard let pixels = detachablePixels(of: file, headerLength: headerLength) else {
            release()
            return headerLength >= count ? file : nil  // no pixel data at the top level: parsed whole
        }
        hash(upTo: pixels.valueOffset)
        detached = pixels.valueOffset..<(pixels.valueOffset + pixels.valueCount)
        nativeDetached = pixels.declaredLength != 0xFFFF_FFFF
        file.detach(pixels, from: self)
        return file
    }

    /// Where the pixel data can be left in the file's bytes, if it can.
    private func detachablePixels(of file: DicomFile, headerLength: Int) -> DetachedPixelData? {
        guard let bytes, headerLength < bytes.count else { return nil }
        let syntax = file.transferSyntax
        guard !Self.undetachableSyntaxes.contains(syntax) else { return nil }
        // An element that sorts after Pixel Data but came before it would be written out of order.
        guard (file.dataset.elements.last?.tag ?? .pixelData) < .pixelData else { return nil }
        let native = TransferSyntax.native.contains(syntax)
        // DCMTK stops after reading the element's tag and length; the element starts before that.
        let explicitVR = syntax != "1.2.840.10008.1.2"
        let elementStart = headerLength - (explicitVR ? 12 : 8)
        return bytes.withUnsafeBytes {
            DetachedPixelData.find(in: $0, at: elementStart, explicitVR: explicitVR, native: native)
        }
    }

    /// Hashes what is left and lets the bytes go (nothing will be written from them).
    private func release() {
        _ = sha256
        bytes = nil
    }

    /// The detached pixel value, read in place (nil when there is none in memory).
    package func withDetachedPixels<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T? {
        guard let bytes, let detached else { return nil }
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[detached])) }
    }

    /// Hands the detached pixel value to `body` in pieces, each first added to `output`'s digest and,
    /// where the input's is not past it yet, to the input's in the same pass. Stops when `body`
    /// returns false; false when the value is not here.
    package func streamDetachedPixels(into output: inout FileDigest, _ body: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        guard let bytes, let detached else { return false }
        let piece = 256 << 10  // hashed and written while it is still in the cache
        return bytes.withUnsafeBytes { all -> Bool in
            var start = detached.lowerBound
            while start < detached.upperBound {
                let chunk = UnsafeRawBufferPointer(rebasing: all[start..<min(start + piece, detached.upperBound)])
                if finished == nil && hashed == start {
                    if let original {
                        original.withUnsafeBytes { read in
                            let offset = start - detached.lowerBound
                            FileDigest.update(&digest, with: UnsafeRawBufferPointer(rebasing: read[offset..<(offset + chunk.count)]),
                                              &output, with: chunk)
                        }
                    } else {
                        FileDigest.update(&digest, &output, with: chunk)
                    }
                    hashed += chunk.count
                } else {
                    output.update(chunk)
                }
                start += chunk.count
                guard body(chunk) else { return false }
            }
            return true
        }
    }

    /// The pixel data is here, detached and uncompressed: it can be read and edited in place.
    package var hasNativePixels: Bool { bytes != nil && detached != nil && nativeDetached }

    /// The detached pixel value when it is native (uncompressed), for reading.
    package func withNativePixels<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T? {
        guard let bytes, let detached, nativeDetached else { return nil }
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[detached])) }
    }

    /// Changes the native detached pixel value in place, to be written from there. The audit still
    /// records what was read: the value as read is kept (when the input's digest has not passed it,
    /// as it has not after `parse`) to be hashed in step with the output, or else the input's digest
    /// is finished first.
    package func editNativePixels<T>(_ body: (UnsafeMutableRawBufferPointer) -> T) -> T? {
        guard bytes != nil, let detached, nativeDetached else { return nil }
        if finished == nil && original == nil {
            hash(upTo: detached.lowerBound)
            if hashed == detached.lowerBound {
                original = Array(bytes![detached])
            } else {
                _ = sha256
            }
        }
        return bytes!.withUnsafeMutableBytes { body(UnsafeMutableRawBufferPointer(rebasing: $0[detached])) }
    }

    /// Big endian and deflated datasets are re-encoded by DCMTK as a whole.
    package static let undetachableSyntaxes: Set<String> = ["1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"]

}

/// The top-level Pixel Data element of an input, left in the file: its element header bytes as
/// read and where its value (with the items, when encapsulated) lies. Found only where the
/// element runs exactly to the end of the file, so nothing that follows it can escape the walk.
package struct DetachedPixelData {
    /// Tag, VR (explicit) and length bytes exactly as in the input.
    package let elementHeader: [UInt8]
    package let valueOffset: Int
    package let valueCount: Int
    /// The value length the element declares (0xFFFFFFFF when encapsulated).
    package let declaredLength: UInt32

    package static func find(in bytes: UnsafeRawBufferPointer, at offset: Int, explicitVR: Bool, native: Bool) -> DetachedPixelData? {
        let end = bytes.count
        func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
        let headerCount = explicitVR ? 12 : 8
        guard offset >= 0, offset + headerCount <= end, u16(offset) == 0x7FE0, u16(offset + 2) == 0x0010 else { return nil }
        let length: UInt32
        if explicitVR {
            let vr = (bytes[offset + 4], bytes[offset + 5])
            guard vr == (0x4F, 0x42) || vr == (0x4F, 0x57), u16(offset + 6) == 0 else { return nil }  // "OB" / "OW"
            length = u32(offset + 8)
        } else {
            length = u32(offset + 4)
        }
        let value = offset + headerCount
        if native {
            guard length != 0xFFFF_FFFF, value + Int(length) == end else { return nil }
        } else {
            // Encapsulated: items of defined length, then the sequence delimiter, then the end.
            guard explicitVR, length == 0xFFFF_FFFF else { return nil }
            var at = value
            while true {
                guard at + 8 <= end, u16(at) == 0xFFFE else { return nil }
                let itemLength = u32(at + 4)
                if u16(at + 2) == 0xE0DD {
                    guard itemLength == 0, at + 8 == end else { return nil }
                    break
                }
                guard u16(at + 2) == 0xE000, itemLength != 0xFFFF_FFFF, at + 8 + Int(itemLength) <= end else { return nil }
                at += 8 + Int(itemLength)
            }
        }
        return DetachedPixelData(elementHeader: Array(bytes[offset..<value]), valueOffset: value,
                                 valueCount: end - value, declaredLength: length)
    }
}

/// write(2) until every byte is written; the error names what stopped it (e.g. no space left).
package func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> DicomError? {
    var written = 0
    while written < buffer.count {
        let count = write(fd, buffer.baseAddress! + written, buffer.count - written)
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { return DicomError(reason: "cannot write: " + String(cString: strerror(errno))) }
        written += count
    }
    return nil
}
