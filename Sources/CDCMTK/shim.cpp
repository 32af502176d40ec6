// Thin C API over DCMTK; see include/ctd_dcmtk.h. No policy lives here.
#include "shim_internal.h"

static DcmItem *as_item(ctd_item *item) { return reinterpret_cast<DcmItem *>(item); }
static ctd_item *as_handle(DcmItem *item) { return reinterpret_cast<ctd_item *>(item); }

// DcmItem keeps its elements in a list sorted by tag (DcmItem::insert keeps the order), and
// the list is protected. A pointer to member named through a derived class is the standard way
// in; the class is never instantiated.
struct ElementListAccess : DcmItem {
    static DcmList *DcmItem::*member() { return &ElementListAccess::elementList; }
};

static DcmList *element_list(DcmItem *item) { return item->*ElementListAccess::member(); }

// Finds an element of this item (not of its sequences) by tag, starting from the list's cursor
// and leaving the cursor on it. The walk asks for elements in tag order, so a lookup is a step
// or two; DCMTK's own search scans from the first element every time, which made the walk
// quadratic in the number of elements.
static DcmElement *find_element(ctd_item *item, uint16_t group, uint16_t element) {
    if (!item) return nullptr;
    DcmList *list = element_list(as_item(item));
    if (!list || list->empty()) return nullptr;
    const DcmTagKey key(group, element);
    DcmObject *object = list->get(ELP_atpos);
    if (!object) object = list->seek(ELP_first);
    while (object && object->getTag() > key) object = list->seek(ELP_prev);
    if (!object) object = list->seek(ELP_first);
    while (object && object->getTag() < key) object = list->seek(ELP_next);
    if (object && object->getTag() == key) return static_cast<DcmElement *>(object);
    return nullptr;
}

// Removes and frees an element of this item, found as above.
static bool delete_element(DcmItem *item, uint16_t group, uint16_t element) {
    if (!find_element(as_handle(item), group, element)) return false;
    DcmObject *removed = element_list(item)->remove();  // the cursor's element
    if (!removed) return false;
    removed->setParent(nullptr);
    delete removed;
    return true;
}

int ctd_init(char *err, size_t errlen) {
    static std::once_flag once;
    std::call_once(once, [] {
        // DCMTK's own warnings would go to stderr unfiltered; the Swift side reports errors.
        OFLog::configure(OFLogger::OFF_LOG_LEVEL);
        DcmRLEDecoderRegistration::registerCodecs();
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
        // Encoders re-compress defaced pixel data of lossless inputs in their own transfer syntax.
        DcmRLEEncoderRegistration::registerCodecs();
        DJEncoderRegistration::registerCodecs();
        DJLSEncoderRegistration::registerCodecs();
        // A standard attribute encoded as UN (GDCM writes every attribute so when it converts an
        // implicit VR file to an explicit VR syntax) is read with its dictionary VR, at every
        // depth: the profile's actions, UID remapping, date shifting, the word check and head
        // detection all need the real VR, and the output is written with it. Undefined-length UN
        // is read as an implicit VR sequence already (CP-246).
        dcmEnableUnknownVRConversion.set(OFTrue);
    });
    if (!dcmDataDict.isDictionaryLoaded()) {
        const char *env = std::getenv(DCM_DICT_ENVIRONMENT_VARIABLE);
        std::string tried = (env && *env) ? std::string(env) + " (from " DCM_DICT_ENVIRONMENT_VARIABLE ")"
                                          : std::string(DCM_DICT_DEFAULT_PATH);
        put_error(err, errlen, "the DICOM data dictionary is not loaded; tried " + tried +
                                   " (install dcmtk's libdcmtk17 data files or set " DCM_DICT_ENVIRONMENT_VARIABLE ")");
        return 1;
    }
    return 0;
}

ctd_file *ctd_load(const char *path, uint32_t lazy_threshold, char *err, size_t errlen) {
    ctd_file *file = new (std::nothrow) ctd_file();
    if (!file) {
        put_error(err, errlen, "out of memory");
        return nullptr;
    }
    // Large values (pixel data) left on disk are streamed straight from input to output on save.
    const Uint32 maxRead = lazy_threshold == 0 ? 0xFFFFFFFF : lazy_threshold;
    OFCondition status = file->format.loadFile(OFFilename(path), EXS_Unknown, EGL_noChange, maxRead, ERM_fileOnly);
    if (status.bad()) {
        put_error(err, errlen, status.text());
        delete file;
        return nullptr;
    }
    DcmXfer xfer(file->format.getDataset()->getOriginalXfer());
    file->transferSyntax = xfer.getXferID() ? xfer.getXferID() : "";
    return file;
}

