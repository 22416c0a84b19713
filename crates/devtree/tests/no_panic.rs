//! Property tests: `parse` and `header_total_size` never panic, whatever the
//! bytes, and whatever they accept satisfies the documented invariants.
//! `DEVTREE_FUZZ_CASES` sets the cases per property (default 256).

mod common;

use common::{field, rich, set_word, small, Writer};
use devtree::{header_total_size, parse, DeviceTree, ReserveSource};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

fn cases() -> u32 {
    std::env::var("DEVTREE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() }
}

/// Valid blobs to mutate: synthetic and real (QEMU input, skiboot output).
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/");
        let read = |n: &str| std::fs::read(format!("{dir}{n}")).unwrap();
        vec![rich(), small().finish(), read("qemu-p9-c2t4.dtb"), read("skiboot-p9-smp4.dtb")]
    })
}

/// Checks the invariants `parse` promises for an accepted blob.
fn invariants(dt: &DeviceTree, blob_addr: u64) -> Result<(), TestCaseError> {
    prop_assert!(!dt.memory.is_empty());
    prop_assert!(!dt.threads.is_empty());
    for r in dt.memory.iter().chain(dt.reserved.iter().map(|r| &r.region)) {
        prop_assert!(r.size != 0 && r.base.checked_add(r.size).is_some(), "{r:?}");
    }
    prop_assert!(dt.memory.as_slice().windows(2).all(|w| w[0].base <= w[1].base));
    let last = dt.reserved.as_slice().last().unwrap();
    prop_assert_eq!((last.source, last.region.base), (ReserveSource::Blob, blob_addr));
    for (i, t) in dt.threads.iter().enumerate() {
        prop_assert_eq!(dt.find_pir(t.pir), Some(i));
    }
    Ok(())
}

/// Parses `blob` under `catch_unwind`; fails the case on a panic or a broken
/// invariant.
fn check(blob: &[u8], blob_addr: u64) -> Result<(), TestCaseError> {
    let outcome = catch_unwind(AssertUnwindSafe(|| (header_total_size(blob), parse(blob, blob_addr))));
    let (size, parsed) = match outcome {
        Ok(r) => r,
        Err(_) => return Err(TestCaseError::fail(format!("panicked on {} bytes", blob.len()))),
    };
    if let Ok(dt) = parsed {
        prop_assert_eq!(size.ok(), Some(dt.reserved.as_slice().last().unwrap().region.size as usize));
        invariants(&dt, blob_addr)?;
    }
    Ok(())
}

/// u32 values likely to hit edges: tokens, small offsets, huge values.
fn interesting_u32() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..16, 0u32..0x1_0000, Just(u32::MAX), Just(0x8000_0000), Just(0xd00d_feed), any::<u32>()]
}

/// A random node for tree generation.
#[derive(Debug, Clone)]
struct Node {
    name: String,
    props: Vec<(&'static str, Vec<u8>)>,
    kids: Vec<Node>,
}

fn node_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("cpus".to_string()),
        Just("memory@0".to_string()),
        Just("memory".to_string()),
        Just("chosen".to_string()),
        Just("ibm,opal".to_string()),
        Just("reserved-memory".to_string()),
        Just("PowerPC,POWER9@0".to_string()),
        "[a-z@,#]{0,10}",
    ]
}

fn prop_value() -> impl Strategy<Value = Vec<u8>> {
    let words = |ws: Vec<u32>| ws.iter().flat_map(|w| w.to_be_bytes()).collect::<Vec<u8>>();
    prop_oneof![
        vec(any::<u8>(), 0..24),
        Just(b"cpu\0".to_vec()),
        Just(b"memory\0".to_vec()),
        Just(b"okay\0".to_vec()),
        Just(b"disabled\0".to_vec()),
        (0u32..5).prop_map(move |n| n.to_be_bytes().to_vec()),
        vec(interesting_u32(), 0..8).prop_map(words),
    ]
}

fn props() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let name = prop::sample::select(vec![
        "reg",
        "device_type",
        "status",
        "#address-cells",
        "#size-cells",
        "ibm,ppc-interrupt-server#s",
        "ibm,chip-id",
        "timebase-frequency",
        "bootargs",
        "stdout-path",
        "linux,stdout-path",
        "opal-base-address",
        "opal-entry-address",
        "model",
        "compatible",
    ]);
    vec((name, prop_value()), 0..6)
}

fn tree() -> impl Strategy<Value = Node> {
    let leaf = (node_name(), props()).prop_map(|(name, props)| Node { name, props, kids: vec![] });
    let nodes = leaf.prop_recursive(4, 48, 6, |inner| {
        (node_name(), props(), vec(inner, 0..6)).prop_map(|(name, props, kids)| Node { name, props, kids })
    });
    (props(), vec(nodes, 0..8)).prop_map(|(props, kids)| Node { name: String::new(), props, kids })
}

