//! Reading H.264 Annex-B output: which NAL units a frame holds.

/// The NAL unit types in an Annex-B byte stream, in order (the low five bits of each unit's
/// first byte after a start code).
pub fn nal_types(data: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i + 3 <= data.len() {
            if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
                let header = data.get(i + 3).copied();
                i += 3;
                if let Some(h) = header {
                    return Some(h & 0x1f);
                }
            } else {
                i += 1;
            }
        }
        None
    })
}

/// NAL unit type of an IDR slice.
pub const NAL_IDR: u8 = 5;

/// Whether an Annex-B frame holds an IDR slice (decodable on its own). Encoders that mark
/// intra-refresh recovery points as "key" are not believed: only the slices count.
pub fn is_idr(data: &[u8]) -> bool {
    nal_types(data).any(|t| t == NAL_IDR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_unit_after_three_and_four_byte_start_codes() {
        let data = [0, 0, 0, 1, 0x67, 9, 9, 0, 0, 1, 0x68, 7, 0, 0, 0, 1, 0x65, 1, 2, 3];
        assert_eq!(nal_types(&data).collect::<Vec<_>>(), [7, 8, 5]);
        assert!(is_idr(&data));
    }

    #[test]
    fn a_p_slice_is_not_an_idr_and_a_truncated_start_code_is_nothing() {
        assert!(!is_idr(&[0, 0, 1, 0x41, 5, 5, 0, 0, 1]));
        assert_eq!(nal_types(&[0, 0]).count(), 0);
        assert_eq!(nal_types(&[]).count(), 0);
    }
}
