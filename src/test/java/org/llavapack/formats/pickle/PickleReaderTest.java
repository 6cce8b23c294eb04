package org.llavapack.formats.pickle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.llavapack.BadInputException;

/** The pickle reader on hand-assembled opcode streams: values, sharing, known symbols, refusals and limits. */
class PickleReaderTest {
    private static final Path FILE = Path.of("test.pkl");

    /** Assembles pickles opcode by opcode. */
    private static final class P {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        P(int protocol) {
            if (protocol >= 2) op(0x80).op(protocol);
        }

        P op(int... bytes) {
            for (int b : bytes) out.write(b);
            return this;
        }

        P raw(String ascii) {
            out.writeBytes(ascii.getBytes(StandardCharsets.ISO_8859_1));
            return this;
        }

        P str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            op('X').raw(le32(b.length));
            out.writeBytes(b);
            return this;
        }

        P i(int v) {
            return op('J').raw(le32(v));
        }

        P global(String module, String name) {
            return op('c').raw(module + "\n" + name + "\n");
        }

        P put(int i) {
            return op('q', i);
        }

        P get(int i) {
            return op('h', i);
        }

        byte[] stop() {
            op('.');
            return out.toByteArray();
        }

        private static String le32(int v) {
            byte[] b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
            return new String(b, StandardCharsets.ISO_8859_1);
        }
    }

    private static Object read(byte[] pickle) {
        return PickleReader.parse(FILE, pickle);
    }

    private static String refused(byte[] pickle) {
        return assertThrows(BadInputException.class, () -> read(pickle)).getMessage();
    }

    @Test
    void protocol2Values() {
        byte[] p = new P(2).op('}').put(0).op('(')
                .str("int").i(-7)
                .str("long").op(0x8A, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1)
                .str("float").op('G', 0x3F, 0xF8, 0, 0, 0, 0, 0, 0)
                .str("none").op('N')
                .str("true").op(0x88)
                .str("tuple").op('K', 1).op('K', 2).op(0x86)
                .str("list").op(']').op('(').op('K', 3).op('M', 0x34, 0x12).op('e')
                .str("py2str").op('U', 2).raw("\u00e9x")
                .op('u').stop();
        PyDict d = assertInstanceOf(PyDict.class, read(p));
        assertEquals(-7L, d.get("int"));
        assertEquals(BigInteger.ONE.shiftLeft(64), d.get("long"));
        assertEquals(1.5, d.get("float"));
        assertSame(PyNone.NONE, d.get("none"));
        assertEquals(Boolean.TRUE, d.get("true"));
        assertEquals(PyTuple.of(1L, 2L), d.get("tuple"));
        assertEquals(List.of(3L, 0x1234L), List.copyOf((PyList) d.get("list")));
        assertEquals("\u00e9x", d.get("py2str"));
        assertEquals(List.of("int", "long", "float", "none", "true", "tuple", "list", "py2str"), List.copyOf(d.keySet()));
    }

    @Test
    void protocol0TextOpcodes() {
        byte[] p = new P(0).op('(').raw("dp0\n")
                .raw("S'a\\'b\\n\\x41'\n").raw("p1\n")
                .raw("I42\n").op('s')
                .raw("Vcaf\\u00e9\n").raw("L-123456789012345678901234567L\n").op('s')
                .raw("S\"f\"\n").raw("F-2.5e-3\n").op('s')
                .raw("g1\n").raw("I01\n").op('s')
                .stop();
        PyDict d = assertInstanceOf(PyDict.class, read(p));
        assertEquals(Boolean.TRUE, d.get("a'b\nA"), "g1 fetched the memoized key, so the last SETITEM replaced 42");
        assertEquals(new BigInteger("-123456789012345678901234567"), d.get("café"));
        assertEquals(-2.5e-3, d.get("f"));
        assertEquals(3, d.size());
    }

    @Test
    void memoIsSharedByReference() {
        byte[] p = new P(2).op(']').put(0).get(0).op(0x86).stop();
        PyTuple t = assertInstanceOf(PyTuple.class, read(p));
        assertSame(t.get(0), t.get(1));
    }

    @Test
    void selfContainingListPrintsBoundedly() {
        byte[] p = new P(2).op(']').put(0).get(0).op('a').stop();
        PyList l = assertInstanceOf(PyList.class, read(p));
        assertSame(l, l.getFirst());
        assertTrue(l.toString().length() < 300, l.toString());
        assertEquals(l.hashCode(), System.identityHashCode(l));
    }

    @Test
    void exponentiallySharedTuplesHashAndCompareQuickly() {
        // t0 = ('x',); t(k+1) = (tk, tk): 2^200 leaves by value; then {t200: 1, t200': 2} with a second, separate chain.
        P p = new P(2).op('}').put(0);
        for (int chain = 0; chain < 2; chain++) {
            p.str("x").op(0x85).put(1).op('0');
            for (int k = 0; k < 200; k++) p.get(1).get(1).op(0x86).put(1).op('0');
            p.get(1).op('K', chain + 1).op('s');
        }
        byte[] pickle = p.stop();
        PyDict d = assertTimeoutPreemptively(Duration.ofSeconds(2), () -> (PyDict) read(pickle));
        assertTrue(d.size() == 1 || d.size() == 2, "structurally equal keys merge or, past the comparison budget, stay apart");
    }

    @Test
    void unknownClassesStayInertAndKeepState() {
        byte[] p = new P(2).global("deepspeed.utils.tensor_fragment", "fragment_address").op(')').op(0x81)
                .op('}').op('(').str("numel").op('K', 48).str("start").op('K', 16).op('u').op('b').stop();
        PyObject o = assertInstanceOf(PyObject.class, read(p));
        assertEquals("deepspeed.utils.tensor_fragment.fragment_address", o.type().qualifiedName());
        assertEquals(PyObject.Kind.NEWOBJ, o.kind());
        assertEquals(48L, o.attribute("numel").orElseThrow());
        assertEquals(16L, o.attribute("start").orElseThrow());

        byte[] call = new P(2).global("argparse", "some_function").op('K', 5).op(0x85).op('R').stop();
        PyObject f = assertInstanceOf(PyObject.class, read(call));
        assertEquals(PyTuple.of(5L), f.args());
        assertEquals(PyObject.Kind.REDUCE, f.kind());
    }

    @Test
    void knownSymbolsDecode() {
        byte[] p = new P(2).op('(')
                .global("collections", "OrderedDict").op(')').op('R')
                .global("torch", "Size").op('K', 2).op('K', 3).op(0x86).op(0x85).op('R')
                .global("torch", "device").str("cuda").op('K', 3).op(0x86).op('R')
                .global("_codecs", "encode").str("\u00ff\u0001").str("latin1").op(0x86).op('R')
                .global("__builtin__", "set").op(']').op('(').op('K', 1).op('K', 2).op('e').op(0x85).op('R')
                .global("deepspeed.runtime.zero.config", "ZeroStageEnum").op('K', 2).op(0x85).op('R')
                .global("__builtin__", "getattr").global("deepspeed.runtime.zero.config", "ZeroStageEnum").str("gradients").op(0x86).op('R')
                .global("torch", "bfloat16")
                .op('t').stop();
        PyTuple t = assertInstanceOf(PyTuple.class, read(p));
        assertEquals("OrderedDict", assertInstanceOf(PyDict.class, t.get(0)).type().name());
        assertEquals(PyTuple.of(2L, 3L), t.get(1));
        assertEquals("cuda:3", t.get(2));
        assertArrayEquals(new byte[] {(byte) 0xFF, 1}, (byte[]) t.get(3));
        assertEquals(List.of(1L, 2L), List.copyOf(assertInstanceOf(PySet.class, t.get(4))));
        assertEquals(2L, t.get(5));
        assertEquals(new PyEnumMember(new PyGlobal("deepspeed.runtime.zero.config", "ZeroStageEnum"), "gradients"), t.get(6));
        assertEquals(new PyGlobal("torch", "bfloat16"), t.get(7));
    }

    @Test
    void numpyScalarsDecode() {
        byte[] p = new P(2)
                .global("numpy.core.multiarray", "scalar")
                .global("numpy", "dtype").str("f8").op(0x89).op(0x88).op(0x87).op('R')
                .op('(').op('K', 3).str("<").op('N', 'N', 'N').i(-1).i(-1).op('K', 0).op('t').op('b')
                .op('C', 8, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F).op(0x86).op('R').stop();
        assertEquals(1.5, read(p));
    }

    @Test
    void refusals() {
        assertTrue(refused(new P(2).global("os", "system").stop()).contains("refusing pickle: it references os.system"));
        assertTrue(refused(new P(2).global("posixpath", "os").stop()).contains("posixpath.os"));
        assertTrue(refused(new P(2).global("builtins", "eval").stop()).contains("builtins.eval"));
        assertTrue(refused(new P(2).global("torch", "load").stop()).contains("torch.load"));
        assertTrue(refused(new P(4).str("torch").str("serialization.load").op(0x93).stop()).contains("torch.serialization.load"));
        assertTrue(refused(new P(2).global("some.module", "Cls.__init__").stop()).contains("dunder"));
        assertTrue(refused(new P(2).global("os system", "x").stop()).contains("malformed symbol"));
        // getattr: only the enum idiom, and its result is never called
        assertTrue(refused(new P(2).global("__builtin__", "getattr").global("posixpath", "join").str("x").op(0x86).op('R').stop())
                .contains("builtins.getattr"));
        assertTrue(refused(new P(2).global("__builtin__", "getattr").global("pkg", "Enum").str("__class__").op(0x86).op('R').stop())
                .contains("builtins.getattr"));
        assertTrue(refused(new P(2).global("__builtin__", "getattr").global("pkg", "Enum").str("A").op(0x86).op('R')
                .op(')').op('R').stop()).contains("builtins.getattr produced"));
        // calling the product of a call
        assertTrue(refused(new P(2).global("pkg", "factory").op(')').op('R').op(')').op('R').stop()).contains("only named globals"));
        // type-checked mutations
        assertTrue(refused(new P(2).op(')').str("k").str("v").op('s').stop()).contains("SETITEM on a tuple"));
        assertTrue(refused(new P(2).op('}').op('K', 1).op('a').stop()).contains("APPEND on a dict"));
        assertTrue(refused(new P(2).global("pkg", "f").op('}').op('b').stop()).contains("BUILD on global pkg.f"));
        assertTrue(refused(new P(2).op('}').op(']').op('K', 1).op('s').stop()).contains("unhashable"));
        assertTrue(refused(new P(2).str("evil").op(0x85).op('Q').stop()).contains("persistent id"));
        assertTrue(refused(new P(2).global("_codecs", "encode").str("x").str("utf-8").op(0x86).op('R').stop()).contains("only latin1"));
    }

    @Test
    void limitsAreConfigurable() {
        PickleLimits tight = new PickleLimits(1 << 20, 10, 4, 2, 3);
        var r = new PickleReader(FILE, "m", tight, PickleHooks.INERT);
        MemorySegment many = MemorySegment.ofArray(new P(2).op('N', '0', 'N', '0', 'N', '0', 'N', '0', 'N', '0', 'N').stop());
        assertTrue(assertThrows(BadInputException.class, () -> r.read(many, 0)).getMessage().contains("opcodes"));
        MemorySegment deep = MemorySegment.ofArray(new P(2).op(']', ']', ']', ']', 'a', 'a', 'a').stop());
        assertTrue(assertThrows(BadInputException.class, () -> r.read(deep, 0)).getMessage().contains("nesting"));
        MemorySegment memo = MemorySegment.ofArray(new P(2).op('N').put(4).stop());
        assertTrue(assertThrows(BadInputException.class, () -> r.read(memo, 0)).getMessage().contains("memo"));
        MemorySegment big = MemorySegment.ofArray(new P(2).op(0x8A, 3, 1, 2, 3).stop());
        assertTrue(assertThrows(BadInputException.class, () -> r.read(big, 0)).getMessage().contains("LONG1"));
        var small = new PickleReader(FILE, null, new PickleLimits(8, 100, 10, 16, 10), PickleHooks.INERT);
        MemorySegment longer = MemorySegment.ofArray(new P(2).str("0123456789").stop());
        assertTrue(assertThrows(BadInputException.class, () -> small.read(longer, 0)).getMessage().contains("cap"));
    }

    @Test
    void readsOnePickleOfAStream() {
        byte[] a = new P(2).op('K', 1).stop(), b = new P(2).op('K', 2).stop();
        byte[] both = new byte[a.length + b.length];
        System.arraycopy(a, 0, both, 0, a.length);
        System.arraycopy(b, 0, both, a.length, b.length);
        var r = new PickleReader(FILE, null, PickleLimits.DEFAULT, PickleHooks.INERT);
        PickleReader.Result first = r.read(MemorySegment.ofArray(both), 0);
        assertEquals(1L, first.value());
        assertEquals(a.length, first.end());
        assertEquals(2L, r.read(MemorySegment.ofArray(both), first.end()).value());
    }

    @Test
    void errorsNameTheMemberAndOffset() {
        var r = new PickleReader(FILE, "archive/data.pkl", PickleLimits.DEFAULT, PickleHooks.INERT);
        BadInputException e = assertThrows(BadInputException.class, () -> r.read(MemorySegment.ofArray(new P(2).op(0xFF).stop()), 0));
        assertEquals("test.pkl: unknown opcode 0xff [archive/data.pkl byte 2]", e.getMessage());
        assertEquals("test.pkl", e.file());
    }

    @Test
    void policyAllowsWhatCheckpointsUse() {
        for (String[] ok : new String[][] {{"collections", "OrderedDict"}, {"torch._utils", "_rebuild_tensor_v2"},
                {"torch", "BFloat16Storage"}, {"deepspeed.runtime.zero.config", "ZeroStageEnum"},
                {"deepspeed.runtime.fp16.loss_scaler", "DynamicLossScaler"}, {"mmengine.logging.history_buffer", "HistoryBuffer"},
                {"mmengine.config.config", "ConfigDict"}, {"numpy.core.multiarray", "_reconstruct"}, {"numpy._core.multiarray", "scalar"},
                {"argparse", "Namespace"}, {"__builtin__", "set"}, {"builtins", "getattr"}, {"_codecs", "encode"},
                {"peft.utils.peft_types", "TaskType"}, {"__main__", "MyConfig"}}) {
            assertNull(GlobalPolicy.denial(ok[0], ok[1]), ok[0] + "." + ok[1]);
        }
        for (String[] bad : new String[][] {{"os", "system"}, {"nt", "system"}, {"subprocess", "Popen"}, {"builtins", "exec"},
                {"__builtin__", "__import__"}, {"functools", "partial"}, {"operator", "attrgetter"}, {"_operator", "methodcaller"},
                {"torch.serialization", "load"}, {"torch", "load"}, {"torch._inductor.codecache", "PyCodeCache.load"},
                {"torch", "serialization.os.system"}, {"posixpath", "os"}, {"io", "open"}, {"pydoc", "pipepager"},
                {"marshal", "loads"}, {"types", "FunctionType"}, {"asyncio.subprocess", "create_subprocess_shell"},
                {"numpy", "load"}, {"mmengine.config", "Config"}, {"torch.hub", "load"}}) {
            assertTrue(GlobalPolicy.denial(bad[0], bad[1]) != null, bad[0] + "." + bad[1]);
        }
    }
}
