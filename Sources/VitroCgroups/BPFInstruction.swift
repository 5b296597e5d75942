// Chapter 04: a very small eBPF assembler, enough for the cgroup v2 device program.
// An eBPF instruction is 8 bytes (struct bpf_insn in linux/bpf.h):
//
//     byte 0     opcode: class (low 3 bits), then source (K: immediate, X: register)
//                and the operation (high 4 bits)
//     byte 1     dst register (low nibble), src register (high nibble)
//     bytes 2-3  offset, signed, little-endian (jumps: instructions to skip)
//     bytes 4-7  immediate, signed, little-endian
//
// Eleven registers: r0 holds the return value, r1 the program's context (here a
// pointer to struct bpf_cgroup_dev_ctx), r2-r5 are scratch. A 32-bit ALU operation
// writes the low half of a register and zeroes the high half; the kernel's
// disassembler calls that half `w2`. `text` prints each instruction as the verifier's
// log and `bpftool prog dump xlated` do, so a trace reads like their output.
//
// Only the instructions the device program needs are here: a 32-bit load from the
// context, 32-bit and, right shift and move, the conditional jumps == and !=, exit.

/// One eBPF instruction.
public struct BPFInstruction: Sendable, Equatable {
    public var opcode: UInt8
    public var dst: UInt8
    public var src: UInt8
    public var offset: Int16
    public var imm: Int32

    public init(opcode: UInt8, dst: UInt8 = 0, src: UInt8 = 0, offset: Int16 = 0, imm: Int32 = 0) {
        self.opcode = opcode
        self.dst = dst
        self.src = src
        self.offset = offset
        self.imm = imm
    }

    // Opcodes (linux/bpf_common.h and linux/bpf.h), built from their parts.
    static let classLDX: UInt8 = 0x01, classALU: UInt8 = 0x04, classJMP: UInt8 = 0x05
    static let sizeW: UInt8 = 0x00, modeMEM: UInt8 = 0x60
    static let sourceK: UInt8 = 0x00, sourceX: UInt8 = 0x08
    static let opAND: UInt8 = 0x50, opRSH: UInt8 = 0x70, opMOV: UInt8 = 0xb0
    static let opJEQ: UInt8 = 0x10, opJNE: UInt8 = 0x50, opEXIT: UInt8 = 0x90

    /// `dst = *(u32 *)(src + offset)`: BPF_LDX | BPF_MEM | BPF_W (0x61).
    public static func loadWord(_ dst: UInt8, from src: UInt8, offset: Int16) -> BPFInstruction {
        BPFInstruction(opcode: classLDX | modeMEM | sizeW, dst: dst, src: src, offset: offset)
    }
    /// `wDst &= imm`: BPF_ALU | BPF_AND | BPF_K (0x54).
    public static func and32(_ dst: UInt8, _ imm: Int32) -> BPFInstruction {
        BPFInstruction(opcode: classALU | opAND | sourceK, dst: dst, imm: imm)
    }
    /// `wDst >>= imm`: BPF_ALU | BPF_RSH | BPF_K (0x74).
    public static func rsh32(_ dst: UInt8, _ imm: Int32) -> BPFInstruction {
        BPFInstruction(opcode: classALU | opRSH | sourceK, dst: dst, imm: imm)
    }
    /// `wDst = imm`: BPF_ALU | BPF_MOV | BPF_K (0xb4).
    public static func mov32(_ dst: UInt8, _ imm: Int32) -> BPFInstruction {
        BPFInstruction(opcode: classALU | opMOV | sourceK, dst: dst, imm: imm)
    }
    /// `wDst = wSrc`: BPF_ALU | BPF_MOV | BPF_X (0xbc).
    public static func mov32(_ dst: UInt8, register src: UInt8) -> BPFInstruction {
        BPFInstruction(opcode: classALU | opMOV | sourceX, dst: dst, src: src)
    }
    /// `if rDst != imm goto pc+offset`: BPF_JMP | BPF_JNE | BPF_K (0x55).
    public static func jumpIfNotEqual(_ dst: UInt8, _ imm: Int32, offset: Int16 = 0) -> BPFInstruction {
        BPFInstruction(opcode: classJMP | opJNE | sourceK, dst: dst, offset: offset, imm: imm)
    }
    /// `if rDst != rSrc goto pc+offset`: BPF_JMP | BPF_JNE | BPF_X (0x5d).
    public static func jumpIfNotEqual(_ dst: UInt8, register src: UInt8, offset: Int16 = 0) -> BPFInstruction {
        BPFInstruction(opcode: classJMP | opJNE | sourceX, dst: dst, src: src, offset: offset)
    }
    /// `if rDst == imm goto pc+offset`: BPF_JMP | BPF_JEQ | BPF_K (0x15).
    public static func jumpIfEqual(_ dst: UInt8, _ imm: Int32, offset: Int16 = 0) -> BPFInstruction {
        BPFInstruction(opcode: classJMP | opJEQ | sourceK, dst: dst, offset: offset, imm: imm)
    }
    /// Return r0: BPF_JMP | BPF_EXIT (0x95).
    public static let exit = BPFInstruction(opcode: classJMP | opEXIT)

