//! Test support: a minimal FDT writer (header, memory-reservation block,
//! structure block, strings block) and ready-made trees.
#![allow(dead_code)]

/// Token values of the structure block.
pub const BEGIN_NODE: u32 = 1;
pub const END_NODE: u32 = 2;
pub const PROP: u32 = 3;
pub const NOP: u32 = 4;
pub const END: u32 = 9;

/// Builds a blob token by token. `finish` lays out: header (40 bytes),
/// padding to 8, reservation block + terminator, structure block (+ FDT_END),
/// strings block.
#[derive(Default, Clone)]
pub struct Writer {
    rsv: Vec<(u64, u64)>,
    structs: Vec<u8>,
    strings: Vec<u8>,
    boot_cpu: u32,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a memory-reservation entry.
    pub fn reserve(&mut self, base: u64, size: u64) -> &mut Self {
        self.rsv.push((base, size));
        self
    }

    pub fn boot_cpu(&mut self, pir: u32) -> &mut Self {
        self.boot_cpu = pir;
        self
    }

    /// Appends a raw big-endian word to the structure block.
    pub fn word(&mut self, w: u32) -> &mut Self {
        self.structs.extend_from_slice(&w.to_be_bytes());
        self
    }

    fn pad(&mut self) {
        while !self.structs.len().is_multiple_of(4) {
            self.structs.push(0);
        }
    }

    pub fn begin(&mut self, name: &str) -> &mut Self {
        self.word(BEGIN_NODE);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        self.pad();
        self
    }

    pub fn end(&mut self) -> &mut Self {
        self.word(END_NODE)
    }

    /// Offset of `name` in the strings block (added if new).
    pub fn string_offset(&mut self, name: &str) -> u32 {
        let mut needle = name.as_bytes().to_vec();
        needle.push(0);
        let mut off = 0;
        for s in self.strings.split_inclusive(|&b| b == 0) {
            if s == needle.as_slice() {
                return off as u32;
            }
            off += s.len();
        }
        let off = self.strings.len();
        self.strings.extend_from_slice(&needle);
        off as u32
    }

    /// A property with a raw value.
    pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let off = self.string_offset(name);
        self.prop_raw(value.len() as u32, off, value)
    }

    /// A property with an explicit length field and name offset.
    pub fn prop_raw(&mut self, len: u32, name_off: u32, value: &[u8]) -> &mut Self {
        self.word(PROP).word(len).word(name_off);
        self.structs.extend_from_slice(value);
        self.pad();
        self
    }

    pub fn prop_cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let v: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &v)
    }

    pub fn prop_u32(&mut self, name: &str, v: u32) -> &mut Self {
        self.prop_cells(name, &[v])
    }

    pub fn prop_u64(&mut self, name: &str, v: u64) -> &mut Self {
        self.prop(name, &v.to_be_bytes())
    }

    pub fn prop_str(&mut self, name: &str, s: &str) -> &mut Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.prop(name, &v)
    }

    /// `reg` made of (address, size) pairs with the given cell counts.
    pub fn prop_reg(&mut self, ac: usize, sc: usize, entries: &[(u64, u64)]) -> &mut Self {
        let mut v = Vec::new();
        for &(a, s) in entries {
            push_cells(&mut v, a, ac);
            push_cells(&mut v, s, sc);
        }
        self.prop("reg", &v)
    }

    /// The finished blob.
    pub fn finish(&self) -> Vec<u8> {
        let mut structs = self.structs.clone();
        structs.extend_from_slice(&END.to_be_bytes());
        let off_rsv = 40u32.next_multiple_of(8);
        let rsv_len = (self.rsv.len() as u32 + 1) * 16;
        let off_struct = off_rsv + rsv_len;
        let off_strings = off_struct + structs.len() as u32;
        let total = off_strings + self.strings.len() as u32;
        let header = [
            0xd00d_feed,
            total,
            off_struct,
            off_strings,
            off_rsv,
            17,
            16,
            self.boot_cpu,
            self.strings.len() as u32,
            structs.len() as u32,
        ];
        let mut out: Vec<u8> = header.iter().flat_map(|w| w.to_be_bytes()).collect();
        out.resize(off_rsv as usize, 0);
        for &(a, s) in self.rsv.iter().chain([(0, 0)].iter()) {
            out.extend_from_slice(&a.to_be_bytes());
            out.extend_from_slice(&s.to_be_bytes());
        }
        out.extend_from_slice(&structs);
        out.extend_from_slice(&self.strings);
        assert_eq!(out.len(), total as usize);
        out
    }
}

