//! Page-table pages as the model keeps them: their entries, links, and
//! the index of valid leaves by real address.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;
use radix::{EntryView, Geometry, Level, PageSize};

/// Tables of up to this many entries keep them in an array (every table of
/// the 64K geometry but the 8192-entry root: 32 or 512 entries); larger
/// ones keep their non-zero entries in a map.
pub(crate) const DENSE_MAX: u64 = 512;

/// A table's entries (logical values).
#[derive(Clone, Debug)]
pub(crate) enum Entries {
    Dense(Vec<u64>),
    Sparse(BTreeMap<u32, u64>),
}

impl Entries {
    #[inline]
    pub(crate) fn new(n: u64) -> Entries {
        if n <= DENSE_MAX {
            Entries::Dense(vec![0; n as usize])
        } else {
            Entries::Sparse(BTreeMap::new())
        }
    }

    #[inline]
    pub(crate) fn get(&self, i: u32) -> u64 {
        match self {
            Entries::Dense(v) => v[i as usize],
            Entries::Sparse(m) => m.get(&i).copied().unwrap_or(0),
        }
    }

    #[inline]
    pub(crate) fn set(&mut self, i: u32, x: u64) {
        match self {
            Entries::Dense(v) => v[i as usize] = x,
            Entries::Sparse(m) if x == 0 => {
                m.remove(&i);
            }
            Entries::Sparse(m) => {
                m.insert(i, x);
            }
        }
    }

    /// The non-zero entries, by index.
    #[inline]
    pub(crate) fn iter(&self) -> EntriesIter<'_> {
        match self {
            Entries::Dense(v) => EntriesIter::Dense(v.iter().enumerate()),
            Entries::Sparse(m) => EntriesIter::Sparse(m.iter()),
        }
    }
}

pub(crate) enum EntriesIter<'a> {
    Dense(core::iter::Enumerate<core::slice::Iter<'a, u64>>),
    Sparse(alloc::collections::btree_map::Iter<'a, u32, u64>),
}

impl Iterator for EntriesIter<'_> {
    type Item = (u32, u64);

    #[inline]
    fn next(&mut self) -> Option<(u32, u64)> {
        match self {
            EntriesIter::Dense(it) => it.find(|&(_, &v)| v != 0).map(|(i, &v)| (i as u32, v)),
            EntriesIter::Sparse(it) => it.next().map(|(&i, &v)| (i, v)),
        }
    }
}

/// A page-table page the kernel told the model about.
#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub(crate) pa: u64,
    pub(crate) bytes: u64,
    /// Fixed when the table is first linked or made a root; kept until it
    /// is freed (the kernel never moves a table to another level).
    pub(crate) level: Option<Level>,
    /// The (table, index) whose valid directory entry points here.
    pub(crate) parent: Option<(u64, u32)>,
    /// While linked: the parent's slot in [`Tables`], and the offset of
    /// this table's first EA in its parent's.
    pub(crate) parent_id: u32,
    pub(crate) parent_off: u64,
    /// The (lpid, pid) whose process-table entry points here.
    pub(crate) root_of: Option<(u32, u32)>,
    /// Entries (logical values).
    pub(crate) entries: Entries,
    /// Stale page-walk-cache records (entry, CPU group) pointing here: when
    /// 0, no CPU walks this table through its walk cache, and finding who
    /// can walk it needs no search.
    pub(crate) pwc_refs: u32,
    /// Its leaves in the [`LeafIndex`] (valid leaves, once it has a level).
    pub(crate) leaves: TableLeaves,
}

impl Table {
    pub(crate) fn new(pa: u64, bytes: u64) -> Table {
        Table {
            pa,
            bytes,
            level: None,
            parent: None,
            parent_id: 0,
            parent_off: 0,
            root_of: None,
            entries: Entries::new(bytes / 8),
            pwc_refs: 0,
            leaves: TableLeaves::default(),
        }
    }
}

/// The live tables: a slab (a table keeps its slot while it lives; a link
/// names its parent's slot) indexed by address, remembering the last
/// address looked up (stores come in runs to one table).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tables {
    slots: Vec<Option<Table>>,
    free: Vec<u32>,
    by_pa: BTreeMap<u64, u32>,
    last: core::cell::Cell<Option<(u64, u32)>>,
}