    public var isJump: Bool { opcode & 0x07 == Self.classJMP && opcode != Self.exit.opcode }

    /// The 8 bytes the kernel reads (little-endian, as on x86-64 and arm64).
    public var bytes: [UInt8] {
        let o = UInt16(bitPattern: offset)
        let i = UInt32(bitPattern: imm)
        return [
            opcode, (src << 4) | (dst & 0x0f), UInt8(o & 0xff), UInt8(o >> 8),
            UInt8(i & 0xff), UInt8((i >> 8) & 0xff), UInt8((i >> 16) & 0xff), UInt8(i >> 24),
        ]
    }

    /// Decodes instructions from their bytes (the inverse of `bytes`).
    public static func decode(_ bytes: [UInt8]) -> [BPFInstruction] {
        stride(from: 0, to: bytes.count - bytes.count % 8, by: 8).map { at in
            let b = Array(bytes[at..<at + 8])
            let o = UInt16(b[2]) | UInt16(b[3]) << 8
            let i = UInt32(b[4]) | UInt32(b[5]) << 8 | UInt32(b[6]) << 16 | UInt32(b[7]) << 24
            return BPFInstruction(opcode: b[0], dst: b[1] & 0x0f, src: b[1] >> 4, offset: Int16(bitPattern: o), imm: Int32(bitPattern: i))
        }
    }

    /// The kernel disassembler's spelling: `(61) r2 = *(u32 *)(r1 +0)`, `(55) if r2 != 0x2 goto pc+4`.
    public var text: String {
        let code = "(" + (opcode < 0x10 ? "0" : "") + String(opcode, radix: 16) + ") "
        let off = offset < 0 ? "-\(-Int(offset))" : "+\(offset)"
        let hex = imm < 0 ? "-0x" + String(-Int(imm), radix: 16) : "0x" + String(imm, radix: 16)
        switch opcode {
        case Self.classLDX | Self.modeMEM | Self.sizeW: return code + "r\(dst) = *(u32 *)(r\(src) \(off))"
        case Self.classALU | Self.opAND | Self.sourceK: return code + "w\(dst) &= \(imm)"
        case Self.classALU | Self.opRSH | Self.sourceK: return code + "w\(dst) >>= \(imm)"
        case Self.classALU | Self.opMOV | Self.sourceK: return code + "w\(dst) = \(imm)"
        case Self.classALU | Self.opMOV | Self.sourceX: return code + "w\(dst) = w\(src)"
        case Self.classJMP | Self.opJNE | Self.sourceK: return code + "if r\(dst) != \(hex) goto pc\(off)"
        case Self.classJMP | Self.opJNE | Self.sourceX: return code + "if r\(dst) != r\(src) goto pc\(off)"
        case Self.classJMP | Self.opJEQ | Self.sourceK: return code + "if r\(dst) == \(hex) goto pc\(off)"
        case Self.exit.opcode: return code + "exit"
        default: return code + "unknown"
        }
    }
}

/// Builds a program front to back; a jump may name a label bound later ("the next rule"),
/// and `finish` patches its offset: target - (jump's index + 1).
public struct BPFAssembler: Sendable {
    public private(set) var instructions: [BPFInstruction] = []
    /// A comment per instruction index, shown after it in the listing.
    public private(set) var comments: [Int: String] = [:]
    private var labels: [Int: Int] = [:]
    private var pending: [(at: Int, label: Int)] = []
    private var nextLabel = 0

    public init() {}

    public mutating func label() -> Int {
        nextLabel += 1
        return nextLabel
    }

    public mutating func emit(_ i: BPFInstruction, _ comment: String? = nil) {
        if let comment { comments[instructions.count] = comment }
        instructions.append(i)
    }

    /// A jump to `label`; its offset is filled in by `finish`.
    public mutating func emit(_ i: BPFInstruction, to label: Int, _ comment: String? = nil) {
        precondition(i.isJump, "bug: only a jump has a target")
        pending.append((instructions.count, label))
        emit(i, comment)
    }

    /// The label points at the next instruction emitted.
    public mutating func bind(_ label: Int) {
        labels[label] = instructions.count
    }

    /// The program with every jump's offset filled in.
    public func finish() -> [BPFInstruction] {
        var out = instructions
        for p in pending {
            guard let target = labels[p.label] else { preconditionFailure("bug: a jump to a label never bound") }
            let distance = target - (p.at + 1)
            precondition(distance >= 0 && distance <= Int(Int16.max), "bug: eBPF jumps here go forward and stay short")
            out[p.at].offset = Int16(distance)
        }
        return out
    }
}
