import Defacing
/// The pixel work of a job, series by series. Each head series is judged as a volume (defaced, held,
/// or left to its metadata), then its files are handed on to be edited and written while the series'
/// decoded pixels are still in memory: a file the toolkit decoded for the volume is not decoded again
/// (`DecodedSeries`), and one series' volume at a time is held. Face edits and text masks then meet in
/// `FilePixels`, which decodes and writes each file's pixels once.
///
/// A defaced file is read three times, and its pixels decoded once: its header (to find its series),
/// its pixels (decoded for the volume) and the whole file (hashed, de-identified and written from the
/// bytes read). A compressed file whose pixels change has its header read once more by the toolkit,
/// which encodes the new pixel data.
package struct PixelPlan {
    package let defacing: SeriesDefacing
    /// The header of every image file that may be delivered, by file index.
    package let headers: [Int: SliceHeader]
    /// File i's path.
    package let paths: [String]
    /// Also judge MR and PET series (held, or delivered with their face); `ctdeid deface` leaves them.
    package let judgesUndefaced: Bool

    package init(defacing: SeriesDefacing, headers: [Int: SliceHeader], paths: [String], judgesUndefaced: Bool) {
        self.defacing = defacing
        self.headers = headers
        self.paths = paths
        self.judgesUndefaced = judgesUndefaced
    }

    /// CT series (and MR and PET series when judged), each a sorted list of file indices, numbered
    /// 1, 2, ... in this order (by their first file), as the QA pictures of burned-in text number them.
    package var series: [(files: [Int], isCT: Bool)] {
        let ct = SeriesDefacing.groupBySeries(headers).map { (files: $0, isCT: true) }
        let undefaced = judgesUndefaced
            ? SeriesDefacing.groupBySeries(headers, including: \.isUndefacedModality).map { (files: $0, isCT: false) } : []
        return (ct + undefaced).sorted { $0.files[0] < $1.files[0] }
    }

    /// Each series in turn: judged, `judged` is told its number and verdict, then its files go to
    /// `write` with their face instructions. Stops with false when `write` does (interrupted).
    package func run<Failure: Error>(judged: (_ number: Int, _ files: [Int], _ verdict: SeriesVerdict) throws(Failure) -> Void,
                             write: (_ files: [Int], _ face: @Sendable (Int) -> FaceInstructions?) throws(Failure) -> Bool)
        throws(Failure) -> Bool {
        for (number, (files, isCT)) in series.enumerated() {
            let verdict = isCT ? defacing.process(series: files, headers: headers, paths: paths)
                : defacing.judgeUndefaced(series: files, headers: headers)
            try judged(number + 1, files, verdict)
            let headers = self.headers
            guard try write(files, { FaceInstructions(verdict, file: $0, headers: headers) }) else { return false }
        }
        return true
    }
}
