import Foundation
import Glibc
import Watcher
import XCTest

/// Real inotify on real temporary folders.
final class InboxWatcherTests: XCTestCase {
    private var base: URL!
    private var inbox: URL!
    /// Same filesystem as the inbox, so rename() works.
    private var outside: URL!

    override func setUpWithError() throws {
        base = FileManager.default.temporaryDirectory
            .appendingPathComponent("inboxwatcher-tests-\(getpid())-\(UUID().uuidString.prefix(8))")
        inbox = base.appendingPathComponent("inbox")
        outside = base.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: base)
    }

    // MARK: - Helpers

    private func path(_ relative: String, in root: URL? = nil) -> String {
        (root ?? inbox).path + "/" + relative
    }

    private func makeDirectory(_ relative: String, in root: URL? = nil) {
        XCTAssertEqual(mkdir(path(relative, in: root), 0o755), 0, "mkdir \(relative): \(String(cString: strerror(errno)))")
    }

    /// Plain open/write/close (Foundation's createFile writes atomically through a temporary name).
    private func writeFile(_ relative: String, in root: URL? = nil, bytes: Int = 1000, chunks: Int = 4) {
        let descriptor = open(path(relative, in: root), O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(descriptor, 0, "open \(relative): \(String(cString: strerror(errno)))")
        guard descriptor >= 0 else { return }
        let data = [UInt8](repeating: 0x42, count: bytes / chunks)
        for _ in 0..<chunks { _ = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) } }
        close(descriptor)
    }

    private func renameItem(_ from: String, _ to: String) {
        XCTAssertEqual(rename(from, to), 0, "rename \(from) -> \(to): \(String(cString: strerror(errno)))")
    }

    /// Waits for the first relevant change, then keeps draining until things go quiet.
    private func collect(_ watcher: InboxWatcher, timeout: Double = 3) -> InboxChanges {
        var total = InboxChanges()
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let changes = watcher.wait(timeoutMilliseconds: total.isEmpty ? 200 : 150)
            if changes.isEmpty {
                if !total.isEmpty { break }
                continue
            }
            total.changed.formUnion(changes.changed)
            total.rescanNeeded = total.rescanNeeded || changes.rescanNeeded
        }
        return total
    }

    private func assertQuiet(_ watcher: InboxWatcher, _ message: String, line: UInt = #line) {
        XCTAssertEqual(watcher.wait(timeoutMilliseconds: 300), InboxChanges(), message, line: line)
    }

    private func procValue(_ file: String) -> String? {
        try? String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// /proc files cannot be replaced atomically: plain write.
    @discardableResult
    private func setProcValue(_ file: String, _ value: String) -> Bool {
        let descriptor = open(file, O_WRONLY | O_TRUNC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let bytes = Array((value + "\n").utf8)
        return bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) } == bytes.count
    }

    private func threadCPUSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    // MARK: - Tests

    func testNestedFolderWrittenFileByFileIsReported() throws {
        let watcher = try InboxWatcher(inbox: inbox)
        XCTAssertEqual(watcher.watchCount, 1)

        makeDirectory("P1")
        writeFile("P1/a.dcm")
        makeDirectory("P1/s1")
        makeDirectory("P1/s1/s2")
        writeFile("P1/s1/s2/b.dcm")
        writeFile("P1/s1/c.dcm")
        XCTAssertEqual(collect(watcher), InboxChanges(changed: ["P1"]))
        XCTAssertEqual(watcher.watchCount, 4)

        // Subfolders created after the watcher started, written into at once (before their watch exists).
        makeDirectory("P1/new")
        writeFile("P1/new/x.dcm")
        makeDirectory("P1/new/deep")
        writeFile("P1/new/deep/y.dcm")
        XCTAssertEqual(collect(watcher), InboxChanges(changed: ["P1"]))
        XCTAssertEqual(watcher.watchCount, 6)

        // The racing subfolder is watched now: a later write in it is seen.
        writeFile("P1/new/deep/z.dcm")
        XCTAssertEqual(collect(watcher), InboxChanges(changed: ["P1"]))
        assertQuiet(watcher, "nothing else pending")
    }

    func testFolderRenamedIntoInboxIsReported() throws {
        makeDirectory("P2", in: outside)
        writeFile("P2/a.dcm", in: outside)
        makeDirectory("P2/sub", in: outside)
        writeFile("P2/sub/b.dcm", in: outside)
        let watcher = try InboxWatcher(inbox: inbox)

        renameItem(path("P2", in: outside), path("P2"))
        XCTAssertEqual(collect(watcher), InboxChanges(changed: ["P2"]))
        XCTAssertEqual(watcher.watchCount, 3)

        writeFile("P2/sub/c.dcm")
        XCTAssertEqual(collect(watcher), InboxChanges(changed: ["P2"]))
    }

    func testPartialAndHiddenWritesAreIgnoredUntilRenamed() throws {
        makeDirectory("P3")
        let watcher = try InboxWatcher(inbox: inbox)
        XCTAssertEqual(watcher.watchCount, 2)

        writeFile("P3/x.partial", bytes: 4000, chunks: 8)
        writeFile("P3/.hidden")
        makeDirectory("P3/.tmp")
        writeFile("P3/.tmp/y.dcm")
        makeDirectory(".staging")
        writeFile(".staging/z.dcm")
        writeFile("top.partial")
        assertQuiet(watcher, "partial and hidden writes must not count")
        XCTAssertEqual(watcher.watchCount, 2, "hidden folders are not watched")

        renameItem(path("P3/x.partial"), path("P3/x.dcm"))
        XCTAssertEqual(collect(watcher), InboxChanges(changed: ["P3"]))

        renameItem(path(".staging"), path("P4"))
        XCTAssertEqual(collect(watcher), InboxChanges(changed: ["P4"]))
        XCTAssertEqual(watcher.watchCount, 3)
        writeFile("P4/w.dcm")
        XCTAssertEqual(collect(watcher), InboxChanges(changed: ["P4"]))
    }

    func testSymlinkedDirectoryIsNotFollowed() throws {
        makeDirectory("target", in: outside)
        writeFile("target/t1.dcm", in: outside)
        makeDirectory("P5")
        writeFile("P5/real.dcm", bytes: 100, chunks: 1)
        XCTAssertEqual(symlink(path("target", in: outside), path("P5/link")), 0)
        XCTAssertEqual(symlink(path("target", in: outside), path("L")), 0)

        let watcher = try InboxWatcher(inbox: inbox)
        XCTAssertEqual(watcher.watchCount, 2, "inbox and P5 only")
        writeFile("target/t2.dcm", in: outside)
        assertQuiet(watcher, "writes in a symlink target must not be reported")

        let entries = watcher.scan()
        XCTAssertEqual(entries.map(\.name), ["L", "P5"])
        XCTAssertEqual(entries[0].isDirectory, false)
        XCTAssertEqual(entries[0].fileCount, 0)
        XCTAssertEqual(entries[1].isDirectory, true)
        XCTAssertEqual(entries[1].fileCount, 1)
        XCTAssertEqual(entries[1].totalBytes, 100)
        XCTAssertEqual(watcher.watchCount, 2, "scan does not watch through symlinks")

        // A symlink created later is a change in P5, but is never descended into.
        XCTAssertEqual(symlink(path("target", in: outside), path("P5/link2")), 0)
        XCTAssertEqual(collect(watcher), InboxChanges(changed: ["P5"]))
        XCTAssertEqual(watcher.watchCount, 2)
        writeFile("target/t3.dcm", in: outside)
        assertQuiet(watcher, "writes in a symlink target must not be reported")
    }

    func testDeletingTopLevelFolderIsReported() throws {
        makeDirectory("P6")
        makeDirectory("P6/sub")
        writeFile("P6/sub/a.dcm")
        let watcher = try InboxWatcher(inbox: inbox)
        XCTAssertEqual(watcher.watchCount, 3)

        try FileManager.default.removeItem(atPath: path("P6"))
        XCTAssertEqual(collect(watcher), InboxChanges(changed: ["P6"]))
        XCTAssertEqual(watcher.watchCount, 1, "watches of removed folders are forgotten")
    }

    func testDirectoryMovedInsideInboxKeepsWatchesInSync() throws {
        makeDirectory("PA")
        makeDirectory("PA/sub")
        writeFile("PA/sub/a.dcm")
        makeDirectory("PB")
        let watcher = try InboxWatcher(inbox: inbox)
        XCTAssertEqual(watcher.watchCount, 4)

        renameItem(path("PA/sub"), path("PB/sub"))
        XCTAssertEqual(collect(watcher).changed, ["PA", "PB"])
        writeFile("PB/sub/b.dcm")
        XCTAssertEqual(collect(watcher).changed, ["PB"], "events below the moved folder use its new path")

        renameItem(path("PB"), path("PC"))
        XCTAssertEqual(collect(watcher).changed, ["PB", "PC"])
        writeFile("PC/sub/c.dcm")
        XCTAssertEqual(collect(watcher).changed, ["PC"])
        XCTAssertEqual(watcher.watchCount, 4)

        // Moved out of the inbox: reported as gone, and no longer watched.
        renameItem(path("PC"), path("PC", in: outside))
        XCTAssertEqual(collect(watcher).changed, ["PC"])
        writeFile("PC/sub/d.dcm", in: outside)
        assertQuiet(watcher, "a folder moved out of the inbox is not watched any more")
        XCTAssertEqual(watcher.watchCount, 2)
        XCTAssertEqual(watcher.scan().map(\.name), ["PA"])
        XCTAssertEqual(watcher.watchCount, 2)
    }

    func testScanSignaturesChangeWhenFileIsAdded() throws {
        makeDirectory("P7")
        writeFile("P7/a.dcm", bytes: 1000)
        writeFile("P7/.hidden", bytes: 50, chunks: 1)
        writeFile("P7/b.partial", bytes: 70, chunks: 1)
        makeDirectory("P7/.tmp")
        writeFile("P7/.tmp/c.dcm", bytes: 30, chunks: 1)
        makeDirectory(".staging")
        writeFile("stray.txt", bytes: 12, chunks: 1)
        let watcher = try InboxWatcher(inbox: inbox)

        let before = watcher.scan()
        XCTAssertEqual(before.map(\.name), ["P7", "stray.txt"])
        XCTAssertEqual(before[0].isDirectory, true)
        XCTAssertEqual(before[0].fileCount, 1)
        XCTAssertEqual(before[0].totalBytes, 1000)
        XCTAssertEqual(before[1], InboxEntry(name: "stray.txt", isDirectory: false, fileCount: 0, totalBytes: 12,
                                             latestModification: before[1].latestModification))
        XCTAssertEqual(watcher.scan(), before, "the signature is stable while nothing changes")

        usleep(50_000)  // timestamps come from a coarse clock
        makeDirectory("P7/series")
        writeFile("P7/series/d.dcm", bytes: 2000)
        let after = watcher.scan()
        XCTAssertEqual(after[0].fileCount, 2)
        XCTAssertEqual(after[0].totalBytes, 3000)
        XCTAssertGreaterThan(after[0].latestModification, before[0].latestModification)
        XCTAssertEqual(after[1], before[1])
        XCTAssertEqual(watcher.watchCount, 3, "inbox, P7, P7/series")
    }

    func testQueueOverflowRequestsRescan() throws {
        let limitFile = "/proc/sys/fs/inotify/max_queued_events"
        guard access(limitFile, W_OK) == 0, let original = procValue(limitFile) else {
            throw XCTSkip("\(limitFile) is not writable here (needs root): cannot force IN_Q_OVERFLOW")
        }
        makeDirectory("P8")  // watched from the start, so every write below queues events
        // The limit is read by inotify_init1: lower it only around the watcher's creation.
        let watcher: InboxWatcher
        do {
            defer { setProcValue(limitFile, original) }
            guard setProcValue(limitFile, "16") else { throw XCTSkip("cannot write \(limitFile)") }
            watcher = try InboxWatcher(inbox: inbox)
        }
        XCTAssertEqual(procValue(limitFile), original)

        for index in 0..<40 { writeFile("P8/f\(index).dcm", chunks: 1) }
        let changes = watcher.wait(timeoutMilliseconds: 1000)
        XCTAssertTrue(changes.rescanNeeded, "\(changes)")

        let entries = watcher.scan()
        XCTAssertEqual(entries.first?.fileCount, 40)
        XCTAssertEqual(watcher.watchCount, 2)
        _ = watcher.wait(timeoutMilliseconds: 0)  // discard what remained queued
        writeFile("P8/late.dcm", chunks: 1)
        XCTAssertEqual(collect(watcher), InboxChanges(changed: ["P8"]))
    }

    func testWatchLimitRequestsRescan() throws {
        let limitFile = "/proc/sys/fs/inotify/max_user_watches"
        guard access(limitFile, W_OK) == 0, let original = procValue(limitFile) else {
            throw XCTSkip("\(limitFile) is not writable here (needs root): cannot force ENOSPC")
        }
        let watcher = try InboxWatcher(inbox: inbox)
        makeDirectory("P9")
        let changes: InboxChanges
        do {
            // Keep the lowered limit in force for as short a time as possible: it is per user.
            defer { setProcValue(limitFile, original) }
            guard setProcValue(limitFile, "1") else { throw XCTSkip("cannot write \(limitFile)") }
            changes = watcher.wait(timeoutMilliseconds: 2000)
        }
        XCTAssertEqual(procValue(limitFile), original)
        XCTAssertEqual(changes.changed, ["P9"])
        XCTAssertTrue(changes.rescanNeeded, "a watch that could not be added means events can be missed")
        XCTAssertTrue(watcher.watchFailure?.reason.contains(path("P9")) == true, "\(String(describing: watcher.watchFailure))")
        XCTAssertEqual(watcher.watchCount, 1)

        XCTAssertEqual(watcher.scan().map(\.name), ["P9"])
        XCTAssertNil(watcher.watchFailure)
        XCTAssertEqual(watcher.watchCount, 2)
        writeFile("P9/a.dcm")
        XCTAssertEqual(collect(watcher), InboxChanges(changed: ["P9"]))
    }

    func testWaitTimesOutWithoutBusyLoopAndReturnsAtOnceWhenEventsArePending() throws {
        let watcher = try InboxWatcher(inbox: inbox)

        let cpuBefore = threadCPUSeconds()
        let start = Date()
        XCTAssertEqual(watcher.wait(timeoutMilliseconds: 300), InboxChanges())
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 0.3)
        XCTAssertLessThan(elapsed, 1.5)
        XCTAssertLessThan(threadCPUSeconds() - cpuBefore, 0.05, "waiting must sleep, not spin")

        let quick = Date()
        XCTAssertEqual(watcher.wait(timeoutMilliseconds: 0), InboxChanges())
        XCTAssertLessThan(Date().timeIntervalSince(quick), 0.1)

        makeDirectory("P10")
        let pending = Date()
        XCTAssertEqual(watcher.wait(timeoutMilliseconds: 5000), InboxChanges(changed: ["P10"]))
        XCTAssertLessThan(Date().timeIntervalSince(pending), 0.5)

        // Irrelevant events alone do not end the wait early.
        writeFile(".hidden")
        let ignored = Date()
        XCTAssertEqual(watcher.wait(timeoutMilliseconds: 300), InboxChanges())
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(ignored), 0.3)
    }

    func testRemovedInboxRequestsRescan() throws {
        let watcher = try InboxWatcher(inbox: inbox)
        try FileManager.default.removeItem(at: inbox)
        XCTAssertTrue(collect(watcher).rescanNeeded)
        XCTAssertEqual(watcher.scan(), [])
        XCTAssertEqual(watcher.watchCount, 0)
        XCTAssertNotNil(watcher.watchFailure, "the inbox itself cannot be watched")
    }

    func testMissingInboxThrowsWithPath() {
        let missing = base.appendingPathComponent("missing")
        XCTAssertThrowsError(try InboxWatcher(inbox: missing)) { error in
            let reason = (error as? WatcherError)?.reason ?? ""
            XCTAssertTrue(reason.contains(missing.path), reason)
            XCTAssertTrue(reason.contains("No such file"), reason)
        }
    }
}
