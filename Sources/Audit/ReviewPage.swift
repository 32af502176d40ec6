import Foundation

/// A static HTML page for a person to review what was done to the images: per job, every series with
/// its verdict, the voxels removed, the frontal and profile skin renderings before | after, the
/// burned-in text masked (counts and the QA sheet of masked images) and why files were not delivered.
/// Built from the audit database and the QA pictures only, so it holds no patient data: no folder
/// name (the accession number), no file name, no header value; jobs are named by number and
/// De-identification_ID. Pictures are linked by paths relative to the page, so the QA folder can be
/// copied elsewhere whole. One page per job (`qa/job-N/index.html`), and one per `ctdeid run`
/// (`qa/run-<first>-<last>.html`) holding all its jobs.
public enum ReviewPage {
    /// Writes the page of one job; returns its path.
    @discardableResult
    public static func writeJobPage(job: Int64, store: AuditStore, qaRoot: URL) throws -> URL {
        let url = qaRoot.appendingPathComponent("job-\(job)/index.html")
        try write(jobs: [job], title: "ctdeid review: job \(job)", store: store, qaRoot: qaRoot, to: url)
        return url
    }

    /// Writes the page of a run's jobs; returns its path.
    @discardableResult
    public static func writeRunPage(jobs: [Int64], store: AuditStore, qaRoot: URL) throws -> URL {
        let first = jobs.min() ?? 0, last = jobs.max() ?? 0
        let url = qaRoot.appendingPathComponent(first == last ? "run-\(first).html" : "run-\(first)-\(last).html")
        try write(jobs: jobs.sorted(), title: "ctdeid review: run of job(s) \(first == last ? "\(first)" : "\(first)-\(last)")",
                  store: store, qaRoot: qaRoot, to: url)
        return url
    }

    package static func write(jobs: [Int64], title: String, store: AuditStore, qaRoot: URL, to url: URL) throws {
        let folder = url.deletingLastPathComponent()
        var body = ""
        for job in jobs {
            guard let detail = try store.job(job) else { continue }
            body += try section(detail, store: store, qaRoot: qaRoot, page: folder)
        }
        let html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>
            body { font-family: sans-serif; margin: 1.5em; color: #222; }
            table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
            th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
            th { background: #eee; }
            .defaced { color: #060; } .quarantined { color: #a00; } .metadata-only, .face-kept { color: #555; }
            img { max-width: 520px; display: block; margin: 0.2em 0; background: #000; }
            .note { color: #555; font-size: 0.9em; }
            </style></head>
            <body>
            <h1>\(escape(title))</h1>
            <p class="note">No patient data: jobs are named by number and De-identification_ID. Renderings: skin surface before | after,
            frontal (patient's right on the left) and profile (from the patient's right, face to the right).</p>
            \(body)
            <script>
            // Marks each picture as loaded or missing, for a reader that checks the page (and a test).
            function mark(img) { img.dataset.loaded = img.complete && img.naturalWidth > 0 ? "yes" : "no"; }
            for (const img of document.images) { if (img.complete) mark(img); img.addEventListener("load", () => mark(img)); img.addEventListener("error", () => mark(img)); }
            </script>
            </body></html>

            """
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(html.utf8).write(to: url, options: .atomic)
    }

    package static func section(_ job: AuditStore.JobDetail, store: AuditStore, qaRoot: URL, page: URL) throws -> String {
        var html = "<section class=\"job\" data-job=\"\(job.id)\">\n"
        html += "<h2>Job \(job.id): <span class=\"\(job.state.rawValue)\">\(escape(job.state.rawValue))</span></h2>\n"
        html += "<p>De-identification_ID: \(escape(job.deidentificationID ?? "-")); files: \(job.filesTotal) total, "
            + "\(job.filesDelivered) delivered, \(job.filesQuarantined) quarantined, \(job.filesIgnored) ignored"
            + (job.reason.map { "; \(escape($0))" } ?? "") + "</p>\n"
        let series = try store.series(job: job.id)
        let text = Dictionary(try store.textSeries(job: job.id).map { ($0.series, $0) }) { a, _ in a }
        if series.isEmpty && text.isEmpty {
            html += "<p class=\"note\">No image series was judged in this job.</p>\n"
        } else {
            html += "<table><tr><th>Series</th><th>Files</th><th>Verdict</th><th>Voxels removed</th><th>Reason</th>"
                + "<th>Burned-in text</th><th>Renderings (before | after)</th></tr>\n"
            let numbers = Set(series.map(\.index)).union(text.keys).sorted()
            let byIndex = Dictionary(series.map { ($0.index, $0) }) { a, _ in a }
            for number in numbers {
                let record = byIndex[number]
                let verdict = record?.verdict ?? "not defaced"
                html += "<tr class=\"series\" data-series=\"\(number)\" data-verdict=\"\(escape(verdict))\">"
                html += "<td>\(number)</td><td>\(record.map { "\($0.files)" } ?? "-")</td>"
                html += "<td class=\"\(escape(verdict))\">\(escape(verdict))</td>"
                html += "<td>\(record.map { "\($0.voxelsRemoved)" } ?? "-")</td>"
                html += "<td>\(escape(record?.reason ?? (record == nil ? "not a CT, MR or PET series judged for a face" : "")))</td>"
                var textCell = "-"
                if let t = text[number] {
                    textCell = "\(t.images) image(s) checked, \(t.masked) masked (\(t.regions) region(s)), \(t.quarantined) quarantined"
                    let sheet = qaRoot.appendingPathComponent("job-\(job.id)/text-series-\(number).png")
                    if FileManager.default.fileExists(atPath: sheet.path) {
                        textCell += image(sheet, page: page, alt: "masked text, series \(number)", kind: "text")
                    }
                }
                html += "<td>\(textCell)</td><td>"
                var pictures = ""
                if let path = record?.qaImage { pictures += image(URL(fileURLWithPath: path), page: page, alt: "frontal, series \(number)", kind: "frontal") }
                if let path = record?.qaProfile { pictures += image(URL(fileURLWithPath: path), page: page, alt: "profile, series \(number)", kind: "profile") }
                html += (pictures.isEmpty ? "-" : pictures) + "</td></tr>\n"
            }
            html += "</table>\n"
        }
        let reasons = try store.fileReasons(job: job.id)
        if !reasons.isEmpty {
            html += "<h3>Files not delivered</h3><table><tr><th>Files</th><th>Outcome</th><th>Reason</th></tr>\n"
            for entry in reasons {
                html += "<tr class=\"reason\"><td>\(entry.count)</td><td>\(escape(entry.outcome))</td><td>\(escape(entry.reason))</td></tr>\n"
            }
            html += "</table>\n"
        }
        return html + "</section>\n"
    }

    package static func image(_ url: URL, page: URL, alt: String, kind: String) -> String {
        "<img class=\"\(kind)\" src=\"\(escape(relativePath(url, from: page)))\" alt=\"\(escape(alt))\">"
    }

    /// `url` as a path relative to the folder `base` (both absolute); percent-encoded for a src.
    package static func relativePath(_ url: URL, from base: URL) -> String {
        let target = url.standardizedFileURL.pathComponents, origin = base.standardizedFileURL.pathComponents
        var common = 0
        while common < min(target.count, origin.count), target[common] == origin[common] { common += 1 }
        let parts = Array(repeating: "..", count: origin.count - common) + target[common...]
        let path = parts.joined(separator: "/")
        return path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path
    }

    package static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
