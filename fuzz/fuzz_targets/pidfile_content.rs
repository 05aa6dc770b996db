//! Fuzzes `pidkit::pidfile::parse_pid`, the parser of pidfile content that
//! pidkit_pidfile_read/check/kill and a contender's `*holder` rely on. The
//! file is written by whoever could write it: any bytes may be there.
//!
//! Properties: never panics, and accepts exactly the contract (one decimal
//! pid in 1..=i32::MAX, at most 10 digits, optional surrounding whitespace
//! as C's isspace (ASCII whitespace and \v); empty, signs, zero, overflow, trailing garbage and two numbers
//! are rejected), checked against an independent oracle; what is accepted
//! round-trips through the "PID\n" pidkit writes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pidkit::pidfile::parse_pid;

fn oracle(data: &[u8]) -> Option<i32> {
    let text = std::str::from_utf8(data).ok()?;
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{b}');
    if t.is_empty() || t.len() > 10 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match t.parse::<u64>() {
        Ok(v) if (1..=i32::MAX as u64).contains(&v) => Some(v as i32),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let got = parse_pid(data);
    // Non-UTF-8 input can only be accepted if the digits are surrounded by
    // ASCII whitespace, which is UTF-8: so a non-UTF-8 input is rejected.
    assert_eq!(got, oracle(data), "parse_pid({:?})", String::from_utf8_lossy(data));
    if let Some(pid) = got {
        assert!(pid > 0);
        assert_eq!(parse_pid(format!("{pid}\n").as_bytes()), Some(pid));
    }
});
