// Pixel data through DCMTK: decoded to 16-bit values, fragments of encapsulated data, and new
// pixel data written back (re-encoded in the original syntax where DCMTK can). No policy lives here.
#include "shim_internal.h"

int ctd_get_pixels16(ctd_file *file, uint16_t **out, size_t *count, char *err, size_t errlen) {
    if (!file || !out || !count) return 1;
    DcmDataset *dataset = file->format.getDataset();
    Uint16 bits = 0;
    if (dataset->findAndGetUint16(DCM_BitsAllocated, bits).bad() || bits != 16) {
        put_error(err, errlen, "pixel data is not 16 bits per sample");
        return 1;
    }
    DcmXfer xfer(dataset->getOriginalXfer());
    const Uint16 *values = nullptr;
    unsigned long length = 0;
    DcmDataset *copy = nullptr;
    OFCondition status;
    if (xfer.isEncapsulated()) {
        // Decoding in place would make re-encoding in the original syntax fail; decode a copy.
        copy = new (std::nothrow) DcmDataset(*dataset);
        if (!copy) {
            put_error(err, errlen, "out of memory");
            return 1;
        }
        status = copy->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
        if (status.good()) status = copy->findAndGetUint16Array(DCM_PixelData, values, &length);
    } else {
        status = dataset->findAndGetUint16Array(DCM_PixelData, values, &length);
    }
    if (status.bad() || !values) {
        put_error(err, errlen, std::string("cannot decode the pixel data (") + xfer.getXferName() + "): " + status.text());
        delete copy;
        return 1;
    }
    uint16_t *buffer = static_cast<uint16_t *>(std::malloc(length * sizeof(uint16_t) + 1));
    if (!buffer) {
        delete copy;
        put_error(err, errlen, "out of memory");
        return 1;
    }
    std::memcpy(buffer, values, length * sizeof(uint16_t));
    delete copy;
    *out = buffer;
    *count = length;
    return 0;
}

void ctd_pixels_free(uint16_t *pixels) { std::free(pixels); }

int ctd_pixel_fragment(ctd_file *file, uint32_t index, uint32_t *length, uint8_t tail[3], uint32_t *tail_len) {
    if (!file || !length || !tail || !tail_len) return 1;
    DcmDataset *dataset = file->format.getDataset();
    DcmElement *element = nullptr;
    if (dataset->findAndGetElement(DCM_PixelData, element).bad() || !element) return 1;
    DcmPixelData *pixels = OFdynamic_cast(DcmPixelData *, element);
    if (!pixels) return 1;
    DcmPixelSequence *sequence = nullptr;
    if (pixels->getEncapsulatedRepresentation(dataset->getOriginalXfer(), nullptr, sequence).bad() || !sequence) return 1;
    DcmPixelItem *item = nullptr;
    if (index >= sequence->card() || sequence->getItem(item, index).bad() || !item) return 1;
    Uint8 *bytes = nullptr;
    const Uint32 count = item->getLength();
    if (count > 0 && (item->getUint8Array(bytes).bad() || !bytes)) return 1;
    const Uint32 kept = count < 3 ? count : 3;
    for (Uint32 k = 0; k < kept; k++) tail[k] = bytes[count - kept + k];
    *length = count;
    *tail_len = kept;
    return 0;
}

int ctd_pixel_fragment_bytes(ctd_file *file, uint32_t index, const uint8_t **data, uint32_t *length) {
    if (!file || !data || !length) return 1;
    DcmDataset *dataset = file->format.getDataset();
    DcmElement *element = nullptr;
    if (dataset->findAndGetElement(DCM_PixelData, element).bad() || !element) return 1;
    DcmPixelData *pixels = OFdynamic_cast(DcmPixelData *, element);
    if (!pixels) return 1;
    DcmPixelSequence *sequence = nullptr;
    if (pixels->getEncapsulatedRepresentation(dataset->getOriginalXfer(), nullptr, sequence).bad() || !sequence) return 1;
    DcmPixelItem *item = nullptr;
    if (index >= sequence->card() || sequence->getItem(item, index).bad() || !item) return 1;
    Uint8 *bytes = nullptr;
    const Uint32 count = item->getLength();
    if (count > 0 && (item->getUint8Array(bytes).bad() || !bytes)) return 1;
    *data = bytes;
    *length = count;
    return 0;
}

