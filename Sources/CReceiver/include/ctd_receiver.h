/*
 * ctd_receiver.h - plain C API over DCMTK 3.6.7 dcmnet: a C-STORE / C-ECHO SCP.
 *
 * The shim is plumbing only. Every decision (who may connect, where a file
 * goes, how it is named, which status to answer) is taken by the caller's
 * callbacks. The shim:
 *   - listens on a TCP port (IPv4, all interfaces: DCMTK 3.6.7 has no bind address),
 *     optionally with TLS (see tls_certificate_file; failed handshakes are
 *     reported as CTD_EVENT_ERROR "could not receive association request"),
 *   - negotiates presentation contexts from the configured SOP class and
 *     transfer syntax lists (no transcoding: data are stored as received),
 *   - asks `admit` about every association request,
 *   - receives every C-STORE data set straight into a new file in `temp_dir`
 *     (file meta header + the data set bytes exactly as they came off the wire),
 *   - calls `on_instance` and sends the status it returns in the C-STORE-RSP,
 *     only after the callback has returned,
 *   - reports association events for logging (no patient data in any text).
 *
 * Threads: ctd_receiver_run() accepts connections on the calling thread and
 * runs each association on its own worker thread (at most max_associations).
 * `admit`, `on_instance` and association events are called on worker
 * threads, possibly concurrently for different associations; within one
 * association they are strictly sequential. CTD_EVENT_LISTENING, busy
 * rejections and "could not receive association request" errors are reported
 * on the thread that called ctd_receiver_run().
 * The callbacks and `context` must therefore be thread-safe.
 *
 * All strings handed to callbacks are NUL-terminated and valid only for the
 * duration of the call: copy what you need.
 */
#ifndef CTD_RECEIVER_H
#define CTD_RECEIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- config */

typedef struct ctd_receiver_config {
    const char *ae_title;          /* our AE title (1..16 chars), sent in A-ASSOCIATE-AC   */
    uint16_t port;                 /* TCP port (>= 1024 unless running as root)            */
    uint32_t max_pdu;              /* max receive PDU, 4096..131072; 0 = 16384             */
    uint32_t acse_timeout_s;       /* association negotiation timeout; 0 = 30              */
    uint32_t dimse_timeout_s;      /* per DIMSE message timeout; 0 = 60 (never "infinite") */
    uint32_t max_associations;     /* concurrent associations (worker threads); 0 = 1     */
    uint32_t stop_timeout_s;       /* after ctd_receiver_stop(): how long a busy
                                      association may finish its current message
                                      before its socket is shut down; 0 = 10               */

    /* Storage SOP class UIDs to accept (max 127). Verification (C-ECHO) is
       always offered in addition and must not be listed here. */
    const char *const *sop_class_uids;
    size_t sop_class_count;

    /* Transfer syntax UIDs to accept, most preferred first, e.g.
       1.2.840.10008.1.2.1 (explicit LE), 1.2.840.10008.1.2 (implicit LE),
       1.2.840.10008.1.2.4.70, .4.57, .4.80, .4.81, .4.90, .4.91, 1.2.840.10008.1.2.5.
       For each proposed presentation context the first UID of this list that the
       peer proposed in that context wins. (Verification always accepts explicit
       and implicit VR little endian, independent of this list.) */
    const char *const *transfer_syntax_uids;
    size_t transfer_syntax_count;

    /* 0: choose by the order of transfer_syntax_uids (DCMTK's behaviour).
       1: choose the first TS *the peer* listed in the context that is also in
          transfer_syntax_uids. Matters only for peers that propose several TS in
          one context (e.g. "JPEG-LS, explicit LE"): with 0 and explicit LE first,
          such a peer must decompress before sending; with 1 the data arrive as
          the peer holds them. */
    int prefer_proposed_order;

    /* Existing, writable directory for the temporary files (hidden, on the
       same filesystem as the final destination so that rename() is atomic). */
    const char *temp_dir;

    /* Optional DICOM over TLS (DCMTK dcmtls + OpenSSL), PEM files.
       tls_certificate_file and tls_private_key_file both NULL or "": plain TCP.
       Both set: every connection must start with a TLS handshake (DICOM
       Non-downgrading BCP 195 profile: TLS 1.2 or 1.3, ECDHE/DHE + AES-GCM);
       plain DICOM connections fail. Setting only one of them is a
       configuration error. Unreadable files, an encrypted key or a key that
       does not match the certificate make ctd_receiver_run() return -1 before
       the port is opened. The handshake runs on the accepting thread, like
       the reading of the A-ASSOCIATE-RQ, but is bounded by DCMTK's socket
       timeout (dcmSocketReceiveTimeout, 60 s) rather than acse_timeout_s: a
       client that connects and stays silent delays other associations and
       ctd_receiver_stop() by up to 60 s. */
    const char *tls_certificate_file; /* server certificate; may be followed by
                                         intermediate CA certificates (chain)   */
    const char *tls_private_key_file; /* its private key, not encrypted         */
    const char *tls_peer_ca_file;     /* NULL or "": clients are not asked for a
                                         certificate. Set (only with TLS): PEM
                                         bundle of CA certificates; a client must
                                         present a certificate issued by one of
                                         them, otherwise the handshake fails    */
} ctd_receiver_config;