fn write(w: &mut Writer, n: &Node) {
    w.begin(&n.name);
    for (name, value) in &n.props {
        w.prop(name, value);
    }
    for k in &n.kids {
        write(w, k);
    }
    w.end();
}

/// A deterministic source of choices drawn from a proptest-generated
/// vector, so the skeleton below shrinks like any other input.
struct Dice<'a> {
    vals: &'a [u32],
    at: usize,
}

impl Dice<'_> {
    /// The next value; past the end of the vector, a hash of the position
    /// (so short vectors do not bias every choice towards 0).
    fn next(&mut self) -> u32 {
        let mixed = (self.at as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let v = self.vals.get(self.at).copied().unwrap_or((mixed >> 32) as u32);
        self.at += 1;
        v
    }
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
    /// True with probability `percent`%.
    fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent
    }
    /// Mostly small numbers, sometimes page-aligned or arbitrary ones.
    fn word(&mut self) -> u32 {
        match self.below(10) {
            0..=5 => self.below(16),
            6..=8 => self.below(1 << 20) << 12,
            _ => self.next(),
        }
    }
    /// `cells` words (high words mostly small), or (1%) a few bytes of
    /// another length.
    fn cells(&mut self, cells: u32) -> Vec<u8> {
        if self.chance(1) {
            return vec![0xff; self.below(13) as usize];
        }
        let high = |d: &mut Self| if d.chance(90) { d.below(4) } else { d.word() };
        (0..cells).flat_map(|i| if i + 1 < cells { high(self) } else { self.word() }.to_be_bytes()).collect()
    }
    /// `n` (address, size) entries of the given cell counts.
    fn reg(&mut self, (ac, sc): (u32, u32)) -> Vec<u8> {
        let n = self.below(4);
        (0..n).flat_map(|_| [self.cells(ac), self.cells(sc)].concat()).collect()
    }
    /// A string value: usually valid, sometimes empty, unterminated or not UTF-8.
    fn string(&mut self) -> Vec<u8> {
        match self.below(40) {
            0 => vec![],
            1 => b"no-nul".to_vec(),
            2 => b"bad\xff\0".to_vec(),
            3 => b"a\0b\0".to_vec(),
            _ => b"console=hvc0\0".to_vec(),
        }
    }
}

/// Writes `#address-cells`/`#size-cells`: usually `want`, sometimes odd.
fn cells(d: &mut Dice, w: &mut Writer, want: (u32, u32)) {
    for (name, v) in [("#address-cells", want.0), ("#size-cells", want.1)] {
        match d.below(100) {
            0..=3 => w.prop_u32(name, d.below(5)),
            4..=5 => w.prop(name, &[0, 1]),
            6..=8 => w,
            _ => w.prop_u32(name, v),
        };
    }
}

/// A powernv-shaped tree whose every part is randomly present, absent or
/// (rarely) malformed; a fair share of them parse.
fn skeleton(vals: &[u32]) -> Vec<u8> {
    let d = &mut Dice { vals, at: 0 };
    let mut w = Writer::new();
    for _ in 0..d.below(3) {
        let (base, size) = (d.next(), d.word());
        w.reserve(u64::from(base) << d.below(33), u64::from(size));
    }
    w.begin("");
    cells(d, &mut w, (2, 2));
    if d.chance(50) {
        let v = d.string();
        w.prop("model", &v);
    }
    for i in 0..1 + d.below(3) {
        w.begin(["memory@0", "memory", "ram"][i as usize % 3]);
        if d.chance(80) {
            w.prop_str("device_type", "memory");
        }
        let reg = d.reg((2, 2));
        w.prop("reg", &reg).end();
    }
    if d.chance(50) {
        let (args, path) = (d.string(), d.string());
        w.begin("chosen").prop("bootargs", &args).prop("linux,stdout-path", &path).end();
    }
    if d.chance(50) {
        w.begin("ibm,opal");
        for name in ["opal-base-address", "opal-entry-address"] {
            if d.chance(95) {
                let v = d.cells(2);
                w.prop(name, &v);
            }
        }
        w.end();
    }
    if d.chance(95) {
        w.begin("cpus");
        cells(d, &mut w, (1, 0));
        for c in 0..d.below(5) {
            core_node(d, &mut w, c);
        }
        w.end();
    }
    if d.chance(50) {
        w.begin("reserved-memory");
        cells(d, &mut w, (2, 2));
        for _ in 0..d.below(3) {
            let reg = d.reg((2, 2));
            w.begin("r").prop("reg", &reg).end();
        }
        w.end();
    }
    w.end();
    w.finish()
}

