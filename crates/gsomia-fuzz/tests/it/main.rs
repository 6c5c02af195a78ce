//! The kept corpora, replayed on stable: every input under `fuzz/corpus/<target>/` (the seeds
//! made from the project's examples and tests, and what libFuzzer kept, crashes included once
//! fixed) runs through its target again.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // Tests fail loudly.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_has_a_corpus_and_every_input_of_it_passes() {
    let mut replayed = 0;
    for (name, target) in gsomia_fuzz::TARGETS {
        let files = corpus(name);
        assert!(
            files.len() >= 3,
            "fuzz/corpus/{name} keeps at least its seeds"
        );
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let run = std::panic::catch_unwind(|| target(&data));
            assert!(run.is_ok(), "{name}: {} fails", file.display());
            replayed += 1;
        }
    }
    assert!(replayed >= 3 * gsomia_fuzz::TARGETS.len());
}

#[test]
fn every_target_has_its_libfuzzer_binary() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    for (name, _) in gsomia_fuzz::TARGETS {
        let source = dir.join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        assert!(text.contains("gsomia_fuzz::TARGETS"), "{name}");
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name} in fuzz/Cargo.toml"
        );
    }
}

/// The seeds made from the model case get past the parsers, so the targets' deeper checks
/// (round trips, re-checks, the node's decisions) run on them and on what grows from them.
#[test]
fn the_model_case_seeds_get_past_the_parsers() {
    let text = |target: &str, name: &str| {
        let path = corpus(target)
            .into_iter()
            .find(|p| p.ends_with(name))
            .unwrap();
        std::fs::read_to_string(path).unwrap()
    };
    assert!(gsomia_core::Scheme::from_json(&text("scheme", "seed-KOR.json")).is_ok());
    assert!(
        gsomia_core::Agreement::from_json(&text("agreement", "seed-kor-jpn-gsomia.json")).is_ok()
    );
    assert!(gsomia_core::Item::from_json(&text("item", "seed-kor-missile-report.json")).is_ok());
    assert!(gsomia_core::Consent::from_json(&text("consent", "seed-standing.json")).is_ok());
    let payload: gsomia_node::protocol::Payload =
        serde_json::from_str(&text("message", "seed-all")).unwrap();
    let read = payload
        .messages
        .into_iter()
        .filter(|m| serde_json::from_value::<gsomia_node::protocol::Numbered>(m.clone()).is_ok())
        .count();
    assert!(read >= 5, "{read} of the seed messages read");
    for seed in ["seed-single", "seed-batch", "seed-refusals"] {
        let reply: gsomia_node::protocol::SignedReply =
            serde_json::from_str(&text("reply", seed)).unwrap();
        assert!(!reply.verifies(&gsomia_crypto::SigningKey::from_bytes(&[3; 32]).verifying_key()));
    }
}