/* ------------------------------------------------------------ admission */

typedef enum ctd_admission {
    CTD_ADMIT_ACCEPT            = 0, /* negotiate normally                                   */
    CTD_ADMIT_ECHO_ONLY         = 1, /* accept only the Verification context; all storage
                                        contexts are refused (user rejection). If the peer
                                        proposed no Verification context the association is
                                        rejected like CTD_REJECT_CALLING_AE                   */
    CTD_REJECT_CALLING_AE       = 2, /* A-ASSOCIATE-RJ permanent, service user, reason 3
                                        "calling AE title not recognized"                    */
    CTD_REJECT_CALLED_AE        = 3, /* ... reason 7 "called AE title not recognized"         */
    CTD_REJECT_NO_REASON        = 4, /* ... reason 1 "no reason given" (e.g. host not allowed) */
    CTD_REJECT_BUSY             = 5  /* A-ASSOCIATE-RJ transient, service provider
                                        (presentation), reason 2 "local limit exceeded"       */
} ctd_admission;

typedef struct ctd_association_info {
    uint64_t assoc_id;             /* unique per run, for log correlation           */
    const char *calling_ae;        /* peer's AE title (trailing spaces removed)     */
    const char *called_ae;         /* AE title the peer called                      */
    const char *peer_ip;           /* numeric IPv4 address (reverse DNS disabled)   */
    uint32_t proposed_contexts;    /* number of presentation contexts proposed      */
    int proposes_verification;     /* 1 if a Verification context was proposed      */
    int proposes_other;            /* 1 if any non-Verification context was proposed */
} ctd_association_info;

/* ------------------------------------------------------------- instance */

typedef struct ctd_instance_info {
    uint64_t assoc_id;
    uint32_t message_id;           /* DIMSE message ID of the C-STORE-RQ             */
    const char *temp_path;         /* complete Part 10 file: meta header + data set   */
    uint64_t file_size;            /* bytes in temp_path                              */
    const char *sop_class_uid;     /* Affected SOP Class UID from the command          */
    const char *sop_instance_uid;  /* Affected SOP Instance UID from the command       */
    const char *transfer_syntax_uid; /* negotiated TS = TS of the stored data set     */
    const char *calling_ae;
    const char *called_ae;
    const char *peer_ip;
} ctd_instance_info;

/* ---------------------------------------------------------------- events */

typedef enum ctd_event_type {
    CTD_EVENT_LISTENING      = 1, /* port is open; ready to accept (sd_notify READY=1) */
    CTD_EVENT_ASSOC_REJECTED = 2, /* A-ASSOCIATE-RJ sent; `reason` is a ctd_admission
                                     or CTD_REJECTED_NO_CONTEXTS / CTD_REJECTED_OTHER   */
    CTD_EVENT_ASSOC_STARTED  = 3, /* A-ASSOCIATE-AC sent                               */
    CTD_EVENT_ASSOC_ENDED    = 4, /* association over; counts are final; `reason` is
                                     a ctd_end_reason                                  */
    CTD_EVENT_ERROR          = 5  /* non-fatal error (text in `message`)               */
} ctd_event_type;

enum { CTD_REJECTED_NO_CONTEXTS = 100, CTD_REJECTED_OTHER = 101 };

typedef enum ctd_end_reason {
    CTD_END_RELEASED     = 1,     /* peer sent A-RELEASE-RQ (normal)                   */
    CTD_END_PEER_ABORTED = 2,     /* peer sent A-ABORT or closed the connection         */
    CTD_END_ERROR        = 3,     /* network/DIMSE error or timeout; we sent A-ABORT   */
    CTD_END_STOPPED      = 4      /* aborted by us because ctd_receiver_stop() was called */
} ctd_end_reason;