void ctd_free(ctd_file *file) { delete file; }

ctd_file *ctd_load_header(const uint8_t *data, size_t len, size_t *header_length, char *err, size_t errlen) {
    if (!data || !header_length) return nullptr;
    ctd_file *file = new (std::nothrow) ctd_file();
    if (!file) {
        put_error(err, errlen, "out of memory");
        return nullptr;
    }
    DcmInputBufferStream stream;
    stream.setBuffer(data, static_cast<offile_off_t>(len));
    stream.setEos();
    // As loadFile(..., ERM_fileOnly): a file without the DICM prefix and meta is refused.
    file->format.setReadMode(ERM_fileOnly);
    file->format.transferInit();
    OFCondition status = file->format.readUntilTag(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, DCM_PixelData);
    file->format.transferEnd();
    file->format.setReadMode(ERM_autoDetect);
    if (status.bad()) {
        put_error(err, errlen, status.text());
        delete file;
        return nullptr;
    }
    *header_length = static_cast<size_t>(stream.tell());
    DcmXfer xfer(file->format.getDataset()->getOriginalXfer());
    file->transferSyntax = xfer.getXferID() ? xfer.getXferID() : "";
    return file;
}

int ctd_encode(ctd_file *file, uint8_t **out, size_t *outlen, char *err, size_t errlen) {
    if (!file || !out || !outlen) return 1;
    E_TransferSyntax xfer = file->outputXfer != EXS_Unknown ? file->outputXfer : file->format.getDataset()->getOriginalXfer();
    if (xfer == EXS_Unknown) xfer = EXS_LittleEndianExplicit;
    std::string bytes;
    unsigned char chunk[64 * 1024];
    DcmOutputBufferStream stream(chunk, sizeof chunk);
    file->format.transferInit();
    OFCondition status = EC_StreamNotifyClient;
    while (status == EC_StreamNotifyClient) {
        status = file->format.write(stream, xfer, EET_ExplicitLength, nullptr, EGL_withoutGL, EPD_noChange, 0, 0, 0,
                                    EWM_createNewMeta);
        void *filled = nullptr;
        offile_off_t count = 0;
        stream.flushBuffer(filled, count);
        if (count > 0) bytes.append(static_cast<const char *>(filled), static_cast<size_t>(count));
    }
    file->format.transferEnd();
    if (status.bad()) {
        put_error(err, errlen, status.text());
        return 1;
    }
    uint8_t *buffer = static_cast<uint8_t *>(std::malloc(bytes.size() > 0 ? bytes.size() : 1));
    if (!buffer) {
        put_error(err, errlen, "out of memory");
        return 1;
    }
    std::memcpy(buffer, bytes.data(), bytes.size());
    *out = buffer;
    *outlen = bytes.size();
    return 0;
}

void ctd_bytes_free(uint8_t *bytes) { std::free(bytes); }

ctd_file *ctd_new(void) {
    ctd_file *file = new (std::nothrow) ctd_file();
    if (file) file->transferSyntax = UID_LittleEndianExplicitTransferSyntax;
    return file;
}

// DCMTK pads an odd-length value to even length when it loads it, but a value left on disk is loaded
// only while it is written: after the explicit lengths of the sequence items around it were computed
// from the odd length, so the file would declare those items one byte short and not read back.
static void load_odd_values_in_items(DcmDataset *dataset) {
    DcmStack stack;
    while (dataset->nextObject(stack, OFTrue).good()) {
        DcmObject *object = stack.top();
        const DcmObject *parent = object->getParent();
        if (object->isLeaf() && (object->getLengthField() & 1) && parent && parent->ident() == EVR_item)
            object->loadAllDataIntoMemory();
    }
}

int ctd_save(ctd_file *file, const char *path, char *err, size_t errlen) {
    if (!file) return 1;
    load_odd_values_in_items(file->format.getDataset());
    errno = 0;
    // EWM_createNewMeta rebuilds group 0002 from the dataset, so source/sending AE titles,
    // private meta information and the original implementation identity are dropped.
    E_TransferSyntax xfer = file->outputXfer != EXS_Unknown ? file->outputXfer : file->format.getDataset()->getOriginalXfer();
    if (xfer == EXS_Unknown) xfer = EXS_LittleEndianExplicit;  // a file built in memory
    OFCondition status = file->format.saveFile(OFFilename(path), xfer, EET_ExplicitLength, EGL_withoutGL,
                                               EPD_noChange, 0, 0, EWM_createNewMeta);
    if (status.bad()) {
        // DCMTK's text hides the cause; errno of the failed write names it (e.g. no space left).
        const int cause = errno;
        std::string message = status.text();
        if (cause != 0) message += std::string(": ") + std::strerror(cause);
        put_error(err, errlen, message);
        return 1;
    }
    // DCMTK writes back the preamble it read; the preamble may carry text, so zero it.
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        put_error(err, errlen, "cannot reopen the written file to zero its preamble");
        return 1;
    }
    char zeros[DCM_PreambleLen] = {0};
    ssize_t written = ::pwrite(fd, zeros, sizeof zeros, 0);
    ::close(fd);
    if (written != static_cast<ssize_t>(sizeof zeros)) {
        put_error(err, errlen, "cannot zero the preamble of the written file");
        return 1;
    }
    return 0;
}

