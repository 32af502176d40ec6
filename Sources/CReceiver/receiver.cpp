// ctd_receiver.cpp - thin C-STORE/C-ECHO SCP shim over DCMTK 3.6.7 dcmnet.
// See ctd_receiver.h for the contract. No policy lives here.
//
// Design notes (DCMTK 3.6.7 specifics, see REPORT.md):
//  * We do NOT use DcmSCPPool: in 3.6.7 finished worker threads are never
//    joined or detached (one leaked pthread + stack per association, fixed
//    upstream in 2025), listen() resets a stop request that arrived before it
//    started, and it cannot hand a context pointer to its workers. Instead we
//    run our own small accept loop (ASC_receiveAssociation, like the pool
//    does) and hand each association to a fresh DcmThreadSCP subclass on a
//    std::thread.
//  * We do NOT use DcmStorageSCP: its bit-preserving mode always answers
//    0x0000 and offers no hook between "file written" and "C-STORE-RSP sent",
//    and it is not a DcmThreadSCP. We use DcmSCP::receiveSTORERequest(..,
//    filename), the same call DcmStorageSCP's bit-preserving mode uses: it
//    writes the meta header and then the PDV bytes as received.

#include "receiver_internal.h"

#include "dcmtk/dcmtls/tlslayer.h"

using namespace ctd_rx;

