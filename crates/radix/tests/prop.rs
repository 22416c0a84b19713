//! Property tests: encode/decode round trips, index composition, alignment
//! errors, tlbie operand fields, and the walker against a list of mappings.

mod common;

use common::Tree;
use proptest::prelude::*;
use radix::entry::{NLB_MASK, RPN_MASK};
use radix::geometry::{rts_bits, rts_field, EA_OFFSET_MASK};
use radix::tlbie::{tlbie_va, Is};
use radix::{Att, EncodeError, FaultKind, Geometry, Level, PageSize, Pde, Pte, PteFlags, Quadrant};

fn page_size() -> impl Strategy<Value = PageSize> {
    prop_oneof![
        Just(PageSize::Size4K),
        Just(PageSize::Size64K),
        Just(PageSize::Size2M),
        Just(PageSize::Size1G)
    ]
}

fn att() -> impl Strategy<Value = Att> {
    prop_oneof![Just(Att::Normal), Just(Att::Sao), Just(Att::NonIdempotentIo), Just(Att::TolerantIo)]
}

fn geometry() -> impl Strategy<Value = Geometry> {
    prop_oneof![Just(Geometry::RADIX_64K), Just(Geometry::RADIX_4K)]
}

fn quadrant() -> impl Strategy<Value = Quadrant> {
    prop_oneof![Just(Quadrant::Q0), Just(Quadrant::Q1), Just(Quadrant::Q2), Just(Quadrant::Q3)]
}

