//! gsomia-crypto's tests: the binding (SPEC §2, R6).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // Tests and benchmarks fail loudly.

use ed25519_dalek::SigningKey;
use gsomia_core::Item;
use gsomia_crypto::{Binding, BindingError, sign_binding, verify_binding};
use proptest::prelude::*;

const REPORT: &str = include_str!("../../../../examples/model-case/items/kor-missile-report.json");

fn kor_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// The model-case item with a binding signed by `key`.
fn signed(key: &SigningKey) -> serde_json::Value {
    let item = Item::from_json(REPORT).unwrap();
    let binding = sign_binding(key, item.label(), item.object()).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(REPORT).unwrap();
    v["binding"] = binding.to_base64().into();
    v
}

fn verify(v: &serde_json::Value, key: &SigningKey) -> Result<(), BindingError> {
    let item = Item::from_json(&v.to_string()).unwrap();
    verify_binding(&key.verifying_key(), &item).map(|_| ())
}

#[test]
fn r6_a_binding_verifies_with_the_originators_key() {
    let key = kor_key();
    assert_eq!(verify(&signed(&key), &key), Ok(()));
}

#[test]
fn r6_the_binding_ignores_json_formatting_and_key_order() {
    let key = kor_key();
    let v = signed(&key);
    // Re-serialised with other whitespace and, through a Value round trip, other key order.
    let pretty = serde_json::to_string_pretty(&v).unwrap();
    let item = Item::from_json(&pretty).unwrap();
    assert!(verify_binding(&key.verifying_key(), &item).is_ok());
}

#[test]
fn r6_tampering_with_one_byte_of_label_or_object_breaks_the_binding() {
    let key = kor_key();
    let tampered = [
        ("label.level", serde_json::json!("III")),
        (
            "label.releasable_to",
            serde_json::json!(["JPN", "USA", "CHN"]),
        ),
        ("label.grading", serde_json::json!("B3")),
        (
            "object.name",
            serde_json::json!("Two short-range ballistic missiles launched near Wonsam"),
        ),
        ("object.description", serde_json::json!("")),
    ];
    for (path, value) in tampered {
        let mut v = signed(&key);
        let (outer, inner) = path.split_once('.').unwrap();
        v[outer][inner] = value;
        assert_eq!(verify(&v, &key), Err(BindingError::Mismatch), "{path}");
    }
    // Every single byte of the object's name, one at a time.
    let name = signed(&key)["object"]["name"].as_str().unwrap().to_owned();
    for i in 0..name.len() {
        let mut bytes = name.clone().into_bytes();
        bytes[i] ^= 0x01;
        let Ok(changed) = String::from_utf8(bytes) else {
            continue;
        };
        let mut v = signed(&key);
        v["object"]["name"] = changed.into();
        assert_eq!(verify(&v, &key), Err(BindingError::Mismatch), "byte {i}");
    }
}

#[test]
fn r6_another_key_a_missing_or_malformed_binding_is_refused() {
    let key = kor_key();
    let v = signed(&key);
    let other = SigningKey::from_bytes(&[8u8; 32]);
    assert_eq!(verify(&v, &other), Err(BindingError::Mismatch));
    let item = Item::from_json(REPORT).unwrap();
    assert_eq!(
        verify_binding(&key.verifying_key(), &item).map(|_| ()),
        Err(BindingError::Missing)
    );
    let mut bad = v.clone();
    bad["binding"] = "not base64!".into();
    assert!(matches!(
        verify(&bad, &key),
        Err(BindingError::Malformed(_))
    ));
    let mut short = v.clone();
    short["binding"] = "AAAA".into();
    assert_eq!(
        verify(&short, &key),
        Err(BindingError::Malformed("3 bytes, not 64".into()))
    );
    assert_eq!(
        BindingError::Mismatch.to_string(),
        "the binding does not verify: the label or the object was changed, or the originator did not sign it (R6)"
    );
}

#[test]
fn the_signed_message_is_the_context_then_canonical_json() {
    let item = Item::from_json(REPORT).unwrap();
    let msg = gsomia_crypto::binding::message(item.label(), item.object()).unwrap();
    let text = String::from_utf8(msg).unwrap();
    assert!(
        text.starts_with(
            "gsomia-binding-v1\n{\"label\":{\"caveats\":[],\"created\":\"2019-07-25T00:30:00Z\","
        ),
        "{text}"
    );
    let hash_at = text.find("\"object_sha256\":\"").unwrap();
    assert_eq!(text[hash_at + 17..].len(), 64 + 2);
    // A binding round-trips through base64.
    let b = sign_binding(&kor_key(), item.label(), item.object()).unwrap();
    assert_eq!(Binding::from_base64(&b.to_base64()).unwrap(), b);
}

