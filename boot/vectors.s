# Image head and exception vectors.
#
# The first 0x8000 bytes of the image are laid out exactly as low physical
# memory must look: offset 0 is the entry point, 0x100..0x4000 holds the
# real-mode vectors, 0x4100..0x8000 the same vectors again for LPCR[AIL]=3
# (interrupts taken with IR=DR=1 go to 0xc000000000004000 + vector). The image
# is never loaded at physical 0: skiboot puts it at 0x20010000, and kexec
# (petitboot) at Linux's `linux,kernel-end` rounded up to 64 KB (e.g.
# 0x2890000). So the kernel copies image[0x100..0x8000) to physical 0x100
# (see trap.rs; it would skip the copy if the image did run from 0).
#
# Offset 0x5c must stay unused: kexec-tools' purgatory writes a 32-bit word
# there before it enters the image, because that is where a Linux image keeps
# `__run_at_load` (set to 1 when the kernel must run where it was loaded,
# i.e. a kdump kernel). The `.org 0x5c` below reserves it and fails the build
# if the entry code ever grows into it.
#
# Each vector saves r12/r13 into a per-CPU scratch block and jumps to a common
# stub in the same copy, which saves r10/r11/CTR and jumps through the
# per-CPU `trap_entry` pointer (absolute, 0xc000...; fine in real mode since
# hypervisor real mode ignores EA bits 0:3).
#
# Scratch use: ordinary vectors use HSPRG1 + PerCpu.scratch; system reset and
# machine check (not maskable, may nest in an ordinary vector) use SPRG2 +
# PerCpu.nmi_scratch. Offsets must match `PerCpu` (percpu.rs asserts them).

.set PC_TRAP_ENTRY, 8
.set PC_SCRATCH, 24
.set PC_NMI_SCRATCH, 64
.set SPR_HSPRG0, 304
.set SPR_HSPRG1, 305
.set SPR_SPRG2, 274

.macro vec_stub base, vec, tag
    .org \base + \vec
    mtspr SPR_HSPRG1, %r13
    mfspr %r13, SPR_HSPRG0
    std %r12, PC_SCRATCH + 16(%r13)
    li %r12, \vec
    b vec_common_\tag
.endm

.macro vec_stub_nmi base, vec, tag
    .org \base + \vec
    mtspr SPR_SPRG2, %r13
    mfspr %r13, SPR_HSPRG0
    std %r12, PC_NMI_SCRATCH + 16(%r13)
    li %r12, \vec
    b vec_nmi_common_\tag
.endm

# Common stub: r12 = vector, r13 = per-CPU. Saves r10, r11, r13, CTR into the
# scratch block at \off, passes r11 = scratch block, jumps to trap_entry.
.macro vec_common off, spr
    std %r10, \off + 0(%r13)
    std %r11, \off + 8(%r13)
    mfspr %r11, \spr
    std %r11, \off + 24(%r13)
    mfctr %r11
    std %r11, \off + 32(%r13)
    addi %r11, %r13, \off
    ld %r10, PC_TRAP_ENTRY(%r13)
    mtctr %r10
    bctr
.endm

.macro vector_area base, tag
    vec_stub_nmi \base, 0x100, \tag     # system reset
    vec_stub_nmi \base, 0x200, \tag     # machine check
    vec_stub \base, 0x300, \tag         # data storage
    vec_stub \base, 0x380, \tag         # data segment
    vec_stub \base, 0x400, \tag         # instruction storage
    vec_stub \base, 0x480, \tag         # instruction segment
    vec_stub \base, 0x500, \tag         # external (HV when LPES=0)
    vec_stub \base, 0x600, \tag         # alignment
    vec_stub \base, 0x700, \tag         # program
    vec_stub \base, 0x800, \tag         # FP unavailable
    vec_stub \base, 0x900, \tag         # decrementer
    vec_stub \base, 0x980, \tag         # hypervisor decrementer
    vec_stub \base, 0xa00, \tag         # directed privileged doorbell
    vec_stub \base, 0xb00, \tag         # reserved
    vec_stub \base, 0xc00, \tag         # system call
    vec_stub \base, 0xd00, \tag         # trace
    vec_stub \base, 0xe00, \tag         # hypervisor data storage
    vec_stub \base, 0xe20, \tag         # hypervisor instruction storage
    vec_stub \base, 0xe40, \tag         # hypervisor emulation assistance
    vec_stub \base, 0xe60, \tag         # hypervisor maintenance
    vec_stub \base, 0xe80, \tag         # hypervisor doorbell
    vec_stub \base, 0xea0, \tag         # hypervisor virtualization
    vec_stub \base, 0xf00, \tag         # performance monitor
    vec_stub \base, 0xf20, \tag         # vector unavailable
    vec_stub \base, 0xf40, \tag         # VSX unavailable
    vec_stub \base, 0xf60, \tag         # facility unavailable
    vec_stub \base, 0xf80, \tag         # hypervisor facility unavailable
    .org \base + 0x1000
vec_common_\tag:
    vec_common PC_SCRATCH, SPR_HSPRG1
vec_nmi_common_\tag:
    vec_common PC_NMI_SCRATCH, SPR_SPRG2
.endm

.section .text.boot, "ax"
.globl _start
.type _start, @function
_start:
    enter_little_endian
    b boot_start

    .org 0x5c
kexec_run_at_load_slot:         # written by kexec-tools' purgatory; never read
    .long 0

    vector_area 0x0000, real
    vector_area 0x4000, ail
    .org 0x8000
.globl __vectors_end
__vectors_end:
