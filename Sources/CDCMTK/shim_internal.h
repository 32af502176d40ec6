// What the shim's C++ files share: DCMTK's headers, the opaque handles' definitions, and the
// one way errors are reported. Private to the shim (not in include/).
#pragma once

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dctk.h"
#include "dcmtk/dcmdata/dcspchrs.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcostrmb.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcrleerg.h"
#include "dcmtk/dcmdata/dcrlerp.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpeg/djencode.h"
#include "dcmtk/dcmjpeg/djrplol.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/dcmjpls/djencode.h"
#include "dcmtk/dcmjpls/djrparam.h"
#include "dcmtk/oflog/oflog.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <fcntl.h>
#include <unistd.h>

#include "ctd_dcmtk.h"

struct ctd_file {
    DcmFileFormat format;
    std::string transferSyntax;
    // Set when new pixel data cannot be written in the original (lossy) transfer syntax.
    E_TransferSyntax outputXfer = EXS_Unknown;
};

struct ctd_charset {
    DcmSpecificCharacterSet converter;
};

inline void put_error(char *err, size_t errlen, const std::string &message) {
    if (err && errlen > 0) {
        std::snprintf(err, errlen, "%s", message.c_str());
    }
}
