import Foundation
import Glibc
import Platform

/// What changed since the last call: top-level entry names of the inbox (the patient folders).
public struct InboxChanges: Sendable, Equatable {
    /// Top-level names with any relevant change anywhere below (created, written, closed after write,
    /// moved in/out, deleted, attribute change), including folders renamed into the inbox and
    /// top-level folders that disappeared.
    public var changed: Set<String>
    /// The kernel queue overflowed or the watches may be out of sync: the caller must call scan().
    public var rescanNeeded: Bool

    public init(changed: Set<String> = [], rescanNeeded: Bool = false) {
        self.changed = changed
        self.rescanNeeded = rescanNeeded
    }

    public var isEmpty: Bool { changed.isEmpty && !rescanNeeded }
}
