//! Payload masking (RFC 6455 section 5.3), 16 bytes at a time in safe code.

/// XORs `buf` with the masking `key`, where `offset` is the position of
/// `buf[0]` within the frame's payload (so a payload can be unmasked in
/// pieces as it arrives). Masking twice with the same key and offset restores
/// the input.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: u64) {
    // Rotate the key so that key[0] applies to buf[0].
    let phase = (offset % 4) as u32;
    let key = u32::from_le_bytes(key)
        .rotate_right(8 * phase)
        .to_le_bytes();
    // 16 bytes per step: a multiple of 4 keeps the key aligned, and the
    // fixed-size XOR compiles to one SSE2/NEON instruction per block (safe
    // code; the benches found no gain in wider, feature-detected SIMD).
    let mut wide = [0u8; 16];
    for (i, byte) in wide.iter_mut().enumerate() {
        *byte = key[i % 4];
    }
    let mut blocks = buf.chunks_exact_mut(16);
    for block in &mut blocks {
        for (byte, k) in block.iter_mut().zip(wide) {
            *byte ^= k;
        }
    }
    // The tail (under 16 bytes): a word, then a half word, then bytes.
    let tail = blocks.into_remainder();
    let tail = if tail.len() >= 8 {
        let (word, rest) = tail.split_at_mut(8);
        let key8 = [
            key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
        ];
        xor_word(word, key8);
        rest
    } else {
        tail
    };
    let tail = if tail.len() >= 4 {
        let (word, rest) = tail.split_at_mut(4);
        xor_word(word, key);
        rest
    } else {
        tail
    };
    for (byte, k) in tail.iter_mut().zip(key) {
        *byte ^= k;
    }
}

/// XORs `word` (exactly `N` bytes long) with `key`, as one integer.
fn xor_word<const N: usize>(word: &mut [u8], key: [u8; N]) {
    for (byte, k) in word.iter_mut().zip(key) {
        *byte ^= k;
    }
}

#[cfg(test)]
mod tests {
    use super::apply_mask;

    fn bytewise(buf: &mut [u8], key: [u8; 4], offset: u64) {
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte ^= key[((offset + i as u64) % 4) as usize];
        }
    }

    #[test]
    fn matches_the_bytewise_definition_for_every_length_and_offset() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..80 {
            for offset in 0..8 {
                let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut fast = data.clone();
                let mut slow = data.clone();
                apply_mask(&mut fast, key, offset);
                bytewise(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn unmasking_in_pieces_equals_unmasking_at_once() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..=255).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut pieces = data.clone();
        let (a, rest) = pieces.split_at_mut(5);
        let (b, c) = rest.split_at_mut(70);
        apply_mask(a, key, 0);
        apply_mask(b, key, 5);
        apply_mask(c, key, 75);
        assert_eq!(whole, pieces);
        apply_mask(&mut whole, key, 0);
        assert_eq!(whole, data);
    }
}
