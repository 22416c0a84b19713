//! Test helpers: a fake big-endian physical memory and a tree builder that
//! uses the crate's encoders the way the kernel will.
#![allow(dead_code)]

use radix::{Geometry, Level, PageSize, Pde, Pte, PteFlags};
use std::collections::HashMap;

/// Sparse physical memory of doublewords, stored as the bytes would be in RAM
/// (big-endian), so `read` hands the walker exactly what hardware would load.
pub struct Mem {
    words: HashMap<u64, u64>,
    next: u64,
}

impl Mem {
    pub fn new(first_free: u64) -> Mem {
        Mem { words: HashMap::new(), next: first_free }
    }

    /// Bump-allocate `bytes` aligned to `bytes` (tables are size-aligned).
    pub fn alloc(&mut self, bytes: u64) -> u64 {
        let pa = (self.next + bytes - 1) & !(bytes - 1);
        self.next = pa + bytes;
        pa
    }

    /// Store a doubleword given its in-memory (big-endian) form.
    pub fn store_mem(&mut self, pa: u64, mem: u64) {
        assert_eq!(pa % 8, 0);
        self.words.insert(pa, mem);
    }

    /// The in-memory (big-endian) doubleword at `pa`; unwritten memory is 0.
    pub fn load_mem(&self, pa: u64) -> u64 {
        *self.words.get(&pa).unwrap_or(&0)
    }
}

/// A radix tree under construction in a [`Mem`].
pub struct Tree {
    pub geom: Geometry,
    pub root: u64,
    pub mem: Mem,
}

impl Tree {
    pub fn new(geom: Geometry) -> Tree {
        let mut mem = Mem::new(0x10_0000);
        let root = mem.alloc(geom.table_bytes(Level::Pgd));
        Tree { geom, root, mem }
    }

    /// Real address of the entry for `va` at `level`, creating missing
    /// directory tables on the way.
    pub fn entry_pa(&mut self, va: u64, level: Level) -> u64 {
        let mut table = self.root;
        let mut l = Level::Pgd;
        loop {
            let pa = table + 8 * self.geom.index(l, va) as u64;
            if l == level {
                return pa;
            }
            let next = l.next().expect("level below Pte");
            let pde = Pde::from_mem(self.mem.load_mem(pa));
            table = if pde.is_valid() && !pde.is_leaf() {
                pde.next_table_pa()
            } else {
                let bytes = self.geom.table_bytes(next);
                let t = self.mem.alloc(bytes);
                let pde = Pde::table(t, self.geom.index_bits(next)).unwrap();
                self.mem.store_mem(pa, pde.to_mem());
                t
            };
            l = next;
        }
    }

    /// Map the leaf-sized, aligned `va` to `pa` with a leaf at `level`.
    pub fn map(&mut self, va: u64, pa: u64, level: Level, flags: PteFlags) -> u64 {
        let size = self.geom.leaf_page_size(level).unwrap();
        let pte = Pte::leaf(pa, size, flags).unwrap();
        let at = self.entry_pa(va, level);
        self.mem.store_mem(at, pte.to_mem());
        at
    }

    pub fn set(&mut self, entry_pa: u64, logical: u64) {
        self.mem.store_mem(entry_pa, logical.to_be());
    }

    pub fn get(&self, entry_pa: u64) -> u64 {
        u64::from_be(self.mem.load_mem(entry_pa))
    }

    pub fn translate(&self, va: u64) -> Result<radix::Translation, radix::WalkFault> {
        radix::translate(&self.geom, self.root, va, |pa| self.mem.load_mem(pa))
    }
}

pub fn size_at(geom: &Geometry, level: Level) -> PageSize {
    geom.leaf_page_size(level).unwrap()
}
