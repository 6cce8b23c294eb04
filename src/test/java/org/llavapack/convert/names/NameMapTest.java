package org.llavapack.convert.names;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.llavapack.BadInputException;

class NameMapTest {

    private static final String MAP = """
            {"name": "demo",
             "rules": [
               {"from": "^a\\\\.(\\\\d+)\\\\.(w|b)(x)?$", "to": "blk.{1}.{2}{3}", "output": "one", "dtype": "F16"},
               {"from": "^c\\\\.(.*)$", "to": "{{lit}}.{0}", "output": "two"},
               {"from": "^d$", "to": "same", "output": "two"},
               {"from": "^e$", "to": "same", "output": "two"}
             ],
             "ignore": ["^skip\\\\..*$"]}
            """;

    @Test
    void rulesApplyInOrderWithGroupsAndAttributes() {
        NameMap m = NameMap.parse(MAP, "demo.json");
        NameMap.Mapped a = assertInstanceOf(NameMap.Mapped.class, m.apply("a.12.w"));
        assertEquals("blk.12.w", a.target()); // group 3 did not take part: empty
        assertEquals("F16", a.attribute("dtype").orElseThrow());
        assertEquals("one", a.attribute("output").orElseThrow());
        assertEquals("{lit}.c.x.y", ((NameMap.Mapped) m.apply("c.x.y")).target());
        assertInstanceOf(NameMap.Ignored.class, m.apply("skip.me"));
        assertInstanceOf(NameMap.Unmatched.class, m.apply("a.1.w.extra")); // from must match the whole name
        assertEquals("demo", m.name());
    }

    @Test
    void applyAllRefusesUnmatchedNamesAndCollisions() {
        NameMap m = NameMap.parse(MAP, "demo.json");
        assertEquals(2, m.applyAll(List.of("a.1.b", "skip.x", "c.q"), "in.pt").size());
        BadInputException e = assertThrows(BadInputException.class, () -> m.applyAll(List.of("a.1.b", "zzz", "yyy"), "in.pt"));
        assertTrue(e.getMessage().contains("2 tensor name(s) not covered by name map demo: zzz, yyy"), e.getMessage());
        e = assertThrows(BadInputException.class, () -> m.applyAll(List.of("d", "e"), "in.pt"));
        assertTrue(e.getMessage().contains("both map to 'same'"), e.getMessage());
    }

    @Test
    void malformedMapsAreRejectedWhenLoaded() {
        assertThrows(BadInputException.class, () -> NameMap.parse("{\"rules\": [{\"from\": \"(\", \"to\": \"x\"}]}", "m"));
        assertThrows(BadInputException.class, () -> NameMap.parse("{\"rules\": [{\"from\": \"(a)\", \"to\": \"{2}\"}]}", "m"));
        assertThrows(BadInputException.class, () -> NameMap.parse("{\"rules\": [{\"from\": \"a\", \"to\": \"{x}\"}]}", "m"));
        assertThrows(BadInputException.class, () -> NameMap.parse("{\"rules\": [{\"from\": \"a\", \"to\": \"}\"}]}", "m"));
        assertThrows(BadInputException.class, () -> NameMap.parse("{\"rules\": [{\"from\": \"a\"}]}", "m"));
        assertThrows(BadInputException.class, () -> NameMap.parse("{\"rules\": {}}", "m"));
        assertThrows(BadInputException.class, () -> NameMap.parse("[1]", "m"));
        assertThrows(BadInputException.class, () -> NameMap.parse("{not json", "m"));
        assertThrows(BadInputException.class, () -> NameMap.parse("{\"rules\": [], \"ignore\": [\"[\"]}", "m"));
    }

    @Test
    void theShippedMapLoadsFromTheClasspath() {
        NameMap m = NameMap.fromResource("converters/xtuner-llava.json");
        assertEquals("xtuner-llava", m.name());
        assertTrue(m.rules().size() > 5);
        for (NameMap.Rule r : m.rules()) assertTrue(r.attribute("output").isPresent(), "rule " + r.index());
    }
}
