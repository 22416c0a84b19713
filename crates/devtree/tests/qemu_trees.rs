//! Real device trees from QEMU 10.0 powernv (the tree QEMU hands skiboot) and
//! from skiboot (the tree skiboot hands the kernel). See testdata/README.md.

use devtree::{parse, DeviceTree, Region, ReserveSource, Reserved, Thread};

const QEMU_MODEL: &str = "IBM PowerNV (emulated by qemu)";
const TIMEBASE: u64 = 512_000_000;
const GIB: u64 = 1 << 30;

fn blob(name: &str) -> Vec<u8> {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn regions(list: &[(u64, u64)]) -> Vec<Region> {
    list.iter().map(|&(base, size)| Region { base, size }).collect()
}

/// PIRs sorted, for comparison independent of tree order.
fn pirs(dt: &DeviceTree) -> Vec<u32> {
    let mut v: Vec<u32> = dt.threads.iter().map(|t| t.pir).collect();
    v.sort_unstable();
    v
}

/// Checks the POWER9/POWER10 (QEMU small-core) layout PIR = chip<<8 | core<<2
/// | thread: chip id from the PIR, thread index from the low bits, and all
/// threads of one core_index share chip and core bits.
fn check_pir_layout(dt: &DeviceTree) {
    for t in dt.threads.iter() {
        assert_eq!(t.chip_id, Some(t.pir >> 8), "{t:?}");
        assert_eq!(u32::from(t.thread_index), t.pir & 3, "{t:?}");
        let first = dt.threads.iter().find(|o| o.core_index == t.core_index).unwrap();
        assert_eq!(first.pir >> 2, t.pir >> 2, "{t:?} vs {first:?}");
    }
}

fn check_common(dt: &DeviceTree, blob_addr: u64, blob_len: usize) {
    assert_eq!(dt.model, Some(QEMU_MODEL));
    assert_eq!(dt.timebase_hz, Some(TIMEBASE));
    assert_eq!(dt.bootargs, "");
    let last = *dt.reserved.as_slice().last().unwrap();
    let blob =
        Reserved { region: Region { base: blob_addr, size: blob_len as u64 }, source: ReserveSource::Blob };
    assert_eq!(last, blob);
    check_pir_layout(dt);
}

/// Parses a QEMU input tree: no OPAL, no stdout, no reservations but the blob.
fn qemu_tree(name: &str) -> DeviceTree<'static> {
    let data: &'static [u8] = blob(name).leak();
    let dt = parse(data, 0x1000).unwrap_or_else(|e| panic!("{name}: {e}"));
    check_common(&dt, 0x1000, data.len());
    assert_eq!(dt.opal, None);
    assert_eq!(dt.stdout_path, None);
    assert_eq!(dt.reserved.len(), 1);
    dt
}

/// Parses a skiboot output tree and checks what skiboot always adds.
fn skiboot_tree(name: &str, addr: u64) -> DeviceTree<'static> {
    let data: &'static [u8] = blob(name).leak();
    let dt = parse(data, addr).unwrap_or_else(|e| panic!("{name}: {e}"));
    check_common(&dt, addr, data.len());
    let opal = dt.opal.unwrap();
    assert_eq!((opal.base, opal.entry), (0x3000_0000, 0x3000_3770));
    assert_eq!(dt.stdout_path, Some("/ibm,opal/consoles/serial@0"));
    let of = |src| {
        let mut v: Vec<Region> = dt.reserved.iter().filter(|r| r.source == src).map(|r| r.region).collect();
        v.sort_unstable_by_key(|r| r.base);
        v
    };
    // skiboot lists each region both ways.
    assert_eq!(of(ReserveSource::MemReserveBlock), of(ReserveSource::ReservedMemoryNode));
    assert!(of(ReserveSource::MemReserveBlock).iter().any(|r| r.base == 0x3000_0000));
    dt
}

#[test]
fn qemu_p9_smp4_one_thread_per_core() {
    let dt = qemu_tree("qemu-p9-smp4.dtb");
    assert_eq!(dt.memory.as_slice(), regions(&[(0, 2 * GIB)]));
    assert_eq!(pirs(&dt), [0, 4, 8, 12]);
    assert!(dt.threads.iter().all(|t| t.thread_index == 0 && t.chip_id == Some(0)));
    // QEMU writes the cores highest PIR first.
    assert_eq!(dt.threads.get(0).map(|t| t.pir), Some(12));
    assert_eq!(dt.total_memory(), 2 * GIB);
}

#[test]
fn qemu_p9_two_cores_four_threads() {
    let dt = qemu_tree("qemu-p9-c2t4.dtb");
    assert_eq!(dt.memory.as_slice(), regions(&[(0, 2 * GIB)]));
    assert_eq!(pirs(&dt), (0..8).collect::<Vec<_>>());
    let t = dt.threads.get(dt.find_pir(6).unwrap()).copied();
    let core = dt.threads.get(dt.find_pir(4).unwrap()).unwrap().core_index;
    assert_eq!(t, Some(Thread { pir: 6, core_index: core, thread_index: 2, chip_id: Some(0) }));
}

