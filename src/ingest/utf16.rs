//! UTF-16 input (the Play Console's CSV reports are UTF-16LE with a BOM):
//! a streaming reader that turns UTF-16 into UTF-8, so every other reader
//! sees UTF-8. Unpaired surrogates become U+FFFD.

use std::io::{self, Read};

/// Byte order of a UTF-16 stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    /// Little-endian (BOM FF FE).
    Little,
    /// Big-endian (BOM FE FF).
    Big,
}

/// The byte order announced by a BOM at the start of `head`.
pub fn bom(head: &[u8]) -> Option<Endian> {
    match head {
        [0xFF, 0xFE, ..] => Some(Endian::Little),
        [0xFE, 0xFF, ..] => Some(Endian::Big),
        _ => None,
    }
}

/// Reads UTF-16 (after its BOM) and yields UTF-8.
pub struct Utf16Reader<R: Read> {
    inner: R,
    endian: Endian,
    /// Bytes read but not yet decoded (an odd byte, or a lone high surrogate).
    pending: Vec<u8>,
    /// Decoded UTF-8 not yet handed out.
    out: Vec<u8>,
    out_pos: usize,
    eof: bool,
    skipped_bom: bool,
}

impl<R: Read> Utf16Reader<R> {
    /// Wraps a reader positioned at the BOM.
    pub fn new(inner: R, endian: Endian) -> Utf16Reader<R> {
        Utf16Reader {
            inner,
            endian,
            pending: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            eof: false,
            skipped_bom: false,
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 64 * 1024];
        while self.out_pos >= self.out.len() && !self.eof {
            self.out.clear();
            self.out_pos = 0;
            let n = self.inner.read(&mut buf)?;
            if n == 0 {
                self.eof = true;
            }
            self.pending.extend_from_slice(&buf[..n]);
            if !self.skipped_bom && self.pending.len() >= 2 {
                self.pending.drain(..2);
                self.skipped_bom = true;
            }
            let usable = if self.eof {
                self.pending.len() & !1
            } else {
                // Keep a trailing high surrogate for the next round.
                let mut end = self.pending.len() & !1;
                if end >= 2 {
                    let last = self.unit(end - 2);
                    if (0xD800..0xDC00).contains(&last) {
                        end -= 2;
                    }
                }
                end
            };
            let units: Vec<u16> = (0..usable).step_by(2).map(|i| self.unit(i)).collect();
            let mut text = String::with_capacity(units.len());
            for c in char::decode_utf16(units) {
                text.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            self.out.extend_from_slice(text.as_bytes());
            self.pending.drain(..usable);
            if self.eof && !self.pending.is_empty() {
                // An odd trailing byte.
                self.out
                    .extend_from_slice(char::REPLACEMENT_CHARACTER.to_string().as_bytes());
                self.pending.clear();
            }
        }
        Ok(())
    }

    fn unit(&self, i: usize) -> u16 {
        let pair = [self.pending[i], self.pending[i + 1]];
        match self.endian {
            Endian::Little => u16::from_le_bytes(pair),
            Endian::Big => u16::from_be_bytes(pair),
        }
    }
}

impl<R: Read> Read for Utf16Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fill()?;
        let available = &self.out[self.out_pos..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xFE];
        for u in text.encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn decodes_utf16le_with_bom() {
        let text = "Star Rating,Review Text\n1,闪退 😡\n";
        let bytes = utf16le(text);
        assert_eq!(bom(&bytes), Some(Endian::Little));
        let mut out = String::new();
        Utf16Reader::new(&bytes[..], Endian::Little)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn decodes_across_small_reads() {
        // A reader that hands out one byte at a time splits surrogate pairs.
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() || buf.is_empty() {
                    return Ok(0);
                }
                buf[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let text = "a😡b中";
        let bytes = utf16le(text);
        let mut out = String::new();
        Utf16Reader::new(OneByte(&bytes), Endian::Little)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
    }
}
