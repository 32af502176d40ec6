// Tesseract's own C API (Debian libtesseract-dev), imported as it is: the OCR of candidate text
// regions is driven from Swift (TextReader), where every decision is made and tested.
#include <tesseract/capi.h>
