import CTesseract
import Deidentification
import Foundation
import Platform

/// What OCR saw in one candidate row. Counts only: the text it read never leaves `TextReader`.
public struct TextEvidence: Sendable {
    /// Words of at least two letters or digits read with at least `TextReader.confident` confidence.
    public var confidentWords = 0
    /// Letters and digits in those words.
    public var confidentCharacters = 0

    /// Enough to call the row text: OCR read real words in it.
    public var isText: Bool { confidentWords >= 1 && confidentCharacters >= 3 }
}

/// The second stage of the burned-in text detector: Tesseract (through its C API) reads the
/// candidate rows of a frame, each cut out, upscaled and binarised, all rows of a frame stacked on
/// one sheet so one recognition serves them all. OCR is evidence, not a veto: small blurred text
/// over anatomy often reads badly, so the caller also trusts strong geometric evidence.
public final class TextReader: @unchecked Sendable {  // used by one thread at a time (borrowed from the pool)
    /// Word confidence (0-100) from which a word counts.
    package static let confident: Float = 75
    /// The height rows are scaled to on the sheet: Tesseract reads best around 30 px.
    package static let targetHeight = 32
    package static let gap = 24
    package static let maximumRowsPerSheet = 48

    private let api: OpaquePointer

    public static let version = String(cString: TessVersion())

    /// Fails when Tesseract or its English data (`tesseract-ocr-eng`) is missing.
    public init() throws(PixelError) {
        guard let api = TessBaseAPICreate() else { throw PixelError(reason: "Tesseract cannot be started") }
        // The LSTM recogniser only: the legacy one adapts to what it has read, so a reader's answer
        // would depend on the frames it read before (and on which thread borrowed it).
        if TessBaseAPIInit2(api, nil, "eng", OEM_LSTM_ONLY) != 0 {
            TessBaseAPIDelete(api)
            throw PixelError(reason: "Tesseract's English language data is missing (install tesseract-ocr-eng)")
        }
        _ = TessBaseAPISetVariable(api, "debug_file", "/dev/null")
        TessBaseAPISetPageSegMode(api, PSM_SINGLE_BLOCK)
        self.api = api
    }

    deinit { TessBaseAPIEnd(api); TessBaseAPIDelete(api) }

    /// Readers are expensive to start (the language model: about 0.15 s of CPU each), so each
    /// thread borrows one and gives it back.
    private static let pool = ReaderPool()

    package static func withReader<T>(_ body: (TextReader) throws(PixelError) -> T) throws(PixelError) -> T {
        // Tesseract's OpenMP regions run on the calling thread (see CTesseract's shim.h). The
        // setting belongs to the thread (libgomp keeps it per task), so it is made on every borrow.
        omp_set_max_active_levels(0)
        let reader = try pool.borrow()
        defer { pool.giveBack(reader) }
        return try body(reader)
    }

    /// Ends every pooled reader. Called when the work is done and before the process exits:
    /// Tesseract's language data lives in a process-wide cache that C++ destroys at exit, and a
    /// reader still open then makes it abort (SIGABRT) or print LEAK warnings. A later borrow
    /// loads a new reader.
    package static func closeAll() {
        pool.closeAll()
    }

    /// Checks at start-up that OCR can run, so a missing package is a configuration error, not a
    /// quarantine per file. Tesseract opens its English data and reads its configuration only
    /// (`tessedit_init_config_only`): about 10 ms, where loading the recogniser takes 0.15 s of CPU.
    public static func checkAvailable() throws(PixelError) {
        guard let api = TessBaseAPICreate() else { throw PixelError(reason: "Tesseract cannot be started") }
        defer { TessBaseAPIEnd(api); TessBaseAPIDelete(api) }
        var names: [UnsafeMutablePointer<CChar>?] = [strdup("tessedit_init_config_only")]
        var values: [UnsafeMutablePointer<CChar>?] = [strdup("1")]
        defer { (names + values).forEach { free($0) } }
        guard TessBaseAPIInit4(api, nil, "eng", OEM_LSTM_ONLY, nil, 0, &names, &values, 1, 0) == 0 else {
            throw PixelError(reason: "Tesseract's English language data is missing (install tesseract-ocr-eng)")
        }
    }

