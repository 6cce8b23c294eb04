package org.llavapack.convert.xtuner.pyconfig;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigInteger;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;
import org.llavapack.BadInputException;
import org.llavapack.TestPaths;
import org.llavapack.convert.xtuner.XtunerConfig;
import org.llavapack.convert.xtuner.pyconfig.PyValue.Dict;
import org.llavapack.convert.xtuner.pyconfig.PyValue.Int;
import org.llavapack.convert.xtuner.pyconfig.PyValue.Name;
import org.llavapack.convert.xtuner.pyconfig.PyValue.Str;
import org.llavapack.convert.xtuner.pyconfig.PyValue.Unknown;

class PyConfigReaderTest {

    static PyValue v(String src, String name) {
        PyModule m = PyConfigReader.read(src);
        return m.get(name).orElseThrow(() -> new AssertionError(name + " not assigned; warnings " + m.warnings()));
    }

    static String s(String src) {
        return assertInstanceOf(Str.class, v("x = " + src + "\n", "x")).value();
    }

    @Test
    void stringsInEveryQuoteForm() {
        assertEquals("a", s("'a'"));
        assertEquals("b", s("\"b\""));
        assertEquals("c\nd", s("'''c\nd'''"));
        assertEquals("e'f", s("\"\"\"e'f\"\"\""));
        assertEquals("\\n", s("r'\\n'"));
        assertEquals("\\'", s("r'\\''"));
        assertEquals("é", s("u'é'"));
        assertEquals("ab", s("'a' \"b\""));
        assertEquals("ab", s("('a'\n   'b')"));
        assertEquals("A\u00e9\u2022A\u0007\t", s("'\\x41\\u00e9\\N{BULLET}\\101\\a\\t'"));
        assertEquals("\\q", s("'\\q'")); // unknown escapes stay
        assertEquals("xy", s("'x\\\ny'"));
        assertEquals("\uD83D\uDE00", s("'\\U0001F600'"));
        assertInstanceOf(Unknown.class, v("x = b'raw'\n", "x"));
        assertInstanceOf(Unknown.class, v("x = f'{a}'\n", "x"));
        assertInstanceOf(Unknown.class, v("x = 'a' f'{a}'\n", "x"));
    }

    @Test
    void numbersAndConstants() {
        assertEquals(BigInteger.valueOf(1000), ((Int) v("x = 1_000", "x")).value());
        assertEquals(BigInteger.valueOf(31), ((Int) v("x = 0x1F", "x")).value());
        assertEquals(BigInteger.valueOf(15), ((Int) v("x = 0o17", "x")).value());
        assertEquals(BigInteger.valueOf(5), ((Int) v("x = 0b101", "x")).value());
        assertEquals(1e-5, ((PyValue.Float) v("x = 1e-5", "x")).value());
        assertEquals(0.5, ((PyValue.Float) v("x = .5", "x")).value());
        assertEquals(5.0, ((PyValue.Float) v("x = 5.", "x")).value());
        assertInstanceOf(Unknown.class, v("x = 3j", "x"));
        assertEquals(new PyValue.Bool(true), v("x = True", "x"));
        assertEquals(new PyValue.None(), v("x = None", "x"));
        assertEquals(BigInteger.valueOf(-2), ((Int) v("x = -2", "x")).value());
        assertEquals(BigInteger.valueOf(1472), ((Int) v("x = int(2048 - (336 / 14)**2)", "x")).value());
        assertEquals(0.5, ((PyValue.Float) v("x = 1e-4 / 2e-4", "x")).value());
        assertEquals(BigInteger.valueOf(-4), ((Int) v("x = -7 // 2", "x")).value());
        assertEquals(BigInteger.ONE, ((Int) v("x = -7 % 2", "x")).value());
        assertEquals(BigInteger.valueOf(240), ((Int) v("x = int(256 - 16)", "x")).value());
    }

