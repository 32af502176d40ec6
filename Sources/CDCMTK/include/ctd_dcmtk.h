/* A thin C door to DCMTK for Swift. It only loads, walks, edits and saves; every
 * decision (which tag gets which action) is made in Swift. All handles are opaque.
 * Item handles are borrowed from their file and stay valid until the file is freed
 * or the owning element is deleted. Functions return 0 on success. */
#ifndef CTD_DCMTK_H
#define CTD_DCMTK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctd_file ctd_file;
typedef struct ctd_item ctd_item;
typedef struct ctd_charset ctd_charset;

/* Registers the codecs, silences DCMTK's own logging and checks that the data
 * dictionary is loaded. On failure writes a message naming the dictionary path. */
int ctd_init(char *err, size_t errlen);

/* Loads a DICOM Part 10 file (preamble + "DICM" + meta required). Values longer than
 * lazy_threshold bytes (0 = load all) stay on disk until needed. NULL on failure. */
ctd_file *ctd_load(const char *path, uint32_t lazy_threshold, char *err, size_t errlen);
void ctd_free(ctd_file *file);

/* Parses a whole Part 10 file held in memory (preamble + "DICM" + meta required) up to, not
 * including, the top-level Pixel Data element. *header_length is the offset where parsing
 * stopped (len when there is no top-level Pixel Data). Values are copied: data may be freed
 * afterwards. The preamble is kept as read. NULL on failure. */
ctd_file *ctd_load_header(const uint8_t *data, size_t len, size_t *header_length, char *err, size_t errlen);

/* Serialises the file exactly as ctd_save would write it (original transfer syntax, new file
 * meta, no group lengths) into a malloc'ed buffer (free with ctd_bytes_free). The preamble is
 * written as held: zero it before loading. */
int ctd_encode(ctd_file *file, uint8_t **out, size_t *outlen, char *err, size_t errlen);
void ctd_bytes_free(uint8_t *bytes);

/* An empty file (for building test data); saved as Explicit VR Little Endian. */
ctd_file *ctd_new(void);

/* Writes the file in its original transfer syntax with a freshly built file meta
 * (so no AE titles survive) and a zeroed preamble. */
int ctd_save(ctd_file *file, const char *path, char *err, size_t errlen);

ctd_item *ctd_dataset(ctd_file *file);
ctd_item *ctd_meta(ctd_file *file);
/* The transfer syntax UID the dataset was read in ("" when unknown). */
const char *ctd_transfer_syntax(ctd_file *file);

typedef struct {
    uint16_t group;
    uint16_t element;
    char vr[3];          /* e.g. "PN", "SQ", "UN" */
    uint32_t length;     /* value length in bytes as read; 0xFFFFFFFF undefined */
    uint32_t item_count; /* number of items when vr is SQ */
} ctd_element;

/* Elements of one item (dataset, meta or sequence item), in tag order. */
uint32_t ctd_item_count(ctd_item *item);
int ctd_item_element(ctd_item *item, uint32_t index, ctd_element *out);
/* All of them at once (up to capacity; ctd_item_count tells how many): one pass over the list,
 * where ctd_item_element seeks from the first element for each index. */
uint32_t ctd_item_elements(ctd_item *item, ctd_element *out, uint32_t capacity);

/* The index-th item of a sequence element; NULL when absent. */
ctd_item *ctd_sequence_item(ctd_item *item, uint16_t group, uint16_t element, uint32_t index);

/* The raw value bytes of a string-valued element (charset encoded, backslashes between
 * values, padding removed). *data stays valid until the element is changed. Returns
 * 1 when the element is absent or not a string VR. */
int ctd_get_string(ctd_item *item, uint16_t group, uint16_t element, const char **data, size_t *len);

/* Raw value bytes of any non-sequence element (binary VRs in the dataset's byte order
 * after loading, i.e. host order). Loads lazy values. */
int ctd_get_bytes(ctd_item *item, uint16_t group, uint16_t element, const uint8_t **data, size_t *len);

/* Sets an element's value from a string (DICOM text encoding, backslash separated for
 * multiple values; numbers given as text for binary VRs). vr NULL = keep the existing
 * element's VR, or take it from the dictionary when absent or UN. Creates the element
 * when absent. */
