# Common interrupt entry/exit. Reached from the vector stubs with
#   r11 = scratch block {r10, r11, r12, r13, ctr}, r12 = vector, r13 = per-CPU.
# Builds a TrapFrame (layout in src/trap.rs, asserted there) on the current
# stack, below the interrupted code's 288-byte protected zone, above a 32-byte
# ABI header, calls trap_dispatch(&mut TrapFrame), then
# restores everything from the (possibly modified) frame and returns with
# rfid or hrfid, chosen by the frame's `hv` field.

.set TF, 32                     # TrapFrame offset from r1
.set TF_SIZE, 352
# The ELFv2 ABI protects 288 bytes below r1 from asynchronous modification,
# and compiled code uses them (an epilogue may pop its frame before reloading
# saved registers from below r1), so the interrupt frame starts below them.
.set PROTECTED_ZONE, 288
.set FRAME_SIZE, TF + TF_SIZE + PROTECTED_ZONE
.set TF_CTR, TF + 256
.set TF_LR, TF + 264
.set TF_CR, TF + 272
.set TF_XER, TF + 280
.set TF_SRR0, TF + 288
.set TF_SRR1, TF + 296
.set TF_DAR, TF + 304
.set TF_DSISR, TF + 312
.set TF_VECTOR, TF + 320
.set TF_HV, TF + 328
.set TF_MSR, TF + 336
.set PC_TOC, 16

.macro save_gpr n
    std %r\n, TF + 8 * \n(%r1)
.endm
.macro rest_gpr n
    ld %r\n, TF + 8 * \n(%r1)
.endm
.macro scratch_to_frame idx, n
    ld %r0, 8 * \idx(%r11)
    std %r0, TF + 8 * \n(%r1)
.endm

.macro restore_all
    ld %r0, TF_CTR(%r1)
    mtctr %r0
    ld %r0, TF_LR(%r1)
    mtlr %r0
    ld %r0, TF_XER(%r1)
    mtspr 1, %r0
    ld %r0, TF_CR(%r1)
    mtcr %r0
    rest_gpr 0
    .irp n, 2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    rest_gpr \n
    .endr
    ld %r1, TF + 8(%r1)
.endm

.section .text
.globl trap_entry
.type trap_entry, @function
.balign 16
trap_entry:
    stdu %r1, -FRAME_SIZE(%r1)
    save_gpr 0
    ld %r0, 0(%r1)              # interrupted r1 (back chain)
    std %r0, TF + 8(%r1)
    save_gpr 2
    save_gpr 3
    save_gpr 4
    save_gpr 5
    save_gpr 6
    save_gpr 7
    save_gpr 8
    save_gpr 9
    scratch_to_frame 0, 10
    scratch_to_frame 1, 11
    scratch_to_frame 2, 12
    scratch_to_frame 3, 13
    .irp n, 14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    save_gpr \n
    .endr
    ld %r0, 32(%r11)
    std %r0, TF_CTR(%r1)
    mflr %r0
    std %r0, TF_LR(%r1)
    mfcr %r0
    std %r0, TF_CR(%r1)
    mfspr %r0, 1
    std %r0, TF_XER(%r1)
    std %r12, TF_VECTOR(%r1)

    # Which save/restore register pair did this vector use?
    cmpdi %r12, 0x500
    beq 1f
    cmpdi %r12, 0x980
    beq 1f
    cmpdi %r12, 0xe00
    blt 2f
    cmpdi %r12, 0xea0
    bgt 2f
1:  mfspr %r0, 314              # HSRR0
    std %r0, TF_SRR0(%r1)
    mfspr %r0, 315              # HSRR1
    std %r0, TF_SRR1(%r1)
    li %r0, 1
    std %r0, TF_HV(%r1)
    b 3f
2:  mfspr %r0, 26               # SRR0
    std %r0, TF_SRR0(%r1)
    mfspr %r0, 27               # SRR1
    std %r0, TF_SRR1(%r1)
    li %r0, 0
    std %r0, TF_HV(%r1)
3:  cmpdi %r12, 0xe00           # HDSI reports in HDAR/HDSISR
    bne 4f
    mfspr %r0, 307
    std %r0, TF_DAR(%r1)
    mfspr %r0, 306
    std %r0, TF_DSISR(%r1)
    b 5f
4:  mfspr %r0, 19               # DAR
    std %r0, TF_DAR(%r1)
    mfspr %r0, 18               # DSISR
    std %r0, TF_DSISR(%r1)
5:  mfmsr %r0
    std %r0, TF_MSR(%r1)

    ld %r2, PC_TOC(%r13)
    addi %r3, %r1, TF
    bl trap_dispatch
    nop

.globl trap_return
trap_return:
    li %r0, 0
    mtmsrd %r0, 1               # EE=0, RI=0 while (H)SRR0/1 are live
    ld %r0, TF_HV(%r1)
    cmpdi %r0, 0
    bne 7f
    ld %r0, TF_SRR0(%r1)
    mtspr 26, %r0
    ld %r0, TF_SRR1(%r1)
    mtspr 27, %r0
    restore_all
    rfid
7:  ld %r0, TF_SRR0(%r1)
    mtspr 314, %r0
    ld %r0, TF_SRR1(%r1)
    mtspr 315, %r0
    restore_all
    hrfid
