package org.llavapack.formats.safetensors;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.llavapack.BadInputException;
import org.llavapack.formats.TensorStores;

/** Every way a safetensors file or index can be wrong has a named error that names the file (and tensor). */
class SafetensorsValidationTest {

    @TempDir
    Path tmp;

    static byte[] file(String header, int dataBytes) {
        return file(header.getBytes(StandardCharsets.UTF_8), dataBytes);
    }

    static byte[] file(byte[] header, int dataBytes) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header);
        return b.array();
    }

    static Stream<Arguments> badFiles() {
        String ok = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
        return Stream.of(
                Arguments.of("not JSON", file("{\"a\":", 0), "not valid JSON"),
                Arguments.of("not an object", file("[1,2]   ", 0), "not a JSON object"),
                Arguments.of("invalid UTF-8", file(new byte[] {'{', '"', (byte) 0xC3, (byte) 0x28, '"', ':', '1', '}'}, 0), "UTF-8"),
                Arguments.of("metadata not a map", file("{\"__metadata__\":[1]," + ok + "}", 8), "__metadata__"),
                Arguments.of("metadata value not a string", file("{\"__metadata__\":{\"format\":1}," + ok + "}", 8), "__metadata__"),
                Arguments.of("unknown dtype", file("{\"a\":{\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "unknown dtype 'F128'"),
                Arguments.of("length mismatch", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "numel"),
                Arguments.of("offsets past end", file("{" + ok + "}", 4), "past end"),
                Arguments.of("trailing bytes", file("{" + ok + "}", 12), "trailing"),
                Arguments.of("begin after end", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8), "begin 8 > end 0"),
                Arguments.of("overlap", file("{" + ok + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "overlaps"),
                Arguments.of("gap", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12), "gap"),
                Arguments.of("duplicate name", file("{" + ok + "," + ok + "}", 8), "duplicate tensor name"),
                Arguments.of("negative dimension", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8), "negative"),
                Arguments.of("numel overflow", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8), "overflows"),
                Arguments.of("shape not integers", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8), "non-negative integers"),
                Arguments.of("missing field", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8), "needs dtype, shape and data_offsets"),
                Arguments.of("three offsets", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}", 8), "two numbers"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badFiles")
    void badFileIsRefusedWithNamedError(String what, byte[] bytes, String expected) throws IOException {
        Path f = tmp.resolve("bad.safetensors");
        Files.write(f, bytes);
        BadInputException e = assertThrows(BadInputException.class, () -> SafetensorsFile.open(f).close());
        assertTrue(e.getMessage().startsWith(f.toString() + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(expected), () -> what + ": " + e.getMessage());
        assertTrue(e.getMessage().lines().count() == 1, "one line");
    }

    @Test
    void tensorNameIsNamedInPerTensorErrors() throws IOException {
        Path f = tmp.resolve("t.safetensors");
        Files.write(f, file("{\"model.layers.3.weight\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,4]}}", 4));
        BadInputException e = assertThrows(BadInputException.class, () -> SafetensorsFile.open(f));
        assertTrue(e.getMessage().contains("'model.layers.3.weight'"), e.getMessage());
    }

    @Test
    void headerLengthOverLimitOrPastEndOfFile() throws IOException {
        Path big = tmp.resolve("big.safetensors");
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(200_000_000L).put("{}      ".getBytes());
        Files.write(big, b.array());
        assertTrue(assertThrows(BadInputException.class, () -> SafetensorsFile.open(big)).getMessage().contains("exceeds the limit"));
        Path past = tmp.resolve("past.safetensors");
        b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(5000).put("{}      ".getBytes());
        Files.write(past, b.array());
        assertTrue(assertThrows(BadInputException.class, () -> SafetensorsFile.open(past)).getMessage().contains("past the end"));
        Path tiny = tmp.resolve("tiny.safetensors");
        Files.write(tiny, new byte[] {1, 2, 3});
        assertTrue(assertThrows(BadInputException.class, () -> SafetensorsFile.open(tiny)).getMessage().contains("too short"));
        Path negative = tmp.resolve("neg.safetensors");
        Files.write(negative, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-8).array());
        assertTrue(assertThrows(BadInputException.class, () -> SafetensorsFile.open(negative)).getMessage().contains("exceeds the limit"));
    }

    private Path model(String indexJson, String... shards) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("m" + System.nanoTime()));
        Files.writeString(dir.resolve("model.safetensors.index.json"), indexJson);
        for (String s : shards) {
            String[] kv = s.split("=", 2);
            Files.write(dir.resolve(kv[0]), file(kv[1], 8));
        }
        return dir;
    }

    private static final String SHARD_A = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

    @Test
    void indexPointingAtMissingShard() throws IOException {
        Path dir = model("{\"metadata\":{},\"weight_map\":{\"a\":\"one.safetensors\",\"b\":\"two.safetensors\"}}", "one.safetensors=" + SHARD_A);
        var e = assertThrows(BadInputException.class, () -> TensorStores.open(dir));
        assertTrue(e.getMessage().contains("two.safetensors") && e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void indexEntryNotInItsShard() throws IOException {
        Path dir = model("{\"weight_map\":{\"a\":\"one.safetensors\",\"zzz\":\"one.safetensors\"}}", "one.safetensors=" + SHARD_A);
        var e = assertThrows(BadInputException.class, () -> TensorStores.open(dir));
        assertTrue(e.getMessage().contains("'zzz'") && e.getMessage().contains("does not hold"), e.getMessage());
    }

    @Test
    void shardTensorMissingFromIndex() throws IOException {
        Path dir = model("{\"weight_map\":{\"a\":\"one.safetensors\"}}", "one.safetensors=" + SHARD_A, "two.safetensors=" + SHARD_A);
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\":{\"a\":\"two.safetensors\",\"b\":\"one.safetensors\"}}");
        var e = assertThrows(BadInputException.class, () -> TensorStores.open(dir));
        assertTrue(e.getMessage().contains("one.safetensors"), e.getMessage());
    }

    @Test
    void indexEscapingTheFolder() throws IOException {
        Path dir = model("{\"weight_map\":{\"a\":\"../one.safetensors\"}}");
        Files.write(tmp.resolve("one.safetensors"), file(SHARD_A, 8));
        var e = assertThrows(BadInputException.class, () -> TensorStores.open(dir));
        assertTrue(e.getMessage().contains("outside the model folder"), e.getMessage());
    }

    @Test
    void malformedIndex() throws IOException {
        Path dir = model("{\"weight_map\": [");
        assertTrue(assertThrows(BadInputException.class, () -> TensorStores.open(dir)).getMessage().contains("not valid JSON"));
        Path dir2 = model("{\"metadata\": {}}");
        assertTrue(assertThrows(BadInputException.class, () -> TensorStores.open(dir2)).getMessage().contains("weight_map"));
    }

    @Test
    void picklesAreRecognisedByContentWhateverTheirExtension() throws IOException {
        Path f = tmp.resolve("model.safetensors");
        Files.write(f, new byte[] {(byte) 0x80, 2, 'c', 'o', 's', '\n', 's', 'y', 's', 't', 'e', 'm', '\n', '.'});
        var e = assertThrows(BadInputException.class, () -> TensorStores.open(f));
        assertTrue(e.getMessage().contains("pickle"), e.getMessage());
    }
}