    /// Evidence for each candidate, in order.
    public func read(_ candidates: [TextCandidate], in frame: Frame) -> [TextEvidence] {
        var evidence = [TextEvidence](repeating: TextEvidence(), count: candidates.count)
        // A vertical row is read both ways round: text turned either way is still text.
        var rows: [(candidate: Int, image: Bitmap)] = []
        for (index, candidate) in candidates.enumerated() {
            let crop = Bitmap.crop(candidate, from: frame)
            if candidate.vertical {
                rows.append((index, crop.rotated(clockwise: true)))
                rows.append((index, crop.rotated(clockwise: false)))
            } else {
                rows.append((index, crop))
            }
        }
        var start = 0
        while start < rows.count {
            let batch = Array(rows[start..<min(rows.count, start + Self.maximumRowsPerSheet)])
            for (row, words) in recognise(batch.map(\.image)).enumerated() {
                let index = batch[row].candidate
                if words.confidentCharacters > evidence[index].confidentCharacters { evidence[index] = words }
            }
            start += batch.count
        }
        return evidence
    }

    /// Stacks the rows on one white sheet and recognises it once; words are given back to the row they sit in.
    private func recognise(_ images: [Bitmap]) -> [TextEvidence] {
        let width = (images.map(\.width).max() ?? 0) + 2 * Self.gap
        var tops: [Int] = []
        var height = Self.gap
        for image in images {
            tops.append(height)
            height += image.height + Self.gap
        }
        var sheet = [UInt8](repeating: 255, count: width * height)
        for (image, top) in zip(images, tops) {
            for y in 0..<image.height {
                for x in 0..<image.width where image.pixels[y * image.width + x] {
                    sheet[(top + y) * width + Self.gap + x] = 0
                }
            }
        }
        var result = [TextEvidence](repeating: TextEvidence(), count: images.count)
        sheet.withUnsafeBufferPointer { buffer in
            TessBaseAPISetImage(api, buffer.baseAddress, Int32(width), Int32(height), 1, Int32(width))
            TessBaseAPISetSourceResolution(api, 300)
            defer { TessBaseAPIClear(api) }
            guard TessBaseAPIRecognize(api, nil) == 0, let iterator = TessBaseAPIGetIterator(api) else { return }
            defer { TessResultIteratorDelete(iterator) }
            let level = RIL_WORD
            repeat {
                var left: Int32 = 0, top: Int32 = 0, right: Int32 = 0, bottom: Int32 = 0
                guard TessPageIteratorBoundingBox(TessResultIteratorGetPageIteratorConst(iterator), level,
                                                  &left, &top, &right, &bottom) != 0 else { continue }
                let centre = Int(top + bottom) / 2
                guard let row = tops.lastIndex(where: { $0 - Self.gap / 2 <= centre }), row < images.count else { continue }
                let confidence = TessResultIteratorConfidence(iterator, level)
                var characters = 0
                if let text = TessResultIteratorGetUTF8Text(iterator, level) {
                    // Counted, then freed: recognised text is never kept, logged or stored.
                    var pointer = text
                    while pointer.pointee != 0 {
                        let c = UInt8(bitPattern: pointer.pointee)
                        if (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) { characters += 1 }
                        pointer += 1
                    }
                    TessDeleteText(text)
                }
                if confidence >= Self.confident && characters >= 2 {
                    result[row].confidentWords += 1
                    result[row].confidentCharacters += characters
                }
            } while TessResultIteratorNext(iterator, level) != 0
        }
        return result
    }
}

