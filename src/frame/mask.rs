//! Payload masking (RFC 6455 section 5.3), 64 bytes at a time in safe code.

/// From this length on, the first bytes up to a 64-byte boundary are masked
/// apart, so that every 64-byte step after them covers one cache line: on
/// a payload behind a 14-byte header (any 64-bit length frame), unaligned
/// steps straddle two lines one time in four, and unmasking 1 MiB took
/// about 14% longer than fastwebsockets' (which aligns, in `unsafe`).
/// Below it the one comparison is all it costs.
const ALIGN_FROM: usize = 1024;

/// XORs `buf` with the masking `key`, where `offset` is the position of
/// `buf[0]` within the frame's payload (so a payload can be unmasked in
/// pieces as it arrives). Masking twice with the same key and offset restores
/// the input.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: u64) {
    if buf.len() >= ALIGN_FROM {
        apply_mask_aligned(buf, key, offset);
    } else {
        mask_steps(buf, key, offset);
    }
}

/// [`apply_mask`] for a long `buf`: its first bytes up to a 64-byte
/// boundary apart, then the rest in steps of whole cache lines. Out of
/// line, so that a short payload's call stays as small as it was.
#[inline(never)]
fn apply_mask_aligned(buf: &mut [u8], key: [u8; 4], offset: u64) {
    // `align_offset` only computes a distance (at most 63 here).
    let head = buf.as_ptr().align_offset(64).min(buf.len());
    let (unaligned, aligned) = buf.split_at_mut(head);
    mask_steps(unaligned, key, offset);
    mask_steps(aligned, key, offset.wrapping_add(head as u64));
}

/// [`apply_mask`]'s work, 64 bytes per step from wherever `buf` starts.
#[inline(always)]
fn mask_steps(buf: &mut [u8], key: [u8; 4], offset: u64) {
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
    fn matches_the_bytewise_definition_from_any_start_address() {
        // Lengths around the alignment threshold, starting at every
        // position within a cache line.
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let data: Vec<u8> = (0..1300).map(|i| (i * 13 + 5) as u8).collect();
        for start in 0..64 {
            for len in [1023, 1024, 1025, 1100, 1300 - 64] {
                for offset in 0..4 {
                    let mut fast = data.clone();
                    let mut slow = data.clone();
                    apply_mask(&mut fast[start..start + len], key, offset);
                    bytewise(&mut slow[start..start + len], key, offset);
                    assert_eq!(fast, slow, "start {start} len {len} offset {offset}");
                }
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
