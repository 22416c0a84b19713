# Shared assembler macros for boot/*.s. Assembly only; no C preprocessor.

# Emit one 32-bit instruction word in big-endian byte order. A CPU that is
# still big-endian (skiboot entry, OPAL return) decodes it as `\word`.
.macro be_insn word
    .byte (\word >> 24) & 0xff, (\word >> 16) & 0xff, (\word >> 8) & 0xff, \word & 0xff
.endm

# Endian switch, placed at every point where we may arrive big-endian.
#
# The first word, in little-endian byte order, is `tdi 0,0,0x48` (0x08000048):
# a trap that never fires. A big-endian CPU reads the same bytes as 0x48000008,
# `b .+8`, and lands in the big-endian trampoline below, which flips MSR[LE]
# and returns with rfid to the first instruction after the trampoline.
# A CPU that is already little-endian runs the tdi, then the `b 1f`.
# Clobbers r10, r11 only on the big-endian path.
.macro enter_little_endian
    .long 0x08000048            # LE: tdi 0,0,0x48   BE: b .+8
    b 1f                        # LE path: skip the trampoline
    be_insn 0x7d6000a6          # mfmsr  r11
    be_insn 0x696b0001          # xori   r11,r11,1        (MSR[LE] toggled on)
    be_insn 0x39400000          # li     r10,0
    be_insn 0x7d410164          # mtmsrd r10,1            (EE=0, RI=0 before SRRs)
    be_insn 0x429f0005          # bcl    20,31,.+4
    be_insn 0x7d4802a6          # mflr   r10
    be_insn 0x394a0014          # addi   r10,r10,20       (-> label 1 below)
    be_insn 0x7d5a03a6          # mtsrr0 r10
    be_insn 0x7d7b03a6          # mtsrr1 r11
    be_insn 0x4c000024          # rfid
1:
.endm

# Load a 64-bit constant with the top 16 bits only (e.g. 0xc000 << 48).
.macro load_top16 reg, val
    lis \reg, \val
    sldi \reg, \reg, 32
.endm
