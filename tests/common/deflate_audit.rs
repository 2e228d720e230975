//! An independent raw DEFLATE (RFC 1951) decoder used as a test oracle for
//! permessage-deflate (RFC 7692), written for clarity rather than speed in
//! the manner of zlib's `puff.c`: canonical Huffman codes decoded one bit at
//! a time, no lookup tables, no windows.
//!
//! It decodes messages the way an RFC 7692 receiver does and keeps the whole
//! history since the last reset, so back-references may reach into earlier
//! messages (context takeover). It never limits a distance to a window: it
//! measures instead, and [`Auditor::max_distance`] reports the longest
//! distance seen, which a test compares with the negotiated window size.
//!
//! Hostile input is fine: every loop consumes input or is bounded by a table
//! size, nothing recurses, and nothing indexes out of bounds.

/// The octets RFC 7692 section 7.2.2 appends to a payload before inflating.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The default [`Auditor::with_limit`]: 1 GiB per message.
const DEFAULT_LIMIT: usize = 1 << 30;

/// What the private functions return.
type Decoded<T> = Result<T, AuditError>;

/// The largest code length (RFC 1951 section 3.2.2).
const MAX_BITS: usize = 15;

/// Base length and extra bits of length symbols 257..=285 (RFC 1951 3.2.5).
#[rustfmt::skip]
const LENGTHS: [(u16, u32); 29] = [
    (3, 0), (4, 0), (5, 0), (6, 0), (7, 0), (8, 0), (9, 0), (10, 0),
    (11, 1), (13, 1), (15, 1), (17, 1), (19, 2), (23, 2), (27, 2), (31, 2),
    (35, 3), (43, 3), (51, 3), (59, 3), (67, 4), (83, 4), (99, 4), (115, 4),
    (131, 5), (163, 5), (195, 5), (227, 5), (258, 0),
];

/// Base distance and extra bits of distance symbols 0..=29.
#[rustfmt::skip]
const DISTANCES: [(u16, u32); 30] = [
    (1, 0), (2, 0), (3, 0), (4, 0), (5, 1), (7, 1), (9, 2), (13, 2),
    (17, 3), (25, 3), (33, 4), (49, 4), (65, 5), (97, 5), (129, 6), (193, 6),
    (257, 7), (385, 7), (513, 8), (769, 8), (1025, 9), (1537, 9), (2049, 10), (3073, 10),
    (4097, 11), (6145, 11), (8193, 12), (12289, 12), (16385, 13), (24577, 13),
];

/// The order in which a dynamic block lists the code-length code's lengths.
const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditError {
    /// The input ran out inside a block (or after the last complete block
    /// there was more than zero bits in the last byte).
    Truncated,
    /// A block header with BTYPE 11 (reserved).
    InvalidBlockType,
    /// A stored block whose NLEN is not the one's complement of its LEN.
    StoredLengthMismatch,
    /// A dynamic block with more than 286 literal/length or 30 distance codes.
    TooManyCodes,
    /// Code lengths that over-subscribe the code space.
    OverSubscribed,
    /// Code lengths that leave code space unused, other than no code or one
    /// code of length 1 for literals/lengths or distances (as zlib allows).
    Incomplete,
    /// Code-length symbol 16 with no previous length, or a repeat that runs
    /// past the number of lengths declared.
    BadRepeat,
    /// A dynamic block with no code for end-of-block (symbol 256).
    MissingEndOfBlock,
    /// Bits that match no code of an incomplete Huffman code.
    InvalidCode,
    /// Length symbol 286 or 287, or distance symbol 30 or 31 (fixed blocks).
    InvalidSymbol,
    /// A back-reference further back than everything decoded since the last
    /// [`Auditor::reset`].
    DistanceTooFarBack,
    /// Padding after a block with BFINAL set that is not zero bits, as RFC
    /// 7692 section 7.2.1 requires.
    NonZeroPadding,
    /// The message decoded past the limit of [`Auditor::with_limit`].
    TooLong,
}

/// How many blocks of each type the auditor has decoded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BlockCounts {
    /// Blocks with BTYPE 00 (no compression).
    pub stored: usize,
    /// Blocks with BTYPE 01 (fixed Huffman codes).
    pub fixed: usize,
    /// Blocks with BTYPE 10 (dynamic Huffman codes).
    pub dynamic: usize,
}

