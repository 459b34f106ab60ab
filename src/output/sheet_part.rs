//! The Records sheet's XML written by vocscope itself, deflated while the
//! report pass runs (issue 8).
//!
//! rust_xlsxwriter formats every cell of every row each time (escaping,
//! number formatting, format look-ups) and deflates the whole sheet on one
//! thread when the workbook is saved. Here a record's row is turned into
//! XML once, as a *template* kept in the row cache ([`row_template`]): the
//! row's XML with two kinds of holes, the row number and each cell's style
//! (its column's format, known only to the workbook being written). Each
//! night only filling the holes remains ([`RowsPart::push_row`]), and the
//! filled XML is deflated a chunk at a time on other threads while the
//! pass goes on, each chunk an independent raw deflate stream ending on a
//! byte boundary (pigz's layout), so the chunks are concatenated as they are.
//!
//! The cells are the ones rust_xlsxwriter writes in constant-memory mode,
//! byte for byte (same escaping, same number formatting, inline strings);
//! the tests compare both. The workbook itself (other sheets, styles, the
//! Records sheet's columns, panes and filter) is still rust_xlsxwriter's:
//! [`splice_workbook`] copies its entries and puts the rows into the
//! Records sheet's.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::PathBuf;
use std::thread::JoinHandle;

use flate2::{Compress, Compression, FlushCompress, Status};
use rust_xlsxwriter::{ExcelDateTime, XlsxError};

use super::rows::RowFields;
use super::xlsx::xlsx_cell_text;

/// Template byte taking the row number.
const ROW_HOLE: u8 = 0;
/// Template byte taking a cell's style; the next byte is the column.
const STYLE_HOLE: u8 = 1;
/// Names of the Records sheet's columns.
const COLUMN_LETTERS: &[u8; 16] = b"ABCDEFGHIJKLMNOP";
/// Columns of the Records sheet.
pub(super) const COLUMNS: usize = COLUMN_LETTERS.len();
/// Excel's longest string, in UTF-16 units.
const MAX_STRING_UNITS: usize = 32_767;
/// Length of an Excel escape `_xHHHH_`.
const ESCAPE_LEN: usize = 7;
/// Bytes of XML deflated as one independent chunk.
const CHUNK: usize = 1 << 20;
/// Deflate level of the sheet: the fastest, as rust_xlsxwriter was told to
/// use before (about half the time of level 6 for a file a third larger).
const LEVEL: u32 = 1;

/// Appends the template of a record's row (see the module docs): the cells
/// rust_xlsxwriter's `record_row` writes, with holes for the row number and
/// the styles. Fails where rust_xlsxwriter would: a text longer than Excel's
/// limit in UTF-16 units even after [`super::xlsx_text`] cut it.
pub(super) fn row_template(fields: &RowFields<'_>, out: &mut Vec<u8>) -> Result<(), XlsxError> {
    out.extend_from_slice(b"<row r=\"");
    out.push(ROW_HOLE);
    out.extend_from_slice(b"\">");
    text_cell(out, 0, fields.id)?;
    text_cell(out, 1, fields.source)?;
    text_cell(out, 2, fields.kind)?;
    if let Some(date) = fields
        .created_at
        .and_then(|t| ExcelDateTime::from_timestamp(t).ok())
    {
        number_cell(out, 3, date.to_excel())?;
    }
    text_cell(out, 4, fields.lang)?;
    if let Some(rating) = fields.rating {
        number_cell(out, 5, rating)?;
    }
    number_cell(out, 6, fields.sentiment_score)?;
    text_cell(out, 7, fields.sentiment_label)?;
    number_cell(out, 8, fields.text_sentiment_score)?;
    text_cell(out, 9, &fields.themes.join("; "))?;
    text_cell(out, 10, &fields.signals.join("; "))?;
    text_cell(out, 11, fields.title)?;
    text_cell(out, 12, fields.text)?;
    for (col, value) in [
        (13, fields.first_response_minutes),
        (14, fields.resolution_minutes),
        (15, fields.ces),
    ] {
        if let Some(v) = value {
            number_cell(out, col, v)?;
        }
    }
    out.extend_from_slice(b"</row>");
    Ok(())
}

