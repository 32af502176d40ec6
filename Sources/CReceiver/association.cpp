// One association of the receiver: a DcmThreadSCP that negotiates from the configured lists, writes
// each C-STORE data set to a temporary file as received, and answers with the status the caller's
// callback returns. No policy lives here.
#include "receiver_internal.h"

namespace ctd_rx {


// One object per association (DcmThreadSCP in 3.6.7 cannot be reused: run()
// leaves m_assoc set; the destructor drops and frees the association).
class CtdSCP : public DcmThreadSCP {
public:
    CtdSCP(Shared &sh, Worker &w, uint64_t id) : m_sh(sh), m_w(w), m_id(id) {}

    OFCondition run(T_ASC_Association *assoc) override
    {
        m_assoc = assoc;
        if (assoc != nullptr && assoc->params != nullptr) {
            m_calling = assoc->params->DULparams.callingAPTitle;
            m_called = assoc->params->DULparams.calledAPTitle;
            // callingPresentationAddress holds the numeric peer IPv4 address
            // because reverse DNS is disabled (setHostLookupEnabled(OFFalse)).
            m_peer = assoc->params->DULparams.callingPresentationAddress;
        }
        return DcmThreadSCP::run(assoc);
    }

protected:
    // --- admission -------------------------------------------------------
    // First hook DcmSCP::processAssociationRQ() calls with the association
    // set up. (Its argument is DULparams.calledPresentationAddress in 3.6.7,
    // i.e. not the peer address, so we ignore it.)
    OFBool checkCallingHostAccepted(const OFString & /*unreliable*/) override
    {
        ctd_association_info info{};
        info.assoc_id = m_id;
        info.calling_ae = m_calling.c_str();
        info.called_ae = m_called.c_str();
        info.peer_ip = m_peer.c_str();
        T_ASC_Parameters *params = m_assoc->params;
        const int n = ASC_countPresentationContexts(params);
        info.proposed_contexts = n > 0 ? static_cast<uint32_t>(n) : 0;
        for (int i = 0; i < n; ++i) {
            T_ASC_PresentationContext pc;
            if (ASC_getPresentationContext(params, i, &pc).bad()) continue;
            if (std::strcmp(pc.abstractSyntax, UID_VerificationSOPClass) == 0)
                info.proposes_verification = 1;
            else
                info.proposes_other = 1;
        }
        int d = m_sh.cb.admit(m_sh.ctx, &info);
        if (d < CTD_ADMIT_ACCEPT || d > CTD_REJECT_BUSY) d = CTD_REJECT_NO_REASON;
        if (d == CTD_ADMIT_ECHO_ONLY && !info.proposes_verification) d = CTD_REJECT_CALLING_AE;
        m_decision = d;
        return (d == CTD_ADMIT_ACCEPT || d == CTD_ADMIT_ECHO_ONLY) ? OFTrue : OFFalse;
    }

    void refuseAssociation(const DcmRefuseReasonType reason) override
    {
        DcmRefuseReasonType r = reason;
        int evReason = CTD_REJECTED_OTHER;
        if (reason == DCMSCP_CALLING_HOST_NOT_ALLOWED) {  // = rejected by our admit callback
            evReason = m_decision;
            switch (m_decision) {
            case CTD_REJECT_CALLING_AE: r = DCMSCP_CALLING_AE_TITLE_NOT_RECOGNIZED; break;
            case CTD_REJECT_CALLED_AE:  r = DCMSCP_CALLED_AE_TITLE_NOT_RECOGNIZED; break;
            case CTD_REJECT_BUSY:       r = DCMSCP_TOO_MANY_ASSOCIATIONS; break;
            default:                    r = DCMSCP_CALLING_HOST_NOT_ALLOWED; break;  // no reason given
            }
        } else if (reason == DCMSCP_NO_PRESENTATION_CONTEXTS) {
            evReason = CTD_REJECTED_NO_CONTEXTS;
        }
        DcmThreadSCP::refuseAssociation(r);
        m_rejected = true;
        ctd_event ev = baseEvent(CTD_EVENT_ASSOC_REJECTED);
        ev.reason = evReason;
        emitEvent(ev);
    }

