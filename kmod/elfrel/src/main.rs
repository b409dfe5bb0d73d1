//! Command-line front end of `elfrel`; see the library docs for the why.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: elfrel [-n] [-v] [-o OUTPUT] INPUT

Rewrites every R_X86_64_PLT32 relocation into R_X86_64_PC32 in an ELF64
x86-64 relocatable object, or in every ELF member of an ar archive.

  -o OUTPUT     write the result to OUTPUT instead of rewriting INPUT in place
  -n, --dry-run only count, write nothing
  -v, --verbose list every relocation section with its counts
  -h, --help    show this text

In place, an input with nothing to rewrite is left untouched.";

struct Args {
    input: PathBuf,
    output: Option<PathBuf>,
    dry_run: bool,
    verbose: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut input = None;
    let mut output = None;
    let mut dry_run = false;
    let mut verbose = false;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-h" | "--help") => return Ok(None),
            Some("-n" | "--dry-run") => dry_run = true,
            Some("-v" | "--verbose") => verbose = true,
            Some("-o" | "--output") => {
                let path = args.next().ok_or("-o needs a path")?;
                output = Some(PathBuf::from(path));
            }
            Some(s) if s.starts_with('-') && s.len() > 1 => {
                return Err(format!("unknown option {s}"));
            }
            _ => {
                if input.replace(PathBuf::from(&arg)).is_some() {
                    return Err("only one INPUT may be given".into());
                }
            }
        }
    }
    let input = input.ok_or("no INPUT given")?;
    Ok(Some(Args {
        input,
        output,
        dry_run,
        verbose,
    }))
}

/// Writes `data` next to `dest` and renames it into place, so a crash never
/// leaves a half-written archive behind and hard links to the old file (for
/// instance cargo's copy under `deps/`) keep their original content.
fn write_atomically(dest: &Path, data: &[u8], like: Option<&fs::Metadata>) -> std::io::Result<()> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = dest.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{file_name}.elfrel-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        if let Some(meta) = like {
            fs::set_permissions(&tmp, meta.permissions())?;
        }
        fs::rename(&tmp, dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn run(args: &Args) -> Result<(), String> {
    let shown = args.input.display();
    let meta = fs::metadata(&args.input).map_err(|e| format!("{shown}: {e}"))?;
    let mut data = fs::read(&args.input).map_err(|e| format!("{shown}: {e}"))?;
    let report = elfrel::rewrite(&mut data).map_err(|e| format!("{shown}: {e}"))?;

    if args.verbose {
        for obj in &report.objects {
            let prefix = if obj.name.is_empty() {
                String::new()
            } else {
                format!("{}: ", obj.name)
            };
            for s in &obj.sections {
                println!(
                    "  {prefix}{}: {} relocation(s), {} PLT32 -> PC32",
                    s.name, s.relocations, s.rewritten
                );
            }
        }
        for m in &report.skipped_members {
            println!("  skipped non-ELF member {m}");
        }
    }

    let what = if report.archive {
        format!("{} ELF member(s)", report.objects.len())
    } else {
        "object".to_string()
    };
    let verb = if args.dry_run {
        "would rewrite"
    } else {
        "rewrote"
    };
    println!(
        "elfrel: {shown}: {verb} {} R_X86_64_PLT32 -> R_X86_64_PC32 in {} section(s) of {what} ({} relocation(s) in total)",
        report.rewritten(),
        report.sections_changed(),
        report.relocations()
    );

    if args.dry_run {
        return Ok(());
    }
    match &args.output {
        Some(out) => write_atomically(out, &data, Some(&meta))
            .map_err(|e| format!("{}: {e}", out.display()))?,
        None if report.rewritten() > 0 => write_atomically(&args.input, &data, Some(&meta))
            .map_err(|e| format!("{shown}: {e}"))?,
        None => {}
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("elfrel: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("elfrel: error: {e}");
            ExitCode::FAILURE
        }
    }
}
