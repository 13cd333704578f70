//! Command-line parsing (std only).

use crate::qemu::{DEFAULT_BIOS, DEFAULT_QEMU, Mode};
use std::time::Duration;

pub const DEFAULT_LOADER: &str = "target/x86_64-unknown-none/release/weft-loader";
pub const DEFAULT_KERNEL: &str = "target/x86_64-unknown-none/release/weft-kernel";
pub const DEFAULT_INITRAMFS: &str = "build/initramfs.tar";
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;

pub const USAGE: &str = "\
weft-runner: boot Weft under QEMU, stream and judge its serial output

usage:
  weft-runner [options]             one guest run
  weft-runner summarize FILE...     sum result records (from --result) and
                                    print the closing `<N> passed, <M> failed`

options:
  --mode test|bench|run   what the run is for (default: test)
                            test:  judge `test ... ok|FAILED` lines and the summary
                            bench: print `bench <name> <value> <unit>` lines as a table
                            run:   interactive; stdin goes to the guest, Ctrl-A X quits
  --loader FILE           direct-boot loader, Multiboot1 (default: target/x86_64-unknown-none/release/weft-loader)
  --kernel FILE           kernel ELF (default: target/x86_64-unknown-none/release/weft-kernel)
  --initramfs FILE        initramfs tar (default: build/initramfs.tar)
  --cmdline TEXT          kernel command line (default: `test` in test mode,
                          `bench` in bench mode, empty in run mode)
  --module-cmdline TEXT   command line of the initramfs module (default: empty)
  --image FILE            boot an ISO (-cdrom) or raw disk image with real Limine
                          instead of the loader (the cmdline comes from limine.conf)
  --uefi                  with --image: boot through OVMF instead of SeaBIOS
  --smp N                 number of CPUs (default: 1)
  --mem SIZE              guest RAM, e.g. 256M or 4G (default: 256M)
  --timeout SECS          kill QEMU after SECS; 0 = never (default: 300 for
                          test/bench, never for run)
  --icount                add -icount shift=0 (deterministic virtual time)
  --gdb                   add -s -S (gdb server on :1234, CPUs halted at start)
  --log FILE              also write the serial output (and the report) to FILE
  --result FILE           append a one-line result record (for `summarize`)
  --label TEXT            name of this run in reports (default: `smp=N mem=SIZE`)
  --qemu-arg ARG          extra QEMU argument (repeatable)
  --qemu BIN              QEMU binary (default: qemu-system-x86_64)
  --bios FILE             firmware for direct boot (default: /usr/share/qemu/qboot.rom)
  --expect-watchdog KIND  test mode: pass only if the run ends in the kernel
                          watchdog's report of a KIND (soft|hard) lockup, with
                          every CPU's registers (the watchdog self-tests)
  -q, --quiet             do not echo the serial output (the log still gets it)
  --dry-run               print the QEMU command and exit
  -h, --help              this text

exit status: 0 = pass (run mode: guest success or Ctrl-A X), 1 = fail,
2 = usage or setup error.
";

/// Options of one guest run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    pub mode: Mode,
    pub loader: String,
    pub kernel: String,
    pub initramfs: String,
    pub cmdline: Option<String>,
    pub module_cmdline: String,
    pub image: Option<String>,
    pub uefi: bool,
    pub smp: u32,
    pub mem: String,
    pub timeout: Option<Duration>,
    pub icount: bool,
    pub gdb: bool,
    pub log: Option<String>,
    pub result: Option<String>,
    pub label: Option<String>,
    pub qemu_args: Vec<String>,
    pub qemu: String,
    pub bios: String,
    pub quiet: bool,
    pub dry_run: bool,
    /// `--expect-watchdog soft|hard`: the run must end in that watchdog report.
    pub expect_watchdog: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            mode: Mode::Test,
            loader: DEFAULT_LOADER.into(),
            kernel: DEFAULT_KERNEL.into(),
            initramfs: DEFAULT_INITRAMFS.into(),
            cmdline: None,
            module_cmdline: String::new(),
            image: None,
            uefi: false,
            smp: 1,
            mem: "256M".into(),
            timeout: None,
            icount: false,
            gdb: false,
            log: None,
            result: None,
            label: None,
            qemu_args: Vec::new(),
            qemu: DEFAULT_QEMU.into(),
            bios: DEFAULT_BIOS.into(),
            quiet: false,
            dry_run: false,
            expect_watchdog: None,
        }
    }
}

impl RunOptions {
    /// The kernel command line after mode defaults.
    pub fn effective_cmdline(&self) -> String {
        match (&self.cmdline, self.mode) {
            (Some(c), _) => c.trim().to_string(),
            (None, Mode::Test) => "test".into(),
            (None, Mode::Bench) => "bench".into(),
            (None, Mode::Run) => String::new(),
        }
    }

