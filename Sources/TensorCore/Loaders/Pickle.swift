import Foundation

/// A restricted unpickler: it understands the opcodes `torch.save` writes and builds plain values;
/// it never imports or calls anything. Globals are accepted only from a fixed list (the ones a
/// state dict needs); any other (`os.system`, `builtins.eval`, …) is an error.
///
/// A pickle is a program for a stack machine and may describe any graph: a list that contains
/// itself, a million nested lists, a few objects shared a billion ways. Every container is a class
/// instance registered as it is made, so the graph is checked without recursion on the file's depth
/// (each container visited once: no cycle, at most `maxDepth` levels) before anything walks it, and
/// a graph that fails is taken apart container by container, so even its release cannot recurse.
enum Pickle {
    enum Value {
        case none, bool(Bool), int(Int64), float(Double), string(String), bytes(Data)
        /// An integer wider than 64 bits, as its little-endian bytes (only compared, never computed with).
        case bigInt(Data)
        case list(ListBox), tuple(TupleBox), dict(DictBox)
        case global(String)
        /// A storage reference from a persistent id: (storage type, key, element count).
        case storage(type: String, key: String, count: Int)
        /// A tensor view of a storage.
        case tensor(storageType: String, key: String, offset: Int, shape: [Int], stride: [Int])

        /// The containers this value holds directly.
        var children: [Value] {
            switch self {
            case let .list(l): return l.items
            case let .tuple(t): return t.items
            case let .dict(d): return Array(d.values.values)
            default: return []
            }
        }
        var container: AnyObject? {
            switch self {
            case let .list(l): return l
            case let .tuple(t): return t
            case let .dict(d): return d
            default: return nil
            }
        }
    }
    class Container {
        /// Empties the container (its children are released one level only).
        func dismantle() {}
    }
    final class ListBox: Container {
        var items: [Value] = []
        override func dismantle() { items = [] }
    }
    final class TupleBox: Container {
        var items: [Value]
        init(_ items: [Value]) { self.items = items }
        override func dismantle() { items = [] }
    }
    final class DictBox: Container {
        var keys: [String] = []
        var values: [String: Value] = [:]
        override func dismantle() {
            keys = []
            values = [:]
        }
    }

    /// Deepest nesting a checkpoint may have (a state dict is two or three levels deep).
    static let maxDepth = 64
    /// Most containers one pickle may make.
    static let maxContainers = 1_000_000

    /// Every container a load made, so a failed load can take them apart without recursion.
    final class Registry {
        var all: [Container] = []
        func add<T: Container>(_ c: T) throws -> T {
            guard all.count < maxContainers else {
                throw TensorError.format("pickle: more than \(maxContainers) lists, tuples and dicts")
            }
            all.append(c)
            return c
        }
        func dismantle() {
            for c in all { c.dismantle() }
            all = []
        }
    }

    /// Checks the graph under `root`: no container inside itself, no path deeper than `maxDepth`.
    /// Iterative, each container visited once.
    static func checkGraph(_ root: Value) throws {
        var done = Set<ObjectIdentifier>(), onPath = Set<ObjectIdentifier>()
        // (container, its children, next child index)
        var path: [(id: ObjectIdentifier, children: [Value], next: Int)] = []
        func enter(_ v: Value) throws {
            guard let c = v.container else { return }
            let id = ObjectIdentifier(c)
            if done.contains(id) { return }
            if onPath.contains(id) {
                throw TensorError.format("pickle: a list, tuple or dict contains itself (refused)")
            }
            guard path.count < maxDepth else {
                throw TensorError.format("pickle: nested deeper than \(maxDepth) levels (refused)")
            }
            onPath.insert(id)
            path.append((id, v.children, 0))
        }
        try enter(root)
        while let top = path.last {
            if top.next < top.children.count {
                path[path.count - 1].next += 1
                try enter(top.children[top.next])
            } else {
                path.removeLast()
                onPath.remove(top.id)
                done.insert(top.id)
            }
        }
    }

    /// Calls `body` on every value reachable from `root` once per container (after `checkGraph`).
    static func visit(_ root: Value, _ body: (Value) -> Void) {
        var seen = Set<ObjectIdentifier>()
        var todo = [root]
        while let v = todo.popLast() {
            body(v)
            if let c = v.container {
                guard seen.insert(ObjectIdentifier(c)).inserted else { continue }
                todo += v.children
            }
        }
    }