/// The template of a row holding only `text` in its first column, as
/// `write_string` writes it (no neutralising: the text is vocscope's own).
pub(super) fn note_template(text: &str, out: &mut Vec<u8>) -> Result<(), XlsxError> {
    out.extend_from_slice(b"<row r=\"");
    out.push(ROW_HOLE);
    out.extend_from_slice(b"\">");
    string_cell(out, 0, text)?;
    out.extend_from_slice(b"</row>");
    Ok(())
}

fn cell_start(out: &mut Vec<u8>, col: u8) {
    out.extend_from_slice(b"<c r=\"");
    out.push(COLUMN_LETTERS[col as usize]);
    out.extend_from_slice(&[ROW_HOLE, b'"', STYLE_HOLE, col]);
}

fn text_cell(out: &mut Vec<u8>, col: u8, value: &str) -> Result<(), XlsxError> {
    string_cell(out, col, &xlsx_cell_text(value))
}

/// A string cell as rust_xlsxwriter's `write_string` and constant-memory
/// `write_inline_string_cell` make it: none when empty.
fn string_cell(out: &mut Vec<u8>, col: u8, text: &str) -> Result<(), XlsxError> {
    if text.is_empty() {
        return Ok(());
    }
    // A UTF-16 unit takes at least one byte of UTF-8: count only when needed.
    if text.len() > MAX_STRING_UNITS && text.encode_utf16().count() > MAX_STRING_UNITS {
        return Err(XlsxError::MaxStringLengthExceeded);
    }
    cell_start(out, col);
    out.extend_from_slice(b" t=\"inlineStr\"><is><t");
    let space = ['\t', '\n', ' '];
    if text.starts_with(space) || text.ends_with(space) {
        out.extend_from_slice(b" xml:space=\"preserve\"");
    }
    out.push(b'>');
    escape_into(out, &escape_escapes(text));
    out.extend_from_slice(b"</t></is></c>");
    Ok(())
}

/// A number cell; NaN and infinities become the strings rust_xlsxwriter
/// writes for them.
fn number_cell(out: &mut Vec<u8>, col: u8, x: f64) -> Result<(), XlsxError> {
    if x.is_nan() {
        return string_cell(out, col, "NAN");
    }
    if x.is_infinite() {
        return string_cell(out, col, if x > 0.0 { "INF" } else { "-INF" });
    }
    cell_start(out, col);
    out.extend_from_slice(b"><v>");
    // rust_xlsxwriter (without its ryu or zmij features) formats with Display.
    let _ = write!(out, "{x}");
    out.extend_from_slice(b"</v></c>");
    Ok(())
}

