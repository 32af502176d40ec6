// Tesseract's own C API (Debian libtesseract-dev), imported as it is: the OCR of candidate text
// regions is driven from Swift (TextReader), where every decision is made and tested.
#include <tesseract/capi.h>

// Debian builds Tesseract with OpenMP (libgomp, which it links). OpenMP reads OMP_THREAD_LIMIT
// when it is loaded, before main, so the thread count is set through its API instead: the job's
// workers already run one frame per core, and OpenMP's extra threads only spin beside them.
void omp_set_num_threads(int);
