//! The contents of a profile's secrets by process, and the one line that carries them
//! from a deploying machine to a host's switch (on its standard input).

use std::collections::BTreeMap;
use std::io::Read;

use super::{Contents, SecretError};

/// Secret contents by process name, then secret name.
pub type Payload = BTreeMap<String, BTreeMap<String, Contents>>;

/// The line the deploying machine writes on a host switch's standard input: a JSON
/// object of process → secret → contents in hexadecimal, then a newline.
pub fn payload_line(payload: &Payload) -> Vec<u8> {
    let mut out = Vec::from(&b"{"[..]);
    for (i, (process, secrets)) in payload.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend(
            serde_json::to_string(process)
                .unwrap_or_default()
                .as_bytes(),
        );
        out.extend(b":{");
        for (j, (name, contents)) in secrets.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.extend(serde_json::to_string(name).unwrap_or_default().as_bytes());
            out.extend(b":\"");
            for byte in contents.bytes() {
                out.extend(format!("{byte:02x}").as_bytes());
            }
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.extend(b"}\n");
    out
}

/// Reads what [`payload_line`] wrote (the whole input; the reader ends with it).
pub fn read_payload(mut input: impl Read) -> Result<Payload, SecretError> {
    let mut text = Vec::new();
    input
        .read_to_end(&mut text)
        .map_err(|e| SecretError::Payload(e.to_string()))?;
    let parsed: Result<BTreeMap<String, BTreeMap<String, String>>, _> =
        serde_json::from_slice(&text);
    text.iter_mut().for_each(|b| *b = 0);
    let parsed = parsed.map_err(|e| SecretError::Payload(e.to_string()))?;
    let mut payload = Payload::new();
    for (process, secrets) in parsed {
        let mut decoded = BTreeMap::new();
        for (name, mut hex) in secrets {
            let bytes = from_hex(&hex).ok_or_else(|| {
                SecretError::Payload(format!("secret '{name}' of '{process}' is not hexadecimal"))
            });
            // SAFETY: zeros are valid UTF-8, so the string stays a valid `String`.
            unsafe { hex.as_bytes_mut().iter_mut().for_each(|b| *b = b'0') };
            decoded.insert(name, Contents::new(bytes?));
        }
        payload.insert(process, decoded);
    }
    Ok(payload)
}

/// The bytes of a string of hexadecimal digit pairs.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(pair, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_reads_back_byte_for_byte() {
        let mut payload = Payload::new();
        let all_bytes: Vec<u8> = (0..=255).collect();
        payload
            .entry("web".into())
            .or_default()
            .insert("db".into(), Contents::new(all_bytes.clone()));
        payload
            .entry("web".into())
            .or_default()
            .insert("tls.key".into(), Contents::new(Vec::new()));
        payload
            .entry("a\"b".into())
            .or_default()
            .insert("x".into(), Contents::new(b"\n".to_vec()));
        let line = payload_line(&payload);
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1, "one line");
        let back = read_payload(&line[..]).unwrap();
        assert_eq!(back["web"]["db"].bytes(), &all_bytes[..]);
        assert_eq!(back["web"]["tls.key"].bytes(), b"");
        assert_eq!(back["a\"b"]["x"].bytes(), b"\n");
    }

    #[test]
    fn a_bad_payload_is_an_error_that_shows_no_contents() {
        let error = read_payload(&b"{\"web\":{\"db\":\"zz\"}}"[..]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the secrets on standard input are not valid: secret 'db' of 'web' is not hexadecimal"
        );
        assert!(read_payload(&b"not json"[..]).is_err());
    }
}