/// Excel reads `_xHHHH_` in a string as an escaped character, so a literal
/// one gets its underscore escaped (rust_xlsxwriter's `escape_xml_escapes`).
fn escape_escapes(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("_x") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = text.to_string();
    // From the right, so earlier positions stay valid.
    for (i, _) in text.rmatch_indices("_x") {
        let end = i + ESCAPE_LEN;
        if end > text.len() || !text.is_char_boundary(end - 1) {
            continue;
        }
        if !text[end - 1..].starts_with('_') {
            continue;
        }
        if text[i + 2..end - 1].chars().all(|c| c.is_ascii_hexdigit()) {
            escaped.replace_range(i..i, "_x005F");
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// Appends `text` escaped for XML character data as rust_xlsxwriter's
/// `escape_xml_data` does: `&`, `<`, `>`, control characters other than
/// tab and newline as `_xHHHH_`, and the non-characters U+FFFE and U+FFFF.
/// No byte below 0x20 other than tab and newline comes out, so the holes
/// of a template are unambiguous.
fn escape_into(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    // Runs of bytes written as they are are copied whole: a byte is special
    // only as one of `&<>`, a control byte, or the lead byte 0xEF of U+FFFE
    // and U+FFFF (also the lead byte of the full-width punctuation of
    // Chinese text, which is copied).
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (len, escape): (usize, &[u8]) = match bytes[i] {
            b'&' => (1, b"&amp;"),
            b'<' => (1, b"&lt;"),
            b'>' => (1, b"&gt;"),
            b'\t' | b'\n' => (0, b""),
            control @ 0..0x20 => {
                out.extend_from_slice(&bytes[copied..i]);
                let _ = write!(out, "_x{:04X}_", control);
                i += 1;
                copied = i;
                continue;
            }
            0xEF => match bytes.get(i + 1..i + 3) {
                Some([0xBF, 0xBE]) => (3, b"_xFFFE_"),
                Some([0xBF, 0xBF]) => (3, b"_xFFFF_"),
                _ => (0, b""),
            },
            _ => (0, b""),
        };
        if len == 0 {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[copied..i]);
        out.extend_from_slice(escape);
        i += len;
        copied = i;
    }
    out.extend_from_slice(&bytes[copied..]);
}

/// Deflates `data` into `out` (cleared first) as a raw deflate stream with
/// `compress` (reset first): with `last`, a final stream; otherwise one
/// that ends on a byte boundary without a final block, so another stream
/// can follow it (a sync flush).
fn deflate_into(
    compress: &mut Compress,
    data: &[u8],
    last: bool,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    compress.reset();
    out.clear();
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    out.reserve(data.len() / 2 + 64);
    loop {
        if out.len() == out.capacity() {
            out.reserve(data.len() / 4 + 64);
        }
        let consumed = compress.total_in() as usize;
        let status = compress
            .compress_vec(&data[consumed..], out, flush)
            .map_err(io::Error::other)?;
        let all_in = compress.total_in() as usize == data.len();
        // A flush is complete when it left room in the output.
        let done = match last {
            true => status == Status::StreamEnd,
            false => all_in && out.len() < out.capacity(),
        };
        if done {
            return Ok(());
        }
    }
}

/// [`deflate_into`] with a new compressor and output.
fn deflate(data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    deflate_into(&mut compressor(), data, last, &mut out)?;
    Ok(out)
}

fn compressor() -> Compress {
    Compress::new(Compression::new(LEVEL), false)
}

/// A deflated chunk: its compressed bytes, and the CRC-32 and length of
/// what it holds.
struct Chunk {
    packed: Vec<u8>,
    crc: crc32fast::Hasher,
    len: u64,
}

fn pack(data: Vec<u8>, last: bool) -> io::Result<Chunk> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&data);
    Ok(Chunk {
        packed: deflate(&data, last)?,
        crc,
        len: data.len() as u64,
    })
}

/// What a worker deflating a chunk needs, handed back when it is done so
/// the next chunk reuses it: fresh buffers and compressors for each chunk
/// cost more in page faults than the copying does.
struct Work {
    data: Vec<u8>,
    packed: Vec<u8>,
    compress: Compress,
    crc: crc32fast::Hasher,
}

impl Work {
    fn new() -> Work {
        Work {
            data: Vec::with_capacity(CHUNK + 64 * 1024),
            packed: Vec::new(),
            compress: compressor(),
            crc: crc32fast::Hasher::new(),
        }
    }

    fn run(mut self) -> io::Result<Work> {
        self.crc = crc32fast::Hasher::new();
        self.crc.update(&self.data);
        deflate_into(&mut self.compress, &self.data, false, &mut self.packed)?;
        Ok(self)
    }
}

/// The Records sheet's rows, filled from templates and deflated in chunks
/// on worker threads into a temporary file beside the workbook.
pub(super) struct RowsPart {
    temp: PathBuf,
    file: Option<BufWriter<File>>,
    /// ` s="N"` for each column whose cells take style N, empty for none.
    styles: Vec<Vec<u8>>,
    /// The chunk being filled (its `data`).
    chunk: Work,
    pending: VecDeque<JoinHandle<io::Result<Work>>>,
    spare: Vec<Work>,
    workers: usize,
    crc: crc32fast::Hasher,
    len: u64,
    packed: u64,
}

impl RowsPart {
    /// Starts the rows in the temporary file `temp`; `styles` are the
    /// style indices of the columns' cells (0: none).
    pub(super) fn create(temp: PathBuf, styles: &[u32; COLUMNS]) -> io::Result<RowsPart> {
        let file = File::create(&temp)?;
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
        Ok(RowsPart {
            temp,
            file: Some(BufWriter::with_capacity(CHUNK, file)),
            styles: styles
                .iter()
                .map(|&s| match s {
                    0 => Vec::new(),
                    s => format!(" s=\"{s}\"").into_bytes(),
                })
                .collect(),
            chunk: Work::new(),
            pending: VecDeque::new(),
            spare: Vec::new(),
            workers,
            crc: crc32fast::Hasher::new(),
            len: 0,
            packed: 0,
        })
    }

