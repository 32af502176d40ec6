import Dispatch

/// Runs blocking work (a job's files, inotify's wait, a sheet's import) off the cooperative pool.
func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: work()) }
    }
}
