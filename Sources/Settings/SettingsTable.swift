/// Every setting of `ctdeid serve` (and of the operator commands, which read the same file), in the
/// order the shipped config documents them. Adding a setting: a row here, its flag in `ConfigOptions`
/// (a test checks that every row has one), and where it is used in `ServiceConfiguration`;
/// `packaging/ctdeid.toml` is regenerated with `ctdeid config --packaged` (a test compares them).
package enum SettingsTable {
    package static let all: [Setting] = [
        Setting("inbox", .path, default: "var/inbox", packaged: "/var/lib/ctdeid/inbox",
                help: "Folder where patient folders are dropped.",
                comment: "Folder watched for new studies: one subfolder per study, named by its accession number."),
        Setting("outbox", .path, default: "var/outbox", packaged: "/var/lib/ctdeid/outbox",
                help: "Folder that receives <De-identification_ID>/ studies.",
                comment: "De-identified results: <outbox>/<De-identification_ID>/study-<hash>/..."),
        Setting("work", .path, default: "var/work", packaged: "/var/lib/ctdeid/work",
                help: "Staging folder; must be on the outbox's filesystem.",
                comment: """
                    Staging of the studies being processed (in <work>/staging); a study is moved into the outbox
                    with one rename when complete, so it must be on the same file system as the outbox.
                    """),
        Setting("quarantine", .path, default: "var/quarantine", packaged: "/var/lib/ctdeid/quarantine",
                help: "Where inputs that cannot be made safe are kept.",
                comment: """
                    Files that could not be made safe (never delivered); the reason is in the database. It must be
                    on the same file system as the inbox (quarantined inputs are moved, not copied).
                    """),
        Setting("done", .path, default: "var/done", packaged: "/var/lib/ctdeid/done",
                help: "Where inputs go after delivery (after_delivery = keep).",
                comment: """
                    Input folders after delivery when after_delivery = "keep"; then it must be on the same file
                    system as the inbox (inputs are moved, not copied).
                    """),
        Setting("mappings", .path, default: "var/mappings", packaged: "/var/lib/ctdeid/mappings",
                help: "Drop folder for mapping sheets (.xlsx/.csv), imported automatically.",
                comment: """
                    Drop folder for mapping sheets (.xlsx or .csv with the columns Accession_number and
                    De-identification_ID), imported into the database automatically, all-or-nothing.
                    """),
        Setting("database", .path, default: "var/ctdeid.sqlite", packaged: "/var/lib/ctdeid/ctdeid.sqlite",
                help: "Audit database (SQLite, mode 0600).",
                comment: """
                    The SQLite audit database: jobs, files, mappings, events. Created 0600.
                    With key_file it is the re-identification key: keep both private and backed up.
                    """),
        Setting("key_file", .path, default: "var/secret.key", packaged: "/var/lib/ctdeid/secret.key",
                help: "Site secret for UID hashing and date offsets (mode 0600).",
                comment: """
                    The site secret (32 random bytes) for UID hashing and date offsets. Created 0600 on first start;
                    a secret readable by others is refused. Losing it changes every UID and date offset of later runs.
                    """),
        Setting("settle_seconds", .number(0...86400), default: "10",
                help: "Seconds a folder must stay unchanged before it is processed.",
                comment: """
                    A patient folder is processed once nothing in it has changed for this many seconds (0 to 86400,
                    fractions allowed). Hidden files and *.partial are ignored until renamed. Raise it for slow
                    copies over a network share.
                    """),
        Setting("rescan_seconds", .number(0...86400), default: "30",
                help: "Seconds between rescans of the inbox, for what inotify does not see (files written by other clients of an SMB or NFS share); 0 = none.",
                comment: """
                    The inbox is also walked every this many seconds (0 to 86400; 0 = only at start and after an
                    event queue overflow). inotify does not report files that another client of an SMB or NFS share
                    writes: on such an inbox the rescan is what finds them. A rescan stats each folder's directories,
                    not its files, so an idle inbox costs little.
                    """),
        Setting("watch", .choice([.init("inotify", "kernel events, plus a rescan every rescan_seconds"),
                                  .init("poll", "rescans only, for inboxes on SMB or NFS shares")]), default: "inotify",
                help: "How the inbox is watched: inotify (events plus rescans) or poll (rescans only).",
                comment: """
                    How the inbox is watched:
                      "inotify" = kernel events, plus the rescan above
                      "poll"    = rescans only (set rescan_seconds to a few seconds), for inboxes on network shares
                                  where inotify is of no use or not available
                    """),
        Setting("workers", .count(0...256), default: "0",
                help: "Files processed in parallel (0 = number of cores).",
                comment: "Files processed in parallel: 0 = the number of CPU cores, or 1 to 256."),
        Setting("options", .text, default: "default",
                help: "Profile options: none, default, or a comma list (see `ctdeid run --help`).",
                comment: """
                    De-identification options of DICOM PS3.15 Annex E, on top of the Basic Profile:
                      "default" = "modified-dates,retain-patient-characteristics,clean-descriptors"
                      "none"    = the pure Basic Profile
                      or a comma-separated list of: retain-safe-private, retain-uids, retain-device-identity,
                      retain-institution-identity, retain-patient-characteristics, retain-full-dates,
                      modified-dates, clean-descriptors, clean-structured-content, clean-graphics
                      (retain-full-dates excludes modified-dates). See README.md and `ctdeid run --help`.
                    """),
        Setting("after_delivery", .choice([.init("keep", "move the input to the done folder"), .init("delete", "remove it")]),
                default: "keep",
                help: "After delivery: keep (move the input to the done folder) or delete.",
                comment: """
                    What happens to an input folder once its study is delivered:
                      "keep"   = move it to `done`
                      "delete" = remove it
                    """),
        Setting("keep_names", .bool, default: "false",
                help: "Keep folder and file names below the patient folder (they often hold names, dates or UIDs): true or false.",
                comment: """
                    false: folder and file names below the patient folder are replaced with neutral ones in the
                    outbox (D001/, IM00001.dcm); true: they are kept (they may contain patient data).
                    """),
        Setting("watchdog_seconds", .number(0...3600), default: "0",
                help: "Seconds between watchdog pings (0 = from systemd's WATCHDOG_USEC).",
                comment: """
                    Seconds between WATCHDOG=1 pings to systemd (0 to 3600). 0 = derive from WATCHDOG_USEC, which
                    systemd sets from WatchdogSec= in the unit (60 s).
                    """),
        Setting("log_level", .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"].map { .init($0, "log level") }),
                default: "info",
                help: "trace, debug, info, notice, warning, error or critical.",
                comment: """
                    Log verbosity on stderr (the journal: `journalctl -u ctdeid`):
                    "trace", "debug", "info", "notice", "warning", "error" or "critical".
                    Whatever the level, the program never logs patient data.
                    """),
        Setting("deface", .choice([.init("remove", "facial soft tissue becomes air"), .init("noise", "air-like noise"),
                                   .init("off", "metadata only")]), default: "remove",
                help: "Face removal in axial head CT series: remove (voxels become air, -1000 HU), noise (air-like noise), or off (metadata only). Head series that cannot be defaced are quarantined unless off.",
                comment: """
                    Face removal in axial head CT series (3-D): "remove" (facial soft tissue becomes air, -1000 HU),
                    "noise" (air-like noise) or "off" (metadata de-identification only). Head series that cannot be
                    defaced (not decodable, too few slices, missing slices, non-axial, multi-frame) are quarantined
                    unless "off". The intracranial space and the bone are never changed.
                    """),
        Setting("qa", .path, default: "var/qa", packaged: "/var/lib/ctdeid/qa",
                help: "Folder for the before/after PNG of each defaced series.",
                comment: """
                    Folder for the before/after frontal rendering (PNG) of each defaced series, one folder per job;
                    its path is recorded in the database (table series). Kept outside the outbox.
                    """),
        Setting("localizers", .choice([.init("quarantine", "kept out of the outbox"),
                                       .init("blank", "delivered with every pixel set to air")]), default: "quarantine",
                help: "Localizers/scouts (they show the face in profile): quarantine, or blank (delivered with every pixel set to air).",
                comment: """
                    Localizers/scouts of the head show the face in profile: "quarantine" keeps them out of
                    the outbox, with the reason in the database; "blank" delivers them with every pixel set to air.
                    """),
        Setting("burned_in", .choice([.init("mask", "text in the pixels masked, image delivered"),
                                      .init("quarantine", "an image with text is not delivered"),
                                      .init("off", "pixels not checked")]), default: "mask",
                help: "Text burned into the pixels of any image (CT, MR, PET; every frame, whatever BurnedInAnnotation says): mask (set to the background, image delivered), quarantine (image not delivered), or off (pixels not checked; BurnedInAnnotation=YES quarantined).",
                comment: """
                    Text burned into the pixels of any image (CT, MR, PET; every frame, whatever BurnedInAnnotation
                    says): "mask" sets the text to the image's background and delivers the image; an image
                    where text remains after masking is quarantined. "quarantine" withholds every image with text.
                    "off" checks no pixels and quarantines BurnedInAnnotation=YES by its header. Needs Tesseract's
                    English data (Debian tesseract-ocr-eng) unless off.
                    """),
        Setting("undefaced_heads", .choice([.init("quarantine", "MR and PET series of the head are not delivered"),
                                            .init("deliver", "delivered with the face, marked RecognizableVisualFeatures=YES")]),
                default: "quarantine",
                help: "MR and PET series of the head (or whose header names no part of the body), which are not defaced: quarantine (reason face-not-removed), or deliver (with the face, marked RecognizableVisualFeatures=YES). Only with defacing on.",
                comment: """
                    MR and PET series are not defaced (face removal works on CT). A series of the head, or one whose
                    header (BodyPartExamined, study, series and protocol descriptions) names no part of the body, still
                    shows a face: "quarantine" keeps it out of the outbox (reason face-not-removed);
                    "deliver" delivers it with the face, marked RecognizableVisualFeatures=YES. A series whose header
                    names a region away from the head (abdomen, knee, ...) is delivered either way. Only with deface on.
                    """),

        // [receive]: `ctdeid receive`, the DICOM network endpoint (its own unit, ctdeid-receive.service).
        Setting("ae_title", .text, default: "CTDEID",
                help: "The AE title this node answers to (1 to 16 characters; the sender's called AE).",
                comment: """
                    `ctdeid receive` is a DICOM C-STORE endpoint: studies sent to it are written into the inbox
                    above as <AccessionNumber>/<study>/ folders, and processed as dropped folders once nothing
                    arrived for settle_seconds. Its own unit (ctdeid-receive.service) is the only one with network.

                    The AE title this node answers to: add it in PACS with this host's address and the port below.
                    """, section: "receive"),
        Setting("database", .path, default: "var/receive.sqlite", packaged: "/var/lib/ctdeid/receive/receive.sqlite",
                help: "The receiver's record of associations (calling AE, address, counts) and the folders they filled (SQLite, 0600).",
                comment: """
                    The receiver's record: every association (calling AE title, address, counts, how it ended) and
                    the inbox folders it wrote into; `ctdeid jobs` and `ctdeid show` name a job's senders from it.
                    """, section: "receive"),
        Setting("port", .count(1...65535), default: "11112",
                help: "TCP port to listen on (ports below 1024 need a privilege the unit does not grant).",
                comment: "TCP port to listen on (IPv4, every interface).", section: "receive"),
        Setting("allowed_calling_aes", .list, default: "",
                help: "Calling AE titles that may store, comma-separated; empty: nobody stores (C-ECHO is answered).",
                comment: """
                    The calling AE titles that may store (e.g. ["PACS1", "CT_SCANNER"]). A sender must be on this
                    list and on allowed_peers; everyone else is refused (A-ASSOCIATE-RJ, calling AE not recognised),
                    except for C-ECHO, which anyone may use to test the connection. Empty: nobody may store.
                    """, section: "receive"),
        Setting("allowed_peers", .list, default: "",
                help: "IPv4 addresses or networks (10.1.2.0/24) that may store, comma-separated; empty: nobody stores.",
                comment: """
                    The sender addresses that may store: IPv4 addresses or networks ("10.1.2.3", "10.1.2.0/24").
                    Empty: nobody may store.
                    """, section: "receive"),
        Setting("tls_certificate", .optionalPath, default: "",
                help: "PEM certificate for DICOM over TLS (with tls_private_key); empty: plain TCP.",
                comment: """
                    DICOM over TLS (TLS 1.2 with AES-GCM or TLS 1.3, DCMTK's BCP 195 profile): the node's PEM
                    certificate (an RSA key; intermediate certificates may follow it in the file) and its
                    private key (not encrypted; readable by the ctdeid user only). Both empty: plain TCP.
                    """, section: "receive"),
        Setting("tls_private_key", .optionalPath, default: "",
                help: "PEM private key of tls_certificate (not encrypted).",
                comment: "The private key of tls_certificate (PEM, not encrypted).", section: "receive"),
        Setting("tls_peer_ca", .optionalPath, default: "",
                help: "PEM CA bundle: when set, senders must present a certificate it signed.",
                comment: """
                    With TLS: a PEM bundle of the CAs whose certificates senders must present (mutual TLS).
                    Empty: senders are not asked for a certificate (the AE title and address lists still apply).
                    """, section: "receive"),
        Setting("max_pdu", .count(4096...131072), default: "65536",
                help: "Largest PDU received, in bytes (4096 to 131072).",
                comment: "Largest PDU this node receives, in bytes (4096 to 131072).", section: "receive"),
        Setting("acse_timeout_seconds", .count(1...3600), default: "30",
                help: "Seconds to wait for an association's negotiation.",
                comment: "Seconds an association's negotiation may take (1 to 3600).", section: "receive"),
        Setting("dimse_timeout_seconds", .count(1...3600), default: "60",
                help: "Seconds to wait for each message of an association (an idle sender is dropped after it).",
                comment: "Seconds to wait for each message of an association; an idle sender is dropped after it.",
                section: "receive"),
        Setting("max_associations", .count(1...64), default: "4",
                help: "Associations served at once; more are refused as busy, and senders retry.",
                comment: "Associations served at once (1 to 64); more are refused as busy, and senders retry.",
                section: "receive"),
        Setting("sop_classes", .list, default: "",
                help: "Storage SOP class UIDs accepted, comma-separated; empty: every image class ctdeid de-identifies.",
                comment: """
                    Storage SOP class UIDs accepted. Empty: every image class ctdeid de-identifies (CT, MR and PET,
                    classic, enhanced and legacy converted); a list must be a part of those. An instance of
                    another class is refused with a failure status, while the rest of its association is stored.
                    """, section: "receive"),
        Setting("transfer_syntaxes", .list, default: "",
                help: "Transfer syntax UIDs accepted, preferred first, comma-separated; empty: all that ctdeid reads.",
                comment: """
                    Transfer syntax UIDs accepted, the preferred first. Empty: explicit and implicit VR little
                    endian, then the compressed syntaxes ctdeid reads (JPEG lossless and baseline, JPEG-LS,
                    JPEG 2000, RLE). Instances are stored as received, never transcoded.
                    """, section: "receive"),
    ]

    package static func setting(_ key: String) -> Setting {
        guard let setting = all.first(where: { $0.key == key }) else { preconditionFailure("no setting \(key)") }
        return setting
    }
}
