//! The kernel's own symbol table, read from its ELF image (the bootloader's
//! executable-file response), for symbolised backtraces.

use alloc::string::String;
use alloc::vec::Vec;
use goblin::elf::Elf;
use goblin::elf::sym::STT_FUNC;
use spin::Once;

struct Symbol {
    addr: u64,
    size: u64,
    name_start: u32,
    name_len: u32,
}

struct Table {
    syms: Vec<Symbol>,
    names: String,
}

static TABLE: Once<Table> = Once::new();

/// Loads function symbols from the kernel ELF. Returns how many were found.
pub fn init(elf_bytes: &[u8]) -> usize {
    let elf = match Elf::parse(elf_bytes) {
        Ok(e) => e,
        Err(_) => return 0,
    };
    let mut syms = Vec::new();
    let mut names = String::new();
    for s in elf.syms.iter() {
        if s.st_type() != STT_FUNC || s.st_value == 0 {
            continue;
        }
        let Some(raw) = elf.strtab.get_at(s.st_name) else {
            continue;
        };
        let start = names.len();
        demangle_into(raw, &mut names);
        syms.push(Symbol {
            addr: s.st_value,
            size: s.st_size,
            name_start: start as u32,
            name_len: (names.len() - start) as u32,
        });
    }
    syms.sort_unstable_by_key(|s| s.addr);
    let n = syms.len();
    TABLE.call_once(|| Table { syms, names });
    weft_arch::backtrace::set_symbolizer(lookup);
    n
}

/// Finds the function containing `addr`.
pub fn lookup(addr: u64) -> Option<(&'static str, u64)> {
    let t = TABLE.get()?;
    let i = t.syms.partition_point(|s| s.addr <= addr).checked_sub(1)?;
    let s = &t.syms[i];
    let off = addr - s.addr;
    if s.size != 0 && off >= s.size {
        return None;
    }
    let name = &t.names[s.name_start as usize..(s.name_start + s.name_len) as usize];
    Some((name, off))
}

/// Appends a readable form of a Rust "legacy" mangled name (`_ZN...E`): the path
/// components joined by `::`, without the trailing hash, with the common `$..$`
/// escapes decoded. Other names are appended as they are.
fn demangle_into(raw: &str, out: &mut String) {
    let Some(mut rest) = raw.strip_prefix("_ZN") else {
        out.push_str(raw);
        return;
    };
    let mut parts: Vec<&str> = Vec::new();
    loop {
        if rest.starts_with('E') || rest.is_empty() {
            break;
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let Ok(len) = rest[..digits].parse::<usize>() else {
            out.push_str(raw);
            return;
        };
        let body = &rest[digits..];
        if body.len() < len {
            out.push_str(raw);
            return;
        }
        parts.push(&body[..len]);
        rest = &body[len..];
    }
    if let Some(last) = parts.last()
        && last.len() == 17
        && last.starts_with('h')
        && last[1..].bytes().all(|b| b.is_ascii_hexdigit())
    {
        parts.pop();
    }
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str("::");
        }
        let p = p
            .strip_prefix('_')
            .filter(|q| q.starts_with('$'))
            .unwrap_or(p);
        decode_escapes(p, out);
    }
}

fn decode_escapes(mut s: &str, out: &mut String) {
    const ESCAPES: [(&str, &str); 9] = [
        ("$LT$", "<"),
        ("$GT$", ">"),
        ("$RF$", "&"),
        ("$BP$", "*"),
        ("$C$", ","),
        ("$SP$", "@"),
        ("$u20$", " "),
        ("$u7b$", "{"),
        ("$u7d$", "}"),
    ];
    while !s.is_empty() {
        if let Some(rest) = s.strip_prefix("..") {
            out.push_str("::");
            s = rest;
            continue;
        }
        if let Some((esc, rep)) = ESCAPES.iter().find(|(e, _)| s.starts_with(e)) {
            out.push_str(rep);
            s = &s[esc.len()..];
            continue;
        }
        let c = s.chars().next().unwrap_or('?');
        out.push(c);
        s = &s[c.len_utf8()..];
    }
}
