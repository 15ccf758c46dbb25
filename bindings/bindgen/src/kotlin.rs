//! Finishing pass over uniffi's Kotlin: exception messages.

/// What uniffi writes as each error variant's message (a `field=value` list).
const MESSAGE_GETTER: &str = "override val message\n            get() = \"";

/// In every exception class whose error exports Rust's `Display` (uniffi then writes a
/// `toString()` calling it), each variant's `message` becomes that text. Other classes are left
/// as they are. Fails when such a class has no variant message to rewrite.
pub(crate) fn exception_messages(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("sealed class ") {
        let (before, class) = rest.split_at(start);
        out.push_str(before);
        let name = class["sealed class ".len()..]
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .next()
            .unwrap_or_default();
        let handler = format!("companion object ErrorHandler : UniffiRustCallStatusErrorHandler<{name}>");
        let is_exception = class.lines().next().is_some_and(|l| l.contains(": kotlin.Exception()"));
        let Some(end) = class.find(&handler).filter(|_| is_exception) else {
            // Not an exception class with fields (or a flat one, whose message is already Rust's).
            let line_end = class.find('\n').map_or(class.len(), |i| i + 1);
            out.push_str(&class[..line_end]);
            rest = &class[line_end..];
            continue;
        };
        let (body, after) = class.split_at(end);
        if body.contains("_uniffi_trait_display(") && body.contains("override fun toString(): String") {
            out.push_str(&display_messages(name, body)?);
        } else {
            out.push_str(body);
        }
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// `body` with each `message` getter returning `toString()`.
fn display_messages(name: &str, body: &str) -> Result<String, String> {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    let mut rewritten = 0;
    while let Some(start) = rest.find(MESSAGE_GETTER) {
        let value = &rest[start + MESSAGE_GETTER.len()..];
        let Some(close) = value.find("\"\n") else {
            return Err(format!("{name}: a variant's message getter does not end its line"));
        };
        out.push_str(&rest[..start]);
        out.push_str("override val message\n            get() = toString()\n");
        rest = &value[close + 2..];
        rewritten += 1;
    }
    if rewritten == 0 && !body.contains("get() = toString()") {
        return Err(format!("{name} exports Display but no variant message getter was found"));
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::exception_messages;

    /// The shape uniffi 0.32 writes for an error enum with `#[uniffi::export(Display)]`.
    const WITH_DISPLAY: &str = r#"sealed class SampleException: kotlin.Exception() {
    class Plain(
        ) : SampleException() {
        override val message
            get() = ""
    }
    class Detailed(
        val `detail`: kotlin.String
        ) : SampleException() {
        override val message
            get() = "detail=${ `detail` }"
    }
    // The local Rust `Display`/`Debug` implementation.
    override fun toString(): String {
        return FfiConverterString.lift(
    uniffiRustCall() { _status ->
    UniffiLib.uniffi_x_fn_method_sampleerror_uniffi_trait_display(FfiConverterTypeSampleError.lower(this),
        _status)
}
    )
    }

    companion object ErrorHandler : UniffiRustCallStatusErrorHandler<SampleException> {
        override fun lift(error_buf: RustBuffer.ByValue): SampleException = FfiConverterTypeSampleError.lift(error_buf)
    }
}
"#;

    #[test]
    fn messages_of_a_display_error_come_from_rust() {
        let out = exception_messages(WITH_DISPLAY).expect("the pass applies");
        assert_eq!(out.matches("get() = toString()").count(), 2, "{out}");
        assert!(!out.contains("detail=${"), "{out}");
        assert!(out.contains("val `detail`: kotlin.String"), "fields stay");
        assert_eq!(exception_messages(&out).expect("the pass applies"), out, "a second pass changes nothing");
    }

    #[test]
    fn classes_without_display_and_other_sealed_classes_are_left_alone() {
        let without = WITH_DISPLAY.replace("_uniffi_trait_display(", "_uniffi_trait_debug(");
        assert_eq!(exception_messages(&without).expect("the pass applies"), without);
        let event = "sealed class Event {\n    object Synced : Event()\n}\n";
        assert_eq!(exception_messages(event).expect("the pass applies"), event);
    }

    #[test]
    fn a_changed_shape_fails_loudly() {
        let changed =
            WITH_DISPLAY.replace("override val message\n            get()", "override val message get()");
        let e = exception_messages(&changed).expect_err("the pass refuses the shape");
        assert!(e.contains("SampleException"), "{e}");
    }
}