int ctd_put_encapsulated(ctd_file *file, const uint8_t *const *frames, const size_t *lengths, uint32_t count,
                         char *err, size_t errlen) {
    if (!file || (count > 0 && (!frames || !lengths))) return 1;
    DcmDataset *dataset = file->format.getDataset();
    const E_TransferSyntax original = dataset->getOriginalXfer();
    if (!DcmXfer(original).isEncapsulated()) {
        put_error(err, errlen, "the transfer syntax is not an encapsulated one");
        return 1;
    }
    DcmPixelSequence *sequence = new (std::nothrow) DcmPixelSequence(DcmTag(DCM_PixelSequenceTag));
    DcmPixelItem *offsets = new (std::nothrow) DcmPixelItem(DcmTag(DCM_Item, EVR_OB));
    if (!sequence || !offsets || sequence->insert(offsets).bad()) {
        delete sequence;
        delete offsets;
        put_error(err, errlen, "out of memory");
        return 1;
    }
    for (uint32_t k = 0; k < count; k++) {
        DcmPixelItem *item = new (std::nothrow) DcmPixelItem(DcmTag(DCM_Item, EVR_OB));
        if (!item || item->putUint8Array(frames[k], static_cast<Uint32>(lengths[k])).bad() || sequence->insert(item).bad()) {
            delete item;
            delete sequence;
            put_error(err, errlen, "cannot build the encapsulated pixel data");
            return 1;
        }
    }
    DcmPixelData *pixels = new (std::nothrow) DcmPixelData(DCM_PixelData);
    if (!pixels) {
        delete sequence;
        put_error(err, errlen, "out of memory");
        return 1;
    }
    pixels->putOriginalRepresentation(original, nullptr, sequence);  // takes the sequence
    OFCondition status = dataset->insert(pixels, OFTrue /* replace */);
    if (status.bad()) {
        delete pixels;
        put_error(err, errlen, std::string("cannot replace the pixel data: ") + status.text());
        return 1;
    }
    file->outputXfer = EXS_Unknown;
    return 0;
}

int ctd_put_pixels16(ctd_file *file, const uint16_t *pixels, size_t count, int *kept_syntax, char *err, size_t errlen) {
    if (!file || !pixels) return 1;
    DcmDataset *dataset = file->format.getDataset();
    const E_TransferSyntax original = dataset->getOriginalXfer();
    OFCondition status = dataset->putAndInsertUint16Array(DCM_PixelData, pixels, static_cast<unsigned long>(count));
    if (status.bad()) {
        put_error(err, errlen, std::string("cannot replace the pixel data: ") + status.text());
        return 1;
    }
    DcmXfer xfer(original);
    bool kept = !xfer.isEncapsulated();
    if (xfer.isEncapsulated() && xfer.isLossless()) {
        const DcmRepresentationParameter *parameters = nullptr;
        DcmRLERepresentationParameter rle;
        DJ_RPLossless jpegLossless;
        DJLSRepresentationParameter jpegLS(2, OFTrue);
        if (original == EXS_RLELossless) parameters = &rle;
        else if (original == EXS_JPEGProcess14SV1 || original == EXS_JPEGProcess14) parameters = &jpegLossless;
        else if (original == EXS_JPEGLSLossless) parameters = &jpegLS;
        if (parameters && dataset->chooseRepresentation(original, parameters).good() && dataset->canWriteXfer(original)) {
            kept = true;
        }
    }
    if (!kept) {
        // Lossy (or not encodable here): write native; the caller keeps the lossy history attributes.
        dataset->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
        file->outputXfer = EXS_LittleEndianExplicit;
    }
    if (kept_syntax) *kept_syntax = kept ? 1 : 0;
    return 0;
}