#[test]
fn the_canonical_forms_sign_and_verify_the_same_binding() {
    // The node signs and seals one canonical form, and a receiver seals the form it verified:
    // the binding is the one made from the object itself.
    let key = kor_key();
    let item = Item::from_json(REPORT).unwrap();
    let canonical = gsomia_crypto::canonical::to_vec(item.object());
    let from_object = sign_binding(&key, item.label(), item.object()).unwrap();
    let from_canonical =
        gsomia_crypto::binding::sign_binding_canonical(&key, item.label(), &canonical).unwrap();
    assert_eq!(from_canonical, from_object);
    let mut v: serde_json::Value = serde_json::from_str(REPORT).unwrap();
    v["binding"] = from_canonical.to_base64().into();
    let bound = Item::from_json(&v.to_string()).unwrap();
    let keys = [key.verifying_key()];
    let (_, verified) = gsomia_crypto::binding::verify_binding_canonical(&keys, &bound).unwrap();
    assert_eq!(verified, canonical);
    // Another object under the same binding does not verify, and answers no form.
    v["object"]["name"] = "changed".into();
    let changed = Item::from_json(&v.to_string()).unwrap();
    assert_eq!(
        gsomia_crypto::binding::verify_binding_canonical(&keys, &changed).map(|_| ()),
        Err(BindingError::Mismatch)
    );
}

#[test]
fn rfc8785_canonicalisation_of_numbers_and_strings() {
    // Examples from RFC 8785 §3.2.2 and Appendix B.
    let v: serde_json::Value = serde_json::from_str(r#"{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}"#).unwrap();
    let out = String::from_utf8(gsomia_crypto::canonical::to_vec(&v)).unwrap();
    assert_eq!(
        out,
        r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
    );
}

#[test]
fn rfc8785_sorts_names_by_utf16_code_units() {
    // RFC 8785 §3.2.3's example: U+FB33 sorts after U+1F600 in UTF-16, before it in UTF-8.
    let v: serde_json::Value = serde_json::from_str(
        r#"{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}"#,
    )
    .unwrap();
    let out = String::from_utf8(gsomia_crypto::canonical::to_vec(&v)).unwrap();
    let values: Vec<&str> = out
        .split("\":\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert_eq!(
        values,
        [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small Letter O With Diaeresis",
            "Euro Sign",
            "Emoji: Grinning Face",
            "Hebrew Letter Dalet With Dagesh"
        ]
    );
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let text = prop_oneof![
        "[a-z_]{0,8}",
        any::<String>(),
        "[\\u{0}-\\u{1f}\"\\\\/\\u{7f}\\u{e000}-\\u{ffff}\\u{10000}-\\u{10ffff}]{0,4}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        (-1_000_000i64..1_000_000).prop_map(|n| serde_json::Value::from(n as f64 / 1000.0)),
        text.clone().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(text.clone(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// The hand-written canonicaliser agrees with the `serde_jcs` crate on random JSON.
    #[test]
    fn rfc8785_canonical_json_matches_serde_jcs(v in json_value()) {
        let ours = gsomia_crypto::canonical::to_vec(&v);
        let reference = serde_jcs::to_vec(&v).unwrap();
        prop_assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(reference).unwrap());
    }
}

#[test]
fn p5_sealed_content_opens_only_with_its_master_key_and_item() {
    use gsomia_crypto::seal::{SealError, SealRandom, open, seal};
    let master = [1u8; 32];
    let random = SealRandom {
        item_key: [2; 32],
        content_nonce: [3; 12],
        wrap_nonce: [4; 12],
    };
    let sealed = seal(&master, &random, b"report--1@v1", b"the content");
    assert!(!sealed.content.windows(11).any(|w| w == b"the content"));
    assert_eq!(
        open(
            &master,
            b"report--1@v1",
            &sealed.wrapped_key,
            &sealed.content
        )
        .unwrap(),
        b"the content"
    );
    assert_eq!(
        open(
            &[9; 32],
            b"report--1@v1",
            &sealed.wrapped_key,
            &sealed.content
        ),
        Err(SealError::Open)
    );
    assert_eq!(
        open(
            &master,
            b"report--2@v1",
            &sealed.wrapped_key,
            &sealed.content
        ),
        Err(SealError::Open)
    );
    let mut flipped = sealed.content.clone();
    flipped[20] ^= 1;
    assert_eq!(
        open(&master, b"report--1@v1", &sealed.wrapped_key, &flipped),
        Err(SealError::Open)
    );
    assert_eq!(
        open(&master, b"report--1@v1", &[], &sealed.content),
        Err(SealError::Open)
    );
}

#[test]
fn node_keys_publish_their_public_half_and_tokens_are_stored_as_hashes() {
    let keys = gsomia_crypto::NodeKeys::from_seeds([1; 32], [2; 32], [3; 32]);
    let public = keys.public();
    public.check().unwrap();
    assert_eq!(
        public.verifying_key().unwrap(),
        keys.signing.verifying_key()
    );
    let bad = gsomia_crypto::PublicKeys {
        signing: "AAAA".into(),
        encryption: public.encryption.clone(),
    };
    assert!(bad.check().is_err());
    let h = gsomia_crypto::token_hash("secret-token");
    assert_eq!(h.len(), 64);
    assert!(!h.contains("secret"));
    assert_eq!(h, gsomia_crypto::token_hash("secret-token"));
}

#[test]
fn signed_statements_verify_only_as_their_own_kind_and_content() {
    use gsomia_crypto::statement::{sign, verify};
    let key = kor_key();
    let st = serde_json::json!({"item": "report--1", "destroyed": "2020-01-01T00:00:00Z"});
    let sig = sign(&key, "destruction", &st);
    assert!(verify(&key.verifying_key(), "destruction", &st, &sig));
    assert!(!verify(&key.verifying_key(), "receipt", &st, &sig));
    let other = serde_json::json!({"item": "report--2", "destroyed": "2020-01-01T00:00:00Z"});
    assert!(!verify(&key.verifying_key(), "destruction", &other, &sig));
    assert!(!verify(
        &SigningKey::from_bytes(&[8; 32]).verifying_key(),
        "destruction",
        &st,
        &sig
    ));
    assert!(!verify(
        &key.verifying_key(),
        "destruction",
        &st,
        "not base64"
    ));
}

/// A deterministic generator for tests (never for real envelopes).
struct TestRng(u64);

impl gsomia_crypto::envelope::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = (self.next_u64() >> 56) as u8;
        }
    }
}

