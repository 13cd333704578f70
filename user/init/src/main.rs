//! `init`: process 1 of Weft, started by the kernel from the initramfs.
//!
//! ```text
//! init                         run the demo (/bin/threads-demo), print a note, exit 0
//! init --test [FILTER]         run /bin/utest [FILTER]; exit with its status
//! init --run PROG [ARG...]     run PROG with ARGs; exit with its status
//! ```
//!
//! Also accepted, so that kernel command-line words can be passed on unchanged:
//! `test` / `test=FILTER` (= `--test [FILTER]`) and `RUN=PROG [ARG...]`
//! (= `--run PROG ARG...`). A PROG without a `/` is looked up next to init (`/bin`).
//!
//! init starts the program with fork + execve (environment `PATH=/bin`,
//! `HOME=/`), waits for it, and reaps every other child that ends meanwhile (orphans
//! are re-parented to init). Its exit status is the program's: the exit code, or
//! 128 + the signal that killed it (127 if it could not be executed). What happens
//! when init exits (power off, report the status) is up to the kernel.
//!
//! init expects descriptors 0, 1 and 2 open on the console. If descriptor 1 is
//! not open (`write` says `EBADF`), it opens `/dev/console` (read/write) for 0, 1
//! and 2 itself.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use weft_rt::abi::fcntl::{AT_FDCWD, O_RDWR};
use weft_rt::abi::wait::WNOHANG;
use weft_rt::env::{self, Args};
use weft_rt::process::{self, CStrArray, Fork, WaitStatus};
use weft_rt::sys::{self, Pid};
use weft_rt::{Errno, eprintln, println};

weft_rt::entry!(main);

const ENV: [&str; 2] = ["PATH=/bin", "HOME=/"];

/// What the arguments ask for.
enum Job {
    Demo,
    Run(Vec<String>),
    Usage(String),
}

fn parse(args: &Args) -> Job {
    let words: Vec<&str> = args.iter().skip(1).collect();
    let Some(&first) = words.first() else {
        return Job::Demo;
    };
    let bin = |name: &str| -> String {
        if name.contains('/') {
            String::from(name)
        } else {
            format!("{}/{}", bin_dir(), name)
        }
    };
    let rest = |from: usize| words[from..].iter().map(|s| String::from(*s));
    match first {
        "--test" | "test" => {
            let mut v = Vec::from([bin("utest")]);
            v.extend(rest(1).take(1));
            Job::Run(v)
        }
        "--run" if words.len() >= 2 => {
            let mut v = Vec::from([bin(words[1])]);
            v.extend(rest(2));
            Job::Run(v)
        }
        w if w.starts_with("test=") => Job::Run(Vec::from([bin("utest"), String::from(&w[5..])])),
        w if w.starts_with("RUN=") && w.len() > 4 => {
            let mut v = Vec::from([bin(&w[4..])]);
            v.extend(rest(1));
            Job::Run(v)
        }
        w => Job::Usage(format!("unknown argument '{w}'")),
    }
}

/// The directory init was started from (`/bin` on Weft).
fn bin_dir() -> &'static str {
    let exe = env::exe_path().unwrap_or("/bin/init");
    match exe.rfind('/') {
        Some(0) => "",
        Some(i) => &exe[..i],
        None => ".",
    }
}

/// fork + execve of `argv[0]`; in the child an exec failure is reported and ends
/// it with status 127.
fn start(argv: &[String]) -> Result<Pid, Errno> {
    let path = CStrArray::new(&argv[..1]);
    let args = CStrArray::new(argv);
    let envs = CStrArray::new(&ENV);
    match process::fork()? {
        Fork::Child => {
            // SAFETY: well-formed arrays built before the fork.
            let e = unsafe { sys::execve(path.entry(0), args.as_ptr(), envs.as_ptr()) };
            eprintln!("init: cannot execute {}: {:?}", argv[0], e);
            sys::exit_group(127)
        }
        Fork::Parent(pid) => Ok(pid),
    }
}

/// Waits for `pid`, reaping any other child on the way; then reaps what is left.
fn wait_for(pid: Pid) -> WaitStatus {
    let status = loop {
        match process::wait(-1, 0) {
            Ok((p, st)) if p == pid => break st,
            Ok(_) => {}
            Err(e) => {
                eprintln!("init: wait4: {e:?}");
                break WaitStatus::Exited(127);
            }
        }
    };
    while let Ok((p, _)) = process::wait(-1, WNOHANG) {
        if p == 0 {
            break;
        }
    }
    status
}

fn run(argv: &[String]) -> i32 {
    match start(argv) {
        Ok(pid) => {
            let st = wait_for(pid);
            let code = st.code();
            match st {
                WaitStatus::Exited(c) => println!("init: {} exited with status {c}", argv[0]),
                WaitStatus::Signaled(s) => println!(
                    "init: {} killed by signal {s} ({})",
                    argv[0],
                    weft_rt::abi::signal::name(s).unwrap_or("?")
                ),
                other => println!("init: {} ended: {other:?}", argv[0]),
            }
            code
        }
        Err(e) => {
            eprintln!("init: fork: {e:?}");
            127
        }
    }
}

/// Opens `/dev/console` as descriptors 0, 1 and 2 if standard output is not open.
fn ensure_console() {
    if sys::write(1, b"") != Err(Errno::EBADF) {
        return;
    }
    for _ in 0..3 {
        if sys::openat(AT_FDCWD, c"/dev/console", O_RDWR, 0).is_err() {
            return;
        }
    }
}

fn main(args: Args) -> i32 {
    ensure_console();
    match parse(&args) {
        Job::Run(argv) => run(&argv),
        Job::Demo => {
            println!("init: Weft user space is up (pid {})", sys::getpid());
            let code = run(&[format!("{}/threads-demo", bin_dir())]);
            println!(
                "init: demo done. Boot with RUN=/bin/<program> [args] to run a program, \
                 or with user tests to run /bin/utest."
            );
            code
        }
        Job::Usage(msg) => {
            eprintln!("init: {msg}");
            eprintln!(
                "usage: init [--test [FILTER] | --run PROG [ARG...] | test[=FILTER] | RUN=PROG [ARG...]]"
            );
            2
        }
    }
}
