//! Standard base64 (with padding), as Kubernetes Secret data and kubeconfig
//! `*-data` fields use it.

use base64::Engine;

/// Bytes as standard base64.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes.as_ref())
}

/// Standard base64 as bytes; None when it is not valid base64.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}

/// Standard base64 as UTF-8 text; None when it is not base64 or not UTF-8.
pub fn decode_text(s: &str) -> Option<String> {
    String::from_utf8(decode(s)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        assert_eq!(encode("CA"), "Q0E=");
        assert_eq!(decode_text("Q0E=").as_deref(), Some("CA"));
        assert_eq!(decode_text(" Q0E=\n").as_deref(), Some("CA"));
        assert_eq!(decode_text("not base64!"), None);
        assert_eq!(decode_text(&encode([0xff, 0xfe])), None);
    }
}