    OFCondition negotiateAssociation() override
    {
        // DCMTK: abstract syntax known? then the first TS of OUR list that the
        // peer proposed in that context (DcmAssociationConfiguration)
        OFCondition cond = DcmThreadSCP::negotiateAssociation();
        if (cond.bad()) return cond;
        T_ASC_Parameters *params = m_assoc->params;
        const int n = ASC_countPresentationContexts(params);
        for (int i = 0; i < n; ++i) {
            T_ASC_PresentationContext pc;
            cond = ASC_getPresentationContext(params, i, &pc);
            if (cond.bad()) return cond;
            const bool verification = std::strcmp(pc.abstractSyntax, UID_VerificationSOPClass) == 0;
            if (m_decision == CTD_ADMIT_ECHO_ONLY && !verification) {
                // echo only: refuse every context that is not Verification
                cond = ASC_refusePresentationContext(params, pc.presentationContextID, ASC_P_USERREJECTION);
                if (cond.bad()) return cond;
            } else if (m_sh.s.preferProposedOrder && !verification && pc.resultReason == ASC_P_ACCEPTANCE) {
                // re-pick: the first TS in the PEER's order that we accept
                for (int j = 0; j < pc.transferSyntaxCount; ++j) {
                    bool ours = false;
                    for (const std::string &t : m_sh.s.transferSyntaxes)
                        if (t == pc.proposedTransferSyntaxes[j]) ours = true;
                    if (!ours) continue;
                    if (std::strcmp(pc.acceptedTransferSyntax, pc.proposedTransferSyntaxes[j]) != 0) {
                        cond = ASC_acceptPresentationContext(params, pc.presentationContextID,
                                                             pc.proposedTransferSyntaxes[j], pc.acceptedRole);
                        if (cond.bad()) return cond;
                    }
                    break;
                }
            }
        }
        return EC_Normal;
    }

    void notifyAssociationAcknowledge() override
    {
        m_started = true;
        m_accepted = static_cast<uint32_t>(ASC_countAcceptedPresentationContexts(m_assoc->params));
        emitEvent(baseEvent(CTD_EVENT_ASSOC_STARTED));
    }

    // --- end of association ---------------------------------------------
    void notifyReleaseRequest() override { m_end = CTD_END_RELEASED; }
    void notifyAbortRequest() override
    {
        // a socket shut down by ctd_receiver_stop() looks like a peer abort
        m_end = m_sh.stopRequested() ? CTD_END_STOPPED : CTD_END_PEER_ABORTED;
    }
    void notifyDIMSEError(const OFCondition &cond) override
    {
        if (m_stopping || m_sh.stopRequested()) {
            m_end = CTD_END_STOPPED;
        } else {
            m_end = CTD_END_ERROR;
            if (m_message.empty()) m_message = cond.text();
        }
    }
    void notifyAssociationTermination() override
    {
        if (!m_started) {
            if (!m_rejected) {
                // DcmSCP::processAssociationRQ() drops the connection WITHOUT an
                // A-ASSOCIATE-RJ when negotiation or ASC_acknowledgeAssociation fails
                ctd_event ev = baseEvent(CTD_EVENT_ASSOC_REJECTED);
                ev.reason = CTD_REJECTED_OTHER;
                ev.message = "association negotiation failed (connection dropped)";
                emitEvent(ev);
            }
            return;
        }
        ctd_event ev = baseEvent(CTD_EVENT_ASSOC_ENDED);
        ev.reason = m_end;
        ev.stores_ok = m_ok;
        ev.stores_warning = m_warn;
        ev.stores_failed = m_failed;
        ev.echoes = m_echoes;
        ev.bytes_received = m_bytes;
        emitEvent(ev);
    }

    void notifyRECEIVEProgress(const unsigned long byteCount) override { m_progressBytes = byteCount; }

