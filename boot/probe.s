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

# u64 protected_zone_check(u64 spins)
# Fills the 288-byte ELFv2 protected zone below r1 with a pattern, spins
# (interrupts may arrive), then returns how many of its 36 doublewords
# changed. Interrupt entry must leave that zone alone (boot/trap.s).
.globl protected_zone_check
.type protected_zone_check, @function
.balign 16
protected_zone_check:
    mr %r6, %r1
    li %r5, 36
    mtctr %r5
    lis %r7, 0x7a5e
1:  addi %r6, %r6, -8
    std %r7, 0(%r6)
    addi %r7, %r7, 1
    bdnz 1b
    mtctr %r3
2:  bdnz 2b
    mr %r6, %r1
    li %r5, 36
    mtctr %r5
    lis %r7, 0x7a5e
    li %r3, 0
3:  addi %r6, %r6, -8
    ld %r8, 0(%r6)
    cmpd %r8, %r7
    beq 4f
    addi %r3, %r3, 1
4:  addi %r7, %r7, 1
    bdnz 3b
    blr
