//! Fuzzes `pidkit::ids::parse_stat`, the parser of /proc/PID/stat. The
//! command name in it is chosen by the process (prctl(PR_SET_NAME), exec of
//! a file named anything): up to 15 bytes of spaces, parentheses, newlines
//! and digits that try to shift the fields after it.
//!
//! The first 8 bytes are the page size, the rest the file content.
//! Properties: never panics (no overflow in rss * page size, no slicing out
//! of range); whatever it accepts ends with a newline (a cut-short read is
//! rejected), has a NUL-terminated comm that is a prefix of the text between
//! the first '(' and the last ')', takes the state from the byte after the
//! last ")" and its blank, has the pid that precedes the first '(', and
//! an rss that is a multiple of the page size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pidkit::ids::parse_stat;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let page_size = u64::from_le_bytes(data[..8].try_into().unwrap());
    let buf = &data[8..];
    let Some(info) = parse_stat(buf, page_size) else { return };

    assert_eq!(buf.last(), Some(&b'\n'), "accepted a line without its newline");
    let open = buf.iter().position(|&b| b == b'(').expect("accepted without '('");
    let close = buf.iter().rposition(|&b| b == b')').expect("accepted without ')'");
    assert!(open < close);

    let nul = info.comm.iter().position(|&b| b == 0).expect("comm is not NUL-terminated");
    assert!(nul < info.comm.len());
    let comm = &buf[open + 1..close];
    assert!(comm.starts_with(info.comm_bytes()), "comm is not a prefix of the name in parentheses");
    let kept = &comm[..comm.len().min(31)];
    if !kept.contains(&0) {
        assert_eq!(info.comm_bytes(), kept, "comm is not the first 31 bytes of the name");
    }

    let after = &buf[close + 1..];
    let state = after.iter().find(|b| !b.is_ascii_whitespace()).copied();
    assert_eq!(Some(info.state), state, "state is not the first field after the last ')'");

    let pid_text = std::str::from_utf8(&buf[..open]).expect("accepted a non-ASCII pid");
    let pid_text = pid_text.trim_matches(|c: char| c.is_ascii_whitespace());
    assert!(!pid_text.starts_with('+'));
    assert_eq!(pid_text.parse::<i32>().ok(), Some(info.pid));

    if page_size > 0 {
        assert_eq!(info.rss_bytes % page_size, 0);
    }
});
