//! Payload masking (RFC 6455 section 5.3), word at a time in safe code.

/// XORs `buf` with the masking `key`, where `offset` is the position of
/// `buf[0]` within the frame's payload (so a payload can be unmasked in
/// pieces as it arrives). Masking twice with the same key and offset restores
/// the input.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: u64) {
    // Rotate the key so that key[0] applies to buf[0].
    let phase = (offset % 4) as usize;
    let key = [
        key[phase],
        key[(phase + 1) % 4],
        key[(phase + 2) % 4],
        key[(phase + 3) % 4],
    ];
    let key_word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    // Eight bytes per step keeps the rotation aligned: 8 is a multiple of 4.
    let mut words = buf.chunks_exact_mut(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let masked = u64::from_ne_bytes(bytes) ^ key_word;
        word.copy_from_slice(&masked.to_ne_bytes());
    }
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i % 4];
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
        for len in 0..40 {
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
