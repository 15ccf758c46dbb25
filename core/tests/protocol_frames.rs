//! protocol.md's worked bytes are the codec's: every dump the `wire_frames` example prints that
//! the document shows in full appears in protocol.md (whitespace aside), with its size.

#[allow(dead_code)]
#[path = "../examples/wire_frames.rs"]
mod wire_frames;

#[test]
fn protocol_md_shows_the_bytes_the_codec_produces() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../protocol.md")).expect("protocol.md");
    let squashed: String = doc.chars().filter(|c| !c.is_whitespace()).collect();
    let dumps: Vec<_> = wire_frames::frames().into_iter().chain(wire_frames::batch_bodies()).collect();
    for name in wire_frames::SHOWN_IN_FULL {
        let (_, bytes) = dumps.iter().find(|(n, _)| n == name).expect("the example prints it");
        let hex: String = wire_frames::dump(bytes).chars().filter(|c| !c.is_whitespace()).collect();
        assert!(
            squashed.contains(&hex),
            "protocol.md lacks the bytes of `{name}`:\n{}",
            wire_frames::dump(bytes)
        );
    }
    for (name, bytes) in &dumps {
        let size = format!("{} bytes", bytes.len());
        assert!(doc.contains(&size), "protocol.md does not give the size of `{name}` ({size})");
    }
}