impl gsomia_crypto::envelope::CryptoRng for TestRng {}

#[test]
fn r8_envelopes_open_only_for_the_addressee_and_only_unaltered() {
    use gsomia_crypto::envelope::{EnvelopeError, Header, open, seal};
    let kor = gsomia_crypto::NodeKeys::from_seeds([1; 32], [2; 32], [3; 32]);
    let jpn = gsomia_crypto::NodeKeys::from_seeds([4; 32], [5; 32], [6; 32]);
    let usa = gsomia_crypto::NodeKeys::from_seeds([7; 32], [8; 32], [9; 32]);
    let public = |k: &gsomia_crypto::NodeKeys| -> [u8; 32] {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(k.public().encryption)
            .unwrap()
            .try_into()
            .unwrap()
    };
    let header = Header {
        protocol: gsomia_crypto::envelope::PROTOCOL,
        from: "KOR".parse().unwrap(),
        to: "JPN".parse().unwrap(),
        id: "KOR-JPN-1-2".into(),
        seq: (1, 2),
        sent: "2019-07-25T00:00:00Z".into(),
    };
    let env = seal(
        &kor.signing,
        &public(&jpn),
        header.clone(),
        b"secret payload",
        &mut TestRng(1),
    )
    .unwrap();
    assert!(!env.ct.contains("secret"));
    let jpn_secret = [5u8; 32];
    let opened = open(
        &env,
        &kor.signing.verifying_key(),
        "JPN".parse().unwrap(),
        &jpn_secret,
    )
    .unwrap();
    assert_eq!(opened.into_inner(), b"secret payload");
    // Not for the hub: USA can not read it, even with KOR's key to check the signature.
    assert_eq!(
        open(
            &env,
            &kor.signing.verifying_key(),
            "USA".parse().unwrap(),
            &[8; 32]
        )
        .map(|v| v.into_inner()),
        Err(EnvelopeError::NotForUs("JPN".parse().unwrap()))
    );
    // Forged: signed by USA, claiming to be KOR.
    let forged = seal(
        &usa.signing,
        &public(&jpn),
        header.clone(),
        b"x",
        &mut TestRng(2),
    )
    .unwrap();
    assert_eq!(
        open(
            &forged,
            &kor.signing.verifying_key(),
            "JPN".parse().unwrap(),
            &jpn_secret
        )
        .map(|v| v.into_inner()),
        Err(EnvelopeError::Signature("KOR".parse().unwrap()))
    );
    // Altered header or ciphertext: the signature breaks.
    let mut altered = env.clone();
    altered.header.seq = (1, 3);
    assert!(matches!(
        open(
            &altered,
            &kor.signing.verifying_key(),
            "JPN".parse().unwrap(),
            &jpn_secret
        ),
        Err(EnvelopeError::Signature(_))
    ));
    let mut altered = env.clone();
    altered.ct = altered.ct.replace('A', "B");
    assert!(
        open(
            &altered,
            &kor.signing.verifying_key(),
            "JPN".parse().unwrap(),
            &jpn_secret
        )
        .is_err()
    );
    // Addressed to JPN but opened with another secret: does not decrypt.
    assert_eq!(
        open(
            &env,
            &kor.signing.verifying_key(),
            "JPN".parse().unwrap(),
            &[8; 32]
        )
        .map(|v| v.into_inner()),
        Err(EnvelopeError::Decrypt)
    );
}