/// Decodes RFC 7692 messages the way a receiver does, with unbounded history.
///
/// A message may contain blocks after a block with BFINAL set (RFC 7692
/// section 7.2.1: "The next DEFLATE block follows the padded data if any").
/// Such a block starts a new DEFLATE stream; what a receiver keeps of the
/// history across it is up to the implementation, and the auditor keeps all
/// of it, so a later back-reference into the earlier stream is decoded and
/// measured rather than rejected.
#[derive(Debug, Clone)]
pub struct Auditor {
    /// Everything decoded since the last reset, across messages.
    history: Vec<u8>,
    /// Where the message being decoded starts in `history`.
    start: usize,
    max_distance: usize,
    blocks: BlockCounts,
    limit: usize,
}

impl Default for Auditor {
    fn default() -> Self {
        Self::new()
    }
}

impl Auditor {
    /// An auditor with no history and a limit of 1 GiB per message.
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_LIMIT)
    }

    /// An auditor that fails with [`AuditError::TooLong`] once a single
    /// message decodes to more than `max_message` bytes.
    pub fn with_limit(max_message: usize) -> Self {
        Auditor {
            history: Vec::new(),
            start: 0,
            max_distance: 0,
            blocks: BlockCounts::default(),
            limit: max_message,
        }
    }

    /// Decodes one message: `payload` is the compressed payload as sent on
    /// the wire (RFC 7692 strips the trailing 00 00 ff ff); the auditor
    /// appends 00 00 ff ff itself, then decodes blocks until the input is
    /// used up exactly at a block boundary, with only zero bits left in the
    /// last byte. Back-references may reach into earlier messages (context
    /// takeover). Returns the decoded bytes of this message.
    ///
    /// On error nothing changes: the history, [`Self::max_distance`] and
    /// [`Self::blocks`] are as they were before the call.
    pub fn message(&mut self, payload: &[u8]) -> Result<Vec<u8>, AuditError> {
        let input = [payload, &TAIL].concat();
        self.start = self.history.len();
        let (max_distance, blocks) = (self.max_distance, self.blocks);
        let mut bits = Bits {
            input: &input,
            ..Bits::default()
        };
        match self.decode_blocks(&mut bits) {
            Ok(()) => Ok(self.history.get(self.start..).unwrap_or_default().to_vec()),
            Err(error) => {
                self.history.truncate(self.start);
                (self.max_distance, self.blocks) = (max_distance, blocks);
                Err(error)
            }
        }
    }

    /// Forgets the history (the sender reset its context, as with
    /// `*_no_context_takeover`). [`Self::max_distance`] and [`Self::blocks`]
    /// keep counting across resets.
    pub fn reset(&mut self) {
        self.history.clear();
    }

    /// The largest distance of any back-reference decoded so far (0 if none).
    pub fn max_distance(&self) -> usize {
        self.max_distance
    }

    /// How many blocks of each type have been decoded so far.
    pub fn blocks(&self) -> BlockCounts {
        self.blocks
    }

    /// Decodes blocks until the input ends at a block boundary. Every block
    /// consumes at least its three header bits, so the loop ends.
    fn decode_blocks(&mut self, bits: &mut Bits<'_>) -> Decoded<()> {
        loop {
            let last = bits.take(1)? == 1;
            match bits.take(2)? {
                0 => self.stored(bits)?,
                1 => self.huffman(bits, false)?,
                2 => self.huffman(bits, true)?,
                _ => return Err(AuditError::InvalidBlockType),
            }
            if last && bits.align() != 0 {
                return Err(AuditError::NonZeroPadding);
            }
            if bits.at_end() {
                return Ok(());
            }
        }
    }

    /// A stored block: byte-aligned LEN, NLEN, then LEN bytes as they are.
    fn stored(&mut self, bits: &mut Bits<'_>) -> Decoded<()> {
        self.blocks.stored += 1;
        bits.align();
        let len = bits.take(16)?;
        if bits.take(16)? != !len & 0xffff {
            return Err(AuditError::StoredLengthMismatch);
        }
        let bytes = bits.bytes(len as usize)?;
        self.reserve(bytes.len())?;
        self.history.extend_from_slice(bytes);
        Ok(())
    }

    /// A block with fixed or dynamic Huffman codes, up to end-of-block.
    /// Every symbol consumes at least one bit, so the loop ends.
    fn huffman(&mut self, bits: &mut Bits<'_>, dynamic: bool) -> Decoded<()> {
        let (lit, dist) = if dynamic {
            self.blocks.dynamic += 1;
            dynamic_codes(bits)?
        } else {
            self.blocks.fixed += 1;
            fixed_codes()
        };
        loop {
            let symbol = lit.decode(bits)?;
            if symbol < 256 {
                self.reserve(1)?;
                self.history.push(symbol as u8);
                continue;
            }
            if symbol == 256 {
                return Ok(());
            }
            let index = usize::from(symbol - 257);
            let length = extend(bits, &LENGTHS, index)?;
            let index = usize::from(dist.decode(bits)?);
            let distance = extend(bits, &DISTANCES, index)?;
            self.copy(distance, length)?;
        }
    }

    /// Appends `length` bytes copied from `distance` bytes back.
    fn copy(&mut self, distance: usize, length: usize) -> Decoded<()> {
        if distance == 0 || distance > self.history.len() {
            return Err(AuditError::DistanceTooFarBack);
        }
        self.reserve(length)?;
        self.max_distance = self.max_distance.max(distance);
        // Byte by byte: a copy may overlap the bytes it produces.
        for _ in 0..length {
            let from = self.history.len() - distance;
            let Some(&byte) = self.history.get(from) else {
                return Err(AuditError::DistanceTooFarBack);
            };
            self.history.push(byte);
        }
        Ok(())
    }

    /// Checks that `more` bytes still fit in the current message.
    fn reserve(&self, more: usize) -> Decoded<()> {
        let so_far = self.history.len().saturating_sub(self.start);
        if so_far.saturating_add(more) > self.limit {
            return Err(AuditError::TooLong);
        }
        Ok(())
    }
}