    /// Appends row `row` (1-based, as in the XML) from its template.
    pub(super) fn push_row(&mut self, template: &[u8], row: u32) -> io::Result<()> {
        let mut digits = [0u8; 10];
        let mut n = row;
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let digits = &digits[start..];
        let mut rest = template;
        while let Some(i) = memchr::memchr2(ROW_HOLE, STYLE_HOLE, rest) {
            self.chunk.data.extend_from_slice(&rest[..i]);
            if rest[i] == ROW_HOLE {
                self.chunk.data.extend_from_slice(digits);
                rest = &rest[i + 1..];
            } else {
                let style = rest
                    .get(i + 1)
                    .and_then(|&col| self.styles.get(col as usize))
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidData, "row template names no column")
                    })?;
                self.chunk.data.extend_from_slice(style);
                rest = &rest[i + 2..];
            }
        }
        self.chunk.data.extend_from_slice(rest);
        if self.chunk.data.len() >= CHUNK {
            self.send()?;
        }
        Ok(())
    }

    /// Hands the chunk to a worker, first writing the oldest chunks out
    /// while as many are in flight as there are workers.
    fn send(&mut self) -> io::Result<()> {
        while self.pending.len() >= self.workers {
            self.write_oldest()?;
        }
        let mut next = self.spare.pop().unwrap_or_else(Work::new);
        next.data.clear();
        let work = std::mem::replace(&mut self.chunk, next);
        self.pending
            .push_back(std::thread::spawn(move || work.run()));
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(handle) = self.pending.pop_front() else {
            return Ok(());
        };
        let work = handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("rows already finished"))?;
        file.write_all(&work.packed)?;
        self.crc.combine(&work.crc);
        self.len += work.data.len() as u64;
        self.packed += work.packed.len() as u64;
        self.spare.push(work);
        Ok(())
    }

    /// Deflates what is left and closes the temporary file.
    fn finish(&mut self) -> io::Result<()> {
        if !self.chunk.data.is_empty() {
            self.send()?;
        }
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        if let Some(file) = self.file.take() {
            file.into_inner().map_err(|e| e.into_error())?;
        }
        Ok(())
    }
}

