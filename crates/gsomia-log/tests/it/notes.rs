//! Checkpoints, signed notes and cosignatures.

use ed25519_dalek::SigningKey;
use gsomia_log::{
    Cosigner, EMPTY_HASH, LogError, LogKey, LogVerifier, SignedCheckpoint, WitnessVerifier,
    leaf_hash,
};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

#[test]
fn a_checkpoint_is_the_c2sp_text_signed_by_the_log() {
    let log = LogKey::new("gsomia/KOR", key(1));
    let root = leaf_hash(b"entry");
    let cp = SignedCheckpoint::sign(&log, 1, root);
    let b64 = gsomia_log::proof::encode_hash(&root);
    assert_eq!(cp.text(), format!("gsomia/KOR\n1\n{b64}\n"));
    let note = cp.note(&[]);
    assert!(
        note.starts_with(&format!("gsomia/KOR\n1\n{b64}\n\n— gsomia/KOR ")),
        "{note}"
    );
    let opened = SignedCheckpoint::open(&note, &log.verifier()).unwrap();
    assert_eq!(opened, cp);
    assert_eq!((opened.size, opened.root), (1, root));
}

#[test]
fn tampered_forged_or_foreign_checkpoints_are_refused() {
    let log = LogKey::new("gsomia/KOR", key(1));
    let note = SignedCheckpoint::sign(&log, 5, EMPTY_HASH).note(&[]);
    // One digit of the size changed.
    let tampered = note.replacen("\n5\n", "\n6\n", 1);
    assert!(matches!(
        SignedCheckpoint::open(&tampered, &log.verifier()),
        Err(LogError::Note(_))
    ));
    // Signed by another key under the same name.
    let forger = LogKey::new("gsomia/KOR", key(2));
    let forged = SignedCheckpoint::sign(&forger, 5, EMPTY_HASH).note(&[]);
    assert!(matches!(
        SignedCheckpoint::open(&forged, &log.verifier()),
        Err(LogError::Note(_))
    ));
    // A checkpoint of another log, signed by the right key.
    let other = LogKey::new("gsomia/JPN", key(1));
    let foreign = SignedCheckpoint::sign(&other, 5, EMPTY_HASH).note(&[]);
    let verifier = LogVerifier::new("gsomia/JPN", key(1).verifying_key());
    let mine = LogVerifier::new("gsomia/KOR", key(1).verifying_key());
    assert!(SignedCheckpoint::open(&foreign, &verifier).is_ok());
    assert!(SignedCheckpoint::open(&foreign, &mine).is_err());
    for garbage in ["", "\n\n", "gsomia/KOR\nten\nAAAA\n\n— x AAAA\n"] {
        assert!(
            SignedCheckpoint::open(garbage, &log.verifier()).is_err(),
            "{garbage:?}"
        );
    }
}

#[test]
fn the_origin_in_the_text_must_be_the_log_the_key_is_named_for() {
    // A note whose signature line is KOR's but whose checkpoint names JPN.
    let log = LogKey::new("gsomia/KOR", key(1));
    let cp = SignedCheckpoint::sign(&log, 3, EMPTY_HASH);
    let text = cp.text().replacen("gsomia/KOR", "gsomia/JPN", 1);
    let note = cp.note(&[]).replacen(cp.text(), &text, 1);
    assert!(SignedCheckpoint::open(&note, &log.verifier()).is_err());
}

#[test]
fn witnesses_cosign_and_the_cosignature_verifies_only_for_that_checkpoint() {
    let log = LogKey::new("gsomia/KOR", key(1));
    let cp = SignedCheckpoint::sign(&log, 9, leaf_hash(b"x"));
    let jpn = Cosigner::new("gsomia/JPN", key(3), 1_700_000_000);
    let line = cp.cosign(&jpn);
    let jpn_verifier = WitnessVerifier::new("gsomia/JPN", key(3).verifying_key());
    assert_eq!(
        cp.verify_cosignature(&line, &jpn_verifier),
        Ok(1_700_000_000)
    );
    // The note with the cosignature still opens with the log's key.
    let note = cp.note(std::slice::from_ref(&line));
    assert!(note.ends_with(&line));
    assert_eq!(SignedCheckpoint::open(&note, &log.verifier()).unwrap(), cp);
    // Not for another checkpoint, nor under another witness's key.
    let other = SignedCheckpoint::sign(&log, 10, leaf_hash(b"x"));
    assert!(other.verify_cosignature(&line, &jpn_verifier).is_err());
    let usa = WitnessVerifier::new("gsomia/JPN", key(4).verifying_key());
    assert!(cp.verify_cosignature(&line, &usa).is_err());
    // A log signature is not a cosignature (different signature type, different key id).
    let log_line = cp.note(&[]).split("\n\n").nth(1).unwrap().to_owned();
    let as_witness = WitnessVerifier::new("gsomia/KOR", key(1).verifying_key());
    assert!(cp.verify_cosignature(&log_line, &as_witness).is_err());
}

#[test]
fn verifier_keys_round_trip_and_bad_ones_are_refused() {
    let log = LogKey::new("gsomia/KOR", key(1));
    let vkey = log.verifier().vkey();
    assert!(vkey.starts_with("gsomia/KOR+"), "{vkey}");
    let back = LogVerifier::from_vkey(&vkey).unwrap();
    let note = SignedCheckpoint::sign(&log, 1, EMPTY_HASH).note(&[]);
    assert!(SignedCheckpoint::open(&note, &back).is_ok());
    for bad in [
        "",
        "gsomia/KOR",
        "gsomia/KOR+00000000+AAAA",
        &vkey.replacen('+', "+f", 1),
    ] {
        assert!(LogVerifier::from_vkey(bad).is_err(), "{bad}");
    }
}