/// A backup's chunks open with the passphrase or key they were sealed to, in order, and only
/// if the last one is there.
#[test]
fn backup_chunks_open_only_whole_in_order_and_with_the_right_secret() {
    use gsomia_crypto::backup::{BackupError, BackupRandom, Opener, Sealer, Secret, header_line};
    let random = BackupRandom {
        file_key: [1; 32],
        stream: [2; 7],
        salt: [3; 16],
        wrap_nonce: [4; 12],
    };
    let (header, mut sealer) = Sealer::to_passphrase(b"twelve or more chars", &random).unwrap();
    let line = header_line(&header);
    let sealed = [
        sealer.chunk(b"first").unwrap(),
        sealer.chunk(b"second").unwrap(),
    ];
    let last = sealer.last(b"end").unwrap();
    let open = || Opener::new(&line, Secret::Passphrase(b"twelve or more chars")).unwrap();
    let mut o = open();
    assert_eq!(o.chunk(&sealed[0]).unwrap(), b"first");
    assert_eq!(o.chunk(&sealed[1]).unwrap(), b"second");
    assert_eq!(o.last(&last).unwrap(), b"end");
    // Reordered, a middle chunk presented as the last, the last as a middle one.
    assert_eq!(open().chunk(&sealed[1]), Err(BackupError::Chunk(1)));
    let mut o = open();
    o.chunk(&sealed[0]).unwrap();
    assert_eq!(o.last(&sealed[1]), Err(BackupError::Chunk(2)));
    let mut o = open();
    o.chunk(&sealed[0]).unwrap();
    o.chunk(&sealed[1]).unwrap();
    assert_eq!(o.chunk(&last), Err(BackupError::Chunk(3)));
    // Another passphrase; a key for a passphrase's backup; an altered header.
    assert_eq!(
        Opener::new(&line, Secret::Passphrase(b"another passphrase")).err(),
        Some(BackupError::WrongPassphrase)
    );
    assert!(matches!(
        Opener::new(&line, Secret::Identity(&[9; 32])).err(),
        Some(BackupError::Mismatch(_))
    ));
    let altered = String::from_utf8(line.clone())
        .unwrap()
        .replace("\"t\":3", "\"t\":4");
    assert_eq!(
        Opener::new(
            altered.as_bytes(),
            Secret::Passphrase(b"twelve or more chars")
        )
        .err(),
        Some(BackupError::WrongPassphrase)
    );
    // To a recipient: its key opens it, another does not.
    let (secret, public) = gsomia_crypto::backup::recipient_keys([7; 32]);
    let (other, _) = gsomia_crypto::backup::recipient_keys([8; 32]);
    let (header, sealer) = Sealer::to_recipient(&public, &random, &mut TestRng(3)).unwrap();
    let line = header_line(&header);
    let last = sealer.last(b"only").unwrap();
    let o = Opener::new(&line, Secret::Identity(&secret)).unwrap();
    assert_eq!(o.last(&last).unwrap(), b"only");
    assert!(matches!(
        Opener::new(&line, Secret::Identity(&other)).err(),
        Some(BackupError::OtherRecipient(_))
    ));
}