namespace {

void rejectBusy(Shared &sh, T_ASC_Association *assoc, uint64_t id)
{
    T_ASC_RejectParameters rej;
    rej.result = ASC_RESULT_REJECTEDTRANSIENT;
    rej.source = ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED;
    rej.reason = ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED;
    OFCondition cond = ASC_rejectAssociation(assoc, &rej);
    ctd_event ev{};
    ev.type = CTD_EVENT_ASSOC_REJECTED;
    ev.assoc_id = id;
    ev.calling_ae = assoc->params->DULparams.callingAPTitle;
    ev.called_ae = assoc->params->DULparams.calledAPTitle;
    ev.peer_ip = assoc->params->DULparams.callingPresentationAddress;
    ev.reason = CTD_REJECT_BUSY;
    std::string msg = cond.bad() ? std::string(cond.text()) : std::string("too many associations");
    ev.message = msg.c_str();
    sh.emit(ev);
}

void dropAssoc(T_ASC_Association *&assoc)
{
    if (assoc) {
        ASC_dropSCPAssociation(assoc);
        ASC_destroyAssociation(&assoc);
    }
}

bool buildSettings(const ctd_receiver_config *c, Settings &s, DcmSCPConfig &cfg, std::string &err)
{
    if (c->ae_title == nullptr || std::strlen(c->ae_title) == 0 || std::strlen(c->ae_title) > 16) {
        err = "ae_title must have 1..16 characters";
        return false;
    }
    s.aeTitle = c->ae_title;
    if (c->port == 0) { err = "port must not be 0"; return false; }
    s.port = c->port;
    s.maxPDU = c->max_pdu ? c->max_pdu : ASC_DEFAULTMAXPDU;
    if (s.maxPDU < ASC_MINIMUMPDUSIZE || s.maxPDU > ASC_MAXIMUMPDUSIZE) {
        err = "max_pdu must be within 4096..131072";
        return false;
    }
    s.acseTimeout = c->acse_timeout_s ? c->acse_timeout_s : 30;
    s.dimseTimeout = c->dimse_timeout_s ? c->dimse_timeout_s : 60;
    s.maxAssociations = c->max_associations ? c->max_associations : 1;
    s.stopTimeout = c->stop_timeout_s ? c->stop_timeout_s : 10;
    if (c->temp_dir == nullptr || *c->temp_dir == '\0') { err = "temp_dir is required"; return false; }
    s.tempDir = c->temp_dir;
    while (s.tempDir.size() > 1 && s.tempDir.back() == '/') s.tempDir.pop_back();
    struct stat st;
    if (::stat(s.tempDir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || ::access(s.tempDir.c_str(), W_OK | X_OK) != 0) {
        err = "temp_dir is not a writable directory";
        return false;
    }
    s.tlsCertificateFile = c->tls_certificate_file ? c->tls_certificate_file : "";
    s.tlsPrivateKeyFile = c->tls_private_key_file ? c->tls_private_key_file : "";
    s.tlsPeerCAFile = c->tls_peer_ca_file ? c->tls_peer_ca_file : "";
    if (s.tlsCertificateFile.empty() != s.tlsPrivateKeyFile.empty()) {
        err = "tls_certificate_file and tls_private_key_file must be set together (both empty = plain TCP)";
        return false;
    }
    if (!s.tls() && !s.tlsPeerCAFile.empty()) {
        err = "tls_peer_ca_file requires tls_certificate_file and tls_private_key_file";
        return false;
    }

    if (c->sop_class_count > 127) { err = "at most 127 SOP classes (DCMTK limit: 128 contexts per profile)"; return false; }
    if (c->transfer_syntax_count == 0 || c->transfer_syntax_uids == nullptr) {
        err = "at least one transfer syntax is required";
        return false;
    }
    OFList<OFString> ts;
    for (size_t i = 0; i < c->transfer_syntax_count; ++i) {
        if (!plausibleUID(c->transfer_syntax_uids[i])) { err = "invalid transfer syntax UID at index " + std::to_string(i); return false; }
        ts.push_back(c->transfer_syntax_uids[i]);
        s.transferSyntaxes.push_back(c->transfer_syntax_uids[i]);
    }
    s.preferProposedOrder = c->prefer_proposed_order != 0;
    OFList<OFString> vts;
    for (const char *u : kVerificationTS) vts.push_back(u);

    cfg.setAETitle(s.aeTitle.c_str());
    cfg.setRespondWithCalledAETitle(OFFalse);       // answer with our own AE title
    cfg.setPort(s.port);
    cfg.setMaxReceivePDULength(s.maxPDU);
    cfg.setACSETimeout(s.acseTimeout);
    cfg.setDIMSEBlockingMode(DIMSE_NONBLOCKING);    // default is BLOCKING = wait forever
    cfg.setDIMSETimeout(s.dimseTimeout);
    cfg.setConnectionBlockingMode(DUL_NOBLOCK);     // (used by DcmSCP::listen only; we poll ourselves)
    cfg.setConnectionTimeout(1);
    cfg.setHostLookupEnabled(OFFalse);              // process-global: dcmDisableGethostbyaddr = true
    cfg.setProgressNotificationMode(OFTrue);        // needed for the file size check
    cfg.setVerbosePCMode(OFFalse);

    OFCondition cond;
    for (size_t i = 0; i < c->sop_class_count; ++i) {
        const char *uid = c->sop_class_uids ? c->sop_class_uids[i] : nullptr;
        if (!plausibleUID(uid) || std::strcmp(uid, UID_VerificationSOPClass) == 0) {
            err = "invalid SOP class UID at index " + std::to_string(i);
            return false;
        }
        cond = cfg.addPresentationContext(uid, ts, ASC_SC_ROLE_DEFAULT);
        if (cond.bad()) { err = std::string("addPresentationContext: ") + cond.text(); return false; }
    }
    cond = cfg.addPresentationContext(UID_VerificationSOPClass, vts, ASC_SC_ROLE_DEFAULT);
    if (cond.bad()) { err = std::string("addPresentationContext: ") + cond.text(); return false; }
    OFString mangled;
    cond = cfg.checkAssociationProfile("DEFAULT", mangled);
    if (cond.bad()) { err = std::string("association profile invalid: ") + cond.text(); return false; }
    return true;
}

// ---------------------------------------------------------------------- TLS
bool readableFile(const char *field, const std::string &path, std::string &err)
{
    std::FILE *f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        err = std::string("TLS: cannot read ") + field + " '" + path + "': " + std::strerror(errno);
        return false;
    }
    std::fclose(f);
    return true;
}

// The TLS layer for the acceptor, or nullptr with `err` naming the file and the reason.
// Profile: DICOM "Non-downgrading BCP 195" (TLS 1.2+, (EC)DHE-RSA AES-GCM, TLS 1.3), the default of
// DCMTK's own tools. DCMTK's TSP_Profile_BCP195 would also accept TLS 1.0/1.1 and the RSA key
// exchange / 3DES / AES-CBC suites of the retired Basic and AES profiles.
std::unique_ptr<DcmTLSTransportLayer> makeTLSLayer(const Settings &s, std::string &err)
{
    const std::string &crt = s.tlsCertificateFile, &key = s.tlsPrivateKeyFile, &ca = s.tlsPeerCAFile;
    if (!readableFile("tls_private_key_file", key, err) || !readableFile("tls_certificate_file", crt, err) ||
        (!ca.empty() && !readableFile("tls_peer_ca_file", ca, err)))
        return nullptr;
    std::unique_ptr<DcmTLSTransportLayer> tls(new DcmTLSTransportLayer(NET_ACCEPTOR, nullptr, OFFalse));
    if (!*tls) {
        err = "TLS: cannot create the OpenSSL context";
        return nullptr;
    }
    // empty password: an encrypted key fails here instead of OpenSSL prompting on the terminal
    tls->setPrivateKeyPasswd("");
    // key first, then certificate, then the check (as DCMTK's own tools do)
    OFCondition cond = tls->setPrivateKeyFile(key.c_str(), DCF_Filetype_PEM);
    if (cond.bad()) {
        err = "TLS: tls_private_key_file '" + key + "' holds no usable PEM private key (encrypted keys are not supported): " + cond.text();
        return nullptr;
    }
    cond = tls->setCertificateFile(crt.c_str(), DCF_Filetype_PEM);
    if (cond.bad()) {
        err = "TLS: tls_certificate_file '" + crt + "' holds no usable PEM certificate: " + cond.text();
        return nullptr;
    }
    if (!tls->checkPrivateKeyMatchesCertificate()) {
        err = "TLS: tls_private_key_file '" + key + "' does not match the certificate in tls_certificate_file '" + crt +
              "' (or that file holds no PEM certificate)";
        return nullptr;
    }
    if (!ca.empty()) {
        cond = tls->addTrustedCertificateFile(ca.c_str(), DCF_Filetype_PEM);
        if (cond.bad()) {
            err = "TLS: tls_peer_ca_file '" + ca + "' holds no usable PEM CA certificate: " + cond.text();
            return nullptr;
        }
        tls->setCertificateVerification(DCV_requireCertificate);  // handshake fails without a valid client cert
    } else {
        tls->setCertificateVerification(DCV_ignoreCertificate);   // no CertificateRequest is sent
    }
    cond = tls->setTLSProfile(TSP_Profile_BCP195_ND);
    if (cond.good()) cond = tls->activateCipherSuites();
    if (cond.bad()) {
        err = std::string("TLS: cannot activate the BCP 195 cipher suites: ") + cond.text();
        return nullptr;
    }
    return tls;
}

// ------------------------------------------------------------------ logging
class CallbackAppender : public dcmtk::log4cplus::Appender {
public:
    CallbackAppender(ctd_log_fn fn, void *ctx) : m_fn(fn), m_ctx(ctx) {}
    ~CallbackAppender() override { destructorImpl(); }
    void close() override { closed = true; }

protected:
    void append(const dcmtk::log4cplus::spi::InternalLoggingEvent &ev) override
    {
        const int ll = ev.getLogLevel();
        int lvl = ll >= dcmtk::log4cplus::ERROR_LOG_LEVEL  ? CTD_LOG_ERROR
                  : ll >= dcmtk::log4cplus::WARN_LOG_LEVEL ? CTD_LOG_WARN
                                                           : CTD_LOG_INFO;
        m_fn(m_ctx, lvl, ev.getLoggerName().c_str(), ev.getMessage().c_str());
    }

private:
    ctd_log_fn m_fn;
    void *m_ctx;
};

}  // namespace

