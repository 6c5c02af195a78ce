#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let target = gsomia_fuzz::TARGETS.iter().find(|(n, _)| *n == "reply");
    (target.expect("a target of gsomia-fuzz").1)(data);
});