/// One `/cpus` child with random type, status and thread properties.
fn core_node(d: &mut Dice, w: &mut Writer, index: u32) {
    w.begin(&format!("PowerPC,POWER9@{index}"));
    if d.chance(85) {
        w.prop_str("device_type", "cpu");
    }
    match d.below(6) {
        0 => w.prop_str("status", "disabled"),
        1 => w.prop_str("status", "okay"),
        2 => w.prop("status", b"ok"),
        _ => w,
    };
    if d.chance(80) {
        let n = if d.chance(3) { 0 } else { 1 + d.below(4) };
        let servers: Vec<u32> = (0..n).map(|t| if d.chance(3) { d.word() } else { index * 4 + t }).collect();
        w.prop_cells("ibm,ppc-interrupt-server#s", &servers);
    }
    for (name, cells) in [("ibm,chip-id", 1), ("timebase-frequency", 1 + d.below(2)), ("reg", 1)] {
        if d.chance(50) {
            let v = d.cells(cells);
            w.prop(name, &v);
        }
    }
    w.end();
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn byte_mutations(seed in 0..4usize, muts in vec((any::<Index>(), any::<u8>()), 1..16), addr in any::<u64>()) {
        let mut blob = seeds()[seed].clone();
        for (at, byte) in muts {
            let i = at.index(blob.len());
            blob[i] = byte;
        }
        check(&blob, addr)?;
    }

    #[test]
    fn word_mutations(seed in 0..4usize, muts in vec((any::<Index>(), interesting_u32()), 1..8)) {
        let mut blob = seeds()[seed].clone();
        for (at, word) in muts {
            let i = at.index(blob.len() / 4) * 4;
            blob[i..i + 4].copy_from_slice(&word.to_be_bytes());
        }
        check(&blob, 0x3000_0000)?;
    }

    #[test]
    fn truncations(seed in 0..4usize, cut in any::<Index>(), fix_totalsize in any::<bool>()) {
        let mut blob = seeds()[seed].clone();
        blob.truncate(cut.index(blob.len() + 1));
        if fix_totalsize && blob.len() >= 40 {
            let len = blob.len() as u32;
            set_word(&mut blob, field::TOTALSIZE, len);
        }
        check(&blob, 0)?;
    }

    #[test]
    fn header_fields(seed in 0..4usize, fields in vec((0usize..10, interesting_u32()), 1..4)) {
        let mut blob = seeds()[seed].clone();
        for (i, v) in fields {
            set_word(&mut blob, i, v);
        }
        check(&blob, 0)?;
    }

    #[test]
    fn garbage(mut bytes in vec(any::<u8>(), 0..600), plausible_header in any::<bool>()) {
        if plausible_header && bytes.len() >= 40 {
            let len = bytes.len() as u32;
            for (i, v) in [(0, 0xd00d_feed), (1, len), (2, 40), (3, len / 2), (4, 40), (5, 17), (6, 16)] {
                set_word(&mut bytes, i, v);
            }
            set_word(&mut bytes, field::SIZE_STRUCT, (len / 2).saturating_sub(40));
            set_word(&mut bytes, field::SIZE_STRINGS, len - len / 2);
        }
        check(&bytes, 0)?;
    }

    #[test]
    fn random_token_streams(words in vec(prop_oneof![1u32..10, interesting_u32()], 0..64), strings in "[a-z#,\\x00]{0,32}") {
        let mut w = Writer::new();
        for word in words {
            w.word(word);
        }
        let _ = w.string_offset(&strings);
        check(&w.finish(), 0)?;
    }

    #[test]
    fn random_trees(root in tree(), rsv in vec((any::<u64>(), any::<u64>()), 0..4), addr in any::<u64>()) {
        let mut w = Writer::new();
        for (base, size) in rsv {
            w.reserve(base, size);
        }
        write(&mut w, &root);
        check(&w.finish(), addr)?;
    }

    #[test]
    fn random_powernv_like_trees(vals in vec(any::<u32>(), 0..300), addr in any::<u64>()) {
        check(&skeleton(&vals), addr)?;
    }

    #[test]
    fn random_reg_and_cells(
        ac in 0u32..4,
        sc in 0u32..4,
        reg in vec(any::<u8>(), 0..64),
        servers in vec(any::<u8>(), 0..20),
    ) {
        let mut w = Writer::new();
        w.begin("").prop_u32("#address-cells", ac).prop_u32("#size-cells", sc);
        w.begin("memory@0").prop_str("device_type", "memory").prop("reg", &reg).end();
        w.begin("cpus").prop_u32("#address-cells", ac).prop_u32("#size-cells", sc);
        w.begin("cpu@0").prop_str("device_type", "cpu").prop("reg", &reg).end();
        w.begin("cpu@1").prop_str("device_type", "cpu").prop("ibm,ppc-interrupt-server#s", &servers).end();
        w.end();
        w.begin("reserved-memory").prop_u32("#address-cells", ac).prop_u32("#size-cells", sc);
        w.begin("r").prop("reg", &reg).end().end();
        w.end();
        check(&w.finish(), 0)?;
    }
}
