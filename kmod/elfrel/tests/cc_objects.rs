//! End-to-end checks of the `elfrel` binary on objects made by the system C
//! compiler and `ar`, judged by binutils' `readelf -rW`.
//!
//! When `cc`, `ar` or `readelf` is missing the tests say so and pass, so
//! that the crate's unit tests (which use hand-made objects) still run on a
//! bare machine; .ci/install-deps.sh installs all three.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const C_SOURCE: &str = r#"
extern int external_function(int);
extern int external_data;
static int local_helper(int x) { return x * 3 + external_data; }
int call_external(int x) { return external_function(x) + local_helper(x); }
int call_twice(int x) { return external_function(external_function(x)); }
"#;

fn tool_available(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn tools_present() -> bool {
    let missing: Vec<_> = ["cc", "ar", "readelf"]
        .into_iter()
        .filter(|t| !tool_available(t))
        .collect();
    if missing.is_empty() {
        true
    } else {
        eprintln!("SKIPPED: {missing:?} not installed (run .ci/install-deps.sh)");
        false
    }
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("elfrel-test-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn elfrel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_elfrel"))
}

/// Compiles the sample as non-PIC code, which still calls external functions
/// through `R_X86_64_PLT32` with current compilers.
fn compile(dir: &Path, name: &str) -> PathBuf {
    let src = dir.join("sample.c");
    fs::write(&src, C_SOURCE).unwrap();
    let obj = dir.join(name);
    run(Command::new("cc")
        .args(["-c", "-O1", "-fno-pic", "-fno-inline", "-o"])
        .arg(&obj)
        .arg(&src));
    obj
}

fn relocs(path: &Path) -> String {
    String::from_utf8(run(Command::new("readelf").arg("-rW").arg(path)).stdout).unwrap()
}

/// What `readelf -rW` must print after the rewrite, derived from the
/// listing before it: on PLT32 lines the type name changes and so does the
/// low half of the r_info column; every other character stays.
fn expected_after(before: &str) -> String {
    before
        .lines()
        .map(|line| {
            if !line.contains("R_X86_64_PLT32") {
                return line.to_string();
            }
            let mut fields: Vec<String> = line.split(' ').map(str::to_string).collect();
            // Column 2 is r_info as 16 hex digits; the type is the low 8.
            let info = fields
                .iter_mut()
                .filter(|f| !f.is_empty())
                .nth(1)
                .expect("r_info column");
            assert!(info.ends_with("00000004"), "unexpected r_info {info}");
            info.replace_range(8.., "00000002");
            // Keep the column width: the new name is one character shorter.
            fields.join(" ").replace("R_X86_64_PLT32", "R_X86_64_PC32 ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

#[test]
fn object_file_plt32_becomes_pc32() {
    if !tools_present() {
        return;
    }
    let dir = scratch("object");
    let obj = compile(&dir, "sample.o");
    let before_bytes = fs::read(&obj).unwrap();
    let before = relocs(&obj);
    let plt = count(&before, "R_X86_64_PLT32");
    assert!(
        plt >= 3,
        "sample should call external_function 3 times:\n{before}"
    );

    let out = run(elfrel().arg(&obj));
    let msg = String::from_utf8_lossy(&out.stdout);
    assert!(
        msg.contains(&format!("rewrote {plt} R_X86_64_PLT32")),
        "{msg}"
    );

    let after = relocs(&obj);
    assert_eq!(count(&after, "R_X86_64_PLT32"), 0, "{after}");
    assert_eq!(after.trim_end(), expected_after(&before).trim_end());

    // Only the type bytes changed: one byte per relocation.
    let after_bytes = fs::read(&obj).unwrap();
    assert_eq!(before_bytes.len(), after_bytes.len());
    let changed = before_bytes
        .iter()
        .zip(&after_bytes)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(changed, plt);

    // Running again is a no-op and leaves the file alone.
    let out = run(elfrel().arg(&obj));
    assert!(String::from_utf8_lossy(&out.stdout).contains("rewrote 0 "));
    assert_eq!(fs::read(&obj).unwrap(), after_bytes);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn archive_with_long_names_to_output_path() {
    if !tools_present() {
        return;
    }
    let dir = scratch("archive");
    // Names over 15 characters force GNU ar to add a `//` name table.
    let a = compile(&dir, "first_object_with_a_long_name.o");
    let b = compile(&dir, "short.o");
    let c = compile(&dir, "third_object_with_an_even_longer_name.o");
    let lib = dir.join("libsample.a");
    run(Command::new("ar").arg("rcs").arg(&lib).args([&a, &b, &c]));
    let before = relocs(&lib);
    let plt = count(&before, "R_X86_64_PLT32");
    assert!(plt >= 9, "{before}");
    let original = fs::read(&lib).unwrap();

    let out_path = dir.join("out.a");
    let out = run(elfrel().arg("-v").arg("-o").arg(&out_path).arg(&lib));
    let msg = String::from_utf8_lossy(&out.stdout);
    assert!(
        msg.contains(&format!("rewrote {plt} R_X86_64_PLT32")),
        "{msg}"
    );
    assert!(msg.contains("of 3 ELF member(s)"), "{msg}");
    assert!(
        msg.contains("third_object_with_an_even_longer_name.o: .rela.text"),
        "{msg}"
    );

    // The input is untouched when an output path is given.
    assert_eq!(fs::read(&lib).unwrap(), original);

    let after = relocs(&out_path);
    assert_eq!(count(&after, "R_X86_64_PLT32"), 0, "{after}");
    assert_eq!(
        count(&after, "R_X86_64_PC32"),
        count(&before, "R_X86_64_PC32") + plt
    );
    assert_eq!(
        after.trim_end(),
        expected_after(&before)
            .trim_end()
            .replace(&lib.display().to_string(), &out_path.display().to_string())
    );

    // The archive is still a valid archive with the same members.
    let list =
        |p: &Path| String::from_utf8(run(Command::new("ar").arg("t").arg(p)).stdout).unwrap();
    assert_eq!(list(&lib), list(&out_path));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn refuses_non_elf_and_executables() {
    if !tools_present() {
        return;
    }
    let dir = scratch("refuse");
    let text = dir.join("notes.txt");
    fs::write(&text, "not an object\n").unwrap();
    let out = elfrel().arg(&text).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not an ELF object or ar archive"), "{err}");

    let src = dir.join("main.c");
    fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    let exe = dir.join("prog");
    run(Command::new("cc").arg("-o").arg(&exe).arg(&src));
    let before = fs::read(&exe).unwrap();
    let out = elfrel().arg(&exe).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a relocatable object"), "{err}");
    assert_eq!(fs::read(&exe).unwrap(), before);

    let out = elfrel().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let _ = fs::remove_dir_all(&dir);
}