impl Tables {
    #[inline]
    pub(crate) fn id(&self, pa: u64) -> Option<u32> {
        if let Some((p, id)) = self.last.get() {
            if p == pa {
                return Some(id);
            }
        }
        let id = *self.by_pa.get(&pa)?;
        self.last.set(Some((pa, id)));
        Some(id)
    }

    #[inline]
    pub(crate) fn at(&self, id: u32) -> &Table {
        self.slots[id as usize].as_ref().expect("a live slot")
    }

    #[inline]
    pub(crate) fn at_mut(&mut self, id: u32) -> &mut Table {
        self.slots[id as usize].as_mut().expect("a live slot")
    }

    #[inline]
    pub(crate) fn get(&self, pa: u64) -> Option<&Table> {
        self.id(pa).map(|id| self.at(id))
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, pa: u64) -> Option<&mut Table> {
        let id = self.id(pa)?;
        Some(self.at_mut(id))
    }

    #[inline]
    pub(crate) fn contains(&self, pa: u64) -> bool {
        self.id(pa).is_some()
    }

    pub(crate) fn insert(&mut self, t: Table) {
        let pa = t.pa;
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(t);
                id
            }
            None => {
                self.slots.push(Some(t));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_pa.insert(pa, id);
    }

    pub(crate) fn remove(&mut self, pa: u64) -> Option<Table> {
        let id = self.by_pa.remove(&pa)?;
        if self.last.get().is_some_and(|(p, _)| p == pa) {
            self.last.set(None);
        }
        self.free.push(id);
        self.slots[id as usize].take()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_pa.len()
    }

    /// The live table with the highest address below `end`.
    pub(crate) fn last_below(&self, end: u64) -> Option<&Table> {
        self.by_pa.range(..end).next_back().map(|(_, &id)| self.at(id))
    }
}

/// Leaves are found by real address through buckets of 512 pages of their
/// size (32 MB of 64K pages, 1 GB of 2M pages): the index says which
/// tables have leaves in which bucket, and each table counts its leaves per
/// bucket (usually one: a split huge page) and keeps a bounding range of
/// their addresses (widened on a store, tightened when a free check scans
/// the table). A leaf store costs no index search unless it opens a bucket
/// for its table; a free check scans the tables of its buckets whose range
/// it overlaps.
pub(crate) const LEAF_BUCKET_SHIFT: u32 = 9;

#[inline]
pub(crate) fn leaf_bucket(size: PageSize, pa: u64) -> u64 {
    pa >> (size.shift() + LEAF_BUCKET_SHIFT)
}

/// A table's part of the [`LeafIndex`] (its leaves have the size of its
/// level).
#[derive(Clone, Debug)]
pub(crate) struct TableLeaves {
    pub(crate) count: u32,
    /// (bucket, leaves in it), sorted by bucket.
    pub(crate) buckets: Vec<(u64, u32)>,
    /// Every leaf's page is inside `[lo, hi)`.
    pub(crate) lo: u64,
    pub(crate) hi: u64,
}

impl Default for TableLeaves {
    fn default() -> TableLeaves {
        TableLeaves { count: 0, buckets: Vec::new(), lo: u64::MAX, hi: 0 }
    }
}

/// Valid leaves of leveled tables, by real address (see [`leaf_bucket`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct LeafIndex {
    /// (size, bucket, table) for each table with leaves in the bucket.
    pub(crate) buckets: BTreeSet<(PageSize, u64, u64)>,
    pub(crate) count: usize,
    /// Leaves per size (by [`size_index`]).
    pub(crate) by_size: [usize; 4],
}

#[inline]
pub(crate) fn size_index(size: PageSize) -> usize {
    match size {
        PageSize::Size4K => 0,
        PageSize::Size64K => 1,
        PageSize::Size2M => 2,
        PageSize::Size1G => 3,
    }
}

impl LeafIndex {
    #[inline]
    pub(crate) fn add(&mut self, t: &mut Table, size: PageSize, pa: u64) {
        self.add_to(&mut t.leaves, t.pa, size, pa);
    }