/// A length or a distance: the base of symbol `index` plus its extra bits.
fn extend(bits: &mut Bits<'_>, table: &[(u16, u32)], index: usize) -> Decoded<usize> {
    let &(base, extra) = table.get(index).ok_or(AuditError::InvalidSymbol)?;
    Ok(usize::from(base) + bits.take(extra)? as usize)
}

/// Reads bits least significant first, as RFC 1951 section 3.1.1 packs them.
#[derive(Default)]
struct Bits<'a> {
    input: &'a [u8],
    /// The next byte not yet in `buf`.
    pos: usize,
    /// Bits read from the input but not consumed, in the low `count` bits.
    buf: u32,
    count: u32,
}

impl<'a> Bits<'a> {
    /// The next `n` bits (at most 16), first bit lowest.
    fn take(&mut self, n: u32) -> Decoded<u32> {
        while self.count < n {
            let byte = *self.input.get(self.pos).ok_or(AuditError::Truncated)?;
            self.pos += 1;
            self.buf |= u32::from(byte) << self.count;
            self.count += 8;
        }
        let value = self.buf & ((1 << n) - 1);
        self.buf >>= n;
        self.count -= n;
        Ok(value)
    }

    /// Skips to the next byte boundary and returns the bits skipped.
    fn align(&mut self) -> u32 {
        let skipped = self.buf;
        self.buf = 0;
        self.count = 0;
        skipped
    }