proptest! {
    #[test]
    fn pte_round_trip(raw_pa in any::<u64>(), size in page_size(), bits in any::<u64>(), a in att()) {
        let pa = raw_pa & RPN_MASK & !(size.bytes() - 1);
        let flags = PteFlags::from_bits_truncate(bits);
        let pte = Pte::leaf(pa, size, flags).unwrap().with_att(a);
        let back = Pte::from_mem(pte.to_mem());
        prop_assert_eq!(back, pte);
        prop_assert_eq!(back.pa(), pa);
        prop_assert_eq!(back.flags(), flags);
        prop_assert_eq!(back.att(), a);
        prop_assert!(back.is_hw_valid() && back.is_present());
        prop_assert_eq!(back.invalidate().revalidate(), pte);
        prop_assert!(back.invalidate().is_present() && !back.invalidate().is_valid());
        // Memory holds the value big-endian.
        prop_assert_eq!(pte.to_mem().to_ne_bytes(), pte.raw().to_be_bytes());
    }

    #[test]
    fn pte_misaligned_or_too_large_is_rejected(pa in any::<u64>(), size in page_size()) {
        let r = Pte::leaf(pa, size, PteFlags::READ);
        if pa & (size.bytes() - 1) != 0 {
            prop_assert_eq!(r, Err(EncodeError::Misaligned { addr: pa, align: size.bytes() }));
        } else if pa & !RPN_MASK != 0 {
            prop_assert_eq!(r, Err(EncodeError::AddressTooLarge { addr: pa, mask: RPN_MASK }));
        } else {
            prop_assert_eq!(r.unwrap().pa(), pa);
        }
    }

    #[test]
    fn pde_round_trip_and_alignment(pa in any::<u64>(), nls in 0u32..40) {
        let r = Pde::table(pa, nls);
        if !(5..=31).contains(&nls) {
            prop_assert_eq!(r, Err(EncodeError::BadNls { nls }));
        } else if pa & ((8u64 << nls) - 1) != 0 {
            prop_assert_eq!(r, Err(EncodeError::Misaligned { addr: pa, align: 8u64 << nls }));
        } else if pa & !NLB_MASK != 0 {
            let too_large = matches!(r, Err(EncodeError::AddressTooLarge { .. }));
            prop_assert!(too_large);
        } else {
            let pde = r.unwrap();
            let back = Pde::from_mem(pde.to_mem());
            prop_assert_eq!(back, pde);
            prop_assert_eq!(back.next_table_pa(), pa);
            prop_assert_eq!(back.nls(), nls);
            prop_assert!(back.is_valid() && !back.is_leaf() && !back.is_bad());
        }
    }

    #[test]
    fn index_composition_reconstructs_va(g in geometry(), q in quadrant(), off in any::<u64>()) {
        let offset = off & EA_OFFSET_MASK;
        let va = q.base() | offset;
        let idx = [
            g.index(Level::Pgd, va) as u64,
            g.index(Level::Pud, va) as u64,
            g.index(Level::Pmd, va) as u64,
            g.index(Level::Pte, va) as u64,
        ];
        for (i, l) in Level::ALL.iter().enumerate() {
            prop_assert!(idx[i] < g.entries(*l));
        }
        prop_assert_eq!(g.compose(q, idx, va & (g.page_size() - 1)), va);
        prop_assert_eq!(radix::split_ea(va), Ok((q, offset)));
    }

    #[test]
    fn rts_round_trips(bits in 31u32..=62) {
        prop_assert_eq!(rts_bits(rts_field(bits)), bits);
    }

    #[test]
    fn tlbie_va_fields(va in any::<u64>(), size in page_size(), pid in any::<u32>()) {
        let va = va & EA_OFFSET_MASK;
        let o = tlbie_va(va, pid, 0, size).unwrap();
        prop_assert_eq!(o.rb & !0xFFF, va & !(size.bytes() - 1));
        prop_assert_eq!((o.rb >> 5) & 7, size.ap());
        prop_assert_eq!(o.is(), Is::Va);
        prop_assert_eq!(o.rs >> 32, pid as u64);
        prop_assert!(o.check(false).is_ok());
    }

    /// Random non-overlapping mappings of all three leaf sizes: every byte
    /// inside one translates to the right place, and addresses in unmapped
    /// holes fault.
    #[test]
    fn walker_agrees_with_mapping_list(
        picks in proptest::collection::vec((0u64..64, 0u8..3, 0u64..1024, any::<u64>()), 1..24),
        probes in proptest::collection::vec(any::<u64>(), 1..32),
    ) {
        let g = Geometry::RADIX_64K;
        let mut t = Tree::new(g);
        // Slot n covers VA [n GB, n+1 GB); each slot holds at most one mapping.
        let mut maps: Vec<(u64, u64, u64)> = Vec::new(); // (va, size, pa)
        for (slot, kind, frame, off) in picks {
            let slot_va = slot << 30;
            if maps.iter().any(|m| m.0 >> 30 == slot) {
                continue;
            }
            let (level, size) = match kind {
                0 => (Level::Pte, 64u64 << 10),
                1 => (Level::Pmd, 2u64 << 20),
                _ => (Level::Pud, 1u64 << 30),
            };
            let va = slot_va + (off % ((1 << 30) / size)) * size;
            let pa = (0x1_0000_0000 + frame * (1 << 30)) & !(size - 1);
            t.map(va, pa, level, PteFlags::KERNEL_RW);
            maps.push((va, size, pa));
        }
        for (va, size, pa) in &maps {
            for p in &probes {
                let o = p % size;
                let tr = t.translate(va + o).unwrap();
                prop_assert_eq!(tr.pa, pa + o);
                prop_assert_eq!(tr.leaf_size, *size);
            }
        }
        for p in &probes {
            let va = p & EA_OFFSET_MASK;
            let mapped = maps.iter().find(|m| va >= m.0 && va < m.0 + m.1);
            match (mapped, t.translate(va)) {
                (Some(m), Ok(tr)) => prop_assert_eq!(tr.pa, m.2 + (va - m.0)),
                (None, Err(f)) => prop_assert_eq!(f.kind, FaultKind::NotValid),
                (m, r) => prop_assert!(false, "va {:#x}: mapping {:?} walk {:?}", va, m, r),
            }
        }
    }
}
