//! The fuzz targets: one function per parser or entry point that takes outside input. Each
//! takes the fuzzer's bytes and panics only on a defect: a parser that panics, a parse that does
//! not survive its own serialisation, canonical JSON that differs from `serde_jcs`, a forged
//! signature or envelope accepted, or a node that answers a partner's or client's bytes with a
//! 5xx. `fuzz/` runs them under libFuzzer (`cargo xtask fuzz`); this crate's test replays the
//! kept corpora (`fuzz/corpus/<target>/`) on stable, so every input that once crashed stays a
//! regression test.
//!
//! The node targets (`taxii_query`, `taxii_post`, `inbox`) go through a real node: SQLite in a
//! temporary folder, the router in process, a partner with real keys that seals whatever the
//! fuzzer writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use gsomia_core::{
    Agreement, AgreementFile, Assurance, Consent, ConsentRequest, Date, Facility, Item, Label,
    Letter, Scheme, Visit,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

mod node;

/// A fuzz target.
pub type Target = fn(&[u8]);

/// Every target, by the name its corpus folder and libFuzzer binary have.
pub const TARGETS: &[(&str, Target)] = &[
    ("scheme", scheme),
    ("agreement", agreement),
    ("item", item),
    ("label", label),
    ("consent", consent),
    ("records", records),
    ("warning", warning),
    ("canonical", canonical),
    ("envelope", envelope),
    ("checkpoint", checkpoint),
    ("proof", proof),
    ("message", message),
    ("reply", reply),
    ("taxii_query", node::taxii_query),
    ("taxii_post", node::taxii_post),
    ("inbox", node::inbox),
];

/// A JSON value of type `T` must read back from what it writes, equal.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
    let text = serde_json::to_string(value).unwrap();
    let again: T =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text} does not read back: {e}"));
    assert_eq!(&again, value, "{text} reads back otherwise");
}

/// Days from the input, for the decisions that take one.
fn days(data: &[u8]) -> Vec<Date> {
    let base: Date = "2016-11-23".parse().unwrap();
    data.iter()
        .take(4)
        .map(|b| base.add_days(i64::from(*b) * 29))
        .collect()
}

/// A party's scheme file.
pub fn scheme(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = Scheme::from_json(text) {
        round_trip(s.file());
        let again = Scheme::new(s.file().clone()).expect("a checked scheme checks again");
        for level in &again.file().levels {
            assert!(again.rank(level.id.as_str()).is_some(), "{level:?}");
        }
    }
}

/// An agreement file, its lifecycle on a few days, its timeline.
pub fn agreement(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(a) = Agreement::from_json(text) {
        let written = serde_json::to_value(a.file()).unwrap();
        let again: AgreementFile =
            serde_json::from_value(written.clone()).expect("a checked agreement reads back");
        assert_eq!(serde_json::to_value(&again).unwrap(), written);
        Agreement::new(again).expect("a checked agreement checks again");
        for day in days(data) {
            let _ = a.state_at(day);
            let _ = a.timeline(day);
            let _ = a.equivalence_at(day);
        }
    }
}

/// An item file: label, STIX object and binding.
pub fn item(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(i) = Item::from_json(text) {
        let again = Item::from_json(&serde_json::to_string(i.file()).unwrap())
            .expect("a checked item reads back and checks again");
        assert_eq!(again.file(), i.file());
        let _ = gsomia_crypto::canonical::to_vec(i.object());
    }
}

/// A label alone.
pub fn label(data: &[u8]) {
    if let Ok(l) = serde_json::from_slice::<Label>(data) {
        round_trip(&l);
        let _: Vec<_> = l.originators().collect();
    }
}

/// A consent, per item or standing (R4, R4b).
pub fn consent(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Consent::from_json(text) {
        round_trip(&c);
    }
}

