import DICOM
import Defacing
import Deidentification
import Foundation

/// What the pixel stage did to one file.
package struct PixelResult: Sendable {
    /// The file belongs to a defaced series (declared even where its own slice had no face voxels).
    package var defaced = false
    /// The file belongs to a head series delivered with its face (RecognizableVisualFeatures=YES).
    package var faceKept = false
    /// The text regions masked, per frame.
    package var masked: [TextRegion] = []
    /// Not to be delivered.
    package var quarantine: QuarantineReason?
    /// The first masked frame as delivered, with its masks outlined, for the QA folder.
    package var preview: TextPreview?

    package init() {}
}

/// One file's pixels: decoded once (read from the bytes read when they are uncompressed, taken from
/// the series' volume when the toolkit decoded them for it, else decoded by the toolkit), the face
/// edit applied, every frame screened for burned-in text and masked, the masked frames screened
/// again, and the result written back once.
package enum FilePixels {
    package static let maskingRounds = 3

    /// `masking` sets a mask's rectangles to the background; a test can make it fail to see the residual check act.
    package static func process(_ file: inout DicomFile, input: InputFile?, path: String, face: FaceInstructions?,
                        text: BurnedInPolicy,
                        masking: (TextMask, inout Frame, Int32) -> Void = { $0.apply(to: &$1, value: $2) }) -> PixelResult {
        var result = PixelResult()
        var edit: SliceEdit?
        var sliceHeader: SliceHeader?
        var decoded: DecodedSeries.File?
        switch face {
        case .quarantine(let reason)?:
            result.quarantine = reason
            return result
        case .keepFace?:
            result.faceKept = true
        case .deface(let faceEdit, let header, let decodedFile)?:
            result.defaced = true
            edit = faceEdit
            sliceHeader = header
            decoded = decodedFile
        case nil:
            break
        }
        let screen = text != .off
        guard edit != nil || screen else { return result }

        let dataset = file.dataset
        let rows = Int(dataset.uint16(.rows) ?? 0), columns = Int(dataset.uint16(.columns) ?? 0)
        let frames = max(1, Int(dataset.string(.numberOfFrames) ?? "1") ?? 1)
        let bits = Int(dataset.uint16(.bitsAllocated) ?? 0)
        let samples = Int(dataset.uint16(.samplesPerPixel) ?? 1)
        let signed = dataset.uint16(Tag(0x0028, 0x0103)) == 1
        let plane = rows * columns
        func failed(_ why: String) -> PixelResult {
            var failure = result
            failure.quarantine = edit != nil ? .cannotDeface("the defaced pixels cannot be written: \(why)")
                : .burnedInTextUnchecked(why)
            return failure
        }
        guard plane > 0, samples == 1, bits == 8 || bits == 16 else {
            return failed("pixel data of \(samples) sample(s) of \(bits) bits cannot be screened for text")
        }

        // Decoded once: straight from the bytes read when they are native, else by DCMTK. A file
        // without a face edit is screened frame by frame from the bytes read (the common case: no
        // copy of its pixels but the frame at hand, and only a masked frame is written back).
        let fromInput = file.detachedPixels != nil && input?.hasNativePixels == true
        // A face edit of native 16-bit pixels goes straight into the bytes read (the input keeps its
        // value as read for its digest): nothing is decoded or converted back, and the text screen
        // then reads the edited frames from there like any other.
        var editedInPlace = false
        if fromInput, bits == 16, let edit, let sliceHeader {
            editedInPlace = input!.editNativePixels { edit.apply(toLittleEndian: $0, header: sliceHeader) } != nil
        }
        let direct = fromInput && (edit == nil || editedInPlace)
        var values: [UInt16] = []
        if direct {
            // Nothing decoded up front.
        } else if fromInput {
            values = input!.withNativePixels { bytes in
                let count = min(plane * frames, bytes.count / (bits / 8))
                return [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
                    if bits == 16 {
                        for i in 0..<count { buffer[i] = UInt16(bytes[2 * i]) | UInt16(bytes[2 * i + 1]) << 8 }
                    } else {
                        for i in 0..<count { buffer[i] = UInt16(bytes[i]) }
                    }
                    initialized = count
                }
            } ?? []
        } else {
            guard bits == 16 else { return failed("compressed 8-bit pixel data cannot be decoded for the text check") }
            if let stored = decoded?.stored() {
                // Decoded once already, for the series' volume.
                values = stored
            } else {
                do {
                    values = try loadedPixels(&file, path: path).pixels16()
                } catch {
                    return failed(error.reason)
                }
            }
        }
        let available = direct ? (input!.withNativePixels { $0.count / (bits / 8) } ?? 0) : values.count
        guard available >= plane else { return failed("pixel data shorter than one frame") }
        var changed = false
        if !editedInPlace, let edit, let sliceHeader {
            edit.apply(to: &values, header: sliceHeader)
            changed = true
        }

        if screen {
            let padding = dataset.uint16(Tag(0x0028, 0x0120)).map { signed ? Int32(Int16(bitPattern: $0)) : Int32($0) }
            let frameSigned = signed && bits == 16
            let frameBytes = plane * bits / 8
            for index in 0..<min(frames, available / plane) {
                let base = index * plane
                var frame = direct
                    ? input!.withNativePixels {
                        Frame(width: columns, height: rows, bytes: UnsafeRawBufferPointer(rebasing: $0[(index * frameBytes)..<((index + 1) * frameBytes)]),
                              bits: bits, signed: frameSigned, padding: padding)
                    }!
                    : values.withUnsafeBufferPointer {
                        Frame(width: columns, height: rows, stored: UnsafeBufferPointer(rebasing: $0[base..<(base + plane)]),
                              signed: frameSigned, padding: padding)
                    }
                guard let range = frame.range else { continue }
                // Masked in rounds: what a round's mask leaves at its edges (a line continued under
                // tissue, a larger outline) is found next to what it masked. Then the masked frame is
                // checked again with the original's thresholds: what is still text must not go out.
                var masked: [TextRegion] = []
                var covered: [PixelBox] = []
                var rows: [TextCandidate] = []
                let reading = CachedReading()
                do {
                    for _ in 0..<Self.maskingRounds {
                        let mask = try TextMask.find(in: frame, index: index, range: range, near: rows, read: reading.read)
                        if mask.isEmpty { break }
                        if text == .quarantine {
                            result.quarantine = .burnedInText("text found in the pixels of frame \(index + 1) (\(mask.regions.count) region(s))")
                            return result
                        }
                        masking(mask, &frame, padding ?? range.lo)
                        reading.changed(mask.rectangles)
                        covered += mask.rectangles
                        masked += mask.regions
                        rows += mask.rows
                    }
                    if masked.isEmpty { continue }
                    if try !TextMask.find(in: frame, index: index, range: range, read: reading.read).isEmpty {
                        result.quarantine = .burnedInTextResidual
                        return result
                    }
                } catch {
                    return failed(error.reason)
                }
                if direct {
                    _ = input!.editNativePixels {
                        frame.store(into: UnsafeMutableRawBufferPointer(rebasing: $0[(index * frameBytes)..<((index + 1) * frameBytes)]), bits: bits)
                    }
                } else {
                    values.withUnsafeMutableBufferPointer { frame.store(into: UnsafeMutableBufferPointer(rebasing: $0[base..<(base + plane)])) }
                }
                result.masked += masked
                if result.preview == nil { result.preview = TextPreview(masked: frame, range: range, rectangles: covered) }
                changed = true
            }
        }
        // The bytes read were edited in place, frame by frame.
        if direct { return result }
        guard changed else { return result }

        if fromInput {
            _ = input!.editNativePixels { bytes in
                let count = min(values.count, bytes.count / (bits / 8))
                if bits == 16 {
                    for i in 0..<count {
                        bytes[2 * i] = UInt8(truncatingIfNeeded: values[i])
                        bytes[2 * i + 1] = UInt8(truncatingIfNeeded: values[i] >> 8)
                    }
                } else {
                    for i in 0..<count { bytes[i] = UInt8(truncatingIfNeeded: values[i]) }
                }
            }
            return result
        }
        do {
            let originalSyntax = file.transferSyntax
            if try !loadedPixels(&file, path: path).replacePixels16(values), let method = TransferSyntax.lossy[originalSyntax] {
                // Written uncompressed now, but the pixels went through lossy compression once.
                file.dataset.put(Tag(0x0028, 0x2110), "01", vr: "CS")
                if file.dataset.string(Tag(0x0028, 0x2114)) == nil { file.dataset.put(Tag(0x0028, 0x2114), method, vr: "CS") }
            }
        } catch {
            return failed(error.reason)
        }
        return result
    }

    /// The file as the toolkit loads it from disk, pixel data included (left on disk until it is
    /// used), when it was parsed with its pixel data left in the bytes read.
    private static func loadedPixels(_ file: inout DicomFile, path: String) throws(DicomError) -> DicomFile {
        if file.detachedPixels != nil { file = try DicomFile(path: path, lazyThreshold: 64 * 1024) }
        return file
    }
}
