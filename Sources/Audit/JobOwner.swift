import Foundation
import GRDB
import Mapping
import Pixels
import Platform

/// Which kind of process created a job and alone may recover it: the service (one per database, by
/// its lock) or a `ctdeid run`, which may share the database with it.
public enum JobOwner: String, Sendable {
    case serve, run

    /// The SQL condition for this owner's jobs (jobs from before owners were recorded are the service's).
    package var condition: String { self == .serve ? "(owner IS NULL OR owner = 'serve')" : "owner = 'run'" }
}
