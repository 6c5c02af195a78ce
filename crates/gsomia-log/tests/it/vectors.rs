//! The RFC 6962 test vectors of the Certificate Transparency reference implementation, as
//! published in transparency-dev/merkle (`testonly/constants.go`).

use gsomia_log::{ConsistencyProof, Frontier, Hash, InclusionProof, leaf_hash};

use crate::model::MemLog;

fn hd(s: &str) -> Hash {
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    Hash(bytes.try_into().unwrap())
}

const LEAVES: [&[u8]; 8] = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
];

const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn published_log() -> MemLog {
    let mut log = MemLog::default();
    for leaf in LEAVES {
        log.append(leaf);
    }
    log
}

#[test]
fn roots_of_every_size_match_the_published_ones() {
    let mut frontier = Frontier::new();
    assert_eq!(frontier.root(), hd(ROOTS[0]));
    for (n, leaf) in LEAVES.iter().enumerate() {
        frontier.append(leaf_hash(leaf));
        assert_eq!(frontier.root(), hd(ROOTS[n + 1]), "root of size {}", n + 1);
    }
}

#[test]
fn inclusion_proofs_match_the_published_ones() {
    let log = published_log();
    let cases: [(u64, [&str; 3]); 2] = [
        (
            0,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (index, expected) in cases {
        let proof = InclusionProof::make(index, 8, &log).unwrap();
        assert_eq!(proof.hashes, expected.map(hd).to_vec(), "leaf {index}");
        let leaf = leaf_hash(LEAVES[index as usize]);
        proof.verify(&hd(ROOTS[8]), &leaf).unwrap();
    }
}

#[test]
fn consistency_proofs_match_the_published_ones() {
    let log = published_log();
    let cases: [(u64, u64, &[&str]); 4] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (old, new, expected) in cases {
        let proof = ConsistencyProof::make(old, new, &log).unwrap();
        let expected: Vec<Hash> = expected.iter().map(|h| hd(h)).collect();
        assert_eq!(proof.hashes, expected, "{old} → {new}");
        proof
            .verify(&hd(ROOTS[old as usize]), &hd(ROOTS[new as usize]))
            .unwrap();
    }
}
