//! The `gsomia` binary as a user runs it: output snapshots, exit codes, bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // Tests and benchmarks fail loudly.

mod browser;
mod crash;
mod failover;
mod netns;
mod ops;
mod readme;
mod taxii;

use std::path::{Path, PathBuf};
use std::process::Command;

use expect_test::{Expect, expect};

const M: &str = "examples/model-case";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `gsomia` from the workspace root; returns "exit N" then stdout then stderr.
fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gsomia"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    let mut s = format!("exit {}\n", out.status.code().unwrap());
    s += &String::from_utf8(out.stdout).unwrap();
    s += &String::from_utf8(out.stderr).unwrap();
    s
}

/// `gsomia init` of a KOR node in `data`, listening on a free loopback port, its store in
/// `database` (PostgreSQL) if given.
fn init_kor(data: &Path, database: Option<&str>) {
    let scheme = format!("{M}/schemes/KOR.json");
    let mut init = vec![
        "init",
        "--data",
        data.to_str().unwrap(),
        "--party",
        "KOR",
        "--scheme",
        &scheme,
        "--listen",
        "127.0.0.1:0",
    ];
    if let Some(url) = database {
        init.extend(["--database", url]);
    }
    let out = run(&init);
    assert!(out.starts_with("exit 0"), "{out}");
}

/// Checkpoints every 50 ms (many under load) and, on PostgreSQL, a killed process's leases
/// lapsing within a second, in the node of `data`.
fn fast_checkpoints(data: &Path) {
    let config = data.join("gsomia.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "checkpoint_interval_ms = 2000",
            "checkpoint_interval_ms = 50",
        )
        .replace("lease_ms = 15000", "lease_ms = 1000"),
    )
    .unwrap();
}

/// Adds user `id` (duty `missile-warning`) to the node in `data`; the token it was given.
fn token(data: &Path, id: &str, roles: &str, clearance: &str) -> String {
    let out = run(&[
        "user",
        "add",
        "--data",
        data.to_str().unwrap(),
        "--id",
        id,
        "--roles",
        roles,
        "--clearance",
        clearance,
        "--duties",
        "missile-warning",
    ]);
    assert!(out.starts_with("exit 0"), "{out}");
    out.lines().nth(1).unwrap().trim().to_owned()
}

/// What a successful command printed on stdout alone.
fn stdout_of(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gsomia"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn check(args: &[&str], expect: Expect) {
    expect.assert_eq(&run(args));
}

/// A new, empty PostgreSQL database on the machine's server; none where it does not answer
/// (it must under CI).
pub(crate) fn postgres_db(name: &str) -> Option<String> {
    let admin = std::env::var("GSOMIA_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
    match gsomia_store::scratch_database(&admin, &format!("cli_{name}")) {
        Ok(url) => Some(url),
        Err(e) => {
            assert!(
                std::env::var("CI").is_err(),
                "PostgreSQL does not answer under CI: {e}"
            );
            eprintln!("skipped: PostgreSQL at {admin} does not answer ({e})");
            None
        }
    }
}

/// A copy of the model-case world in a fresh folder, with `edit` applied to one of its files.
fn world_copy(name: &str, file: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gsomia-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["schemes", "agreements", "items", "users"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for e in std::fs::read_dir(root().join(M).join(sub)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.join(sub).join(e.file_name())).unwrap();
        }
    }
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
    dir
}

