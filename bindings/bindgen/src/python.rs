//! Finishing passes over uniffi's Python: exception messages and variant names.

/// Every error class whose Rust `Display` is exported (uniffi declares its FFI function but its
/// Python errors do not call it) gets a `__str__` returning that text; `repr()` follows, since
/// uniffi's `__repr__` formats `str(self)`. Fails when the declaration is there but the class is
/// not where uniffi writes it.
pub(crate) fn exception_messages(text: &str) -> Result<String, String> {
    let mut out = text.to_owned();
    for name in top_level_classes(text, "(Exception):") {
        let marker = format!("_fn_method_{}_uniffi_trait_display.argtypes", name.to_lowercase());
        let Some(at) = text.find(&marker) else { continue };
        let ffi_start = text[..at].rfind("_UniffiLib.").map(|i| i + "_UniffiLib.".len());
        let Some(ffi) = ffi_start.map(|i| &text[i..at + marker.len() - ".argtypes".len()]) else {
            return Err(format!("{name}: its Display function is not declared on _UniffiLib"));
        };
        let anchor = format!("del _UniffiTemp{name}\n");
        let Some(insert_at) = out.find(&anchor).map(|i| i + anchor.len()) else {
            return Err(format!("{name}: `{}` not found", anchor.trim_end()));
        };
        if out[insert_at..].starts_with("\n\ndef _uniffi_display_") {
            continue;
        }
        let patch = format!(
            "\n\ndef _uniffi_display_{name}(self) -> str:\n    \
             \"\"\"The Rust error's `Display` text (exported by the library).\"\"\"\n    \
             return _UniffiFfiConverterString.lift(_uniffi_rust_call_with_error(\n        \
             None, _UniffiLib.{ffi}, _UniffiFfiConverterType{name}.lower(self)))\n\n\n\
             {name}.__str__ = _uniffi_display_{name}  # type: ignore\n"
        );
        out.insert_str(insert_at, &patch);
    }
    Ok(out)
}

/// The variants of every enum with fields (a plain class with nested variant classes, which
/// uniffi spells in SHOUTY_CASE) are renamed to the Rust spelling in UpperCamelCase, the one
/// the error variants already have. Enums without fields (`enum.Enum` members) stay constants.
pub(crate) fn variant_names(text: &str) -> Result<String, String> {
    let mut out = text.to_owned();
    for name in top_level_classes(text, ":") {
        let guard = format!("raise RuntimeError(\"{name} cannot be instantiated directly\")");
        let head = format!("\nclass {name}:\n");
        let Some(start) = text.find(&head) else { continue };
        let block = top_level_block(&text[start + 1..]);
        if !block.contains(&guard) {
            continue;
        }
        for line in block.lines() {
            let Some(variant) = line.strip_prefix("    class ").and_then(|l| l.strip_suffix(':')) else {
                continue;
            };
            if !is_shouty(variant) {
                continue;
            }
            let camel = upper_camel(variant);
            out = out.replace(&format!("    class {variant}:\n"), &format!("    class {camel}:\n"));
            out = replace_qualified(&out, &format!("{name}.{variant}"), &format!("{name}.{camel}"));
        }
    }
    Ok(out)
}

/// Names of the top-level classes whose `class Name` is followed by `tail` (e.g. `:`).
fn top_level_classes(text: &str, tail: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("class ")?.strip_suffix(tail).map(str::to_owned))
        .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect()
}

/// The class starting `text`, up to the next line that starts at column 0 (other than the
/// closing quotes of a docstring, which uniffi writes there).
fn top_level_block(text: &str) -> &str {
    let mut end = text.find('\n').map_or(text.len(), |i| i + 1);
    for line in text[end..].split_inclusive('\n') {
        if line.starts_with(|c: char| !c.is_whitespace()) && line.trim_end() != "\"\"\"" {
            break;
        }
        end += line.len();
    }
    &text[..end]
}

/// `SIGN_IN_REQUIRED`, `V4`: capitals, digits and underscores, with a capital letter first.
fn is_shouty(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && name.chars().any(|c| c.is_ascii_uppercase())
}

/// `SIGN_IN_REQUIRED` → `SignInRequired`.
fn upper_camel(shouty: &str) -> String {
    shouty
        .split('_')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
            })
        })
        .collect()
}

/// Replaces `from` where it stands as a whole dotted name (not inside a longer identifier).
fn replace_qualified(text: &str, from: &str, to: &str) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let before_ok = !rest[..at].ends_with(is_word) && !rest[..at].ends_with('.');
        let after_ok = !rest[at + from.len()..].starts_with(is_word);
        out.push_str(&rest[..at]);
        out.push_str(if before_ok && after_ok { to } else { from });
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape uniffi 0.32 writes for an enum with fields.
    const EVENT: &str = r#"