    /// The timeout after mode defaults (None = wait forever).
    pub fn effective_timeout(&self, explicit: bool) -> Option<Duration> {
        if explicit {
            return self.timeout;
        }
        match self.mode {
            Mode::Test | Mode::Bench => Some(Duration::from_secs(DEFAULT_TIMEOUT_SECS)),
            Mode::Run => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Run(Box<RunOptions>),
    Summarize(Vec<String>),
}

/// Parses the arguments (without the program name).
pub fn parse(args: &[String]) -> Result<Command, String> {
    if args.first().map(String::as_str) == Some("summarize") {
        let files = args[1..].to_vec();
        if files.iter().any(|f| f.starts_with('-')) {
            return Err("summarize takes only file names".into());
        }
        return Ok(Command::Summarize(files));
    }
    let mut o = RunOptions::default();
    let mut timeout_given = false;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        // Accept both `--opt value` and `--opt=value`.
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            let v = args
                .get(i)
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))?;
            i += 1;
            Ok(v)
        };
        match key {
            "-h" | "--help" => return Ok(Command::Help),
            "--mode" => {
                let v = value(key)?;
                o.mode = Mode::parse(&v)
                    .ok_or_else(|| format!("--mode must be test, bench or run, not {v:?}"))?;
            }
            "--loader" => o.loader = value(key)?,
            "--kernel" => o.kernel = value(key)?,
            "--initramfs" => o.initramfs = value(key)?,
            "--cmdline" => o.cmdline = Some(value(key)?),
            "--module-cmdline" => o.module_cmdline = value(key)?,
            "--image" => o.image = Some(value(key)?),
            "--uefi" => o.uefi = true,
            "--smp" => {
                let v = value(key)?;
                o.smp = v
                    .parse()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| format!("--smp needs a number >= 1, not {v:?}"))?;
            }
            "--mem" => o.mem = value(key)?,
            "--timeout" => {
                let v = value(key)?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("--timeout needs seconds, not {v:?}"))?;
                o.timeout = (secs > 0.0).then(|| Duration::from_secs_f64(secs));
                timeout_given = true;
            }
            "--icount" => o.icount = true,
            "--gdb" => o.gdb = true,
            "--log" => o.log = Some(value(key)?),
            "--result" => o.result = Some(value(key)?),
            "--label" => o.label = Some(value(key)?),
            "--qemu-arg" => o.qemu_args.push(value(key)?),
            "--qemu" => o.qemu = value(key)?,
            "--bios" => o.bios = value(key)?,
            "-q" | "--quiet" => o.quiet = true,
            "--dry-run" => o.dry_run = true,
            "--expect-watchdog" => {
                let v = value(key)?;
                if v != "soft" && v != "hard" {
                    return Err(format!("--expect-watchdog takes soft or hard, not {v:?}"));
                }
                o.expect_watchdog = Some(v);
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
        if inline.is_some()
            && matches!(
                key,
                "--uefi" | "--icount" | "--gdb" | "--quiet" | "--dry-run" | "--help"
            )
        {
            return Err(format!("{key} takes no value"));
        }
    }
    o.timeout = o.effective_timeout(timeout_given);
    Ok(Command::Run(Box::new(o)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn run(args: &[&str]) -> RunOptions {
        match p(args).unwrap() {
            Command::Run(o) => *o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let o = run(&[]);
        assert_eq!(o.mode, Mode::Test);
        assert_eq!(o.effective_cmdline(), "test");
        assert_eq!(o.timeout, Some(Duration::from_secs(300)));
        assert_eq!(o.kernel, DEFAULT_KERNEL);
        let o = run(&["--mode", "run"]);
        assert_eq!(o.effective_cmdline(), "");
        assert_eq!(o.timeout, None);
        let o = run(&["--mode=bench"]);
        assert_eq!(o.effective_cmdline(), "bench");
    }

    #[test]
    fn all_options() {
        let o = run(&[
            "--loader",
            "l",
            "--kernel",
            "k",
            "--initramfs",
            "i",
            "--cmdline",
            "test=futex",
            "--smp",
            "4",
            "--mem=4G",
            "--timeout",
            "12",
            "--icount",
            "--log",
            "x.log",
            "--qemu-arg",
            "-d",
            "--qemu-arg=int",
            "--result",
            "r",
            "-q",
            "--gdb",
        ]);
        assert_eq!(
            (o.loader.as_str(), o.kernel.as_str(), o.initramfs.as_str()),
            ("l", "k", "i")
        );
        assert_eq!(o.effective_cmdline(), "test=futex");
        assert_eq!((o.smp, o.mem.as_str()), (4, "4G"));
        assert_eq!(o.timeout, Some(Duration::from_secs(12)));
        assert!(o.icount && o.quiet && o.gdb);
        assert_eq!(o.qemu_args, ["-d", "int"]);
        assert_eq!(o.log.as_deref(), Some("x.log"));
        assert_eq!(o.result.as_deref(), Some("r"));
    }

    #[test]
    fn expect_watchdog() {
        assert_eq!(run(&[]).expect_watchdog, None);
        let o = run(&["--expect-watchdog", "hard"]);
        assert_eq!(o.expect_watchdog.as_deref(), Some("hard"));
    }

    #[test]
    fn explicit_empty_cmdline_wins_over_mode_default() {
        let o = run(&["--cmdline", ""]);
        assert_eq!(o.effective_cmdline(), "");
    }

    #[test]
    fn timeout_zero_means_never() {
        assert_eq!(run(&["--timeout", "0"]).timeout, None);
        assert_eq!(
            run(&["--mode", "run", "--timeout", "5"]).timeout,
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn errors() {
        assert!(p(&["--smp", "0"]).is_err());
        assert!(p(&["--smp"]).is_err());
        assert!(p(&["--mode", "fast"]).is_err());
        assert!(p(&["--timeout", "-3"]).is_err());
        assert!(p(&["--bogus"]).is_err());
        assert!(p(&["--icount=1"]).is_err());
        assert!(p(&["--expect-watchdog", "medium"]).is_err());
        assert_eq!(p(&["--help"]).unwrap(), Command::Help);
    }

    #[test]
    fn summarize() {
        assert_eq!(
            p(&["summarize", "a", "b"]).unwrap(),
            Command::Summarize(vec!["a".into(), "b".into()])
        );
        assert!(p(&["summarize", "--x"]).is_err());
    }
}