impl Drop for RowsPart {
    fn drop(&mut self) {
        // Workers still running finish on their own; only the file goes.
        self.file = None;
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// The style index of each column's cells in the Records sheet `xml` of a
/// workbook whose row 2 has a cell in every column (0: none).
pub(super) fn probe_styles(xml: &str) -> Option<[u32; COLUMNS]> {
    let row = xml.find("<row r=\"2\"")?;
    let row = &xml[row..xml[row..].find("</row>")? + row];
    let mut styles = [0u32; COLUMNS];
    for (col, letter) in COLUMN_LETTERS.iter().enumerate() {
        let start = format!("<c r=\"{}2\"", *letter as char);
        let cell = &row[row.find(&start)? + start.len()..];
        if let Some(style) = cell.strip_prefix(" s=\"") {
            styles[col] = style[..style.find('"')?].parse().ok()?;
        }
    }
    Some(styles)
}

/// Where a zip entry starts and what its central directory record says.
struct Entry {
    name: String,
    method: u16,
    time: u16,
    date: u16,
    crc: u32,
    packed: u64,
    len: u64,
    offset: u64,
}

/// A zip file written entry by entry (stored sizes known before each
/// entry's data; ZIP64 fields where a size or offset needs them).
struct ZipOut<W: Write> {
    out: W,
    at: u64,
    entries: Vec<Entry>,
    /// Sizes and offsets from which ZIP64 fields are written (lowered by
    /// the tests to try them).
    zip64_from: u64,
}

impl<W: Write> ZipOut<W> {
    fn new(out: W) -> ZipOut<W> {
        ZipOut {
            out,
            at: 0,
            entries: Vec::new(),
            zip64_from: u32::MAX as u64,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.at += bytes.len() as u64;
        Ok(())
    }

    /// Writes an entry's local header; its `packed` bytes must follow.
    fn start(&mut self, mut entry: Entry) -> io::Result<()> {
        entry.offset = self.at;
        let zip64 = entry.packed >= self.zip64_from || entry.len >= self.zip64_from;
        let mut h = Vec::with_capacity(64 + entry.name.len());
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&(if zip64 { 45u16 } else { 20 }).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(&entry.method.to_le_bytes());
        h.extend_from_slice(&entry.time.to_le_bytes());
        h.extend_from_slice(&entry.date.to_le_bytes());
        h.extend_from_slice(&entry.crc.to_le_bytes());
        let small = |x: u64| if zip64 { u32::MAX } else { x as u32 };
        h.extend_from_slice(&small(entry.packed).to_le_bytes());
        h.extend_from_slice(&small(entry.len).to_le_bytes());
        h.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(if zip64 { 20u16 } else { 0 }).to_le_bytes());
        h.extend_from_slice(entry.name.as_bytes());
        if zip64 {
            h.extend_from_slice(&1u16.to_le_bytes());
            h.extend_from_slice(&16u16.to_le_bytes());
            h.extend_from_slice(&entry.len.to_le_bytes());
            h.extend_from_slice(&entry.packed.to_le_bytes());
        }
        self.put(&h)?;
        self.entries.push(entry);
        Ok(())
    }

    /// Writes the central directory and its end records; returns the writer.
    fn finish(mut self) -> io::Result<W> {
        let start = self.at;
        let entries = std::mem::take(&mut self.entries);
        for e in &entries {
            let mut extra = Vec::new();
            let mut field = |x: u64| {
                if x >= self.zip64_from {
                    extra.extend_from_slice(&x.to_le_bytes());
                    u32::MAX
                } else {
                    x as u32
                }
            };
            let len = field(e.len);
            let packed = field(e.packed);
            let offset = field(e.offset);
            let zip64 = !extra.is_empty();
            let mut h = Vec::with_capacity(80 + e.name.len());
            h.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            let version: u16 = if zip64 { 45 } else { 20 };
            h.extend_from_slice(&version.to_le_bytes());
            h.extend_from_slice(&version.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&e.method.to_le_bytes());
            h.extend_from_slice(&e.time.to_le_bytes());
            h.extend_from_slice(&e.date.to_le_bytes());
            h.extend_from_slice(&e.crc.to_le_bytes());
            h.extend_from_slice(&packed.to_le_bytes());
            h.extend_from_slice(&len.to_le_bytes());
            h.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            let extra_len = if zip64 { extra.len() + 4 } else { 0 };
            h.extend_from_slice(&(extra_len as u16).to_le_bytes());
            // Comment length, disk, internal and external attributes.
            h.extend_from_slice(&[0u8; 10]);
            h.extend_from_slice(&offset.to_le_bytes());
            h.extend_from_slice(e.name.as_bytes());
            if zip64 {
                h.extend_from_slice(&1u16.to_le_bytes());
                h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
                h.extend_from_slice(&extra);
            }
            self.put(&h)?;
        }
        let size = self.at - start;
        let count = entries.len() as u64;
        let zip64 = start >= self.zip64_from || size >= self.zip64_from || count >= 0xFFFF;
        if zip64 {
            let end64 = self.at;
            let mut h = Vec::with_capacity(76);
            h.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            h.extend_from_slice(&44u64.to_le_bytes());
            h.extend_from_slice(&45u16.to_le_bytes());
            h.extend_from_slice(&45u16.to_le_bytes());
            h.extend_from_slice(&[0u8; 8]);
            h.extend_from_slice(&count.to_le_bytes());
            h.extend_from_slice(&count.to_le_bytes());
            h.extend_from_slice(&size.to_le_bytes());
            h.extend_from_slice(&start.to_le_bytes());
            h.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            h.extend_from_slice(&0u32.to_le_bytes());
            h.extend_from_slice(&end64.to_le_bytes());
            h.extend_from_slice(&1u32.to_le_bytes());
            self.put(&h)?;
        }
        let small = |x: u64, max: u64| if zip64 { max } else { x };
        let mut h = Vec::with_capacity(22);
        h.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        h.extend_from_slice(&[0u8; 4]);
        h.extend_from_slice(&(small(count, 0xFFFF) as u16).to_le_bytes());
        h.extend_from_slice(&(small(count, 0xFFFF) as u16).to_le_bytes());
        h.extend_from_slice(&(small(size, u32::MAX as u64) as u32).to_le_bytes());
        h.extend_from_slice(&(small(start, u32::MAX as u64) as u32).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        self.put(&h)?;
        Ok(self.out)
    }
}

/// Writes to `out` (flushed and synced by its owner) the workbook `workbook` (a zip, as rust_xlsxwriter
/// saves it) with the rows of `rows` put into its part `part` after the
/// part's own rows, and the part's `<dimension>` extended to `last_row`
/// (1-based). Every other entry is copied as it is, in the same order.
pub(super) fn splice_workbook(
    workbook: &[u8],
    part: &str,
    mut rows: RowsPart,
    last_row: u32,
    out: &mut BufWriter<File>,
) -> io::Result<()> {
    rows.finish()?;
    let zip_err = |e: zip::result::ZipError| io::Error::new(io::ErrorKind::InvalidData, e);
    let mut archive = zip::ZipArchive::new(io::Cursor::new(workbook)).map_err(zip_err)?;
    let mut zip = ZipOut::new(out);
    #[cfg(test)]
    if let Some(from) = ZIP64_FROM.with(|z| z.get()) {
        zip.zip64_from = from;
    }
    let mut found = false;
    for i in 0..archive.len() {
        let mut raw = archive.by_index_raw(i).map_err(zip_err)?;
        let name = raw.name().map_err(zip_err)?.to_string();
        let (date, time) = raw
            .last_modified()
            .map_or((0x21, 0), |t| (t.datepart(), t.timepart()));
        if name != part {
            let mut packed = Vec::with_capacity(raw.compressed_size() as usize);
            let method = match raw.compression() {
                zip::CompressionMethod::Stored => 0,
                zip::CompressionMethod::Deflated => 8,
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{name} is compressed with {other}"),
                    ))
                }
            };
            let entry = Entry {
                name,
                method,
                time,
                date,
                crc: raw.crc32(),
                packed: raw.compressed_size(),
                len: raw.size(),
                offset: 0,
            };
            raw.read_to_end(&mut packed)?;
            zip.start(entry)?;
            zip.put(&packed)?;
            continue;
        }
        drop(raw);
        found = true;
        let mut xml = String::new();
        archive
            .by_index(i)
            .map_err(zip_err)?
            .read_to_string(&mut xml)?;
        let (head, tail) = split_sheet(&xml, last_row).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{part} has no rows"))
        })?;
        let head = pack(head.into_bytes(), false)?;
        let tail = pack(tail.as_bytes().to_vec(), true)?;
        let mut crc = head.crc.clone();
        crc.combine(&rows.crc);
        crc.combine(&tail.crc);
        zip.start(Entry {
            name,
            method: 8,
            time,
            date,
            crc: crc.finalize(),
            packed: head.packed.len() as u64 + rows.packed + tail.packed.len() as u64,
            len: head.len + rows.len + tail.len,
            offset: 0,
        })?;
        zip.put(&head.packed)?;
        let mut packed_rows = File::open(&rows.temp)?;
        packed_rows.rewind()?;
        zip.out.flush()?;
        let copied = io::copy(&mut packed_rows, zip.out.get_mut())?;
        if copied != rows.packed {
            return Err(io::Error::other("the deflated rows changed size"));
        }
        zip.at += copied;
        zip.put(&tail.packed)?;
    }
    if !found {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("the workbook has no {part}"),
        ));
    }
    zip.finish()?;
    Ok(())
}

