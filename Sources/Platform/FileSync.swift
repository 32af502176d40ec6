import CPlatform
import Foundation

// Durability: what is written is on disk before it is recorded or renamed into place.

/// One syncfs for a whole job instead of one fsync per file.
package func syncFileSystem(of path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    ctd_syncfs(fd)
    close(fd)
}

package func syncDirectory(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    fsync(fd)
    close(fd)
}
