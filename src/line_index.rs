//! Where a byte offset of a text is, as a reader counts: line and column.

/// Turns byte offsets into 1-based line and column (in characters).
#[derive(Debug)]
pub struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// The index of `text`'s lines.
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// Line and column of byte `offset`; offsets past the end or inside a
    /// character are clamped to the nearest place before them.
    pub fn locate(&self, offset: usize) -> (u32, u32) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&start| start <= offset) - 1;
        // a byte-order mark is not something a reader sees as a column
        let start = if line == 0 && self.text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8().min(offset)
        } else {
            self.starts[line]
        };
        let column = self.text[start..offset].chars().count() + 1;
        (to_u32(line + 1), to_u32(column))
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_not_bytes() {
        let index = LineIndex::new("a = 1\nnäme = \"x\"\n");
        assert_eq!(index.locate(0), (1, 1));
        assert_eq!(index.locate(4), (1, 5));
        assert_eq!(index.locate(6), (2, 1));
        // "näme" has a two-byte character: `=` is byte 12, character 6
        assert_eq!(index.locate(12), (2, 6));
        assert_eq!(index.locate(1000), (3, 1));
    }

    #[test]
    fn a_byte_order_mark_takes_no_column() {
        let index = LineIndex::new("\u{feff}name = 1\nx");
        assert_eq!(index.locate(3), (1, 1));
        assert_eq!(index.locate(10), (1, 8));
        assert_eq!(index.locate(12), (2, 1));
    }
}