typedef struct ctd_event {
    int type;                      /* ctd_event_type                                   */
    uint64_t assoc_id;             /* 0 for LISTENING / global ERROR                   */
    const char *calling_ae;        /* "" if unknown                                    */
    const char *called_ae;
    const char *peer_ip;
    int reason;                    /* see event type                                   */
    uint32_t accepted_contexts;    /* STARTED/ENDED                                    */
    uint32_t stores_ok;            /* ENDED: C-STORE-RSP sent with status 0x0000       */
    uint32_t stores_warning;       /* ENDED: status 0x0001 or 0xBxxx                   */
    uint32_t stores_failed;        /* ENDED: any other status (incl. shim failures)    */
    uint32_t echoes;               /* ENDED: C-ECHO requests answered                  */
    uint64_t bytes_received;       /* ENDED: sum of stored file sizes                  */
    const char *message;           /* DCMTK condition text or shim text; never patient
                                      data, never UIDs; "" if none                    */
} ctd_event;

/* -------------------------------------------------------------- callbacks */

typedef struct ctd_receiver_callbacks {
    /* required: returns a ctd_admission value */
    int (*admit)(void *context, const ctd_association_info *info);

    /* required: returns the DIMSE status for the C-STORE-RSP (0x0000 success,
       0xA700 out of resources, 0xA900 data set does not match SOP class,
       0xC000 cannot understand, 0xB000 coercion, ...). Values outside
       0..0xFFFF are sent as 0xC000. The callback must rename temp_path away
       (e.g. into the inbox) if it wants to keep the file: when the callback
       returns, the shim unlinks temp_path if it still exists, whatever the
       status. */
    int (*on_instance)(void *context, const ctd_instance_info *info);

    /* optional */
    void (*on_event)(void *context, const ctd_event *event);
} ctd_receiver_callbacks;

/* -------------------------------------------------------------- lifecycle */

typedef struct ctd_receiver ctd_receiver;

/* Returns NULL only when out of memory. */
ctd_receiver *ctd_receiver_create(void);

/* Blocks until ctd_receiver_stop() (returns 0) or a fatal error such as the
   port being unavailable or an invalid configuration (returns -1 and writes
   a message to errbuf). Not re-entrant for the same handle. Call once per
   handle. */
int ctd_receiver_run(ctd_receiver *receiver,
                     const ctd_receiver_config *config,
                     const ctd_receiver_callbacks *callbacks,
                     void *context,
                     char *errbuf, size_t errbuf_len);

/* Async-signal-safe and thread-safe: only sets an atomic flag. Within about
   one second the receiver stops accepting, idle associations are aborted,
   busy ones are aborted after their current message (C-STORE-RSP sent), or
   after stop_timeout_s at the latest; then ctd_receiver_run() returns 0.
   May be called before ctd_receiver_run(), which then returns at once. */
void ctd_receiver_stop(ctd_receiver *receiver);

/* Only after ctd_receiver_run() has returned (or was never called). */
void ctd_receiver_destroy(ctd_receiver *receiver);

/* ---------------------------------------------------------------- logging */

enum {
    CTD_LOG_OFF   = 0,
    CTD_LOG_ERROR = 1,
    CTD_LOG_WARN  = 2,
    CTD_LOG_INFO  = 3   /* highest level allowed: DCMTK's DEBUG dumps UIDs and
                           TRACE dumps whole data sets (patient data)          */
};

/* Process-wide (oflog is global to all DCMTK code in the process): removes
   DCMTK's console appender and routes DCMTK log messages up to max_level to
   `fn` (called from any thread, possibly concurrently). fn == NULL or
   max_level == CTD_LOG_OFF silences DCMTK completely. Call before any other
   DCMTK activity; max_level is clamped to CTD_LOG_INFO. */
typedef void (*ctd_log_fn)(void *context, int level, const char *logger, const char *message);
void ctd_log_configure(int max_level, ctd_log_fn fn, void *context);

/* 1 if the DICOM data dictionary is loaded (Debian: /usr/share/libdcmtk17/dicom.dic). */
int ctd_dictionary_loaded(void);

#ifdef __cplusplus
}
#endif

#endif /* CTD_RECEIVER_H */
