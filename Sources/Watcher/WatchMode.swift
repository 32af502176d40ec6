import Foundation
import Glibc
import Platform

/// How the inbox learns of changes. inotify sees only what this machine writes: an inbox on an SMB or
/// NFS share gets no event for files another client of the share writes, so such inboxes rely on
/// the periodic `rescan()`, and `poll` does without inotify altogether.
public enum WatchMode: String, Sendable, CaseIterable {
    case inotify, poll
}
