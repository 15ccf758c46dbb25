//! The workspace's uniffi binding generator, `uniffi-bindgen`: the same command line as
//! uniffi's own (`generate --library <libbaoming_bindings.so> --language kotlin|swift|python
//! --out-dir …`), built from the same uniffi version as the library, so the generated code always
//! matches the scaffolding. `bindings/generate.sh`, `bindings/package.sh` and maturin run it.
//!
//! After uniffi has written the files, two finishing passes make the bindings read the same in
//! every language (uniffi 0.32 leaves both undone):
//!
//! * [`kotlin::exception_messages`] and [`python::exception_messages`]: an error type that
//!   exports its Rust `Display` carries that text as the Kotlin exception's `message` and the
//!   Python exception's `str(e)` (uniffi fills them with `field=value` lists, empty for a
//!   variant without fields);
//! * [`python::variant_names`]: the variants of Python enums with fields are spelled like the
//!   error variants and like Kotlin and Swift (`Event.SignInRequired`, not
//!   `Event.SIGN_IN_REQUIRED`).
//!
//! Each pass checks the shape it rewrites and fails loudly when a uniffi upgrade changes it.

mod kotlin;
mod python;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::{fs, io};

/// A finishing pass could not be applied.
#[derive(Debug, thiserror::Error)]
enum FinishError {
    /// A generated file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The generated code does not have the shape a pass rewrites.
    #[error("{path}: {detail} (did uniffi's generated code change? see bindings/bindgen)")]
    Shape {
        /// The file.
        path: PathBuf,
        /// What was expected.
        detail: String,
    },
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // uniffi's command line does the generation (and exits with its own message on an error).
    uniffi::uniffi_bindgen_main();
    if args.first().map(String::as_str) != Some("generate") {
        return ExitCode::SUCCESS;
    }
    let out_dir =
        option_values(&args, "--out-dir", "-o").pop().map_or_else(|| PathBuf::from("."), PathBuf::from);
    let languages = option_values(&args, "--language", "-l");
    match finish(&out_dir, &languages) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uniffi-bindgen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The values given to an option, as `--name value`, `--name=value` or `-n value`.
fn option_values(args: &[String], long: &str, short: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if word == long || word == short {
            values.extend(words.next().cloned());
        } else if let Some(value) = word.strip_prefix(long).and_then(|rest| rest.strip_prefix('=')) {
            values.push(value.to_owned());
        }
    }
    values
}

/// Applies the finishing passes of each generated language to the files under `out_dir`.
fn finish(out_dir: &Path, languages: &[String]) -> Result<(), FinishError> {
    for language in languages {
        match language.as_str() {
            "kotlin" => rewrite_all(out_dir, "kt", kotlin::exception_messages)?,
            "python" => {
                rewrite_all(out_dir, "py", |text| python::exception_messages(&python::variant_names(text)?))?
            }
            _ => {}
        }
    }
    Ok(())
}

/// Rewrites every file with the extension under `dir` (recursively) through `pass`.
fn rewrite_all(
    dir: &Path,
    extension: &str,
    pass: impl Fn(&str) -> Result<String, String> + Copy,
) -> Result<(), FinishError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FinishError::Io { path, source }
    };
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        if path.is_dir() {
            rewrite_all(&path, extension, pass)?;
        } else if path.extension().is_some_and(|e| e == extension) {
            let text = fs::read_to_string(&path).map_err(io_error(&path))?;
            let finished = pass(&text).map_err(|detail| FinishError::Shape { path: path.clone(), detail })?;
            if finished != text {
                fs::write(&path, finished).map_err(io_error(&path))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::option_values;

    #[test]
    fn options_are_read_in_each_spelling() {
        let args: Vec<String> =
            ["generate", "--language", "kotlin", "-l", "python", "--out-dir=out", "--no-format"]
                .map(String::from)
                .to_vec();
        assert_eq!(option_values(&args, "--language", "-l"), ["kotlin", "python"]);
        assert_eq!(option_values(&args, "--out-dir", "-o"), ["out"]);
        assert!(option_values(&args, "--config", "-c").is_empty());
    }
}