/// The treaty's other records, by the first byte: a letter (N1, D1, V1, V2), an assurance (S1),
/// a facility (C1), a visit (V1), a consent request (R4).
pub fn records(data: &[u8]) {
    let Some((which, rest)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => {
            if let Ok(l) = serde_json::from_slice::<Letter>(rest).map(Letter::check) {
                let _ = l.map(|l| round_trip(&l));
            }
        }
        1 => {
            if let Ok(Ok(a)) = serde_json::from_slice::<Assurance>(rest).map(Assurance::check) {
                round_trip(&a);
            }
        }
        2 => {
            if let Ok(Ok(f)) = serde_json::from_slice::<Facility>(rest).map(Facility::check) {
                round_trip(&f);
                for day in days(rest) {
                    let _ = f.inspected_by(day);
                }
            }
        }
        3 => {
            if let Ok(v) = serde_json::from_slice::<Visit>(rest)
                && v.check().is_ok()
            {
                round_trip(&v);
            }
        }
        _ => {
            if let Ok(r) = serde_json::from_slice::<ConsentRequest>(rest) {
                round_trip(&r);
            }
        }
    }
}

/// A STIX object checked as a missile warning.
pub fn warning(data: &[u8]) {
    if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(data) {
        let _ = gsomia_core::warning::check(&o);
    }
}

/// Canonical JSON (RFC 8785), differential against `serde_jcs`: the same bytes, and bytes
/// that read back as the same value.
pub fn canonical(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let ours = gsomia_crypto::canonical::to_vec(&value);
    if let Ok(reference) = serde_jcs::to_vec(&value) {
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&reference),
            "canonical JSON differs from serde_jcs"
        );
    }
    let back: Value = serde_json::from_slice(&ours).expect("canonical JSON reads back");
    assert_eq!(
        gsomia_crypto::canonical::to_vec(&back),
        ours,
        "canonical JSON is not a fixed point"
    );
}

/// Federation envelopes: even first byte, an envelope as a partner could send it, which must
/// not open (no one but the sender's key signs); odd, a payload sealed with real keys, which
/// must open to itself and not open once a byte of it is changed.
pub fn envelope(data: &[u8]) {
    use gsomia_crypto::envelope::{Envelope, Header, PROTOCOL, open, seal};
    let Some((which, rest)) = data.split_first() else {
        return;
    };
    let sender = gsomia_crypto::SigningKey::from_bytes(&[4; 32]);
    let me = gsomia_crypto::NodeKeys::from_seeds([1; 32], [2; 32], [3; 32]);
    let secret = me.encryption.to_bytes();
    let kor: gsomia_core::PartyCode = "KOR".parse().unwrap();
    if which % 2 == 0 {
        if let Ok(env) = serde_json::from_slice::<Envelope>(rest) {
            let opened = open(&env, &sender.verifying_key(), kor, &secret);
            assert!(opened.is_err(), "an envelope no one signed opened");
        }
        return;
    }
    let header = Header {
        protocol: PROTOCOL,
        from: "JPN".parse().unwrap(),
        to: kor,
        id: "fuzz".into(),
        seq: (1, 1),
        sent: "2019-07-25T00:00:00Z".into(),
    };
    let mut rng = gsomia_node::federation::OsRng;
    let public = x25519_dalek::PublicKey::from(&me.encryption).to_bytes();
    let mut env = seal(&sender, &public, header, rest, &mut rng).unwrap();
    let opened =
        open(&env, &sender.verifying_key(), kor, &secret).expect("a sealed envelope opens");
    assert_eq!(opened.into_inner(), rest);
    let at = usize::from(*which) % env.ct.len().max(1);
    let mut ct = env.ct.into_bytes();
    ct[at] = if ct[at] == b'A' { b'B' } else { b'A' };
    env.ct = String::from_utf8(ct).unwrap();
    assert!(
        open(&env, &sender.verifying_key(), kor, &secret).is_err(),
        "a changed envelope opened"
    );
}

