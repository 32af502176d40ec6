import Dispatch
import Foundation
import Synchronization

// Work spread over all cores: indices handed out one at a time, results in order.

/// A raw pointer shared by the workers of `parallelFor`; each worker writes only its own slices.
package struct SharedPointer<T>: @unchecked Sendable {
    package let base: UnsafeMutablePointer<T>
    package init(base: UnsafeMutablePointer<T>) { self.base = base }
    @inline(__always) package subscript(i: Int) -> T {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }
}

/// Runs `body` for 0..<count on all cores, handing out indices one at a time (slices differ in cost).
package func parallelFor(_ count: Int, _ body: @Sendable (Int) -> Void) {
    guard count > 1 else {
        if count == 1 { body(0) }
        return
    }
    let next = Atomic<Int>(0)
    let workers = min(count, max(1, ProcessInfo.processInfo.activeProcessorCount))
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        while true {
            let k = next.add(1, ordering: .relaxed).oldValue
            if k >= count { return }
            body(k)
        }
    }
}

/// `body` for 0..<count on all cores (as `parallelFor`), the results in order.
package func parallelMap<T>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
    let results = UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
    defer { results.deallocate() }
    let shared = SharedPointer(base: results)
    parallelFor(count) { k in (shared.base + k).initialize(to: body(k)) }
    defer { results.deinitialize(count: count) }
    return Array(UnsafeBufferPointer(start: results, count: count))
}

/// `body` for 0..<count on `workers` threads, each pulling the next index, so a slow item never
/// holds up others; `progress` after each. nil when `shouldStop` (asked before each item) stopped it.
package func parallelMap<T: Sendable>(_ count: Int, workers: Int, progress: @Sendable () -> Void = {},
                                      shouldStop: @Sendable () -> Bool, _ body: @Sendable (Int) -> T) -> [T]? {
    let results = Mutex([T?](repeating: nil, count: count))
    let next = Atomic<Int>(0)
    let stopped = Atomic<Bool>(false)
    DispatchQueue.concurrentPerform(iterations: max(1, min(workers, count))) { _ in
        while true {
            let index = next.add(1, ordering: .relaxed).oldValue
            if index >= count { return }
            if shouldStop() {
                stopped.store(true, ordering: .relaxed)
                return
            }
            let value = body(index)
            results.withLock { $0[index] = value }
            progress()
        }
    }
    if stopped.load(ordering: .relaxed) { return nil }
    return results.withLock { $0.map { $0! } }
}