// ===================================================================== C API

extern "C" ctd_receiver *ctd_receiver_create(void)
{
    return new (std::nothrow) ctd_receiver();
}

extern "C" void ctd_receiver_stop(ctd_receiver *r)
{
    if (r) r->stop.store(true);  // lock-free atomic: async-signal-safe
}

extern "C" void ctd_receiver_destroy(ctd_receiver *r)
{
    delete r;
}

extern "C" int ctd_dictionary_loaded(void)
{
    return dcmDataDict.isDictionaryLoaded() ? 1 : 0;
}

extern "C" void ctd_log_configure(int max_level, ctd_log_fn fn, void *context)
{
    using namespace dcmtk::log4cplus;
    Logger root = Logger::getRoot();
    root.removeAllAppenders();
    if (fn == nullptr || max_level <= CTD_LOG_OFF) {
        root.setLogLevel(OFF_LOG_LEVEL);
        helpers::LogLog::getLogLog()->setQuietMode(true);
        return;
    }
    if (max_level > CTD_LOG_INFO) max_level = CTD_LOG_INFO;
    LogLevel lvl = max_level == CTD_LOG_ERROR ? ERROR_LOG_LEVEL
                 : max_level == CTD_LOG_WARN  ? WARN_LOG_LEVEL
                                              : INFO_LOG_LEVEL;
    root.addAppender(SharedAppenderPtr(new CallbackAppender(fn, context)));
    root.setLogLevel(lvl);
}