    // --- DIMSE -----------------------------------------------------------
    OFCondition handleIncomingCommand(T_DIMSE_Message *msg, const DcmPresentationContextInfo &pc) override
    {
        m_w.busy = true;
        OFCondition cond;
        if (msg->CommandField == DIMSE_C_ECHO_RQ && pc.abstractSyntax == UID_VerificationSOPClass) {
            cond = handleECHORequest(msg->msg.CEchoRQ, pc.presentationContextID);
            if (cond.good()) ++m_echoes;
        } else if (msg->CommandField == DIMSE_C_STORE_RQ) {
            cond = handleStore(msg->msg.CStoreRQ, pc);
        } else {
            // anything else on a storage/verification context is a protocol error -> A-ABORT
            m_message = "unsupported DIMSE command";
            cond = DIMSE_BADCOMMANDTYPE;
        }
        m_w.busy = false;
        if (cond.good() && m_sh.stopRequested()) {
            // Stop requested: the response for the current message has been
            // sent; end here. DcmSCP::handleAssociation() answers a bad
            // condition with notifyDIMSEError() + A-ABORT.
            m_stopping = true;
            return NET_EC_StopAfterAssociation;
        }
        return cond;
    }

private:
    OFCondition handleStore(T_DIMSE_C_StoreRQ &req, const DcmPresentationContextInfo &pc)
    {
        const T_ASC_PresentationContextID pcid = pc.presentationContextID;
        if (req.DataSetType == DIMSE_DATASET_NULL) {
            m_message = "C-STORE-RQ without data set";
            return DIMSE_BADMESSAGE;  // abort, as DcmSCP does
        }
        // The command's SOP class must be the context's abstract syntax.
        if (pc.abstractSyntax != req.AffectedSOPClassUID) {
            DIC_UL bytes = 0, pdvs = 0;
            OFCondition cond = DIMSE_ignoreDataSet(m_assoc, getConfig().getDIMSEBlockingMode(),
                                                   OFstatic_cast(int, getConfig().getDIMSETimeout()), &bytes, &pdvs);
            if (cond.bad()) return cond;
            return respond(req, pcid, STATUS_STORE_Refused_SOPClassNotSupported);
        }

        std::string path;
        if (!createTempFile(path)) {
            // cannot create the file: consume the data set, answer "out of resources"
            DIC_UL bytes = 0, pdvs = 0;
            OFCondition cond = DIMSE_ignoreDataSet(m_assoc, getConfig().getDIMSEBlockingMode(),
                                                   OFstatic_cast(int, getConfig().getDIMSETimeout()), &bytes, &pdvs);
            if (cond.bad()) return cond;
            return respond(req, pcid, STATUS_STORE_Refused_OutOfResources);
        }

        m_progressBytes = 0;
        OFCondition cond = receiveSTORERequest(req, pcid, OFString(path.c_str()));
        if (cond.bad()) {
            ::unlink(path.c_str());  // DCMTK deletes on receive errors, not on every path
            if (cond == DIMSE_OUTOFRESOURCES) {
                // write error: DCMTK has consumed the rest of the data set, the
                // association is still in sync -> answer and continue
                m_sh.emitError(m_id, std::string("cannot write received data set: ") + cond.text());
                return respond(req, pcid, STATUS_STORE_Refused_OutOfResources);
            }
            if (m_message.empty()) m_message = cond.text();
            return cond;  // network error -> association ends
        }

        // DCMTK 3.6.7 does not check fclose(): a full disk can truncate the
        // file silently. Verify: size == 144 + meta group length + data set bytes.
        uint64_t size = 0;
        if (!verifyFile(path, size)) {
            ::unlink(path.c_str());
            m_sh.emitError(m_id, "received file incomplete (write error?)");
            return respond(req, pcid, STATUS_STORE_Refused_OutOfResources);
        }

        ctd_instance_info info{};
        info.assoc_id = m_id;
        info.message_id = req.MessageID;
        info.temp_path = path.c_str();
        info.file_size = size;
        info.sop_class_uid = req.AffectedSOPClassUID;
        info.sop_instance_uid = req.AffectedSOPInstanceUID;
        info.transfer_syntax_uid = pc.acceptedTransferSyntax.c_str();
        info.calling_ae = m_calling.c_str();
        info.called_ae = m_called.c_str();
        info.peer_ip = m_peer.c_str();
        int st = m_sh.cb.on_instance(m_sh.ctx, &info);
        if (st < 0 || st > 0xFFFF) st = STATUS_STORE_Error_CannotUnderstand;
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            m_sh.emitError(m_id, std::string("cannot remove temporary file: ") + std::strerror(errno));
        if (st == STATUS_Success) m_bytes += size;
        return respond(req, pcid, static_cast<Uint16>(st));
    }

    OFCondition respond(T_DIMSE_C_StoreRQ &req, T_ASC_PresentationContextID pcid, Uint16 status)
    {
        OFCondition cond = sendSTOREResponse(pcid, req, status);
        if (cond.bad()) {
            if (m_message.empty()) m_message = cond.text();
            ++m_failed;  // peer did not get our answer
            return cond;
        }
        if (status == STATUS_Success) ++m_ok;
        else if (status == 0x0001 || (status & 0xF000) == 0xB000) ++m_warn;
        else ++m_failed;
        return EC_Normal;
    }