    /// `add` for the table at `t_pa` whose index part is `l`.
    #[inline]
    pub(crate) fn add_to(&mut self, l: &mut TableLeaves, t_pa: u64, size: PageSize, pa: u64) {
        let b = leaf_bucket(size, pa);
        match l.buckets.binary_search_by_key(&b, |x| x.0) {
            Ok(i) => l.buckets[i].1 += 1,
            Err(i) => {
                l.buckets.insert(i, (b, 1));
                self.buckets.insert((size, b, t_pa));
            }
        }
        l.count += 1;
        l.lo = l.lo.min(pa);
        l.hi = l.hi.max(pa.saturating_add(size.bytes()));
        self.count += 1;
        self.by_size[size_index(size)] += 1;
    }

    #[inline]
    pub(crate) fn remove(&mut self, t: &mut Table, size: PageSize, pa: u64) {
        let b = leaf_bucket(size, pa);
        let l = &mut t.leaves;
        let i = l.buckets.binary_search_by_key(&b, |x| x.0).expect("an indexed leaf");
        l.buckets[i].1 -= 1;
        if l.buckets[i].1 == 0 {
            l.buckets.remove(i);
            self.buckets.remove(&(size, b, t.pa));
        }
        l.count -= 1;
        if l.count == 0 {
            *l = TableLeaves::default();
        }
        self.count -= 1;
        self.by_size[size_index(size)] -= 1;
    }

    /// Forget a table's leaves.
    pub(crate) fn drop_table(&mut self, t: &Table, size: PageSize) {
        for &(b, _) in &t.leaves.buckets {
            self.buckets.remove(&(size, b, t.pa));
        }
        self.count -= t.leaves.count as usize;
        self.by_size[size_index(size)] -= t.leaves.count as usize;
    }
}

/// What an entry value means to the MMU, given where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sem {
    /// Nothing the MMU caches (empty, not present, invalidated, a leaf in a
    /// table that has no level yet, a pointer whose link is broken).
    None,
    /// A leaf the MMU may cache.
    Leaf { size: PageSize, pa: u64 },
    /// A directory entry the MMU may cache, pointing at a live table linked
    /// exactly here.
    Dir { child: u64 },
}

#[inline]
pub(crate) fn sem(tables: &Tables, geom: &Geometry, t: u64, level: Option<Level>, idx: u32, v: u64) -> Sem {
    match EntryView::of(v) {
        EntryView::Leaf(p) => match level.and_then(|l| geom.leaf_page_size(l)) {
            Some(size) => Sem::Leaf { size, pa: p.pa() & !(size.bytes() - 1) },
            None => Sem::None,
        },
        EntryView::Table(d) => {
            let child = d.next_table_pa();
            match tables.get(child) {
                Some(c) if c.parent == Some((t, idx)) && level.is_some_and(|l| l != Level::Pte) => {
                    Sem::Dir { child }
                }
                _ => Sem::None,
            }
        }
        _ => Sem::None,
    }
}

/// Something found walking a subtree.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Found {
    Leaf { ea: u64, size: PageSize, pa: u64 },
    Dir { level: Level, ea: u64, child: u64 },
}

/// Walk the subtree under `t` (whose first EA is `base`) through valid links.
pub(crate) fn walk(tables: &Tables, geom: &Geometry, t: u64, base: u64, visit: &mut impl FnMut(Found)) {
    let mut stack = vec![(t, base)];
    while let Some((t, base)) = stack.pop() {
        let Some(tab) = tables.get(t) else { continue };
        let Some(level) = tab.level else { continue };
        let shift = geom.level_shift(level);
        for (i, v) in tab.entries.iter() {
            let ea = base + ((i as u64) << shift);
            match sem(tables, geom, t, Some(level), i, v) {
                Sem::Leaf { size, pa } => visit(Found::Leaf { ea, size, pa }),
                Sem::Dir { child } => {
                    visit(Found::Dir { level, ea, child });
                    stack.push((child, ea));
                }
                Sem::None => {}
            }
        }
    }
}