    /// The next `n` whole bytes; only called when aligned.
    fn bytes(&mut self, n: usize) -> Decoded<&'a [u8]> {
        let end = self.pos.saturating_add(n);
        let bytes = self.input.get(self.pos..end).ok_or(AuditError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    /// Whether the input is used up, leaving only zero bits in its last byte.
    fn at_end(&self) -> bool {
        self.pos == self.input.len() && self.buf == 0
    }
}

/// A canonical Huffman code (RFC 1951 section 3.2.2) as puff.c keeps it: how
/// many codes there are of each length, and the symbols ordered by code.
struct Huffman {
    count: [u16; MAX_BITS + 1],
    symbols: Vec<u16>,
}

impl Huffman {
    /// Builds the code for `lengths` (one per symbol, 0 for unused). An
    /// incomplete code is an error unless `sparse_ok` and it has no code or
    /// one code of length 1, which RFC 1951 (and zlib) allow for the
    /// literal/length and distance codes.
    fn new(lengths: &[u8], sparse_ok: bool) -> Decoded<Self> {
        let mut count = [0u16; MAX_BITS + 1];
        for &len in lengths {
            // Lengths come from 3-bit fields or symbols 0..=15: never above 15.
            let slot = count.get_mut(usize::from(len));
            *slot.ok_or(AuditError::OverSubscribed)? += 1;
        }
        let mut left: i32 = 1;
        for &n in &count[1..] {
            left = 2 * left - i32::from(n);
            if left < 0 {
                return Err(AuditError::OverSubscribed);
            }
        }
        // Symbols sorted by length, then by value: canonical code order.
        let mut symbols = Vec::with_capacity(lengths.len());
        for len in 1..=MAX_BITS {
            for (symbol, &l) in (0u16..).zip(lengths) {
                if usize::from(l) == len {
                    symbols.push(symbol);
                }
            }
        }
        if left != 0 && !(sparse_ok && lengths.iter().all(|&len| len <= 1)) {
            return Err(AuditError::Incomplete);
        }
        Ok(Huffman { count, symbols })
    }

    /// Decodes one symbol. Canonical codes of one length are consecutive
    /// integers, so after each bit the code is compared with the first code
    /// of that length; at most 15 bits are read.
    fn decode(&self, bits: &mut Bits<'_>) -> Decoded<u16> {
        let (mut code, mut first, mut index) = (0usize, 0usize, 0usize);
        for &count in &self.count[1..] {
            code |= bits.take(1)? as usize;
            let count = usize::from(count);
            if code < first + count {
                let symbol = self.symbols.get(index + code - first);
                return symbol.copied().ok_or(AuditError::InvalidCode);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(AuditError::InvalidCode)
    }
}

/// The codes of a fixed block (RFC 1951 section 3.2.6). All 288 and 32
/// symbols get codes so the codes are complete; the four without meaning
/// are rejected when decoded.
fn fixed_codes() -> (Huffman, Huffman) {
    let mut lit = [8u8; 288];
    lit[144..256].fill(9);
    lit[256..280].fill(7);
    let complete = "the fixed codes are complete";
    let lit = Huffman::new(&lit, false).expect(complete);
    (lit, Huffman::new(&[5; 32], false).expect(complete))
}

/// Reads the code definitions at the start of a dynamic block (RFC 1951
/// section 3.2.7).
fn dynamic_codes(bits: &mut Bits<'_>) -> Decoded<(Huffman, Huffman)> {
    let nlen = bits.take(5)? as usize + 257;
    let ndist = bits.take(5)? as usize + 1;
    let ncode = bits.take(4)? as usize + 4;
    if nlen > 286 || ndist > 30 {
        return Err(AuditError::TooManyCodes);
    }
    let mut lengths = [0u8; 19];
    for &symbol in CODE_LENGTH_ORDER.iter().take(ncode) {
        lengths[symbol] = bits.take(3)? as u8;
    }
    let code_lengths = Huffman::new(&lengths, false)?;

    // Literal/length and distance lengths form one sequence: a repeat may
    // run from one into the other. Every symbol advances `filled`.
    let total = nlen + ndist;
    let mut lengths = [0u8; 286 + 30];
    let mut filled = 0;
    while filled < total {
        let (value, repeat) = match code_lengths.decode(bits)? {
            symbol @ 0..=15 => (symbol as u8, 1),
            16 => {
                let previous = filled.checked_sub(1).and_then(|i| lengths.get(i));
                let previous = *previous.ok_or(AuditError::BadRepeat)?;
                (previous, 3 + bits.take(2)? as usize)
            }
            17 => (0, 3 + bits.take(3)? as usize),
            _ => (0, 11 + bits.take(7)? as usize),
        };
        let run = lengths.get_mut(filled..filled + repeat);
        run.filter(|_| filled + repeat <= total)
            .ok_or(AuditError::BadRepeat)?
            .fill(value);
        filled += repeat;
    }
    if lengths[256] == 0 {
        return Err(AuditError::MissingEndOfBlock);
    }
    let lit = Huffman::new(&lengths[..nlen], true)?;
    Ok((lit, Huffman::new(&lengths[nlen..total], true)?))
}