    bool createTempFile(std::string &path)
    {
        static thread_local std::mt19937_64 rng{std::random_device{}()};
        for (int attempt = 0; attempt < 8; ++attempt) {
            char name[128];
            std::snprintf(name, sizeof(name), "/rx-%ld-%llu-%llu-%016llx.dcm.part", static_cast<long>(::getpid()),
                          static_cast<unsigned long long>(m_id),
                          static_cast<unsigned long long>(++m_sh.tempCounter),
                          static_cast<unsigned long long>(rng()));
            path = m_sh.s.tempDir + name;
            // reserve the name exclusively with mode 0600; DCMTK's fopen("wb") keeps the mode
            int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd >= 0) {
                ::close(fd);
                return true;
            }
            if (errno != EEXIST) {
                m_sh.emitError(m_id, std::string("cannot create temporary file: ") + std::strerror(errno));
                return false;
            }
        }
        m_sh.emitError(m_id, "cannot create a unique temporary file name");
        return false;
    }

    bool verifyFile(const std::string &path, uint64_t &size)
    {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return false;
        struct stat st;
        unsigned char hdr[144];
        bool ok = ::fstat(fd, &st) == 0 && ::pread(fd, hdr, sizeof(hdr), 0) == static_cast<ssize_t>(sizeof(hdr));
        ::close(fd);
        if (!ok) return false;
        size = static_cast<uint64_t>(st.st_size);
        // preamble(128) "DICM" then (0002,0000) UL 4 <group length>, explicit VR little endian
        static const unsigned char gl[] = {0x02, 0x00, 0x00, 0x00, 'U', 'L', 0x04, 0x00};
        if (std::memcmp(hdr + 128, "DICM", 4) != 0 || std::memcmp(hdr + 132, gl, 8) != 0) return false;
        const uint64_t metaLen = 144u + (uint64_t(hdr[140]) | uint64_t(hdr[141]) << 8 | uint64_t(hdr[142]) << 16 |
                                         uint64_t(hdr[143]) << 24);
        return size == metaLen + m_progressBytes;
    }

    ctd_event baseEvent(int type) const
    {
        ctd_event ev{};
        ev.type = type;
        ev.assoc_id = m_id;
        ev.calling_ae = m_calling.c_str();
        ev.called_ae = m_called.c_str();
        ev.peer_ip = m_peer.c_str();
        ev.accepted_contexts = m_accepted;
        ev.message = m_message.c_str();
        return ev;
    }
    void emitEvent(const ctd_event &ev) const { m_sh.emit(ev); }

    Shared &m_sh;
    Worker &m_w;
    const uint64_t m_id;
    T_ASC_Association *m_assoc = nullptr;  // owned by DcmSCP (freed in ~DcmSCP)
    std::string m_calling, m_called, m_peer, m_message;
    int m_decision = CTD_REJECT_NO_REASON;
    bool m_started = false;
    bool m_rejected = false;
    bool m_stopping = false;
    int m_end = CTD_END_ERROR;
    uint32_t m_accepted = 0, m_ok = 0, m_warn = 0, m_failed = 0, m_echoes = 0;
    uint64_t m_bytes = 0;
    unsigned long m_progressBytes = 0;
};

// DcmTransportConnection::getSocket() is protected in 3.6.7. A member pointer
// formed inside a derived class is the standard-conforming way to reach it
// (the class is never instantiated). Used only to shutdown() the socket of an
// idle association on stop; the fd itself is closed by DCMTK in the worker.
struct SocketPeek : DcmTransportConnection {
    static int fdOf(DcmTransportConnection *c)
    {
        DcmNativeSocketType (DcmTransportConnection::*get)() = &SocketPeek::getSocket;
        return c ? static_cast<int>((c->*get)()) : -1;
    }
};

void workerMain(Shared *sh, Worker *w, T_ASC_Association *assoc, uint64_t id)
{
    {
        std::unique_ptr<CtdSCP> scp(new CtdSCP(*sh, *w, id));
        OFCondition cond = scp->setSharedConfig(sh->scpConfig);
        if (cond.bad()) {
            sh->emitError(id, std::string("worker configuration failed: ") + cond.text());
            ASC_dropSCPAssociation(assoc);
            ASC_destroyAssociation(&assoc);
        } else {
            DcmTransportConnection *conn = DUL_getTransportConnection(assoc->DULassociation);
            const int sock = SocketPeek::fdOf(conn);
            {
                std::lock_guard<std::mutex> g(w->mu);
                w->fd = sock >= 0 ? ::fcntl(sock, F_DUPFD_CLOEXEC, 0) : -1;
            }
            scp->run(assoc);  // owns assoc from here on
            std::lock_guard<std::mutex> g(w->mu);
            if (w->fd >= 0) ::close(w->fd);  // DCMTK closes its own descriptor
            w->fd = -1;
        }
    }  // ~DcmSCP: ASC_dropSCPAssociation + ASC_destroyAssociation (closes the socket)
    w->done = true;
}

}  // namespace ctd_rx