fn push_cells(v: &mut Vec<u8>, x: u64, cells: usize) {
    match cells {
        0 => {}
        1 => v.extend_from_slice(&(x as u32).to_be_bytes()),
        2 => v.extend_from_slice(&x.to_be_bytes()),
        _ => panic!("test writer: {cells} cells"),
    }
}

/// Header field indexes (word numbers) for tests that corrupt a header.
pub mod field {
    pub const MAGIC: usize = 0;
    pub const TOTALSIZE: usize = 1;
    pub const OFF_STRUCT: usize = 2;
    pub const OFF_STRINGS: usize = 3;
    pub const OFF_RSV: usize = 4;
    pub const VERSION: usize = 5;
    pub const LAST_COMP: usize = 6;
    pub const SIZE_STRINGS: usize = 8;
    pub const SIZE_STRUCT: usize = 9;
}

/// Reads header word `i`.
pub fn get_word(blob: &[u8], i: usize) -> u32 {
    u32::from_be_bytes(blob[i * 4..i * 4 + 4].try_into().unwrap())
}

/// Overwrites header word `i`.
pub fn set_word(blob: &mut [u8], i: usize, v: u32) {
    blob[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
}

/// A cpu core node under /cpus with the given PIRs.
pub fn core(w: &mut Writer, name: &str, pirs: &[u32], chip: Option<u32>) {
    w.begin(name).prop_str("device_type", "cpu").prop_u32("reg", pirs[0]);
    w.prop_cells("ibm,ppc-interrupt-server#s", pirs);
    if let Some(c) = chip {
        w.prop_u32("ibm,chip-id", c);
    }
    w.prop_u32("timebase-frequency", 512_000_000).end();
}

/// Root with 2/2 cells and a model; the caller adds children and calls
/// `end()` once more before `finish()`.
pub fn root_open() -> Writer {
    let mut w = Writer::new();
    w.begin("").prop_u32("#address-cells", 2).prop_u32("#size-cells", 2);
    w.prop_str("compatible", "test,board\0ibm,powernv");
    w
}

/// A small valid tree: 1 GiB at 0, one core with 4 threads (PIR 0..3, chip 0).
pub fn small() -> Writer {
    let mut w = root_open();
    w.begin("memory@0").prop_str("device_type", "memory").prop_reg(2, 2, &[(0, 1 << 30)]).end();
    cpus_open(&mut w);
    core(&mut w, "PowerPC,POWER9@0", &[0, 1, 2, 3], Some(0));
    w.end().end();
    w
}

/// Opens /cpus with #address-cells 1, #size-cells 0.
pub fn cpus_open(w: &mut Writer) {
    w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
}

/// A richer synthetic skiboot-like tree, used as a mutation seed.
pub fn rich() -> Vec<u8> {
    let mut w = root_open();
    w.reserve(0x3000_0000, 0x300_0000).reserve(0x4000_0000, 0x10_0000);
    w.prop_str("model", "Synthetic PowerNV");
    w.begin("chosen").prop_str("bootargs", "walk.strategy=rcu log=debug");
    w.prop_str("linux,stdout-path", "/ibm,opal/consoles/serial@0").end();
    w.begin("ibm,opal").prop_cells("opal-base-address", &[0, 0x3000_0000]);
    w.prop_cells("opal-entry-address", &[0, 0x3000_3770]).end();
    w.begin("memory@0").prop_str("device_type", "memory");
    w.prop_reg(2, 2, &[(0, 0x4000_0000), (0x8000_0000, 0x4000_0000)]).end();
    w.begin("memory@100000000").prop_str("device_type", "memory");
    w.prop_reg(2, 2, &[(0x1_0000_0000, 0x1000_0000)]).end();
    cpus_open(&mut w);
    core(&mut w, "PowerPC,POWER9@0", &[0, 1, 2, 3], Some(0));
    core(&mut w, "PowerPC,POWER9@100", &[0x100, 0x101, 0x102, 0x103], Some(1));
    w.begin("ibm,powerpc-cpu-features").prop_str("device_type", "cpu-features").end();
    w.end();
    w.begin("reserved-memory").prop_u32("#address-cells", 2).prop_u32("#size-cells", 2);
    w.begin("ibm,firmware-code@30000000").prop_reg(2, 2, &[(0x3000_0000, 0x60_0000)]).end();
    w.begin("ibm,homer-image@203ffd800000").prop_reg(2, 2, &[(0x203f_fd80_0000, 0x40_0000)]).end();
    w.end();
    w.end();
    w.finish()
}