ctd_item *ctd_dataset(ctd_file *file) { return file ? as_handle(file->format.getDataset()) : nullptr; }
ctd_item *ctd_meta(ctd_file *file) { return file ? as_handle(file->format.getMetaInfo()) : nullptr; }
const char *ctd_transfer_syntax(ctd_file *file) { return file ? file->transferSyntax.c_str() : ""; }

uint32_t ctd_item_count(ctd_item *item) { return item ? as_item(item)->card() : 0; }

static void describe(DcmElement *element, ctd_element *out) {
    const DcmTag &tag = element->getTag();
    out->group = tag.getGTag();
    out->element = tag.getETag();
    DcmVR vr(element->ident());
    const char *name = vr.getValidVRName();
    out->vr[0] = name ? name[0] : 'U';
    out->vr[1] = name ? name[1] : 'N';
    out->vr[2] = 0;
    out->length = element->getLengthField();
    out->item_count = 0;
    if (element->ident() == EVR_SQ) {
        out->item_count = static_cast<uint32_t>(static_cast<DcmSequenceOfItems *>(element)->card());
    }
}

int ctd_item_element(ctd_item *item, uint32_t index, ctd_element *out) {
    if (!item || !out) return 1;
    DcmElement *element = as_item(item)->getElement(index);
    if (!element) return 1;
    describe(element, out);
    return 0;
}

uint32_t ctd_item_elements(ctd_item *item, ctd_element *out, uint32_t capacity) {
    if (!item || !out) return 0;
    DcmList *list = element_list(as_item(item));
    if (!list || list->empty()) return 0;
    uint32_t count = 0;
    for (DcmObject *object = list->seek(ELP_first); object && count < capacity; object = list->seek(ELP_next)) {
        describe(static_cast<DcmElement *>(object), &out[count++]);
    }
    list->seek(ELP_first);  // where the walk starts
    return count;
}

ctd_item *ctd_sequence_item(ctd_item *item, uint16_t group, uint16_t element, uint32_t index) {
    if (!item) return nullptr;
    DcmElement *found = find_element(item, group, element);
    if (!found || found->ident() != EVR_SQ) return nullptr;
    DcmSequenceOfItems *sequence = static_cast<DcmSequenceOfItems *>(found);
    if (index >= sequence->card()) return nullptr;
    return as_handle(sequence->getItem(index));
}

int ctd_get_string(ctd_item *item, uint16_t group, uint16_t element, const char **data, size_t *len) {
    DcmElement *found = find_element(item, group, element);
    if (!found || !found->isaString()) return 1;
    char *value = nullptr;
    Uint32 length = 0;
    if (found->getString(value, length).bad()) return 1;
    *data = value ? value : "";
    *len = value ? length : 0;
    return 0;
}

int ctd_get_bytes(ctd_item *item, uint16_t group, uint16_t element, const uint8_t **data, size_t *len) {
    DcmElement *found = find_element(item, group, element);
    if (!found || found->ident() == EVR_SQ) return 1;
    if (found->isaString()) {
        const char *text = nullptr;
        if (ctd_get_string(item, group, element, &text, len) != 0) return 1;
        *data = reinterpret_cast<const uint8_t *>(text);
        return 0;
    }
    // Each binary element class answers exactly one of these typed getters.
    void *value = nullptr;
    Uint8 *u8 = nullptr; Uint16 *u16 = nullptr; Sint16 *s16 = nullptr; Uint32 *u32 = nullptr;
    Sint32 *s32 = nullptr; Float32 *f32 = nullptr; Float64 *f64 = nullptr;
    if (found->getUint8Array(u8).good()) value = u8;
    else if (found->getUint16Array(u16).good()) value = u16;
    else if (found->getSint16Array(s16).good()) value = s16;
    else if (found->getUint32Array(u32).good()) value = u32;
    else if (found->getSint32Array(s32).good()) value = s32;
    else if (found->getFloat32Array(f32).good()) value = f32;
    else if (found->getFloat64Array(f64).good()) value = f64;
    else return 1;
    *data = static_cast<const uint8_t *>(value);
    *len = value ? found->getLength() : 0;
    return 0;
}

