//! RFC 8785 JSON Canonicalization Scheme (JCS) over `serde_json::Value`.
//!
//! Why not a crate: the two on crates.io (`serde_jcs`, `serde_json_canonicalizer`) re-parse every
//! object key to sort it and buffer every value, about 10 µs for a 1 KiB STIX object here, which
//! is more than the Ed25519 signature the binding exists for. This writer walks the value once.
//! Its output is checked against `serde_jcs` by a property test over random JSON and against
//! the RFC's examples (`tests/it`).
//!
//! The rules (RFC 8785 §3.2): no whitespace; object members sorted by the UTF-16 code units of
//! their names; strings with only `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t` and `\u00xx` (lower
//! case) escapes; numbers as ECMAScript's `Number.prototype.toString` writes them (`ryu-js`),
//! integers beyond 2^53 included, since ECMAScript holds every number as an IEEE 754 double.

use serde_json::{Map, Number, Value};

/// The canonical bytes of `value`.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write(&mut out, value);
    out
}

/// Appends the canonical bytes of `value` to `out`.
pub fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => number(out, n),
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => object(out, map),
    }
}

fn object(out: &mut Vec<u8>, map: &Map<String, Value>) {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_unstable_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    out.push(b'{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, key);
        out.push(b':');
        write(out, value);
    }
    out.push(b'}');
}

fn string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 15) as usize],
            ],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn number(out: &mut Vec<u8>, n: &Number) {
    // Integers that a double holds exactly print as integers; everything else goes through the
    // double, as in ECMAScript.
    const SAFE: u64 = 1 << 53;
    if let Some(u) = n.as_u64().filter(|u| *u <= SAFE) {
        out.extend_from_slice(u.to_string().as_bytes());
    } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= SAFE) {
        out.extend_from_slice(i.to_string().as_bytes());
    } else {
        // INVARIANT: a serde_json number is finite, and converts to f64 (with rounding).
        let f = n.as_f64().unwrap_or(0.0);
        let mut buffer = ryu_js::Buffer::new();
        out.extend_from_slice(buffer.format_finite(f).as_bytes());
    }
}
