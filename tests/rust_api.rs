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

/// A Process handle pins our child: signal, wait (reaps, with the status),
/// and afterwards neither signal nor query reach its recycled pid.
#[test]
fn process_handle_signals_and_reaps_a_child() {
    let child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let p = pidkit::Process::open(child.id() as i32).unwrap();
    assert_eq!(p.query().unwrap().ppid, std::process::id() as i32);
    assert_eq!(
        p.wait(Some(std::time::Duration::ZERO)).unwrap_err().errno(),
        Errno::ETIMEDOUT
    );
    p.signal(libc::SIGTERM).unwrap();
    let status = p
        .wait(None)
        .unwrap()
        .expect("our child: reaped with a status");
    assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGTERM);
    assert_eq!(p.signal(0).unwrap_err().errno(), Errno::ESRCH);
    assert_eq!(p.query().unwrap_err().errno(), Errno::ESRCH);
    std::mem::forget(child); // reaped by the handle
}

/// processes() and kill() with a descendants filter: the shell's two
/// sleeps are listed, killed and waited for; the shell itself is left.
#[test]
fn kill_the_descendants_of_a_shell() {
    let mut sh = std::process::Command::new("sh")
        .args(["-c", "sleep 30 & sleep 30 & wait"])
        .spawn()
        .unwrap();
    let pid = sh.id() as i32;
    let filter = pidkit::Filter::new().descendants_of(pid);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut listed = Vec::new();
    while std::time::Instant::now() < deadline {
        listed = pidkit::processes(&filter).unwrap();
        if listed.len() == 2 && listed.iter().all(|p| p.comm_bytes() == b"sleep") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|p| p.ppid == pid));
    let opts = pidkit::KillOptions {
        wait: true,
        timeout: Some(std::time::Duration::from_secs(10)),
        escalate: Some(libc::SIGKILL),
    };
    let report = pidkit::kill(&filter, libc::SIGTERM, &opts).unwrap();
    assert_eq!((report.signalled, report.alive, report.refused), (2, 0, 0));
    // The shell's wait returns once both are gone; it exits on its own.
    assert!(sh.wait().unwrap().success());
    let none = pidkit::kill(&pidkit::Filter::new(), libc::SIGTERM, &opts).unwrap_err();
    assert_eq!(none.errno(), Errno::EINVAL);
}
