# Boot CPU entry and secondary-thread entry.
#
# Contract (QEMU powernv via skiboot, and kexec/petitboot on POWER9):
#   we are entered at the first byte of the image (first and only PT_LOAD),
#   big- or little-endian, real mode, MSR[EE]=0, at any 64 KB-aligned physical
#   address; r3 = FDT (real address), r8 = OPAL base, r9 = OPAL entry
#   (kexec may leave r8/r9 zero; the kernel then reads /ibm,opal from the FDT).
#   r4 is passed on as a hand-off word: RELOC_MAGIC when an earlier instance
#   of this image copied itself here (reloc.test=), anything else otherwise.
#
# The image is linked at KERNEL_VIRT_BASE (0xc000000000000000) as a static PIE.
# In hypervisor real mode the CPU ignores effective-address bits 0:3, so the
# same 0xc000... addresses work before and after the radix MMU is on (the
# linear map puts physical P at 0xc000000000000000 + P). We therefore apply
# R_PPC64_RELATIVE relocations with delta = physical load address.

# .text.boot continues here, after the vector area of boot/vectors.s.
.section .text.boot, "ax"
boot_start:
    # r11 <- physical (runtime) address of _start
    bcl 20, 31, 2f
2:  mflr %r12
    addis %r11, %r12, (_start - 2b)@ha
    addi %r11, %r11, (_start - 2b)@l

    # Keep the firmware arguments in non-volatile registers.
    mr %r14, %r3                  # FDT
    mr %r15, %r8                  # OPAL base
    mr %r16, %r9                  # OPAL entry
    mr %r17, %r11                 # physical load address (= relocation delta)
    mr %r19, %r4                  # hand-off word (set when an earlier instance moved us)

    # Apply R_PPC64_RELATIVE relocations: *(r_offset + delta) = r_addend + delta.
    # Other relocation types are counted, and reported by the kernel.
    addis %r4, %r12, (__rela_dyn_start - 2b)@ha
    addi  %r4, %r4,  (__rela_dyn_start - 2b)@l
    addis %r5, %r12, (__rela_dyn_end - 2b)@ha
    addi  %r5, %r5,  (__rela_dyn_end - 2b)@l
    li %r18, 0                   # unknown relocations seen
3:  cmpld %r4, %r5
    bge 5f
    ld %r6, 0(%r4)                # r_offset (link address)
    ld %r7, 8(%r4)                # r_info
    ld %r8, 16(%r4)               # r_addend
    clrldi %r7, %r7, 32           # type = low 32 bits of r_info
    cmpldi %r7, 22               # R_PPC64_RELATIVE
    beq 4f
    addi %r18, %r18, 1
    b 6f
4:  add %r6, %r6, %r17
    clrldi %r6, %r6, 4            # store by real address: drop EA bits 0:3
    add %r8, %r8, %r17
    std %r8, 0(%r6)
6:  addi %r4, %r4, 24
    b 3b

    # Continue at the 0xc000... alias of the next instruction.
5:  load_top16 %r10, 0xc000
    addis %r12, %r12, (7f - 2b)@ha
    addi  %r12, %r12, (7f - 2b)@l
    or %r12, %r12, %r10
    mtctr %r12
    bctr

7:  # Now running at KERNEL_VIRT_BASE + load address, still real mode.
    # TOC pointer for the medium code model.
    bcl 20, 31, 8f
8:  mflr %r12
    addis %r2, %r12, (.TOC. - 8b)@ha
    addi  %r2, %r2,  (.TOC. - 8b)@l

    # Zero BSS (firmware does not).
    addis %r4, %r2, __bss_start@toc@ha
    addi  %r4, %r4, __bss_start@toc@l
    addis %r5, %r2, __bss_end@toc@ha
    addi  %r5, %r5, __bss_end@toc@l
    li %r0, 0
9:  cmpld %r4, %r5
    bge 10f
    std %r0, 0(%r4)
    addi %r4, %r4, 8
    b 9b

10: # Boot stack (in BSS), 16-byte aligned, with a terminating back chain.
    addis %r1, %r2, BOOT_STACK_TOP@toc@ha
    addi  %r1, %r1, BOOT_STACK_TOP@toc@l
    li %r0, 0
    stdu %r0, -64(%r1)

    li %r13, 0                    # no per-CPU area yet
    mr %r3, %r14                  # fdt
    mr %r4, %r15                  # opal base
    mr %r5, %r16                  # opal entry
    mr %r6, %r17                  # physical load address
    mr %r7, %r18                  # unknown relocation count
    mr %r8, %r19                  # hand-off word
    bl kernel_entry
    nop
11: b 11b                       # kernel_entry never returns

# Secondary threads: started by OPAL_START_CPU at the *real* address of this
# label, big-endian, with r3 = PIR and no stack. The boot CPU has filled
# SECONDARY_STACKS[PIR & 0xfff] with each thread's stack top before starting it.
.globl secondary_entry
.type secondary_entry, @function
.balign 16
secondary_entry:
    enter_little_endian
    li %r0, 0
    mtmsrd %r0, 1                # EE=0, RI=0
    bcl 20, 31, 1f
1:  mflr %r12
    load_top16 %r10, 0xc000
    addis %r12, %r12, (2f - 1b)@ha
    addi  %r12, %r12, (2f - 1b)@l
    or %r12, %r12, %r10
    mtctr %r12
    bctr
2:  bcl 20, 31, 3f
3:  mflr %r12
    addis %r2, %r12, (.TOC. - 3b)@ha
    addi  %r2, %r2,  (.TOC. - 3b)@l
    addis %r4, %r2, SECONDARY_STACKS@toc@ha
    addi  %r4, %r4, SECONDARY_STACKS@toc@l
    clrldi %r5, %r3, 52           # PIR & 0xfff
    sldi %r5, %r5, 3
    ldx %r1, %r4, %r5
    cmpdi %r1, 0
    beq 5f                      # no stack prepared: park this thread
    li %r0, 0
    stdu %r0, -64(%r1)
    li %r13, 0
    bl secondary_main           # r3 = PIR
    nop
5:  b 5b

# Boot CPU stack (secondaries get heap-allocated stacks).
.section .bss.boot_stack, "aw", @nobits
.balign 65536
.globl BOOT_STACK_BOTTOM
BOOT_STACK_BOTTOM:
    .space 65536
.globl BOOT_STACK_TOP
BOOT_STACK_TOP:

# Stack tops for secondary threads, indexed by PIR & 0xfff (filled by smp.rs).
.section .bss.secondary_stacks, "aw", @nobits
.balign 8
.globl SECONDARY_STACKS
SECONDARY_STACKS:
    .space 4096 * 8

# void jump_to_image(u64 entry_real, u64 fdt, u64 opal_base, u64 opal_entry, u64 handoff, u64 from)
# Enters another copy of this image at its first byte, as firmware would:
# real mode (the caller is), EE=0, r3 = FDT, r4 = hand-off word, r5 = where
# we came from, r8/r9 = OPAL. Does not return.
.section .text
.globl jump_to_image
.type jump_to_image, @function
.balign 16
jump_to_image:
    mtctr %r3
    mr %r3, %r4
    mr %r4, %r7
    mr %r10, %r5
    mr %r9, %r6
    mr %r5, %r8
    mr %r8, %r10
    bctr
