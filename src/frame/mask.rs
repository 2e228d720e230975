//! Payload masking (RFC 6455 section 5.3), 64 bytes at a time in safe code.

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
    // The key twice over, whatever the byte order.
    let half = u64::from(u32::from_ne_bytes(key));
    let word = half | half << 32;
    // 64 bytes per step as eight 8-byte words: the compiler turns them into
    // SSE2 (or NEON) XORs, in safe code. The benches measured this against
    // 16-byte blocks and word-at-a-time: see docs/performance.md. Steps of
    // 8 bytes keep the key's phase (8 is a multiple of 4).
    let mut blocks = buf.chunks_exact_mut(64);
    for block in &mut blocks {
        xor_words(block, word);
    }
    let tail = xor_words(blocks.into_remainder(), word);
    for (i, byte) in tail.iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

/// XORs each whole 8-byte word of `bytes` with `word`; returns the bytes
/// after the last whole word.
fn xor_words(bytes: &mut [u8], word: u64) -> &mut [u8] {
    let mut chunks = bytes.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut value = [0u8; 8];
        value.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(value) ^ word).to_ne_bytes());
    }
    chunks.into_remainder()
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