extern "C" int ctd_receiver_run(ctd_receiver *rcv, const ctd_receiver_config *config,
                                const ctd_receiver_callbacks *callbacks, void *context, char *errbuf,
                                size_t errbuf_len)
{
    if (rcv == nullptr || config == nullptr || callbacks == nullptr) {
        copyError(errbuf, errbuf_len, "NULL argument");
        return -1;
    }
    if (callbacks->admit == nullptr || callbacks->on_instance == nullptr) {
        copyError(errbuf, errbuf_len, "admit and on_instance callbacks are required");
        return -1;
    }
    bool expected = false;
    if (!rcv->running.compare_exchange_strong(expected, true)) {
        copyError(errbuf, errbuf_len, "receiver is already running");
        return -1;
    }
    struct RunningGuard {
        ctd_receiver *r;
        ~RunningGuard() { r->running = false; }
    } runningGuard{rcv};

    std::unique_ptr<Shared> sh(new Shared());
    sh->cb = *callbacks;
    sh->ctx = context;
    sh->rcv = rcv;
    std::string err;
    if (!buildSettings(config, sh->s, *sh->scpConfig, err)) {
        copyError(errbuf, errbuf_len, err);
        return -1;
    }
    if (!dcmDataDict.isDictionaryLoaded()) {
        // not needed for bit-preserving receive itself, but the caller will parse the files
        copyError(errbuf, errbuf_len, "DICOM data dictionary not loaded (DCMDICTPATH?)");
        return -1;
    }
    // Declared before `net`: the layer must outlive the network (we keep ownership; every
    // association using it is gone before ASC_dropNetwork below).
    std::unique_ptr<DcmTLSTransportLayer> tls;
    if (sh->s.tls()) {
        tls = makeTLSLayer(sh->s, err);
        if (!tls) {
            copyError(errbuf, errbuf_len, err);
            return -1;
        }
    }
    if (rcv->stop) return 0;

    T_ASC_Network *net = nullptr;
    OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, OFstatic_cast(int, sh->s.port),
                                             OFstatic_cast(int, sh->s.acseTimeout), &net);
    if (cond.bad()) {
        copyError(errbuf, errbuf_len, std::string("cannot listen on port ") + std::to_string(sh->s.port) + ": " + cond.text());
        return -1;
    }
    if (tls) {
        cond = ASC_setTransportLayer(net, tls.get(), 0 /* not owned by the network */);
        if (cond.bad()) {
            ASC_dropNetwork(&net);
            copyError(errbuf, errbuf_len, std::string("TLS: cannot set the transport layer: ") + cond.text());
            return -1;
        }
    }
    {
        ctd_event ev{};
        ev.type = CTD_EVENT_LISTENING;
        ev.calling_ae = ev.called_ae = ev.peer_ip = ev.message = "";
        sh->emit(ev);
    }

    std::list<std::unique_ptr<Worker>> workers;
    auto reap = [&workers]() {
        for (auto it = workers.begin(); it != workers.end();) {
            if ((*it)->done) {
                (*it)->thread.join();
                it = workers.erase(it);
            } else {
                ++it;
            }
        }
    };
    uint64_t nextId = 0;

    while (!rcv->stop) {
        reap();
        T_ASC_Association *assoc = nullptr;
        // waits up to 1 s for a TCP connection, then reads the A-ASSOCIATE-RQ
        // (up to acse_timeout) on this thread
        cond = ASC_receiveAssociation(net, &assoc, OFstatic_cast(long, sh->s.maxPDU), nullptr, nullptr,
                                      tls ? OFTrue : OFFalse, DUL_NOBLOCK, 1);
        if (cond == DUL_NOASSOCIATIONREQUEST) {
            dropAssoc(assoc);
            continue;
        }
        if (cond.bad()) {
            sh->emitError(0, std::string("could not receive association request: ") + cond.text());
            dropAssoc(assoc);
            continue;
        }
        const uint64_t id = ++nextId;
        reap();
        if (rcv->stop || workers.size() >= sh->s.maxAssociations) {
            rejectBusy(*sh, assoc, id);
            dropAssoc(assoc);
            continue;
        }
        std::unique_ptr<Worker> w(new Worker());
        Worker *wp = w.get();
        try {
            wp->thread = std::thread(workerMain, sh.get(), wp, assoc, id);
        } catch (const std::exception &) {
            sh->emitError(id, "cannot start worker thread");
            rejectBusy(*sh, assoc, id);
            dropAssoc(assoc);
            continue;
        }
        workers.push_back(std::move(w));
    }

    // Shutdown: idle associations are cut at once, busy ones get stop_timeout_s
    // to finish their current message (they abort themselves after it).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(sh->s.stopTimeout);
    for (;;) {
        reap();
        if (workers.empty()) break;
        const bool late = std::chrono::steady_clock::now() >= deadline;
        for (auto &w : workers)
            if (late || !w->busy) w->shutdownSocket();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASC_dropNetwork(&net);
    return 0;
}
