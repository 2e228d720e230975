//! Hand-made DEFLATE streams for the permessage-deflate tests: a bomb and
//! an invalid back-reference, written bit by bit (RFC 1951).

/// Writes DEFLATE's bit stream: values LSB first, Huffman codes MSB first.
pub struct Bits {
    pub out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    pub fn put(&mut self, value: u32, bits: u32) {
        for i in 0..bits {
            self.acc |= ((value >> i) & 1) << self.n;
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc as u8);
                (self.acc, self.n) = (0, 0);
            }
        }
    }

    pub fn code(&mut self, code: u32, len: u32) {
        for i in (0..len).rev() {
            self.put((code >> i) & 1, 1);
        }
    }
}

/// A fixed-Huffman block whose first symbol is a match one byte back,
/// before any byte was produced.
pub fn far_back() -> Vec<u8> {
    let mut bits = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    bits.put(0, 1); // BFINAL
    bits.put(1, 2); // fixed Huffman
    bits.code(0b0000001, 7); // length 3
    bits.code(0, 5); // distance 1
    bits.code(0, 7); // end of block
    bits.put(0, 3);
    if bits.n > 0 {
        bits.put(0, 8 - bits.n);
    }
    bits.out
}

/// A DEFLATE bomb: one dynamic block whose literal/length code gives 1 bit
/// to "length 258" and whose only distance is 1, so every 2 bits (zero
/// bits: a run of zero bytes) inflate to 258 bytes. `pairs` of them, then
/// end of block and a sync flush's header (the receiver appends the rest).
pub fn bomb(pairs: usize) -> Vec<u8> {
    let mut bits = Bits {
        out: Vec::with_capacity(pairs / 4 + 64),
        acc: 0,
        n: 0,
    };
    bits.put(0, 1); // BFINAL
    bits.put(2, 2); // dynamic Huffman
    bits.put(29, 5); // 286 literal/length codes
    bits.put(0, 5); // 1 distance code
    bits.put(14, 4); // 18 code length codes
    // In the order 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1: symbol 18
    // gets 1 bit ("0"), symbols 1 and 2 get 2 bits ("10", "11").
    for len in [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2] {
        bits.put(len, 3);
    }
    let (one, two, zeros) = ((0b10, 2), (0b11, 2), (0b0, 1));
    // Literal 0 and end of block: 2 bits; length 258 (symbol 285): 1 bit.
    bits.code(two.0, two.1); // symbol 0: length 2
    for run in [138, 117] {
        bits.code(zeros.0, zeros.1);
        bits.put(run - 11, 7); // symbols 1-255: unused
    }
    bits.code(two.0, two.1); // symbol 256: length 2
    bits.code(zeros.0, zeros.1);
    bits.put(28 - 11, 7); // symbols 257-284: unused
    bits.code(one.0, one.1); // symbol 285: length 1
    bits.code(one.0, one.1); // distance 0: length 1
    // Codes: 285 = "0", 0 = "10", 256 = "11"; distance 0 = "0".
    bits.code(0b10, 2); // one literal zero byte
    for _ in 0..pairs {
        bits.code(0, 1);
        bits.code(0, 1);
    }
    bits.code(0b11, 2); // end of block
    bits.put(0, 3); // a stored block's header, BFINAL clear
    if bits.n > 0 {
        bits.put(0, 8 - bits.n);
    }
    bits.out
}
