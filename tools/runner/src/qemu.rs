//! Builds the QEMU command line described in docs/conventions.md.

use std::fmt;

/// What the run is for; decides the serial setup and the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run the in-guest tests and judge them.
    Test,
    /// Collect benchmark lines and print them as a table.
    Bench,
    /// Interactive: stdin goes to the guest, Ctrl-A X quits QEMU.
    Run,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "test" => Some(Mode::Test),
            "bench" => Some(Mode::Bench),
            "run" => Some(Mode::Run),
            _ => None,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Test => "test",
            Mode::Bench => "bench",
            Mode::Run => "run",
        })
    }
}

/// How the guest is booted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// The direct-boot loader as a Multiboot1 `-kernel`, kernel and initramfs
    /// as `-initrd` modules, firmware `bios` (qboot by default).
    Direct {
        bios: String,
        loader: String,
        kernel: String,
        cmdline: String,
        initramfs: String,
        module_cmdline: String,
    },
    /// A bootable image with real Limine: an ISO (`-cdrom`) or a raw disk
    /// image. `bios` None = QEMU's default SeaBIOS; Some = e.g. OVMF.
    Image { path: String, bios: Option<String> },
}

/// Everything that goes into one QEMU invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuConfig {
    pub qemu: String,
    pub boot: Boot,
    pub smp: u32,
    pub mem: String,
    pub icount: bool,
    pub mode: Mode,
    /// Add `-s -S` (gdb server on :1234, CPUs stopped at start).
    pub gdb: bool,
    pub extra: Vec<String>,
}

pub const DEFAULT_QEMU: &str = "qemu-system-x86_64";
pub const DEFAULT_BIOS: &str = "/usr/share/qemu/qboot.rom";

/// Reasons a configuration cannot be turned into a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// QEMU splits `-initrd` at commas (modules) and each module at its first
/// space (file name, then the module's command line).
fn check_module_path(what: &str, path: &str) -> Result<(), ConfigError> {
    if path.is_empty() {
        return Err(ConfigError(format!("{what} path is empty")));
    }
    if path.contains([',', ' ']) {
        return Err(ConfigError(format!(
            "{what} path {path:?} contains a comma or a space, which QEMU's -initrd cannot carry"
        )));
    }
    Ok(())
}

fn check_module_cmdline(what: &str, cmdline: &str) -> Result<(), ConfigError> {
    if cmdline.contains(',') {
        return Err(ConfigError(format!(
            "{what} {cmdline:?} contains a comma, which QEMU's -initrd uses to separate modules"
        )));
    }
    Ok(())
}

/// `path` or `path args` for one `-initrd` module.
fn module(path: &str, cmdline: &str) -> String {
    let cmdline = cmdline.trim();
    if cmdline.is_empty() {
        path.to_string()
    } else {
        format!("{path} {cmdline}")
    }
}

/// Checks a `-m` size: digits with an optional K/M/G/T suffix.
pub fn valid_mem(mem: &str) -> bool {
    let digits = mem.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    let suffix_len = mem.len() - digits.len();
    !digits.is_empty() && suffix_len <= 1 && digits.bytes().all(|b| b.is_ascii_digit())
}