// Replaces (or creates) an element of the given VR, or of the dictionary's VR when vr is NULL.
static DcmElement *fresh_element(DcmItem *item, uint16_t group, uint16_t element, const char *vr) {
    delete_element(item, group, element);
    DcmTag tag(group, element);
    if (vr) tag.setVR(DcmVR(vr));
    DcmElement *created = nullptr;
    if (DcmItem::newDicomElementWithVR(created, tag).bad() || !created) return nullptr;
    if (item->insert(created, OFTrue).bad()) {
        delete created;
        return nullptr;
    }
    return created;
}

static bool same_vr(DcmElement *element, const char *vr) {
    if (!vr) return element->ident() != EVR_UN;
    const char *name = DcmVR(element->ident()).getValidVRName();
    return name && std::strncmp(name, vr, 2) == 0;
}

int ctd_put_string(ctd_item *item, uint16_t group, uint16_t element, const char *vr, const char *value, size_t len) {
    if (!item) return 1;
    DcmElement *target = find_element(item, group, element);
    if (!target || !same_vr(target, vr) || target->ident() == EVR_SQ)
        target = fresh_element(as_item(item), group, element, vr);
    if (!target) return 1;
    return target->putOFStringArray(OFString(value ? value : "", len)).good() ? 0 : 1;
}

int ctd_put_empty(ctd_item *item, uint16_t group, uint16_t element, const char *vr) {
    if (!item) return 1;
    DcmElement *target = find_element(item, group, element);
    if (!target || (vr && !same_vr(target, vr)) || (!vr && target->ident() == EVR_UN))
        target = fresh_element(as_item(item), group, element, vr);
    if (!target) return 1;
    return target->clear().good() ? 0 : 1;
}

int ctd_delete(ctd_item *item, uint16_t group, uint16_t element) {
    if (!item) return 1;
    return delete_element(as_item(item), group, element) ? 0 : 1;
}

ctd_item *ctd_sequence_append(ctd_item *item, uint16_t group, uint16_t element) {
    if (!item) return nullptr;
    DcmItem *created = nullptr;
    if (as_item(item)->findOrCreateSequenceItem(DcmTag(group, element, EVR_SQ), created, -2).bad()) return nullptr;
    return as_handle(created);
}

ctd_charset *ctd_charset_new(const char *specific_character_set) {
    ctd_charset *cs = new (std::nothrow) ctd_charset();
    if (!cs) return nullptr;
    if (cs->converter.selectCharacterSet(OFString(specific_character_set ? specific_character_set : "")).bad()) {
        delete cs;
        return nullptr;
    }
    return cs;
}

void ctd_charset_free(ctd_charset *cs) { delete cs; }

int ctd_charset_convert(ctd_charset *cs, const char *data, size_t len, char **out, size_t *outlen) {
    if (!cs || !out) return 1;
    OFString converted;
    // Delimiters reset ISO 2022 escape state where PS3.5 says they do (values, PN groups).
    if (cs->converter.convertString(data ? data : "", len, converted, "\\^=").bad()) return 1;
    char *copy = static_cast<char *>(std::malloc(converted.length() + 1));
    if (!copy) return 1;
    std::memcpy(copy, converted.c_str(), converted.length());
    copy[converted.length()] = 0;
    *out = copy;
    if (outlen) *outlen = converted.length();
    return 0;
}

void ctd_string_free(char *s) { std::free(s); }

int ctd_dictionary_knows(uint16_t group, uint16_t element) {
    const DcmDataDictionary &dictionary = dcmDataDict.rdlock();
    const DcmDictEntry *entry = dictionary.findEntry(DcmTagKey(group, element), nullptr);
    dcmDataDict.rdunlock();
    return entry != nullptr ? 1 : 0;
}

void ctd_dictionary_vr(uint16_t group, uint16_t element, char vr[3]) {
    DcmTag tag(group, element);
    const char *name = tag.getVR().getValidVRName();
    vr[0] = name ? name[0] : 'U';
    vr[1] = name ? name[1] : 'N';
    vr[2] = 0;
}

int ctd_dictionary_allows(uint16_t group, uint16_t element, const char *vr) {
    const DcmDataDictionary &dictionary = dcmDataDict.rdlock();
    const DcmDictEntry *entry = dictionary.findEntry(DcmTagKey(group, element), nullptr);
    int allows = -1;
    if (entry) {
        DcmVR actual(vr);
        allows = (entry->getVR().getEVR() == actual.getEVR() || entry->getVR().isEquivalent(actual)) ? 1 : 0;
    }
    dcmDataDict.rdunlock();
    return allows;
}

