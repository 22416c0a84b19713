# u64 realmode_call(u64 func, u64 arg0, u64 arg1)
#
# Calls func(arg0, arg1) with MSR[IR]=MSR[DR]=0 and MSR[EE]=0, entered and
# left with hrfid, and returns its result. `func` is called through its *real*
# address (EA bits 0:3 cleared), so its global entry point derives a real TOC
# pointer: everything it reaches through the TOC is addressed by real address.
# Pointers it is given may still be 0xc000... linear-map addresses; hypervisor
# real mode ignores EA bits 0:3, which is exactly what Linux real-mode code
# relies on too. Saved in our frame: LR, r2, the caller's MSR.

.section .text
.globl realmode_call
.type realmode_call, @function
.balign 16
realmode_call:
    mflr %r0
    std %r0, 16(%r1)
    stdu %r1, -64(%r1)
    std %r2, 24(%r1)
    mfmsr %r11
    std %r11, 32(%r1)
    li %r12, 0
    mtmsrd %r12, 1              # EE=0, RI=0 while HSRR0/1 are live
    li %r12, 0x30               # IR | DR
    ori %r12, %r12, 0x8000      # | EE
    andc %r12, %r11, %r12
    mtspr 315, %r12             # HSRR1 = caller MSR without IR, DR, EE
    bcl 20, 31, 1f
1:  mflr %r12
    addi %r12, %r12, (2f - 1b)
    clrldi %r12, %r12, 4
    mtspr 314, %r12             # HSRR0 = real address of label 2
    hrfid
2:  clrldi %r12, %r3, 4         # real address of func
    mtctr %r12
    mr %r3, %r4
    mr %r4, %r5
    bctrl
    ld %r2, 24(%r1)
    li %r12, 0
    mtmsrd %r12, 1
    ld %r11, 32(%r1)
    mtspr 315, %r11             # HSRR1 = caller MSR
    bcl 20, 31, 3f
3:  mflr %r12
    addi %r12, %r12, (4f - 3b)
    load_top16 %r11, 0xc000
    or %r12, %r12, %r11
    mtspr 314, %r12             # HSRR0 = 0xc000... address of label 4
    hrfid
4:  addi %r1, %r1, 64
    ld %r0, 16(%r1)
    mtlr %r0
    blr