int ctd_put_string(ctd_item *item, uint16_t group, uint16_t element, const char *vr, const char *value, size_t len);

/* Makes an element zero-length (an empty sequence for SQ). Creates it when absent. */
int ctd_put_empty(ctd_item *item, uint16_t group, uint16_t element, const char *vr);

/* Removes an element (with its items). Returns 1 when absent. */
int ctd_delete(ctd_item *item, uint16_t group, uint16_t element);

/* Appends a new empty item to a sequence (created when absent) and returns it. */
ctd_item *ctd_sequence_append(ctd_item *item, uint16_t group, uint16_t element);

/* Converts text in the given SpecificCharacterSet value (e.g. "ISO_IR 100", "\ISO 2022 IR 87")
 * to UTF-8. NULL when the character set is not supported. */
ctd_charset *ctd_charset_new(const char *specific_character_set);
void ctd_charset_free(ctd_charset *cs);
/* Writes a malloc'ed NUL-terminated UTF-8 string into *out (free with ctd_string_free). */
int ctd_charset_convert(ctd_charset *cs, const char *data, size_t len, char **out, size_t *outlen);
void ctd_string_free(char *s);

/* Pixel values of all frames as 16-bit words (stored values, before rescale), in a malloc'ed buffer
 * (free with ctd_pixels_free). Encapsulated pixel data is decoded from a copy of the dataset, so the
 * original compressed bytes stay untouched. Fails, with a reason, for 8-bit data or a transfer syntax
 * DCMTK cannot decode (JPEG 2000). */
int ctd_get_pixels16(ctd_file *file, uint16_t **out, size_t *count, char *err, size_t errlen);
void ctd_pixels_free(uint16_t *pixels);

/* The index-th fragment of the top-level encapsulated pixel data as read (index 0 is the Basic
 * Offset Table): its length and up to its last 3 bytes (*tail_len says how many). Returns 1 when
 * there is no such fragment or the pixel data is not encapsulated. */
int ctd_pixel_fragment(ctd_file *file, uint32_t index, uint32_t *length, uint8_t tail[3], uint32_t *tail_len);

/* The bytes of the index-th fragment of the top-level encapsulated pixel data (index 0 is the Basic
 * Offset Table). *data stays valid until the pixel data is changed or the file freed. Returns 1 when
 * there is no such fragment or the pixel data is not encapsulated. */
int ctd_pixel_fragment_bytes(ctd_file *file, uint32_t index, const uint8_t **data, uint32_t *length);

/* Replaces the pixel data with encapsulated frames in the dataset's original transfer syntax: an
 * empty Basic Offset Table and one fragment per frame (each of even length, as given). The file is
 * then written in that syntax. */
int ctd_put_encapsulated(ctd_file *file, const uint8_t *const *frames, const size_t *lengths, uint32_t count,
                         char *err, size_t errlen);

/* Replaces the pixel data with native 16-bit words. An input in a lossless compressed transfer
 * syntax DCMTK can encode (RLE, JPEG lossless, JPEG-LS lossless) is re-encoded in it; any other
 * (lossy) input is written as Explicit VR Little Endian. Sets *kept_syntax to 1 when the original
 * transfer syntax is kept. */
int ctd_put_pixels16(ctd_file *file, const uint16_t *pixels, size_t count, int *kept_syntax, char *err, size_t errlen);

/* 1 when DCMTK's data dictionary has an entry for the tag, else 0. */
int ctd_dictionary_knows(uint16_t group, uint16_t element);

/* Dictionary VR of a standard tag ("UN" when unknown). */
void ctd_dictionary_vr(uint16_t group, uint16_t element, char vr[3]);

/* Whether the data dictionary allows `vr` for a standard tag: 1 when it is the dictionary's VR or
 * one the dictionary's ambiguous VR stands for (US or SS for "xs", OB or OW for "ox"), 0 when the
 * dictionary gives another VR, -1 when the dictionary does not know the tag. */
int ctd_dictionary_allows(uint16_t group, uint16_t element, const char *vr);

#ifdef __cplusplus
}
#endif
#endif
