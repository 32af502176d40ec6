import COpenJPEG
import Foundation

/// JPEG 2000 frames of grey images through OpenJPEG, which DCMTK lacks: a head series exported in
/// JPEG 2000 must be decoded to be checked for a face and text, and a lossless one re-encoded
/// losslessly once edited.
package enum JPEG2000Codec {
    private typealias Codec = UnsafeMutablePointer<opj_codec_t?>
    private typealias Stream = UnsafeMutablePointer<opj_stream_t?>
    /// JPEG 2000 Image Compression (Lossless Only).
    package static let losslessOnly = "1.2.840.10008.1.2.4.90"
    /// JPEG 2000 Image Compression: lossless when the codestream uses the reversible 5-3 wavelet
    /// and nothing was discarded (LossyImageCompression is not "01"), lossy otherwise.
    package static let lossyOrLossless = "1.2.840.10008.1.2.4.91"
    package static let transferSyntaxes: Set<String> = [losslessOnly, lossyOrLossless]

    /// How a codestream codes its one component.
    package struct Coding: Equatable {
        package var width: Int
        package var height: Int
        package var precision: Int
        package var signed: Bool
        /// The reversible 5-3 wavelet (a lossless coding when no layer was discarded).
        package var reversible: Bool
    }

    /// The coding of a frame from its main header, without decoding it.
    package static func coding(of codestream: [UInt8]) throws(DicomError) -> Coding {
        try withBytes(codestream) { bytes throws(DicomError) in try coding(of: bytes) }
    }

    package static func decode(_ codestream: [UInt8]) throws(DicomError) -> (words: [UInt16], coding: Coding) {
        try withBytes(codestream) { bytes throws(DicomError) in try decode(bytes) }
    }

    /// `withUnsafeBytes` with the body's typed error kept.
    private static func withBytes<T>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(DicomError) -> T) throws(DicomError) -> T {
        let result: Result<T, DicomError> = bytes.withUnsafeBytes { raw in
            do throws(DicomError) { return .success(try body(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    package static func coding(of codestream: UnsafeRawBufferPointer) throws(DicomError) -> Coding {
        try withDecoder(codestream) { codec, _, image throws(DicomError) in
            try coding(codec: codec, image: image)
        }
    }

    /// One frame's samples as 16-bit words (two's complement for signed data), with its coding.
    package static func decode(_ codestream: UnsafeRawBufferPointer) throws(DicomError) -> (words: [UInt16], coding: Coding) {
        try withDecoder(codestream) { codec, stream, image throws(DicomError) in
            let coding = try coding(codec: codec, image: image)
            guard opj_decode(codec, stream, image) != 0, opj_end_decompress(codec, stream) != 0 else {
                throw DicomError(reason: "the JPEG 2000 frame cannot be decoded")
            }
            let component = image.pointee.comps[0]
            guard let data = component.data, Int(component.w) == coding.width, Int(component.h) == coding.height else {
                throw DicomError(reason: "the JPEG 2000 frame decoded to no samples")
            }
            let count = coding.width * coding.height
            let words = [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0..<count { buffer[i] = UInt16(truncatingIfNeeded: data[i]) }
                initialized = count
            }
            return (words, coding)
        }
    }

    /// A lossless (reversible 5-3, one layer, no rate limit) J2K codestream of one frame, of even
    /// length as a fragment must be. Samples are the 16-bit words `decode` gives; a value that does
    /// not fit the precision asked for (an edit outside the stored range) widens it to 16 bits, so
    /// what is decoded is always what was given.
    package static func encodeLossless(_ words: [UInt16], width: Int, height: Int, precision: Int, signed: Bool)
        throws(DicomError) -> [UInt8]
    {
        guard width > 0, height > 0, words.count == width * height else {
            throw DicomError(reason: "a JPEG 2000 frame of \(width)x\(height) cannot hold \(words.count) samples")
        }
        var precision = min(max(precision, 1), 16)
        let samples = words.map { signed ? Int32(Int16(bitPattern: $0)) : Int32($0) }
        let low = signed ? -(Int32(1) << (precision - 1)) : 0
        let high = signed ? (Int32(1) << (precision - 1)) - 1 : (Int32(1) << precision) - 1
        if samples.contains(where: { $0 < low || $0 > high }) { precision = 16 }

        var parameters = opj_cparameters_t()
        opj_set_default_encoder_parameters(&parameters)
        parameters.tcp_numlayers = 1
        parameters.tcp_rates.0 = 0
        parameters.cp_disto_alloc = 1
        parameters.irreversible = 0
        parameters.tcp_mct = 0
        // Decomposition levels: at most 5, and no more than the smaller side allows.
        var levels = 0
        while levels < 5, min(width, height) >> (levels + 1) >= 1 { levels += 1 }
        parameters.numresolution = Int32(levels + 1)

        var component = opj_image_cmptparm_t()
        component.dx = 1
        component.dy = 1
        component.w = UInt32(width)
        component.h = UInt32(height)
        component.prec = UInt32(precision)
        component.sgnd = signed ? 1 : 0
        guard let image = opj_image_create(1, &component, OPJ_CLRSPC_GRAY) else { throw DicomError(reason: "out of memory") }
        defer { opj_image_destroy(image) }
        image.pointee.x0 = 0
        image.pointee.y0 = 0
        image.pointee.x1 = UInt32(width)
        image.pointee.y1 = UInt32(height)
        guard let data = image.pointee.comps[0].data else { throw DicomError(reason: "out of memory") }
        for i in 0..<samples.count { data[i] = samples[i] }

        guard let codec = opj_create_compress(OPJ_CODEC_J2K) else { throw DicomError(reason: "out of memory") }
        defer { opj_destroy_codec(codec) }
        let sink = ByteSink()
        let context = Unmanaged.passUnretained(sink).toOpaque()
        opj_set_error_handler(codec, { message, context in ByteSink.note(message, context) }, context)
        guard opj_setup_encoder(codec, &parameters, image) != 0 else {
            throw DicomError(reason: "the JPEG 2000 encoder refused its parameters\(sink.errorSuffix)")
        }
        guard let stream = opj_stream_create(1 << 16, 0) else { throw DicomError(reason: "out of memory") }
        defer { opj_stream_destroy(stream) }
        opj_stream_set_user_data(stream, context, nil)
        opj_stream_set_write_function(stream) { buffer, count, context in
            ByteSink.from(context).write(buffer, count)
        }
        opj_stream_set_skip_function(stream) { offset, context in ByteSink.from(context).skip(offset) }
        opj_stream_set_seek_function(stream) { offset, context in ByteSink.from(context).seek(offset) }
        guard opj_start_compress(codec, image, stream) != 0, opj_encode(codec, stream) != 0,
              opj_end_compress(codec, stream) != 0
        else {
            throw DicomError(reason: "the JPEG 2000 frame cannot be encoded\(sink.errorSuffix)")
        }
        var bytes = sink.bytes
        if bytes.count % 2 == 1 { bytes.append(0) }
        return bytes
    }

    // MARK: - OpenJPEG plumbing

    private static func coding(codec: Codec, image: UnsafeMutablePointer<opj_image_t>) throws(DicomError) -> Coding {
        guard image.pointee.numcomps == 1, let components = image.pointee.comps else {
            throw DicomError(reason: "a JPEG 2000 frame of \(image.pointee.numcomps) components is not a grey image")
        }
        let component = components[0]
        guard component.dx == 1, component.dy == 1, component.prec >= 1, component.prec <= 16 else {
            throw DicomError(reason: "a JPEG 2000 frame of \(component.prec)-bit or subsampled samples is not supported")
        }
        var reversible = false
        if let info = opj_get_cstr_info(codec) {
            if let tccp = info.pointee.m_default_tile_info.tccp_info { reversible = tccp.pointee.qmfbid == 1 }
            var pointer: UnsafeMutablePointer<opj_codestream_info_v2_t>? = info
            opj_destroy_cstr_info(&pointer)
        }
        return Coding(
            width: Int(image.pointee.x1 - image.pointee.x0), height: Int(image.pointee.y1 - image.pointee.y0),
            precision: Int(component.prec), signed: component.sgnd != 0, reversible: reversible
        )
    }

    /// Runs `body` with a decoder that has read the main header of `codestream` (a raw J2K
    /// codestream, as DICOM carries it, or a JP2 file, which some writers put there).
    private static func withDecoder<T>(
        _ codestream: UnsafeRawBufferPointer,
        _ body: (Codec, Stream, UnsafeMutablePointer<opj_image_t>) throws(DicomError) -> T
    ) throws(DicomError) -> T {
        guard codestream.count >= 12 else { throw DicomError(reason: "a JPEG 2000 frame of \(codestream.count) bytes") }
        let isJ2K = codestream[0] == 0xFF && codestream[1] == 0x4F
        guard let codec = opj_create_decompress(isJ2K ? OPJ_CODEC_J2K : OPJ_CODEC_JP2) else {
            throw DicomError(reason: "out of memory")
        }
        defer { opj_destroy_codec(codec) }
        let source = ByteSource(codestream)
        let context = Unmanaged.passUnretained(source).toOpaque()
        opj_set_error_handler(codec, { message, context in ByteSource.from(context).note(message) }, context)
        var parameters = opj_dparameters_t()
        opj_set_default_decoder_parameters(&parameters)
        guard opj_setup_decoder(codec, &parameters) != 0 else { throw DicomError(reason: "the JPEG 2000 decoder cannot start") }
        guard let stream = opj_stream_create(1 << 16, 1) else { throw DicomError(reason: "out of memory") }
        defer { opj_stream_destroy(stream) }
        opj_stream_set_user_data(stream, context, nil)
        opj_stream_set_user_data_length(stream, UInt64(codestream.count))
        opj_stream_set_read_function(stream) { buffer, count, context in ByteSource.from(context).read(buffer, count) }
        opj_stream_set_skip_function(stream) { offset, context in ByteSource.from(context).skip(offset) }
        opj_stream_set_seek_function(stream) { offset, context in ByteSource.from(context).seek(offset) }
        var image: UnsafeMutablePointer<opj_image_t>?
        guard opj_read_header(stream, codec, &image) != 0, let image else {
            throw DicomError(reason: "the JPEG 2000 frame's header cannot be read\(source.errorSuffix)")
        }
        defer { opj_image_destroy(image) }
        do throws(DicomError) {
            return try body(codec, stream, image)
        } catch {
            throw DicomError(reason: error.reason + source.errorSuffix)
        }
    }

    /// A codestream being read, for OpenJPEG's stream callbacks.
    private final class ByteSource {
        package let bytes: UnsafeRawBufferPointer
        package var offset = 0
        package var error: String?
        package init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        package static func from(_ context: UnsafeMutableRawPointer?) -> ByteSource {
            Unmanaged<ByteSource>.fromOpaque(context!).takeUnretainedValue()
        }
        package var errorSuffix: String { error.map { " (\($0))" } ?? "" }
        package func note(_ message: UnsafePointer<CChar>?) {
            if error == nil, let message { error = String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        package func read(_ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
            let available = bytes.count - offset
            guard available > 0, let buffer else { return -1 }  // (OPJ_SIZE_T)-1: the end
            let n = min(count, available)
            buffer.copyMemory(from: bytes.baseAddress! + offset, byteCount: n)
            offset += n
            return n
        }
        package func skip(_ delta: Int64) -> Int64 {
            let target = min(max(0, offset + Int(delta)), bytes.count)
            defer { offset = target }
            return Int64(target - offset)
        }
        package func seek(_ position: Int64) -> Int32 {
            guard position >= 0, position <= bytes.count else { return 0 }
            offset = Int(position)
            return 1
        }
    }

    /// A codestream being written.
    private final class ByteSink {
        package var bytes: [UInt8] = []
        package var offset = 0
        package var error: String?

        package static func from(_ context: UnsafeMutableRawPointer?) -> ByteSink {
            Unmanaged<ByteSink>.fromOpaque(context!).takeUnretainedValue()
        }
        package static func note(_ message: UnsafePointer<CChar>?, _ context: UnsafeMutableRawPointer?) {
            let sink = from(context)
            if sink.error == nil, let message { sink.error = String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        package var errorSuffix: String { error.map { " (\($0))" } ?? "" }
        package func write(_ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
            guard let buffer else { return -1 }
            let source = UnsafeRawBufferPointer(start: buffer, count: count)
            let end = offset + count
            if end > bytes.count { bytes.append(contentsOf: repeatElement(0, count: end - bytes.count)) }
            bytes.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: offset).copyMemory(from: source.baseAddress!, byteCount: count) }
            offset = end
            return count
        }
        package func skip(_ delta: Int64) -> Int64 {
            let target = max(0, offset + Int(delta))
            if target > bytes.count { bytes.append(contentsOf: repeatElement(0, count: target - bytes.count)) }
            defer { offset = target }
            return Int64(target - offset)
        }
        package func seek(_ position: Int64) -> Int32 {
            guard position >= 0 else { return 0 }
            if Int(position) > bytes.count { bytes.append(contentsOf: repeatElement(0, count: Int(position) - bytes.count)) }
            offset = Int(position)
            return 1
        }
    }
}
