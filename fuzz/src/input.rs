//! A cursor over the fuzzer's bytes for the structured targets: every read succeeds
//! (zeros once the bytes run out), so any input is a valid program of choices.

/// Reads choices from the fuzzer's bytes.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    /// Whether every byte has been used.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }

    /// A number in `0..n` (`n` above zero).
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.u16()) % n.max(1)
    }

    /// Up to `n` raw bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// A string of any content: short, long, or a short piece repeated up to 8191
    /// times (so that strings far beyond any limit need only a few input bytes).
    pub fn string(&mut self) -> String {
        let mode = self.byte();
        match mode {
            0..=191 => {
                let n = usize::from(mode % 48);
                String::from_utf8_lossy(self.bytes(n)).into_owned()
            }
            192..=254 => {
                let n = usize::from(self.u16());
                String::from_utf8_lossy(self.bytes(n)).into_owned()
            }
            255 => {
                let n = usize::from(self.byte() % 16);
                let piece = String::from_utf8_lossy(self.bytes(n)).into_owned();
                piece.repeat(usize::from(self.u16() % 8192))
            }
        }
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            return None;
        }
        items.get(self.below(items.len())).copied()
    }
}