impl QemuConfig {
    /// The argument vector (without the program name).
    pub fn args(&self) -> Result<Vec<String>, ConfigError> {
        if self.smp == 0 {
            return Err(ConfigError("--smp must be at least 1".into()));
        }
        if !valid_mem(&self.mem) {
            return Err(ConfigError(format!(
                "--mem {:?} is not a size like 256M or 4G",
                self.mem
            )));
        }
        let mut a: Vec<String> = Vec::new();
        let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| s.to_string()));
        push(&["-accel", "tcg"]);
        match &self.boot {
            Boot::Direct { bios, .. } => push(&["-bios", bios]),
            Boot::Image { bios: Some(b), .. } => push(&["-bios", b]),
            Boot::Image { bios: None, .. } => {}
        }
        push(&[
            "-nodefaults",
            "-m",
            &self.mem,
            "-smp",
            &self.smp.to_string(),
        ]);
        push(&["-display", "none"]);
        let serial = if self.mode == Mode::Run {
            "mon:stdio"
        } else {
            "stdio"
        };
        push(&["-serial", serial, "-no-reboot"]);
        push(&["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        match &self.boot {
            Boot::Direct {
                loader,
                kernel,
                cmdline,
                initramfs,
                module_cmdline,
                ..
            } => {
                if loader.is_empty() {
                    return Err(ConfigError("loader path is empty".into()));
                }
                check_module_path("kernel", kernel)?;
                check_module_path("initramfs", initramfs)?;
                check_module_cmdline("kernel cmdline", cmdline)?;
                check_module_cmdline("module cmdline", module_cmdline)?;
                let initrd = format!(
                    "{},{}",
                    module(kernel, cmdline),
                    module(initramfs, module_cmdline)
                );
                push(&["-kernel", loader, "-initrd", &initrd]);
            }
            Boot::Image { path, .. } => {
                if path.ends_with(".iso") {
                    push(&["-cdrom", path]);
                } else {
                    let drive = format!("file={path},format=raw,if=ide,index=0,media=disk");
                    push(&["-drive", &drive]);
                }
            }
        }
        if self.icount {
            push(&["-icount", "shift=0"]);
        }
        if self.gdb {
            push(&["-s", "-S"]);
        }
        a.extend(self.extra.iter().cloned());
        Ok(a)
    }

    /// A shell-pasteable rendering of the command, for logs and messages.
    pub fn command_line(&self) -> Result<String, ConfigError> {
        let mut s = shell_quote(&self.qemu);
        for arg in self.args()? {
            s.push(' ');
            s.push_str(&shell_quote(&arg));
        }
        Ok(s)
    }

    /// `smp=4 mem=256M` (+ ` icount`), used in result lines.
    pub fn label(&self) -> String {
        let mut l = format!("smp={} mem={}", self.smp, self.mem);
        if self.icount {
            l.push_str(" icount");
        }
        l
    }
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(cmdline: &str, mode: Mode) -> QemuConfig {
        QemuConfig {
            qemu: DEFAULT_QEMU.into(),
            boot: Boot::Direct {
                bios: DEFAULT_BIOS.into(),
                loader: "target/x86_64-unknown-none/release/weft-loader".into(),
                kernel: "target/x86_64-unknown-none/release/weft-kernel".into(),
                cmdline: cmdline.into(),
                initramfs: "build/initramfs.tar".into(),
                module_cmdline: String::new(),
            },
            smp: 4,
            mem: "256M".into(),
            icount: false,
            mode,
            gdb: false,
            extra: vec![],
        }
    }

    #[test]
    fn conventions_command() {
        let c = direct("test", Mode::Test);
        assert_eq!(
            c.command_line().unwrap(),
            "qemu-system-x86_64 -accel tcg -bios /usr/share/qemu/qboot.rom -nodefaults \
             -m 256M -smp 4 -display none -serial stdio -no-reboot \
             -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
             -kernel target/x86_64-unknown-none/release/weft-loader \
             -initrd 'target/x86_64-unknown-none/release/weft-kernel test,build/initramfs.tar'"
        );
    }

    #[test]
    fn empty_cmdline_and_run_mode() {
        let c = direct("", Mode::Run);
        let args = c.args().unwrap();
        let i = args.iter().position(|a| a == "-initrd").unwrap();
        assert_eq!(
            args[i + 1],
            "target/x86_64-unknown-none/release/weft-kernel,build/initramfs.tar"
        );
        let s = args.iter().position(|a| a == "-serial").unwrap();
        assert_eq!(args[s + 1], "mon:stdio");
    }

    #[test]
    fn icount_gdb_and_extra_args() {
        let mut c = direct("bench", Mode::Bench);
        c.icount = true;
        c.gdb = true;
        c.extra = vec!["-d".into(), "int".into()];
        let args = c.args().unwrap();
        let tail: Vec<&str> = args[args.len() - 6..].iter().map(|s| s.as_str()).collect();
        assert_eq!(tail, ["-icount", "shift=0", "-s", "-S", "-d", "int"]);
        assert_eq!(c.label(), "smp=4 mem=256M icount");
    }

    #[test]
    fn rejects_what_initrd_cannot_carry() {
        assert!(direct("test,x", Mode::Test).args().is_err());
        let mut c = direct("test", Mode::Test);
        if let Boot::Direct { kernel, .. } = &mut c.boot {
            *kernel = "my kernel".into();
        }
        assert!(c.args().is_err());
        let mut c = direct("test", Mode::Test);
        c.mem = "lots".into();
        assert!(c.args().is_err());
        c.mem = "4G".into();
        c.smp = 0;
        assert!(c.args().is_err());
    }

    #[test]
    fn image_boot() {
        let mut c = direct("", Mode::Run);
        c.boot = Boot::Image {
            path: "build/weft.iso".into(),
            bios: None,
        };
        let args = c.args().unwrap();
        assert!(!args.contains(&"-bios".to_string()));
        assert!(args.windows(2).any(|w| w == ["-cdrom", "build/weft.iso"]));
        c.boot = Boot::Image {
            path: "build/weft.img".into(),
            bios: Some("/usr/share/qemu/OVMF.fd".into()),
        };
        let args = c.args().unwrap();
        assert!(
            args.windows(2)
                .any(|w| w[0] == "-drive" && w[1].contains("weft.img"))
        );
        assert!(
            args.windows(2)
                .any(|w| w == ["-bios", "/usr/share/qemu/OVMF.fd"])
        );
    }

    #[test]
    fn mem_sizes() {
        for ok in ["256M", "4G", "1024", "512m"] {
            assert!(valid_mem(ok), "{ok}");
        }
        for bad in ["", "M", "4GG", "4 G", "-1G"] {
            assert!(!valid_mem(bad), "{bad}");
        }
    }
}
