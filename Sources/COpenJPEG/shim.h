// OpenJPEG's own C API (Debian libopenjp2-7-dev), imported as it is: JPEG 2000 frames are decoded
// and re-encoded from Swift (JPEG2000Codec), where the decisions (lossless or not, which
// precision) are made and tested.
#include <openjpeg.h>