/// The sheet's XML before and after the end of its rows, with its
/// dimension extended to `last_row`.
fn split_sheet(xml: &str, last_row: u32) -> Option<(String, &str)> {
    let end = xml.find("</sheetData>")?;
    let mut head = xml[..end].to_string();
    const DIMENSION: &str = "<dimension ref=\"";
    if let Some(at) = head.find(DIMENSION) {
        let from = at + DIMENSION.len();
        let to = from + head[from..].find('"')?;
        let range = &head[from..to];
        if let Some((first, last)) = range.split_once(':') {
            let column = last.trim_end_matches(|c: char| c.is_ascii_digit());
            let rows = last[column.len()..].parse::<u32>().ok()?;
            let range = format!("{first}:{column}{}", rows.max(last_row));
            head.replace_range(from..to, &range);
        }
    }
    Some((head, &xml[end..]))
}

#[cfg(test)]
thread_local! {
    /// Sizes from which the tests want ZIP64 fields.
    static ZIP64_FROM: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Makes [`splice_workbook`] on this thread write ZIP64 fields for sizes
/// from `from` (tests only).
#[cfg(test)]
pub(super) fn force_zip64(from: Option<u64>) {
    ZIP64_FROM.with(|z| z.set(from));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_excel_rules() {
        let mut out = Vec::new();
        escape_into(&mut out, "a&b<c>d\"e\tf\ng\x01h\u{FFFE}i，");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "a&amp;b&lt;c&gt;d\"e\tf\ng_x0001_h_xFFFE_i，"
        );
        assert_eq!(
            escape_escapes("_x00E9_ and _x12_"),
            "_x005F_x00E9_ and _x12_"
        );
        assert_eq!(escape_escapes("_xABCG_"), "_xABCG_");
    }

    /// rust_xlsxwriter's `escape_xml_data`, a character at a time.
    fn escaped_by_chars(text: &str) -> String {
        let mut out = String::new();
        for ch in text.chars() {
            match ch {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '\t' | '\n' => out.push(ch),
                '\x00'..='\x1F' | '\u{FFFE}' | '\u{FFFF}' => {
                    out.push_str(&format!("_x{:04X}_", ch as u32))
                }
                _ => out.push(ch),
            }
        }
        out
    }

    #[test]
    fn runs_are_escaped_as_character_by_character() {
        // Characters led by 0xEF (full-width punctuation, U+F000, U+FFFD)
        // beside the two escaped ones, at the start, middle and end.
        for text in [
            "",
            "plain text",
            "退款，太慢了！",
            "\u{FFFF}",
            "x\u{FFFE}",
            "\u{F000}\u{FFFD}\u{FFEE}\u{FFBF}\u{FFFE}，",
            "a\r\x1Fb&&<<>>\u{FFFF}\u{FFFF}",
            "，",
            "ends with a control\x0B",
        ] {
            let mut out = Vec::new();
            escape_into(&mut out, text);
            assert_eq!(
                String::from_utf8(out).expect("utf8"),
                escaped_by_chars(text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn chunks_concatenate_into_one_deflate_stream() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("<c r=\"A{i}\"><v>{}</v></c>", i % 97).into_bytes())
            .collect();
        let mut packed = Vec::new();
        let parts: Vec<&[u8]> = data.chunks(100_000).collect();
        for (i, part) in parts.iter().enumerate() {
            packed.extend(deflate(part, i + 1 == parts.len()).expect("deflate"));
        }
        let mut back = Vec::new();
        flate2::read::DeflateDecoder::new(packed.as_slice())
            .read_to_end(&mut back)
            .expect("inflate");
        assert_eq!(back, data);
        // An empty chunk is a valid stream too.
        let mut back = Vec::new();
        let empty = [
            deflate(b"", false).expect("sync"),
            deflate(b"x", true).expect("end"),
        ];
        flate2::read::DeflateDecoder::new(empty.concat().as_slice())
            .read_to_end(&mut back)
            .expect("inflate");
        assert_eq!(back, b"x");
    }

    #[test]
    fn a_dimension_is_extended_to_the_last_row() {
        let xml = "<worksheet><dimension ref=\"A1:P1\"/><sheetData><row r=\"1\"></row></sheetData><autoFilter ref=\"A1:P9\"/></worksheet>";
        let (head, tail) = split_sheet(xml, 9).expect("split");
        assert_eq!(
            head,
            "<worksheet><dimension ref=\"A1:P9\"/><sheetData><row r=\"1\"></row>"
        );
        assert_eq!(tail, "</sheetData><autoFilter ref=\"A1:P9\"/></worksheet>");
        assert!(split_sheet("<worksheet/>", 2).is_none());
    }

    #[test]
    fn rows_fill_their_holes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut styles = [0u32; COLUMNS];
        styles[0] = 3;
        let mut part = RowsPart::create(dir.path().join("rows"), &styles).expect("create");
        let mut template = Vec::new();
        note_template("a<b", &mut template).expect("template");
        part.push_row(&template, 1_048_576).expect("push");
        assert_eq!(
            String::from_utf8(part.chunk.data.clone()).expect("utf8"),
            "<row r=\"1048576\"><c r=\"A1048576\" s=\"3\" t=\"inlineStr\"><is><t>a&lt;b</t></is></c></row>"
        );
        let bad = [b'<', STYLE_HOLE, 16];
        assert!(part.push_row(&bad, 2).is_err());
        part.finish().expect("finish");
        let path = part.temp.clone();
        drop(part);
        assert!(!path.exists(), "the temporary rows stay behind");
    }
}