class Event:
    """
    Something happened.
"""
    def __init__(self):
        raise RuntimeError("Event cannot be instantiated directly")

    # Each enum variant is a nested class of the enum itself.
    @dataclass
    class SIGN_IN_REQUIRED:
        def __str__(self):
            return "Event.SIGN_IN_REQUIRED()".format()
    @dataclass
    class PHOTO_UPLOADED_V2:
        def __init__(self, sha256: str):
            self.sha256 = sha256
    def is_SIGN_IN_REQUIRED(self) -> bool:
        return isinstance(self, Event.SIGN_IN_REQUIRED)

Event.SIGN_IN_REQUIRED = type("Event.SIGN_IN_REQUIRED", (Event.SIGN_IN_REQUIRED, Event,), {})  # type: ignore
Event.PHOTO_UPLOADED_V2 = type("Event.PHOTO_UPLOADED_V2", (Event.PHOTO_UPLOADED_V2, Event,), {})  # type: ignore
MyEvent.SIGN_IN_REQUIRED = 1
x = Event.SIGN_IN_REQUIRED_LATER
"#;

    #[test]
    fn variants_of_enums_with_fields_take_the_error_spelling() {
        let out = variant_names(EVENT).expect("the pass applies");
        assert!(out.contains("    class SignInRequired:\n"), "{out}");
        assert!(out.contains("    class PhotoUploadedV2:\n"), "{out}");
        assert!(out.contains("return \"Event.SignInRequired()\""), "{out}");
        assert!(out.contains("isinstance(self, Event.SignInRequired)"), "{out}");
        assert!(out.contains(
            "Event.SignInRequired = type(\"Event.SignInRequired\", (Event.SignInRequired, Event,), {})"
        ));
        assert!(out.contains("def is_SIGN_IN_REQUIRED(self)"), "uniffi's is_ helpers keep their names");
        assert!(out.contains("MyEvent.SIGN_IN_REQUIRED = 1"), "another class's member is not touched");
        assert!(out.contains("Event.SIGN_IN_REQUIRED_LATER"), "a longer name is not touched");
        assert_eq!(variant_names(&out).expect("the pass applies"), out, "a second pass changes nothing");
    }

    #[test]
    fn plain_enums_and_other_classes_are_left_alone() {
        let plain =
            "class Color(enum.Enum):\n    RED = 1\n\nclass Info:\n    class NOT_A_VARIANT:\n        pass\n";
        assert_eq!(variant_names(plain).expect("the pass applies"), plain);
    }

    /// The shape uniffi 0.32 writes for an error with `#[uniffi::export(Display)]`.
    const ERROR: &str = "\
_UniffiLib.uniffi_x_fn_method_sampleerror_uniffi_trait_display.argtypes = (
    _UniffiRustBuffer,
)
class SampleError(Exception):
    pass

_UniffiTempSampleError = SampleError

class SampleError:  # type: ignore
    class Plain(_UniffiTempSampleError):
        def __init__(self):
            pass
    _UniffiTempSampleError.Plain = Plain # type: ignore

SampleError = _UniffiTempSampleError # type: ignore
del _UniffiTempSampleError


class _UniffiFfiConverterTypeSampleError(_UniffiConverterRustBuffer):
    pass
";

    #[test]
    fn a_display_error_gets_its_str_from_rust() {
        let out = exception_messages(ERROR).expect("the pass applies");
        assert!(out.contains("_UniffiLib.uniffi_x_fn_method_sampleerror_uniffi_trait_display, "), "{out}");
        assert!(out.contains("_UniffiFfiConverterTypeSampleError.lower(self)"), "{out}");
        assert!(out.contains("SampleError.__str__ = _uniffi_display_SampleError"), "{out}");
        assert_eq!(exception_messages(&out).expect("the pass applies"), out, "a second pass changes nothing");
        let without = ERROR.replace("uniffi_trait_display", "uniffi_trait_debug");
        assert_eq!(
            exception_messages(&without).expect("the pass applies"),
            without,
            "no Display, no __str__"
        );
    }

    #[test]
    fn a_changed_error_shape_fails_loudly() {
        let changed = ERROR.replace("del _UniffiTempSampleError\n", "");
        assert!(
            exception_messages(&changed).expect_err("the pass refuses the shape").contains("SampleError")
        );
    }

    #[test]
    fn shouty_names_become_upper_camel() {
        assert_eq!(upper_camel("SIGN_IN_REQUIRED"), "SignInRequired");
        assert_eq!(upper_camel("V4"), "V4");
        assert!(is_shouty("SYNCED") && is_shouty("V4") && !is_shouty("Synced") && !is_shouty("_X"));
    }
}
