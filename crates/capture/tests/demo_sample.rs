//! The committed demo capture, `samples/demo.pcapng`, is exactly what the
//! `demo_capture` example writes: regenerate it and compare the bytes.
//! If this fails after a change to the generator, regenerate the sample:
//! `cargo run -p wirewatch-capture --example demo_capture -- samples/demo.pcapng`.

use std::path::PathBuf;

use wirewatch_capture::open;

#[allow(dead_code)]
#[path = "../examples/demo_capture.rs"]
mod demo_capture;

fn committed() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples/demo.pcapng")
}

#[test]
fn sample_is_what_the_generator_writes() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("demo.pcapng");
    let summary = demo_capture::write_demo_file(&fresh).unwrap();
    let made = std::fs::read(&fresh).unwrap();
    assert_eq!(made.len() as u64, summary.file_bytes);

    let path = committed();
    let kept = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the demo capture is part of the repository)",
            path.display()
        )
    });
    assert!(
        kept.len() < 2_000_000,
        "the sample should stay under 2 MB, it is {} bytes",
        kept.len()
    );
    if made != kept {
        let at = made.iter().zip(&kept).position(|(a, b)| a != b);
        panic!(
            "samples/demo.pcapng differs from what the generator writes ({} bytes against {}, first difference at byte {}); regenerate it with `cargo run -p wirewatch-capture --example demo_capture -- samples/demo.pcapng`",
            kept.len(),
            made.len(),
            at.map_or_else(|| "end".to_string(), |a| a.to_string())
        );
    }
}

#[test]
fn generator_is_deterministic_and_the_reader_takes_it() {
    let mut a = Vec::new();
    let mut b = Vec::new();
    let sa = demo_capture::write_demo(&mut a).unwrap();
    demo_capture::write_demo(&mut b).unwrap();
    assert!(a == b, "two runs of the generator differ");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.pcapng");
    std::fs::write(&path, &a).unwrap();
    let mut r = open(&path).unwrap();
    let (mut packets, mut wire, mut last) = (0u64, 0u64, None);
    while let Some(f) = r.next_frame().unwrap() {
        packets += 1;
        wire += u64::from(f.wire_len);
        assert_eq!(f.link_type, 1);
        assert!(f.data.len() <= demo_capture::SNAPLEN as usize);
        if let Some(prev) = last {
            assert!(f.ts >= prev, "timestamps go back at packet {packets}");
        }
        last = Some(f.ts);
    }
    assert_eq!((packets, wire), (sa.packets, sa.wire_bytes));
    let span = last.unwrap().as_secs_f64() - demo_capture::START_SECS as f64;
    assert!(
        span > 0.9 * demo_capture::DURATION_SECS as f64
            && span < demo_capture::DURATION_SECS as f64
    );
}