    @Test
    void containersCallsNamesAndAttributes() {
        String src = """
                from xtuner.utils import PROMPT_TEMPLATE
                import os.path as osp
                root = '/data/'
                path = root + 'sft'
                cfg = dict(type=LoraConfig, r=8, nested={'k': [1, (2, 3)], 4: None}, t=PROMPT_TEMPLATE.llama3_chat,
                           fn=osp.join(root, 'x'),)
                items = [1, 2, 3][-1]; pair = (1,)
                a = b = 'same'
                n: int = 5
                n += 2
                lst = ['a'] * 3 + ['b']
                d = {'a': 1}['a']
                """;
        PyModule m = PyConfigReader.read(src);
        assertEquals(List.of(), m.warnings());
        assertEquals(new Str("/data/sft"), m.get("path").orElseThrow());
        Dict cfg = assertInstanceOf(Dict.class, m.get("cfg").orElseThrow());
        assertEquals(new Name("LoraConfig"), cfg.get("type").orElseThrow());
        assertEquals(new Int(BigInteger.valueOf(8)), cfg.get("r").orElseThrow());
        assertEquals("llama3_chat", ((Name) cfg.get("t").orElseThrow()).last());
        assertInstanceOf(PyValue.Call.class, cfg.get("fn").orElseThrow());
        Dict nested = assertInstanceOf(Dict.class, cfg.get("nested").orElseThrow());
        assertEquals(2, nested.entries().size());
        assertEquals(new Int(BigInteger.valueOf(3)), m.get("items").orElseThrow());
        assertEquals(new PyValue.Tuple(List.of(new Int(BigInteger.ONE))), m.get("pair").orElseThrow());
        assertEquals(new Str("same"), m.get("a").orElseThrow());
        assertEquals(new Str("same"), m.get("b").orElseThrow());
        assertEquals(new Int(BigInteger.valueOf(7)), m.get("n").orElseThrow());
        assertEquals(4, ((PyValue.PyList) m.get("lst").orElseThrow()).items().size());
        assertEquals(new Int(BigInteger.ONE), m.get("d").orElseThrow());
    }

    @Test
    void whatItCannotFollowBecomesWarningsOrUnknowns() {
        PyModule m = PyConfigReader.read("""
                def f(x):
                    return x
                @decorator
                class C:
                    pass
                xs = [i * 2 for i in range(3)]
                g = lambda a, b=1: a
                c = 1 if flag else 2
                s = {1, 2}
                cfg.x = 3
                a, b = 1, 2
                print('hi')
                bad = $oops
                broken = (1,
                ok = 'still read'
                """);
        assertInstanceOf(Unknown.class, m.get("xs").orElseThrow());
        assertInstanceOf(Unknown.class, m.get("g").orElseThrow());
        assertInstanceOf(Unknown.class, m.get("c").orElseThrow());
        assertInstanceOf(Unknown.class, m.get("s").orElseThrow());
        assertFalse(m.get("bad").isPresent());
        String w = String.join("\n", m.warnings());
        assertTrue(w.contains("'def' block not evaluated"), w);
        assertTrue(w.contains("'@' block not evaluated"), w);
        assertTrue(w.contains("assignment to `cfg.x` not followed"), w);
        assertTrue(w.contains("assignment to `a, b` not followed"), w);
        assertTrue(w.contains("expression statement"), w);
        assertTrue(w.contains("unexpected character '$'"), w);
        assertFalse(w.contains("internal"), w);
    }

