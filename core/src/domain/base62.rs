//! Fixed-width base62 (`0-9A-Za-z`) encoding of byte strings read as big-endian integers.
//! Fixed width keeps every encoded key the same length, so a key's shape can be checked
//! without decoding it.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Number of base62 digits needed for `n` bytes (ceil(8n / log2 62)).
pub fn width_for_bytes(n: usize) -> usize {
    // log2(62) = 5.954196310386876; compute with integers to stay exact for small n.
    let bits = (n as u64) * 8;
    let mut digits = 0usize;
    let mut capacity_bits = 0f64;
    while capacity_bits < bits as f64 {
        digits += 1;
        capacity_bits = digits as f64 * 62f64.log2();
    }
    digits
}

/// Encodes `bytes` as a big-endian integer in exactly `width` base62 digits (left-padded with
/// `0`). Returns `None` if the value does not fit in `width` digits.
pub fn encode_fixed(bytes: &[u8], width: usize) -> Option<String> {
    let mut num: Vec<u8> = bytes.to_vec();
    let mut out = vec![b'0'; width];
    let mut pos = width;
    while num.iter().any(|&b| b != 0) {
        if pos == 0 {
            return None;
        }
        let mut rem: u32 = 0;
        for byte in num.iter_mut() {
            let acc = (rem << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            rem = acc % 62;
        }
        pos -= 1;
        out[pos] = ALPHABET[rem as usize];
    }
    String::from_utf8(out).ok()
}

/// Encodes a u32 in exactly `width` digits.
pub fn encode_u32(value: u32, width: usize) -> Option<String> {
    encode_fixed(&value.to_be_bytes(), width)
}

/// True when every byte of `s` is a base62 digit.
pub fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_two_bytes_need_forty_three_digits() {
        assert_eq!(width_for_bytes(32), 43);
        assert_eq!(width_for_bytes(16), 22);
        assert_eq!(width_for_bytes(4), 6);
    }

    #[test]
    fn known_values_encode_as_expected() {
        assert_eq!(encode_u32(0, 6).as_deref(), Some("000000"));
        assert_eq!(encode_u32(61, 2).as_deref(), Some("0z"));
        assert_eq!(encode_u32(62, 2).as_deref(), Some("10"));
        assert_eq!(encode_u32(u32::MAX, 6).as_deref(), Some("4gfFC3"));
        assert_eq!(encode_fixed(&[0xff; 32], 43).map(|s| s.len()), Some(43));
    }

    #[test]
    fn a_value_too_wide_for_the_width_is_refused() {
        assert_eq!(encode_u32(62, 1), None);
    }
}
