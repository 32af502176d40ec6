/// Transfer syntaxes by what the product does with their pixel data.
package enum TransferSyntax {
    /// Lossy transfer syntaxes and the LossyImageCompressionMethod term of each, kept as history
    /// when defaced pixels of such a file are written uncompressed.
    package static let lossy: [String: String] = [
        "1.2.840.10008.1.2.4.50": "ISO_10918_1", "1.2.840.10008.1.2.4.51": "ISO_10918_1",
        "1.2.840.10008.1.2.4.81": "ISO_14495_1", "1.2.840.10008.1.2.4.91": "ISO_15444_1",
    ]

    /// Native (uncompressed) transfer syntaxes, whose pixel data length can be checked.
    package static let native: Set<String> = [
        "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
    ]
}
