# Fault-tolerant accesses for tests and the MMU walker.
#
#   u64 probe_load64(u64 addr, u64 *out)   -> 0 ok (value in *out), 1 faulted
#   u64 probe_store64(u64 addr, u64 value) -> 0 ok, 1 faulted
#
# If the marked instruction takes a data storage/segment interrupt, the trap
# handler (trap.rs, FIXUPS) resumes at the matching *_fixup label, which
# returns 1. The fault's DAR/DSISR are recorded in the per-CPU area.

.section .text
.globl probe_load64, probe_load64_insn, probe_load64_fixup
.type probe_load64, @function
.balign 16
probe_load64:
probe_load64_insn:
    ld %r5, 0(%r3)
    std %r5, 0(%r4)
    li %r3, 0
    blr
probe_load64_fixup:
    li %r3, 1
    blr

.globl probe_store64, probe_store64_insn, probe_store64_fixup
.type probe_store64, @function
.balign 16
probe_store64:
probe_store64_insn:
    std %r4, 0(%r3)
    li %r3, 0
    blr
probe_store64_fixup:
    li %r3, 1
    blr
