#ifndef CTD_PLATFORM_H
#define CTD_PLATFORM_H

#ifdef __cplusplus
extern "C" {
#endif

/* syncfs(2), which Swift's Glibc module does not export: one flush per job, not per file. */
int ctd_syncfs(int fd);

/* sync_file_range(2, SYNC_FILE_RANGE_WRITE), likewise not exported. */
int ctd_start_writeback(int fd);

#ifdef __cplusplus
}
#endif

#endif
