#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "ctd_platform.h"

int ctd_syncfs(int fd) { return syncfs(fd); }

int ctd_start_writeback(int fd) { return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); }
