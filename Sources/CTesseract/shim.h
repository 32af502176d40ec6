// Tesseract's own C API (Debian libtesseract-dev), imported as it is: the OCR of candidate text
// regions is driven from Swift (TextReader), where every decision is made and tested.
#include <tesseract/capi.h>

// Debian builds Tesseract with OpenMP (libgomp, which it links), and its LSTM asks for several
// threads per layer whatever omp_set_num_threads says. OMP_THREAD_LIMIT would cap them, but
// libgomp reads the environment when it is loaded, before main. A maximum of 0 active levels
// makes every parallel region run on the thread that enters it: the job's workers already run
// one frame per core, and OpenMP's extra threads only spin beside them (3x slower on text).
void omp_set_max_active_levels(int);