    @Test
    void hostileInputStaysHarmless() {
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            PyModule deep = PyConfigReader.read("x = " + "(".repeat(50_000) + "1" + ")".repeat(50_000) + "\ny = 2\n");
            assertTrue(deep.warnings().getFirst().contains("nesting deeper"), deep.warnings().toString());
            assertEquals(new Int(BigInteger.TWO), deep.get("y").orElseThrow());
            PyModule unary = PyConfigReader.read("x = " + "-".repeat(100_000) + "1\n");
            assertFalse(unary.get("x").isPresent());
            assertInstanceOf(Unknown.class, v("x = 'a' * 10**12", "x"));
            assertInstanceOf(Unknown.class, v("x = 10**10**10", "x"));
            assertInstanceOf(Unknown.class, v("x = [0] * 10**9", "x"));
            assertInstanceOf(Unknown.class, v("x = 2**100000 * 2**100000", "x"));
            PyModule many = PyConfigReader.read("a = 'x' * 1000000\n".repeat(40));
            assertTrue(many.get("a").orElseThrow() instanceof Unknown, "the budget runs out");
            PyModule longNum = PyConfigReader.read("x = " + "9".repeat(1_000_000) + "\n");
            assertFalse(longNum.get("x").isPresent());
            PyModule unterminated = PyConfigReader.read("x = '''never ends\ny = 1\n");
            assertTrue(unterminated.warnings().getFirst().contains("unterminated"), unterminated.warnings().toString());
            PyModule badEscape = PyConfigReader.read("x = '\\N{NO SUCH CHARACTER NAME}'\ny = '\\x4'\nz = 1\n");
            assertEquals(2, badEscape.warnings().size(), badEscape.warnings().toString());
            assertEquals(new Int(BigInteger.ONE), badEscape.get("z").orElseThrow());
            PyModule warnings = PyConfigReader.read("$\n".repeat(1000));
            assertEquals(PyConfigReader.MAX_WARNINGS + 1, warnings.warnings().size());
            PyModule chain = PyConfigReader.read("x = " + "a + ".repeat(200_000) + "a\n");
            assertInstanceOf(Unknown.class, chain.get("x").orElseThrow());
            PyModule closers = PyConfigReader.read(")]}\nx = 1\n");
            assertEquals(new Int(BigInteger.ONE), closers.get("x").orElseThrow());
        });
        assertThrows(PyConfigException.class, () -> PyConfigReader.read("a = 1\u0000"));
        assertThrows(PyConfigException.class, () -> PyConfigReader.read(" ".repeat(PyConfigReader.MAX_INPUT_CHARS + 1)));
        assertThrows(PyConfigException.class, () -> PyConfigReader.read(null));
    }

    // ------------------------------------------------------------------------------------------------------------
    // fuzzing: the reader never throws anything but PyConfigException, and never hits its internal-error path

    @Property(tries = 400)
    void arbitraryTextNeverBreaksTheReader(@ForAll("pythonish") String text) {
        check(text);
    }

    @Property(tries = 300)
    void mutatedConfigsNeverBreakTheReader(@ForAll("mutations") String text) {
        check(text);
    }

    @Property(tries = 200)
    void anyUnicodeNeverBreaksTheReader(@ForAll String text) {
        check(text);
    }

    static void check(String text) {
        try {
            PyModule m = PyConfigReader.read(text);
            for (String w : m.warnings()) assertFalse(w.contains("(internal:"), w);
        } catch (PyConfigException expected) {
            // the reader's own refusal
        }
        try {
            XtunerConfig.parse(text, "fuzz.py");
        } catch (BadInputException expected) {
            // from PyConfigException
        }
    }

    @Provide
    Arbitrary<String> pythonish() {
        Arbitrary<String> atoms = Arbitraries.of("dict(", "(", ")", "[", "]", "{", "}", ",", ":", "=", "'", "\"", "'''",
                "\"\"\"", "\\", "\n", "    ", "#", "r'", "b'", "f'", "1", "0x", "1e", "_", ".", "..", "...", "+", "-", "*",
                "**", "/", "//", "%", "lambda", "for", "in", "if", "else", "not", "and", "x", "model", "llm_lora", "type",
                "LoraConfig", "True", "None", ";", "@", "\\N{", "\\x", "\\u", "j", "\t", "\r", "é", "\uD83D\uDE00", "$");
        return atoms.list().ofMaxSize(60).map(l -> String.join("", l));
    }

    @Provide
    Arbitrary<String> mutations() {
        String base;
        try {
            base = Files.readString(TestPaths.checkpoint("xtuner-workdir/pallava_tiny_config.py"));
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
        String alphabet = "()[]{},:='\"\\\n#.+-*/ _xr0123456789";
        return Arbitraries.longs().map(seed -> {
            Random rnd = new Random(seed);
            StringBuilder sb = new StringBuilder(base);
            int edits = 1 + rnd.nextInt(20);
            for (int i = 0; i < edits; i++) {
                int at = rnd.nextInt(sb.length() + 1);
                switch (rnd.nextInt(3)) {
                    case 0 -> sb.insert(at, alphabet.charAt(rnd.nextInt(alphabet.length())));
                    case 1 -> {
                        if (at < sb.length()) sb.deleteCharAt(at);
                    }
                    default -> {
                        if (at < sb.length()) sb.setCharAt(at, alphabet.charAt(rnd.nextInt(alphabet.length())));
                    }
                }
            }
            return sb.toString();
        });
    }
}