#[test]
fn agreement_state_follows_the_2019_crisis() {
    let file = format!("{M}/agreements/kor-jpn-gsomia.json");
    check(
        &["agreement", "state", &file, "--at", "2019-09-01"],
        expect![[r#"
            exit 0
            {
              "agreement": "kor-jpn-gsomia",
              "at": "2019-09-01",
              "state": "notice_given",
              "in_force": true,
              "entered_into_force": "2016-11-23",
              "term_ends": "2019-11-22",
              "terminates_on": "2019-11-23"
            }
        "#]],
    );
    check(
        &["agreement", "state", &file, "--at", "2016-11-22"],
        expect![[r#"
            exit 0
            {
              "agreement": "kor-jpn-gsomia",
              "at": "2016-11-22",
              "state": "pending",
              "in_force": false,
              "entered_into_force": null,
              "term_ends": null,
              "terminates_on": null
            }
        "#]],
    );
}

#[test]
fn agreement_notice_what_if_and_its_refusal() {
    let file = format!("{M}/agreements/kor-jpn-gsomia.json");
    check(
        &[
            "agreement",
            "notice",
            &file,
            "--by",
            "JPN",
            "--on",
            "2024-09-01",
        ],
        expect![[r#"
            exit 0
            {
              "agreement": "kor-jpn-gsomia",
              "at": "2024-09-01",
              "state": "notice_given",
              "in_force": true,
              "entered_into_force": "2016-11-23",
              "term_ends": "2024-11-22",
              "terminates_on": "2025-11-23"
            }
        "#]],
    );
    check(
        &[
            "agreement",
            "notice",
            &file,
            "--by",
            "JPN",
            "--on",
            "2019-10-01",
        ],
        expect![[r#"
            exit 2
            error: examples/model-case/agreements/kor-jpn-gsomia.json: a notice by JPN on 2019-10-01: a notice by KOR of 2019-08-23 already stands (A7)
        "#]],
    );
}

#[test]
fn agreement_timeline_tells_the_2016_to_2023_story() {
    check(
        &[
            "agreement",
            "timeline",
            &format!("{M}/agreements/kor-jpn-gsomia.json"),
            "--until",
            "2024-01-01",
        ],
        expect![[r#"
            exit 0
            kor-jpn-gsomia: Agreement between the Government of Japan and the Government of the Republic of Korea on the Protection of Classified Military Information
            Parties JPN, KOR. First term 1 year, renewed by 1 year; 90 days' notice of termination.

            2016-11-23  JPN signs.
                        → pending
            2016-11-23  KOR signs: the agreement enters into force (A1).
                        → in force; term ends 2017-11-22
            2017-11-23  The term ends; the agreement renews for 1 year (A2).
                        → in force; term ends 2018-11-22
            2018-11-23  The term ends; the agreement renews for 1 year (A2).
                        → in force; term ends 2019-11-22
            2019-08-23  KOR gives notice of termination, in time for the term ending 2019-11-22 (deadline 2019-08-24) (A3).
                        → notice given; term ends 2019-11-22; terminates on 2019-11-23
            2019-11-22  KOR suspends its notice; the agreement stays in force (A5).
                        → notice suspended; term ends 2019-11-22
            2019-11-23  The term ends; the agreement renews for 1 year (A2).
                        → notice suspended; term ends 2020-11-22
            2020-11-23  The term ends; the agreement renews for 1 year (A2).
                        → notice suspended; term ends 2021-11-22
            2021-11-23  The term ends; the agreement renews for 1 year (A2).
                        → notice suspended; term ends 2022-11-22
            2022-11-23  The term ends; the agreement renews for 1 year (A2).
                        → notice suspended; term ends 2023-11-22
            2023-03-21  KOR withdraws its notice (A5).
                        → in force; term ends 2023-11-22
            2023-11-23  The term ends; the agreement renews for 1 year (A2).
                        → in force; term ends 2024-11-22
        "#]],
    );
}

#[test]
fn check_release_allows_and_denies_with_exit_codes() {
    let item = format!("{M}/items/kor-missile-report.json");
    check(
        &[
            "check",
            "release",
            "--world",
            M,
            "--item",
            &item,
            "--to",
            "JPN",
            "--at",
            "2019-07-25",
        ],
        expect![[r#"
            exit 0
            {
              "decision": "allow",
              "agreement": "kor-jpn-gsomia",
              "marking": {
                "party": "JPN",
                "level": "GOKUHI",
                "originator": "KOR"
              }
            }
        "#]],
    );
    check(
        &[
            "check",
            "release",
            "--world",
            M,
            "--item",
            &item,
            "--to",
            "JPN",
            "--at",
            "2015-06-01",
        ],
        expect![[r#"
            exit 1
            {
              "decision": "deny",
              "rule": "R1",
              "message": "`kor-jpn-gsomia` is not in force on 2015-06-01: it is pending: not every party has signed; KOR and JPN still share `tisa` through its hub USA"
            }
        "#]],
    );
}

#[test]
fn check_read_allows_and_denies_with_exit_codes() {
    let item = format!("{M}/items/kor-missile-report.json");
    check(
        &[
            "check",
            "read",
            "--world",
            M,
            "--item",
            &item,
            "--user",
            &format!("{M}/users/jpn-analyst.json"),
            "--at",
            "2024-01-01",
        ],
        expect![[r#"
            exit 0
            {
              "decision": "allow"
            }
        "#]],
    );
    let dir = world_copy("read", "users/jpn-analyst.json", |t| {
        t.replace("\"GOKUHI\"", "\"HI\"")
    });
    let user = dir.join("users/jpn-analyst.json");
    let out = run(&[
        "check",
        "read",
        "--world",
        M,
        "--item",
        &item,
        "--user",
        user.to_str().unwrap(),
        "--at",
        "2024-01-01",
    ]);
    assert!(out.starts_with("exit 1\n"), "{out}");
    assert!(out.contains(r#""rule": "P1""#), "{out}");
}

#[test]
fn bad_input_names_the_file_and_the_place_and_exits_2() {
    let item = format!("{M}/items/kor-missile-report.json");
    let cases = [
        (
            "bad-json",
            "agreements/tisa.json",
            Box::new(|t: String| t.replace("\"hub\"", "hub")) as Box<dyn FnOnce(String) -> String>,
        ),
        (
            "unknown-level",
            "agreements/tisa.json",
            Box::new(|t: String| t.replace("[\"HI\"]", "[\"HII\"]")),
        ),
        (
            "duplicate-level",
            "schemes/KOR.json",
            Box::new(|t: String| t.replace("\"id\": \"I\"", "\"id\": \"II\"")),
        ),
        (
            "out-of-order",
            "agreements/kor-jpn-gsomia.json",
            Box::new(|t: String| t.replace("2023-03-21", "2019-01-01")),
        ),
        (
            "bad-date",
            "agreements/kor-jpn-gsomia.json",
            Box::new(|t: String| t.replace("2019-11-22", "2019-11-31")),
        ),
        (
            "row-party",
            "agreements/usa-jpn-gsomia.json",
            Box::new(|t: String| {
                t.replace(
                    "\"JPN\": [\"KIMITSU\"]",
                    "\"JPN\": [\"KIMITSU\"], \"KOR\": [\"I\"]",
                )
            }),
        ),
        (
            "unknown-party",
            "agreements/usa-jpn-gsomia.json",
            Box::new(|t: String| t.replace("USA", "GBR")),
        ),
    ];
    let mut out = String::new();
    for (name, file, edit) in cases {
        let dir = world_copy(name, file, edit);
        let text = run(&[
            "check",
            "release",
            "--world",
            dir.to_str().unwrap(),
            "--item",
            &item,
            "--to",
            "JPN",
            "--at",
            "2019-07-25",
        ]);
        out += &text.replace(dir.to_str().unwrap(), "WORLD");
    }
    out += &run(&[
        "check",
        "release",
        "--world",
        M,
        "--item",
        &item,
        "--to",
        "jpn",
        "--at",
        "2019-07-25",
    ]);
    out += &run(&[
        "check",
        "release",
        "--world",
        M,
        "--item",
        &item,
        "--to",
        "CHN",
        "--at",
        "2019-07-25",
    ]);
    out += &run(&[
        "check",
        "release",
        "--world",
        M,
        "--item",
        "no/such/item.json",
        "--to",
        "JPN",
        "--at",
        "2019-07-25",
    ]);
    out += &run(&[
        "agreement",
        "state",
        &format!("{M}/agreements/tisa.json"),
        "--at",
        "2019-13-01",
    ]);
    expect![[r#"
        exit 2
        error: WORLD/agreements/tisa.json: (file): key must be a string at line 5 column 3
        exit 2
        error: WORLD/agreements/tisa.json: equivalence[1].levels.JPN[0]: unknown level `HII` in the scheme of JPN
        exit 2
        error: WORLD/schemes/KOR.json: levels[2].id: duplicate level id `II`
        exit 2
        error: WORLD/agreements/kor-jpn-gsomia.json: events[4] (withdraw by KOR on 2019-01-01): dated before the event before it (2019-11-22): events are append-only, in date order (A7)
        exit 2
        error: WORLD/agreements/kor-jpn-gsomia.json: events[3].on: `2019-11-31` is not a date (YYYY-MM-DD, from 1000-01-01 to 8999-12-31) at line 20 column 58
        exit 2
        error: WORLD/agreements/usa-jpn-gsomia.json: equivalence[0].levels.KOR: KOR is not a party to this agreement
        exit 2
        error: WORLD/agreements/usa-jpn-gsomia.json: parties[1]: unknown party `GBR`
        exit 2
        error: invalid value 'jpn' for '--to <PARTY>': `jpn` is not a party code (2 to 15 upper-case letters or digits, starting with a letter)

        For more information, try '--help'.
        exit 2
        error: --to: unknown party `CHN`
        exit 2
        error: no/such/item.json: can not read: No such file or directory (os error 2)
        exit 2
        error: invalid value '2019-13-01' for '--at <DATE>': `2019-13-01` is not a date (YYYY-MM-DD, from 1000-01-01 to 8999-12-31)

        For more information, try '--help'.
    "#]]
    .assert_eq(&out);
}

#[test]
fn every_command_explains_itself_with_an_example() {
    for cmd in [
        &["agreement", "state"][..],
        &["agreement", "notice"],
        &["agreement", "timeline"],
        &["check", "release"],
        &["check", "read"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = run(&args);
        assert!(out.starts_with("exit 0\n"), "{out}");
        assert!(out.contains("Example"), "{cmd:?}: {out}");
        assert!(
            out.contains("gsomia ") && out.contains("examples/model-case"),
            "{cmd:?}: {out}"
        );
    }
}

#[test]
fn init_user_party_and_agreement_import_from_the_shell() {
    let dir = std::env::temp_dir().join(format!("gsomia-cli-{}-node", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let kor = dir.join("kor");
    let jpn = dir.join("jpn");
    let (k, j) = (kor.to_str().unwrap(), jpn.to_str().unwrap());
    let out = run(&[
        "init",
        "--data",
        k,
        "--party",
        "KOR",
        "--scheme",
        &format!("{M}/schemes/KOR.json"),
    ]);
    assert!(
        out.starts_with("exit 0\n") && out.contains("\"code\": \"KOR\""),
        "{out}"
    );
    let out = run(&[
        "init",
        "--data",
        k,
        "--party",
        "KOR",
        "--scheme",
        &format!("{M}/schemes/KOR.json"),
    ]);
    assert!(
        out.starts_with("exit 2\n") && out.contains("refusing to overwrite"),
        "{out}"
    );
    run(&[
        "init",
        "--data",
        j,
        "--party",
        "JPN",
        "--scheme",
        &format!("{M}/schemes/JPN.json"),
    ]);
    let descriptor = run(&["party", "export", "--data", j]);
    let file = dir.join("jpn.json");
    // stdout is the descriptor; the fingerprint to read to the partner goes to stderr.
    let exported = |out: &str| {
        let (json, said) = out
            .strip_prefix("exit 0\n")
            .unwrap()
            .rsplit_once("}\n")
            .unwrap();
        (format!("{json}}}\n"), said.to_owned())
    };
    let (json, said) = exported(&descriptor);
    assert!(
        said.starts_with("JPN's fingerprint, to read to the partner's officer: "),
        "{said}"
    );
    std::fs::write(&file, json).unwrap();
    let agreement = format!("{M}/agreements/kor-jpn-gsomia.json");
    // The agreement names JPN, whose descriptor is not yet imported: refused.
    let out = run(&["agreement", "import", "--data", k, &agreement]);
    assert!(
        out.starts_with("exit 2\n") && out.contains("import the descriptors"),
        "{out}"
    );
    assert_eq!(
        run(&["party", "import", "--data", k, file.to_str().unwrap()]),
        "exit 0\n"
    );
    assert_eq!(
        run(&["agreement", "import", "--data", k, &agreement]),
        "exit 0\n"
    );
    // Another node claiming to be JPN: its keys do not replace the ones held, unless the officer
    // checked the new fingerprint and forces it.
    let impostor = dir.join("jpn2");
    let i = impostor.to_str().unwrap();
    run(&[
        "init",
        "--data",
        i,
        "--party",
        "JPN",
        "--scheme",
        &format!("{M}/schemes/JPN.json"),
    ]);
    let (json, said) = exported(&run(&["party", "export", "--data", i]));
    let new_fingerprint = said
        .lines()
        .find(|l| l.contains("fingerprint"))
        .and_then(|l| l.rsplit(": ").next())
        .unwrap()
        .trim()
        .to_owned();
    assert!(
        said.contains("its TLS key, which partners pin: sha256//"),
        "{said}"
    );
    let other = dir.join("jpn2.json");
    std::fs::write(&other, json).unwrap();
    let out = run(&["party", "import", "--data", k, other.to_str().unwrap()]);
    assert!(
        out.starts_with("exit 2\n") && out.contains("known here with other keys"),
        "{out}"
    );
    assert!(out.contains(&new_fingerprint), "{out}");
    assert_eq!(
        run(&[
            "party",
            "import",
            "--data",
            k,
            "--force",
            other.to_str().unwrap()
        ]),
        "exit 0\n"
    );
    assert_eq!(
        run(&[
            "party",
            "import",
            "--data",
            k,
            "--force",
            file.to_str().unwrap()
        ]),
        "exit 0\n"
    );
    let out = run(&[
        "user",
        "add",
        "--data",
        k,
        "--id",
        "kim",
        "--roles",
        "analyst",
        "--clearance",
        "II",
        "--duties",
        "missile-warning",
    ]);
    assert!(out.starts_with("exit 0\ngsomia_"), "{out}");
    let out = run(&[
        "user",
        "add",
        "--data",
        k,
        "--id",
        "kim",
        "--roles",
        "analyst",
        "--clearance",
        "II",
        "--duties",
        "missile-warning",
    ]);
    assert!(
        out.starts_with("exit 2\n") && out.contains("a user `kim` exists already"),
        "{out}"
    );
    // The register of people (G1), from the shell: kim, as CSV (the signature on stderr).
    let out = stdout_of(&["register", "people", "--data", k, "--format", "csv"]);
    assert!(
        out.starts_with("facility,id,name,kind,roles,clearance,duties,token_expires\r\nKOR,kim,"),
        "{out}"
    );
    let out = run(&["register", "people", "--data", k, "--at", "2019-13-01"]);
    assert!(out.starts_with("exit 2\n"), "{out}");
    let out = run(&[
        "user",
        "add",
        "--data",
        k,
        "--id",
        "lee",
        "--roles",
        "analyst",
        "--clearance",
        "GOKUHI",
        "--duties",
        "x",
    ]);
    assert!(
        out.starts_with("exit 2\n") && out.contains("unknown level `GOKUHI`"),
        "{out}"
    );
    let out = run(&[
        "user",
        "add",
        "--data",
        k,
        "--id",
        "lee",
        "--roles",
        "spy",
        "--clearance",
        "II",
        "--duties",
        "x",
    ]);
    assert!(
        out.starts_with("exit 2\n") && out.contains("`spy` is not a role"),
        "{out}"
    );
    assert_eq!(
        run(&["user", "list", "--data", k]),
        "exit 0\nkim\tII\tanalyst\tofficial\n"
    );
    assert_eq!(
        run(&["user", "disable", "--data", k, "--id", "kim"]),
        "exit 0\n"
    );
    assert_eq!(
        run(&["user", "list", "--data", k]),
        "exit 0\nkim\tII\tanalyst\tofficial\tdisabled\n"
    );
    assert_eq!(
        run(&["user", "enable", "--data", k, "--id", "kim"]),
        "exit 0\n"
    );
    let out = run(&[
        "user",
        "token",
        "--data",
        k,
        "--id",
        "kim",
        "--expires",
        "2030-01-01",
    ]);
    assert!(out.starts_with("exit 0\ngsomia_"), "{out}");
    assert_eq!(
        run(&["user", "list", "--data", k]),
        "exit 0\nkim\tII\tanalyst\tofficial\ttoken until 2030-01-01\n"
    );
    let out = run(&["user", "token", "--data", k, "--id", "nobody"]);
    assert!(
        out.starts_with("exit 2\n") && out.contains("user `nobody`"),
        "{out}"
    );
    let out = run(&[
        "user",
        "token",
        "--data",
        k,
        "--id",
        "kim",
        "--expires",
        "2030-02-30",
    ]);
    assert!(
        out.starts_with("exit 2\n") && out.contains("--expires"),
        "{out}"
    );
}

/// The demo runs three real nodes twice and tells the story; its key facts, not only its exit
/// code, are checked.
#[test]
fn the_demo_tells_the_2016_to_2023_story() {
    let out = run(&["demo"]);
    assert!(out.starts_with("exit 0\n"), "{out}");
    let facts = [
        // As it happened.
        "2019-07-25  KOR → JPN: allowed under `kor-jpn-gsomia`; JPN will mark it GOKUHI",
        "2019-07-25  JPN received it: marked GOKUHI with KOR as originator; custody KOR→JPN (kor-jpn-gsomia); signed receipt back at KOR",
        "2019-08-23  KOR: notice. The GSOMIA is now, at KOR: notice given, terminates on 2019-11-23; at JPN: notice given, terminates on 2019-11-23",
        "2019-11-22  KOR: suspend. The GSOMIA is now, at KOR: notice suspended; at JPN: notice suspended",
        "2019-11-28  USA → JPN: refused, R4:",
        "2019-11-28  JPN received it: marked GOKUHI with KOR as originator; custody KOR→USA (usa-kor-gsomia), USA→JPN (usa-jpn-gsomia); signed receipt back at USA",
        "2019-12-02  JPN reports a possible compromise of the Wonsan report; the report reaches KOR, the originator (P6)",
        "2019-12-02  KOR and JPN witness each other's audit logs: KOR checked and cosigned JPN's checkpoint of",
        "2019-12-02  KOR asks JPN what it did with the Wonsan report: 2 entries, each proven in JPN's signed checkpoint: entry 8 item.receive by KOR (allow); entry 12 incident.report by sato (allow)",
        "2023-03-21  KOR: withdraw. The GSOMIA is now, at KOR: in force; at JPN: in force",
        "2023-12-19  KOR's authority gives USA a standing consent (KOR-standing-",
        "2023-12-19  KOR publishes a missile warning (launch point, track, predicted impact); it reaches Sato's stream through the USA hub in ",
        // Without the suspension.
        "2019-11-23  The GSOMIA at KOR: terminated on 2019-11-23; at JPN: terminated on 2019-11-23",
        "2019-11-23  KOR → JPN: refused, R1: `kor-jpn-gsomia` is not in force on 2019-11-23",
        "2019-11-23  JPN: Sato (cleared GOKUHI, duty missile-warning) reads it: allowed (GOKUHI)",
        "2019-11-23  JPN received it: marked GOKUHI with KOR as originator; custody KOR→USA (usa-kor-gsomia), USA→JPN (usa-jpn-gsomia)",
    ];
    for f in facts {
        assert!(out.lines().any(|l| l.starts_with(f)), "missing: {f}\n{out}");
    }
    // The warning went through the hub, re-marked at each hop.
    assert!(
        out.lines().any(
            |l| l.starts_with("2023-12-19  KOR publishes a missile warning")
                && l.ends_with(" ms, marked GOKUHI at JPN, custody KOR→USA, USA→JPN")
        ),
        "{out}"
    );
    assert!(out.contains("nothing left running"), "{out}");
}

/// A9 from the shell: an agreement file with an amendment signed by both parties; `state`
/// shows the terms in force on a day after it, `timeline` the day it took effect, and `check
/// release` re-marks under the day's table.
#[test]
fn an_amendment_shows_in_state_and_timeline_and_decides_from_its_day() {
    let dir = world_copy("amended", "agreements/kor-jpn-gsomia.json", |text| {
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["amendments"] = serde_json::json!([{
            "id": "kor-jpn-2020-1",
            "equivalence": [
                { "common": "SECRET", "levels": { "JPN": ["TOKUTEI_HIMITSU", "GOKUHI"], "KOR": ["II"] } },
                { "common": "CONFIDENTIAL", "levels": { "JPN": ["HI"], "KOR": ["III"] } }
            ],
            "signed": [{ "by": "KOR", "on": "2020-01-10" }, { "by": "JPN", "on": "2020-01-15" }]
        }]);
        v.to_string()
    });
    let file = dir.join("agreements/kor-jpn-gsomia.json");
    let file = file.to_str().unwrap();
    let before = stdout_of(&["agreement", "state", file, "--at", "2020-01-14"]);
    assert!(!before.contains("amendments_in_force"), "{before}");
    let after = stdout_of(&["agreement", "state", file, "--at", "2020-01-15"]);
    let v: serde_json::Value = serde_json::from_str(&after).unwrap();
    assert_eq!(
        v["amendments_in_force"],
        serde_json::json!(["kor-jpn-2020-1"])
    );
    assert_eq!(
        v["terms_in_force"]["equivalence"][0]["levels"]["JPN"][0],
        "TOKUTEI_HIMITSU"
    );
    let timeline = stdout_of(&["agreement", "timeline", file, "--until", "2023-12-31"]);
    assert!(
        timeline.contains("2020-01-15  Every party has signed an amendment: from today its terms decide, and what was marked before keeps its marking (A9). \"kor-jpn-2020-1: equivalence table SECRET, CONFIDENTIAL\""),
        "{timeline}"
    );
    let world = dir.to_str().unwrap();
    let item = format!("{world}/items/kor-missile-report.json");
    let release = |at: &str| {
        stdout_of(&[
            "check", "release", "--world", world, "--item", &item, "--to", "JPN", "--at", at,
        ])
    };
    assert!(release("2020-01-14").contains("GOKUHI"));
    assert!(release("2020-01-15").contains("TOKUTEI_HIMITSU"));
}