    static let allowedGlobals: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter", "torch.FloatStorage", "torch.HalfStorage", "torch.DoubleStorage",
        "torch.BFloat16Storage", "torch.LongStorage", "torch.IntStorage", "torch.ByteStorage", "torch.BoolStorage",
        "torch.ShortStorage", "torch.CharStorage", "torch.storage.UntypedStorage", "torch.float32", "torch.float16",
        "torch.bfloat16", "torch.float64", "torch.int64", "torch.int32", "torch.uint8", "torch.bool", "builtins.set",
    ]

    static let maxItems = 10_000_000

    /// Unpickles one object from `data` starting at `offset`; returns it and the offset after STOP.
    static func load(_ data: Data, at offset: Int = 0) throws -> (Value, Int) {
        let registry = Registry()
        do {
            let (v, end) = try run(data, at: offset, registry)
            try checkGraph(v)
            return (v, end)
        } catch {
            registry.dismantle()
            throw error
        }
    }

    private static func run(_ data: Data, at offset: Int, _ registry: Registry) throws -> (Value, Int) {
        var r = ByteReader(data, at: offset)
        func tuple(_ items: [Value]) throws -> Value { .tuple(try registry.add(TupleBox(items))) }
        func list(_ items: [Value] = []) throws -> Value {
            let l = try registry.add(ListBox())
            l.items = items
            return .list(l)
        }
        func dict() throws -> Value { .dict(try registry.add(DictBox())) }
        var stack: [Value] = []
        var marks: [Int] = []
        var memo: [Int: Value] = [:]
        func pop() throws -> Value {
            guard let v = stack.popLast() else { throw TensorError.format("pickle: stack underflow") }
            return v
        }
        func popMark() throws -> [Value] {
            guard let m = marks.popLast(), m <= stack.count else { throw TensorError.format("pickle: no mark") }
            defer { stack.removeSubrange(m...) }
            return Array(stack[m...])
        }
        func text(_ d: Data) throws -> String {
            guard let s = String(data: d, encoding: .utf8) else { throw TensorError.format("pickle: invalid UTF-8") }
            return s
        }
        func key(_ v: Value) throws -> String {
            switch v {
            case let .string(s): return s
            case let .int(i): return String(i)
            default: throw TensorError.format("pickle: dictionary key that is not a string")
            }
        }
        func ints(_ v: Value) throws -> [Int] {
            guard case let .tuple(t) = v, t.items.count <= 64 else {
                throw TensorError.format("pickle: expected a tuple of sizes")
            }
            return try t.items.map {
                guard case let .int(i) = $0, i >= 0, i < 1 << 40 else {
                    throw TensorError.format("pickle: bad size in tensor shape")
                }
                return Int(i)
            }
        }
        while true {
            if stack.count > maxItems { throw TensorError.format("pickle: too many items") }
            let op = try r.u8()
            switch op {
            case 0x80: _ = try r.u8()  // PROTO
            case 0x95: _ = try r.le(UInt64.self)  // FRAME
            case UInt8(ascii: "."):  // STOP
                return (try pop(), r.pos - data.startIndex)
            case UInt8(ascii: "("): marks.append(stack.count)  // MARK
            case UInt8(ascii: ")"): stack.append(try tuple([]))  // EMPTY_TUPLE
            case UInt8(ascii: "]"): stack.append(try list())  // EMPTY_LIST
            case UInt8(ascii: "}"): stack.append(try dict())  // EMPTY_DICT
            case UInt8(ascii: "N"): stack.append(.none)
            case UInt8(ascii: "0"): _ = try pop()  // POP
            case 0x88: stack.append(.bool(true))
            case 0x89: stack.append(.bool(false))
            case UInt8(ascii: "t"): stack.append(try tuple(try popMark()))  // TUPLE
            case 0x85: stack.append(try tuple([try pop()]))  // TUPLE1
            case 0x86:
                let b = try pop(), a = try pop()
                stack.append(try tuple([a, b]))
            case 0x87:
                let c = try pop(), b = try pop(), a = try pop()
                stack.append(try tuple([a, b, c]))
            case UInt8(ascii: "l"): stack.append(try list(try popMark()))
            case UInt8(ascii: "X"): stack.append(.string(try text(try r.bytes(Int(try r.le(UInt32.self))))))
            case 0x8C: stack.append(.string(try text(try r.bytes(Int(try r.u8())))))
            case 0x8D:
                let n = try r.le(UInt64.self)
                guard n < UInt64(Int32.max) else { throw TensorError.format("pickle: absurd string length") }
                stack.append(.string(try text(try r.bytes(Int(n)))))
            case UInt8(ascii: "U"): stack.append(.string(try text(try r.bytes(Int(try r.u8())))))
            case UInt8(ascii: "T"): stack.append(.string(try text(try r.bytes(Int(try r.le(UInt32.self))))))
            case UInt8(ascii: "B"): stack.append(.bytes(try r.bytes(Int(try r.le(UInt32.self)))))
            case UInt8(ascii: "C"): stack.append(.bytes(try r.bytes(Int(try r.u8()))))
            case UInt8(ascii: "J"): stack.append(.int(Int64(try r.le(Int32.self))))
            case UInt8(ascii: "K"): stack.append(.int(Int64(try r.u8())))
            case UInt8(ascii: "M"): stack.append(.int(Int64(try r.le(UInt16.self))))
            case 0x8A:  // LONG1
                let n = Int(try r.u8())
                let b = try r.bytes(n)
                if n > 8 {
                    stack.append(.bigInt(b))
                    continue
                }
                var v: Int64 = 0
                for (i, x) in b.enumerated() { v |= Int64(x) << (8 * Int64(i)) }
                if n > 0 && n < 8 && b.last! & 0x80 != 0 { v -= Int64(1) << (8 * Int64(n)) }
                stack.append(.int(v))
            case UInt8(ascii: "G"): stack.append(.float(Double(bitPattern: try r.le(UInt64.self).byteSwapped)))
            case UInt8(ascii: "q"): memo[Int(try r.u8())] = stack.last  // BINPUT
            case UInt8(ascii: "r"): memo[Int(try r.le(UInt32.self))] = stack.last
            case 0x94: memo[memo.count] = stack.last  // MEMOIZE
            case UInt8(ascii: "h"), UInt8(ascii: "j"):  // BINGET, LONG_BINGET
                let i = op == UInt8(ascii: "h") ? Int(try r.u8()) : Int(try r.le(UInt32.self))
                guard let v = memo[i] else { throw TensorError.format("pickle: memo \(i) unset") }
                stack.append(v)
            case UInt8(ascii: "c"):  // GLOBAL
                var line = Data()
                var parts: [String] = []
                while parts.count < 2 {
                    let b = try r.u8()
                    if b == 0x0A {
                        parts.append(try text(line))
                        line = Data()
                    } else {
                        line.append(b)
                    }
                    if line.count > 256 { throw TensorError.format("pickle: global name too long") }
                }
                stack.append(try global(parts[0] + "." + parts[1]))
            case 0x93:  // STACK_GLOBAL
                let n = try pop(), m = try pop()
                guard case let .string(name) = n, case let .string(module) = m else {
                    throw TensorError.format("pickle: bad STACK_GLOBAL")
                }
                stack.append(try global(module + "." + name))
            case UInt8(ascii: "Q"):  // BINPERSID
                let pid = try pop()
                guard case let .tuple(tb) = pid, case let t = tb.items, t.count >= 5, case .string("storage") = t[0],
                    case let .global(type) = t[1]
                else {
                    throw TensorError.format("pickle: unsupported persistent id")
                }
                guard case let .int(count) = t[4], count >= 0 else {
                    throw TensorError.format("pickle: bad storage size")
                }
                stack.append(.storage(type: type, key: try key(t[2]), count: Int(count)))
            case UInt8(ascii: "R"), 0x81:  // REDUCE, NEWOBJ
                let args = try pop(), fn = try pop()
                guard case let .global(name) = fn, case let .tuple(a) = args else {
                    throw TensorError.format("pickle: call of a non-global")
                }
                stack.append(try call(name, a.items, ints, dict))
            case UInt8(ascii: "b"): _ = try pop()  // BUILD: state is not needed
            case UInt8(ascii: "s"):  // SETITEM
                let v = try pop(), k = try pop()
                guard case let .dict(d) = stack.last else { throw TensorError.format("pickle: SETITEM on a non-dict") }
                let ks = try key(k)
                if d.values[ks] == nil { d.keys.append(ks) }
                d.values[ks] = v
            case UInt8(ascii: "u"):  // SETITEMS
                let items = try popMark()
                guard case let .dict(d) = stack.last, items.count % 2 == 0 else {
                    throw TensorError.format("pickle: SETITEMS on a non-dict")
                }
                for i in stride(from: 0, to: items.count, by: 2) {
                    let ks = try key(items[i])
                    if d.values[ks] == nil { d.keys.append(ks) }
                    d.values[ks] = items[i + 1]
                }
            case UInt8(ascii: "a"):
                let v = try pop()
                guard case let .list(l) = stack.last else { throw TensorError.format("pickle: APPEND on a non-list") }
                l.items.append(v)
            case UInt8(ascii: "e"):
                let items = try popMark()
                guard case let .list(l) = stack.last else { throw TensorError.format("pickle: APPENDS on a non-list") }
                l.items += items
            default:
                throw TensorError.format(
                    "pickle: unsupported opcode 0x\(String(op, radix: 16)) at byte \(r.pos - data.startIndex - 1)")
            }
        }
    }

    static func global(_ name: String) throws -> Value {
        guard allowedGlobals.contains(name) else {
            throw TensorError.format(
                "pickle names a global that a checkpoint does not need: \(name) (refused; nothing was executed)")
        }
        return .global(name)
    }

    static func call(_ name: String, _ a: [Value], _ ints: (Value) throws -> [Int], _ dict: () throws -> Value) throws
        -> Value
    {
        switch name {
        case "collections.OrderedDict", "builtins.set":
            return try dict()
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            guard a.count >= 4, case let .storage(type, key, _) = a[0], case let .int(offset) = a[1] else {
                throw TensorError.format("pickle: malformed tensor")
            }
            guard offset >= 0, offset < 1 << 48 else { throw TensorError.format("pickle: bad tensor offset \(offset)") }
            return .tensor(
                storageType: type, key: key, offset: Int(offset), shape: try ints(a[2]), stride: try ints(a[3]))
        case "torch._utils._rebuild_parameter":
            guard let t = a.first, case .tensor = t else { throw TensorError.format("pickle: malformed parameter") }
            return t
        default:
            throw TensorError.format("pickle: \(name) cannot be called")
        }
    }
}