/// Signed notes and checkpoints (C2SP): what a partner sends must not open under a key that
/// did not sign it; a checkpoint signed here opens to what was signed; verifier keys parse
/// without panicking.
pub fn checkpoint(data: &[u8]) {
    use gsomia_log::{Hash, LogKey, LogVerifier, SignedCheckpoint};
    let key = LogKey::new(
        "gsomia.example/KOR",
        gsomia_crypto::SigningKey::from_bytes(&[6; 32]),
    );
    let verifier = key.verifier();
    let text = String::from_utf8_lossy(data);
    let _ = LogVerifier::from_vkey(&text);
    if let Ok(c) = SignedCheckpoint::open(&text, &verifier) {
        // Only a note this key signed opens: the fuzzer would have to forge Ed25519.
        let again =
            SignedCheckpoint::open(&c.note(&[]), &verifier).expect("an opened note reopens");
        assert_eq!(again, c);
    }
    let mut root = [0u8; 32];
    for (r, d) in root.iter_mut().zip(data) {
        *r = *d;
    }
    let size = data
        .iter()
        .fold(0u64, |n, b| n.wrapping_mul(31).wrapping_add(u64::from(*b)));
    let signed = SignedCheckpoint::sign(&key, size >> 1, Hash(root));
    let opened = SignedCheckpoint::open(&signed.note(&[]), &verifier).expect("a signed note opens");
    assert_eq!(opened, signed);
}

/// Inclusion and consistency proofs as a partner sends them, checked against roots from the
/// input: never a panic, however the sizes and hashes are chosen.
pub fn proof(data: &[u8]) {
    use gsomia_log::{ConsistencyProof, Hash, InclusionProof};
    let Some((which, rest)) = data.split_first() else {
        return;
    };
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    for (i, x) in rest.iter().rev().take(64).enumerate() {
        if i < 32 {
            a[i] = *x;
        } else {
            b[i - 32] = *x;
        }
    }
    if which % 2 == 0 {
        if let Ok(p) = serde_json::from_slice::<InclusionProof>(rest) {
            round_trip(&p);
            let _ = p.verify(&Hash(a), &Hash(b));
        }
    } else if let Ok(p) = serde_json::from_slice::<ConsistencyProof>(rest) {
        round_trip(&p);
        let _ = p.verify(&Hash(a), &Hash(b));
    }
}

/// A federation payload's messages, each read as the inbox reads it, and every message that
/// reads written and read again.
pub fn message(data: &[u8]) {
    use gsomia_node::protocol::{Numbered, Payload};
    let Ok(payload) = serde_json::from_slice::<Payload>(data) else {
        return;
    };
    for raw in payload.messages {
        if let Ok(n) = serde_json::from_value::<Numbered>(raw) {
            let text = serde_json::to_string(&n).unwrap();
            let again: Numbered = serde_json::from_str(&text).expect("a message reads back");
            assert_eq!(again.seq, n.seq);
            assert_eq!(again.message.kind(), n.message.kind());
        }
    }
}

/// A partner's signed reply to an envelope, as the sender reads it (M3): checking it and its
/// receipts never panics; it reads back from what it writes; and its receipts, signed here as
/// one batch, each verify alone and not under another key, and the reply made of them verifies.
pub fn reply(data: &[u8]) {
    use gsomia_node::protocol::{SignedReply, receipt_verifies, sign_receipts};
    let Ok(signed) = serde_json::from_slice::<SignedReply>(data) else {
        return;
    };
    let key = gsomia_crypto::SigningKey::from_bytes(&[3; 32]);
    let other = gsomia_crypto::SigningKey::from_bytes(&[4; 32]).verifying_key();
    let _ = signed.verifies(&key.verifying_key());
    round_trip(&signed);
    let receipts: Vec<_> = signed
        .reply
        .receipts
        .iter()
        .map(|r| r.receipt.clone())
        .collect();
    let batch = sign_receipts(&key, receipts);
    for r in &batch {
        assert!(
            receipt_verifies(r, &key.verifying_key()),
            "{r:?} does not verify"
        );
        assert!(
            !receipt_verifies(r, &other),
            "{r:?} verifies under another key"
        );
    }
    let mut reply = signed.reply;
    reply.receipts = batch;
    assert!(SignedReply::sign(&key, reply).verifies(&key.verifying_key()));
}
