import Foundation

/// An error that words its own reason, without paths.
package protocol ReasonedError: Error {
    var reason: String { get }
}

/// How a failed file operation is told in the audit and the logs.
package enum SystemError {
    /// An error's reason without paths: its own (`ReasonedError`), or the errno text a Foundation
    /// file error stands for.
    package static func reason(_ error: Error) -> String {
        if let error = error as? ReasonedError { return error.reason }
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        // Foundation's file errors, by code, in the words of errno.
        switch ns.code {
        case 257, 513: return String(cString: strerror(EACCES))
        case 4, 260: return String(cString: strerror(ENOENT))
        case 516: return String(cString: strerror(EEXIST))
        case 640: return String(cString: strerror(ENOSPC))
        case 642: return String(cString: strerror(EROFS))
        default: return "error \(ns.domain) \(ns.code)"
        }
    }
}