/// The readers of the process, loaded when first needed: a run whose frames need no OCR loads
/// none. A thread that finds every reader busy waits for one to come back, and a further reader
/// is loaded only once threads have waited, together, as long as a load takes (the loads that
/// waiting saves are paid for by waiting no longer than a load would have taken): one reader serves
/// a series with little text, one per thread a series with text on every slice.
package final class ReaderPool: @unchecked Sendable {  // every field under `condition`
    /// What loading a reader costs (seconds of wall time on one core), in waiting that buys the next one.
    package static let loadCost = 0.15

    private let condition = NSCondition()
    private var idle: [TextReader] = []
    private var loading = false
    private var loaded = 0
    private var waited = 0.0

    package func borrow() throws(PixelError) -> TextReader {
        condition.lock()
        while true {
            if let reader = idle.popLast() {
                condition.unlock()
                return reader
            }
            if !loading && (loaded == 0 || waited >= Self.loadCost) {
                loading = true
                waited = 0
                condition.unlock()
                let result = Result { () throws(PixelError) in try TextReader() }
                condition.lock()
                loading = false
                if case .success = result { loaded += 1 }
                condition.broadcast()
                condition.unlock()
                return try result.get()
            }
            let start = DispatchTime.now().uptimeNanoseconds
            condition.wait()
            waited += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
    }

    package func giveBack(_ reader: TextReader) {
        condition.lock()
        idle.append(reader)
        condition.signal()
        condition.unlock()
    }

    /// Ends the idle readers (each in its deinit); called when no frame is being read.
    package func closeAll() {
        condition.lock()
        while loading { condition.wait() }
        let closing = idle
        idle.removeAll()
        loaded -= closing.count
        waited = 0
        condition.unlock()
        _ = closing
    }
}

/// A binarised, upscaled cut-out of one candidate row: true where there is ink.
package struct Bitmap {
    package var width: Int
    package var height: Int
    package var pixels: [Bool]

    /// The row's box with a margin, in the candidate's polarity, scaled so characters are about
    /// `TextReader.targetHeight` high, and thresholded halfway between the local background (the
    /// median) and the strokes (the extreme): a local threshold, so text over tissue reads like text over air.
    package static func crop(_ candidate: TextCandidate, from frame: Frame) -> Bitmap {
        let margin = max(2, candidate.characterHeight / 2)
        let box = candidate.box.grown(by: margin, within: frame.width, frame.height)
        let sign: Int64 = candidate.polarity == .bright ? 1 : -1
        var values = [Double]()
        values.reserveCapacity(box.area)
        for y in box.y0..<box.y1 {
            for x in box.x0..<box.x1 { values.append(Double(sign * Int64(frame[y * frame.width + x]))) }
        }
        let sorted = values.sorted()
        let background = sorted[sorted.count / 2], peak = sorted[sorted.count - 1]
        let threshold = (background + peak) / 2
        let height = max(1, candidate.vertical ? candidate.box.width : candidate.box.height)
        let scale = max(2, min(6, Int((Double(TextReader.targetHeight) / Double(max(height, 1))).rounded())))
        let w = box.width, h = box.height
        let outW = w * scale, outH = h * scale
        var pixels = [Bool](repeating: false, count: outW * outH)
        // Bilinear upscaling before the threshold gives smooth strokes, which Tesseract reads better than blocks.
        for oy in 0..<outH {
            let fy = (Double(oy) + 0.5) / Double(scale) - 0.5
            let y0 = max(0, min(h - 1, Int(fy.rounded(.down)))), y1 = min(h - 1, y0 + 1)
            let ty = max(0, min(1, fy - Double(y0)))
            for ox in 0..<outW {
                let fx = (Double(ox) + 0.5) / Double(scale) - 0.5
                let x0 = max(0, min(w - 1, Int(fx.rounded(.down)))), x1 = min(w - 1, x0 + 1)
                let tx = max(0, min(1, fx - Double(x0)))
                let top = values[y0 * w + x0] * (1 - tx) + values[y0 * w + x1] * tx
                let bottom = values[y1 * w + x0] * (1 - tx) + values[y1 * w + x1] * tx
                pixels[oy * outW + ox] = top * (1 - ty) + bottom * ty > threshold
            }
        }
        return Bitmap(width: outW, height: outH, pixels: pixels)
    }

    package func rotated(clockwise: Bool) -> Bitmap {
        var out = [Bool](repeating: false, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                // Clockwise: (x, y) goes to (height-1-y, x); counter-clockwise: (y, width-1-x).
                let (nx, ny) = clockwise ? (height - 1 - y, x) : (y, width - 1 - x)
                out[ny * height + nx] = pixels[y * width + x]
            }
        }
        return Bitmap(width: height, height: width, pixels: out)
    }
}

/// A pixel stage that cannot do its work on a file; the reason names what is missing, never patient data.
public struct PixelError: Error, Sendable {
    public let reason: String
    public init(reason: String) { self.reason = reason }
}

/// Whether OCR can run for a policy, and closing the readers.
extension BurnedInPolicy {
    /// Refuses to start when the pixels are to be checked but OCR cannot run (a missing package is
    /// a configuration problem, not a reason to quarantine every image).
    public func checkReady() throws(ConfigurationError) {
        guard self != .off else { return }
        do throws(PixelError) {
            try TextReader.checkAvailable()
        } catch {
            throw ConfigurationError("burned_in = \(rawValue): \(error.reason); or set burned_in = off")
        }
    }

    /// Closes the open OCR readers, before the process exits (a process that exits with Tesseract
    /// open can abort in its cache's destructor). Readers are loaded when a frame first needs one.
    public static func closeReaders() {
        TextReader.closeAll()
    }
}
