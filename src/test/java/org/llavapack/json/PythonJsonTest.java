package org.llavapack.json;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Output compared with text CPython's json.dumps(indent=2, sort_keys=True) produced (src/test/resources/json). */
class PythonJsonTest {

    @Test
    void matchesCpythonDumps() throws Exception {
        String expected;
        try (InputStream in = getClass().getResourceAsStream("/json/python-dumps-expected.json")) {
            expected = new String(in.readAllBytes(), StandardCharsets.UTF_8).stripTrailing();
        }
        JsonNode tree = new ObjectMapper().readTree(expected);
        assertEquals(expected, PythonJson.dumps(tree, 2, true));
    }

    @Test
    void floatReprFollowsPython() {
        assertEquals("1e-05", PythonJson.floatRepr(1e-5));
        assertEquals("500000.0", PythonJson.floatRepr(500000.0));
        assertEquals("1e+16", PythonJson.floatRepr(1e16));
        assertEquals("0.30000000000000004", PythonJson.floatRepr(0.1 + 0.2));
        assertEquals("-0.0", PythonJson.floatRepr(-0.0));
    }
}
