//! The safe Rust API against what the `daemonize`, `pidlock` and
//! `pidfile-rs` crates (and Python's `pid`) get wrong. Each test names the
//! anchor behaviour it proves pidkit avoids.

use nix::errno::Errno;
use pidkit::Pidfile;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pidkit-rust-{}-{}", name, std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// pidfile-rs and daemonize open the path and follow a symlink planted
/// there (the tinyproxy/unbound/chrony CVE class): pidkit refuses.
#[test]
fn a_symlink_is_never_followed() {
    let d = tempdir("symlink");
    let target = d.join("precious");
    fs::write(&target, "keep me\n").unwrap();
    let link = d.join("app.pid");
    symlink(&target, &link).unwrap();
    let e = Pidfile::acquire(&link).unwrap_err();
    assert_eq!(e.errno(), Errno::ELOOP);
    assert!(e.message().contains("symbolic link"), "{}", e.message());
    assert_eq!(fs::read_to_string(&target).unwrap(), "keep me\n");
    fs::remove_dir_all(&d).unwrap();
}

/// pidlock and Python's pid remove whatever the path names at release, even
/// a newcomer's replacement file: pidkit removes only the file it locked.
#[test]
fn release_leaves_a_replacement_file_alone() {
    let d = tempdir("replaced");
    let path = d.join("app.pid");
    let pf = Pidfile::acquire(&path).unwrap();
    let other = d.join("other");
    fs::write(&other, "99999\n").unwrap();
    fs::rename(&other, &path).unwrap();
    drop(pf);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "99999\n",
        "the replacement must survive our release"
    );
    fs::remove_dir_all(&d).unwrap();
}

/// daemonize truncates before it locks, wiping the holder's pid, and then
/// carries on: pidkit's failed acquire is an error naming the holder, and
/// the holder's file is unchanged byte for byte.
#[test]
fn a_failed_acquire_is_an_error_and_changes_nothing() {
    let d = tempdir("held");
    let path = d.join("app.pid");
    let held = Pidfile::acquire(&path).unwrap();
    let before = fs::read(&path).unwrap();
    let e = Pidfile::acquire(&path).unwrap_err();
    assert_eq!(e.errno(), Errno::EEXIST);
    assert_eq!(e.holder(), Some(std::process::id() as i32));
    assert!(e.message().contains("is held by pid"), "{}", e.message());
    assert_eq!(fs::read(&path).unwrap(), before);
    drop(held);
    fs::remove_dir_all(&d).unwrap();
}

/// pidlock (and Python's pid, python-daemon) decide by kill(pid, 0): a
/// stale file naming a live, unrelated pid blocks every start. pidkit asks
/// the lock.
#[test]
fn a_stale_file_naming_a_live_pid_is_taken_over() {
    let d = tempdir("stale");
    let path = d.join("app.pid");
    fs::write(&path, "1\n").unwrap();
    assert_eq!(
        pidkit::pidfile::check(&std::ffi::CString::new(path.to_str().unwrap()).unwrap()).unwrap(),
        None
    );
    let pf = Pidfile::acquire(&path).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("{}\n", std::process::id())
    );
    drop(pf);
    assert!(!path.exists());
    fs::remove_dir_all(&d).unwrap();
}

/// A process that is not pidkit's daemon cannot report readiness (a stray
/// report would be believed by nobody, but it must not pretend to work).
#[test]
fn ready_outside_a_daemon_is_einval() {
    assert_eq!(pidkit::detach::ready(0).unwrap_err().errno(), Errno::EINVAL);
}

/// proc_info of the caller agrees with the system calls.
#[test]
fn proc_info_of_self() {
    let i = pidkit::proc_info(0).unwrap();
    assert_eq!(i.pid, std::process::id() as i32);
    assert_eq!(i.sid, pidkit::ids::getsid(0).unwrap());
    assert!(!i.comm_bytes().is_empty());
}
