# OPAL call stub.
#
#   i64 opal_call_asm(u64 a0, a1, a2, a3, a4, a5, a6, u64 token)
#   Rust passes a0..a6 in r3..r9 and the token in r10.
#
# OPAL is entered big-endian, real mode, EE=0 via hrfid (r0 = token,
# r2 = OPAL base, r3.. = args); it returns with blr to LR in that same
# big-endian real-mode state, so LR points at a big-endian trampoline
# (opal_return) that switches back to little-endian and then restores the
# caller's full MSR (including IR/DR) with hrfid.
# Saved in our frame: LR, r2 (TOC), r13 (per-CPU pointer), MSR.

.section .text
.globl opal_call_asm
.type opal_call_asm, @function
.balign 16
opal_call_asm:
    mflr %r0
    std %r0, 16(%r1)
    stdu %r1, -80(%r1)
    std %r2, 24(%r1)
    std %r13, 32(%r1)
    mfmsr %r11
    std %r11, 40(%r1)

    li %r12, 0
    mtmsrd %r12, 1               # EE=0, RI=0: HSRR0/1 must survive until hrfid

    mr %r0, %r10                  # token
    addis %r12, %r2, OPAL_ENTRY@toc@ha
    ld %r12, OPAL_ENTRY@toc@l(%r12)
    mtspr 314, %r12              # HSRR0 = OPAL entry
    # HSRR1 = MSR & ~(IR | DR | LE | EE | RI)
    li %r12, 0x33
    ori %r12, %r12, 0x8000
    andc %r11, %r11, %r12
    mtspr 315, %r11              # HSRR1
    # LR = real address of the big-endian return trampoline
    bcl 20, 31, 1f
1:  mflr %r12
    addi %r12, %r12, (opal_return - 1b)
    clrldi %r12, %r12, 4
    mtlr %r12
    addis %r2, %r2, OPAL_BASE@toc@ha
    ld %r2, OPAL_BASE@toc@l(%r2)
    hrfid

opal_return:
    # Big-endian, real mode. r3 = OPAL return code; r1 was preserved by OPAL.
    enter_little_endian
    # Little-endian real mode now. Restore TOC, per-CPU pointer, and go back
    # to the caller's MSR at the 0xc000... address of label 2.
    ld %r2, 24(%r1)
    ld %r13, 32(%r1)
    ld %r11, 40(%r1)
    mtspr 315, %r11              # HSRR1 = saved MSR
    bcl 20, 31, 3f
3:  mflr %r12
    addi %r12, %r12, (2f - 3b)
    load_top16 %r11, 0xc000
    or %r12, %r12, %r11
    mtspr 314, %r12              # HSRR0
    hrfid
2:  addi %r1, %r1, 80
    ld %r0, 16(%r1)
    mtlr %r0
    blr
