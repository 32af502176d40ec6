// What the receiver shim's two files share: DCMTK's headers, the copied settings, the workers and
// the state of one run. Private to the shim (not in include/).
#pragma once

#include "dcmtk/config/osconfig.h"

#include "ctd_receiver.h"

#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dcmtrans.h"
#include "dcmtk/dcmnet/dimse.h"
#include "dcmtk/dcmnet/dul.h"
#include "dcmtk/dcmnet/scpcfg.h"
#include "dcmtk/dcmnet/scpthrd.h"
#include "dcmtk/oflog/appender.h"
#include "dcmtk/oflog/helpers/loglog.h"
#include "dcmtk/oflog/logger.h"
#include "dcmtk/oflog/oflog.h"
#include "dcmtk/oflog/spi/logevent.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>


struct ctd_receiver {
    std::atomic<bool> stop{false};
    std::atomic<bool> running{false};
};

namespace ctd_rx {


inline const char *const kVerificationTS[] = {UID_LittleEndianExplicitTransferSyntax,
                                       UID_LittleEndianImplicitTransferSyntax};

inline void copyError(char *buf, size_t len, const std::string &msg)
{
    if (buf == nullptr || len == 0) return;
    std::snprintf(buf, len, "%s", msg.c_str());
}

inline bool plausibleUID(const char *uid)
{
    if (uid == nullptr) return false;
    size_t n = std::strlen(uid);
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; ++i)
        if (!((uid[i] >= '0' && uid[i] <= '9') || uid[i] == '.')) return false;
    return true;
}

// Config copied out of the caller's structure (caller's pointers need not outlive run()).
struct Settings {
    std::string aeTitle;
    std::vector<std::string> transferSyntaxes;
    bool preferProposedOrder = false;
    Uint16 port = 0;
    Uint32 maxPDU = ASC_DEFAULTMAXPDU;
    Uint32 acseTimeout = 30;
    Uint32 dimseTimeout = 60;
    Uint32 maxAssociations = 1;
    Uint32 stopTimeout = 10;
    std::string tempDir;
    // TLS: all empty = plain TCP (certificate and key are set together, CA only with them)
    std::string tlsCertificateFile, tlsPrivateKeyFile, tlsPeerCAFile;
    bool tls() const { return !tlsCertificateFile.empty(); }
};

struct Worker {
    std::thread thread;
    std::mutex mu;                  // guards fd
    int fd = -1;                    // our dup() of the association's socket, -1 when none
    std::atomic<bool> busy{false};  // inside a DIMSE command (receiving / callback / response)
    std::atomic<bool> done{false};

    void shutdownSocket()
    {
        std::lock_guard<std::mutex> g(mu);
        // shutdown() acts on the socket, not the descriptor: it wakes DCMTK's blocked
        // read on its own descriptor. Using our own dup() means the number can never
        // refer to an unrelated, recycled descriptor (DCMTK may close its fd inside run()).
        if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
    }
};



struct Shared {
    Settings s;
    ctd_receiver_callbacks cb{};
    void *ctx = nullptr;
    ctd_receiver *rcv = nullptr;
    DcmSharedSCPConfig scpConfig;
    std::atomic<uint64_t> tempCounter{0};

    bool stopRequested() const { return rcv->stop.load(); }

    void emit(const ctd_event &ev) const
    {
        if (cb.on_event) cb.on_event(ctx, &ev);
    }
    void emitError(uint64_t assocId, const std::string &msg) const
    {
        ctd_event ev{};
        ev.type = CTD_EVENT_ERROR;
        ev.assoc_id = assocId;
        ev.calling_ae = ev.called_ae = ev.peer_ip = "";
        ev.message = msg.c_str();
        emit(ev);
    }
};

// Serves one accepted association on its own thread (association.cpp).
void workerMain(Shared *sh, Worker *w, T_ASC_Association *assoc, uint64_t id);

}  // namespace ctd_rx
