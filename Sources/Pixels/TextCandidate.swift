/// Which way text differs from what is under it.
public enum TextPolarity: String, Sendable {
    /// Light strokes at the top of the frame's range (the usual overlay).
    case bright
    /// Dark strokes at the bottom of the range (dark text, or the outline of light text over light tissue).
    case dark
}

/// A row of character-sized strokes: a place where text may be written.
public struct TextCandidate: Sendable, Hashable {
    public var box: PixelBox
    public var polarity: TextPolarity
    /// The row runs down the frame (text turned by 90 degrees).
    public var vertical: Bool
    /// Stroke components in the row (letters, or words where anti-aliasing joined the letters).
    public var components: Int
    /// Height of the characters, across the row.
    public var characterHeight: Int
    /// Two thirds of the components have the row's character height and stand on one line.
    public var uniform = false

    /// Many character-sized strokes of one height on one line: no anatomy looks like that, so it is
    /// treated as text even when OCR cannot read it (burned-in text is often small and blurred).
    /// Only for rows across the frame: columns of stacked blobs (a body outline, vertebrae) are common
    /// in anatomy, so turned text needs OCR's word.
    public var isStrongEvidence: Bool {
        !vertical && uniform && characterHeight >= 4
            && components >= TextScreen.strongComponents
    }

    /// For rows of one or two components, `TextScreen.stemShare`: the share of the row's positions
    /// where its strokes span half its height (1 for rows of more components, which are not measured).
    public var stems = 1.0

    /// Worth OCR's time: not so small that Tesseract "reads" noise (it does at 3 px), and, for a row
    /// of one or two components, with letters' stems. The bands of bone edges that a head CT gives
    /// in every slice hold none (under a tenth of their positions; words over a quarter) and
    /// otherwise cost a reading each (about 10 ms); they can still be masked as a block's line.
    public var isReadable: Bool { characterHeight >= 5 && stems >= TextScreen.minimumStemShare }
}