#[test]
fn qemu_p9_two_chips() {
    let dt = qemu_tree("qemu-p9-2chip.dtb");
    assert_eq!(dt.memory.as_slice(), regions(&[(0, GIB), (GIB, GIB)]));
    assert_eq!(pirs(&dt), [0, 1, 2, 3, 0x100, 0x101, 0x102, 0x103]);
    assert_eq!(dt.threads.iter().filter(|t| t.chip_id == Some(1)).count(), 4);
}

#[test]
fn qemu_p10_two_cores_four_threads() {
    let dt = qemu_tree("qemu-p10-c2t4.dtb");
    assert_eq!(dt.memory.as_slice(), regions(&[(0, 2 * GIB)]));
    assert_eq!(pirs(&dt), (0..8).collect::<Vec<_>>());
}

#[test]
fn qemu_p10_two_chips_two_threads() {
    let dt = qemu_tree("qemu-p10-2chip.dtb");
    assert_eq!(dt.memory.as_slice(), regions(&[(0, GIB), (GIB, GIB)]));
    assert_eq!(pirs(&dt), [0, 1, 4, 5, 0x100, 0x101, 0x104, 0x105]);
    let cores: std::collections::BTreeSet<u16> = dt.threads.iter().map(|t| t.core_index).collect();
    assert_eq!(cores.len(), 4);
}

#[test]
fn skiboot_p9_smp4() {
    let dt = skiboot_tree("skiboot-p9-smp4.dtb", 0x3077_7130);
    assert_eq!(dt.memory.as_slice(), regions(&[(0, 2 * GIB)]));
    assert_eq!(pirs(&dt), [0, 4, 8, 12]);
    // skiboot booted on PIR 12 in this run.
    assert_eq!(dt.boot_cpuid_phys, 12);
    assert_eq!(dt.reserved.len(), 7 + 7 + 1);
    let first = dt.reserved.get(0).copied().unwrap();
    let code = Region { base: 0x3000_0000, size: 0x60_0000 };
    assert_eq!(first, Reserved { region: code, source: ReserveSource::MemReserveBlock });
}

#[test]
fn skiboot_p9_two_chips() {
    let dt = skiboot_tree("skiboot-p9-2chip.dtb", 0x3079_4360);
    assert_eq!(dt.memory.as_slice(), regions(&[(0, GIB), (GIB, GIB)]));
    assert_eq!(pirs(&dt), [0, 1, 2, 3, 0x100, 0x101, 0x102, 0x103]);
    assert_eq!(dt.reserved.len(), 9 + 9 + 1);
    let homer = Region { base: 0x203f_fd80_0000, size: 0x40_0000 };
    assert!(dt.reserved.iter().any(|r| r.region == homer && r.source == ReserveSource::ReservedMemoryNode));
}

#[test]
fn skiboot_p10_two_chips() {
    let dt = skiboot_tree("skiboot-p10-2chip.dtb", 0x307b_fcf8);
    assert_eq!(dt.memory.as_slice(), regions(&[(0, GIB), (GIB, GIB)]));
    assert_eq!(pirs(&dt), [0, 1, 4, 5, 0x100, 0x101, 0x104, 0x105]);
    assert_eq!(dt.reserved.len(), 9 + 9 + 1);
}

#[test]
fn header_total_size_of_real_trees() {
    for name in ["qemu-p9-smp4.dtb", "skiboot-p9-2chip.dtb", "skiboot-p10-2chip.dtb"] {
        let data = blob(name);
        assert_eq!(devtree::header_total_size(&data[..40]), Ok(data.len()), "{name}");
    }
}

#[test]
fn trailing_bytes_past_totalsize_are_ignored() {
    let mut data = blob("skiboot-p9-smp4.dtb");
    let len = data.len();
    data.extend_from_slice(&[0xff; 100]);
    let dt = parse(&data, 0).unwrap();
    assert_eq!(dt.reserved.as_slice().last().unwrap().region.size, len as u64);
}

/// The example in the crate docs (doctests are off; see Cargo.toml).
#[test]
fn doc_example() {
    // The tree skiboot handed a `-smp 4` powernv9 guest, at this address.
    let blob: &[u8] = include_bytes!("../testdata/skiboot-p9-smp4.dtb");
    let len = devtree::header_total_size(&blob[..40]).unwrap();
    let dt = devtree::parse(&blob[..len], 0x3077_7130).unwrap();
    assert_eq!(dt.total_memory(), 2 << 30);
    assert_eq!(dt.threads.iter().map(|t| t.pir).max(), Some(12));
    assert_eq!(dt.opal.map(|o| o.entry), Some(0x3000_3770));
}
