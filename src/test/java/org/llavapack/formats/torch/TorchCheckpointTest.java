package org.llavapack.formats.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.llavapack.BadInputException;
import org.llavapack.TestPaths;
import org.llavapack.formats.TensorStores;
import org.llavapack.formats.pickle.PickleLimits;
import org.llavapack.formats.pickle.PyDict;
import org.llavapack.formats.pickle.PyEnumMember;
import org.llavapack.formats.pickle.PyList;
import org.llavapack.formats.pickle.PyObject;
import org.llavapack.formats.pickle.PyRepr;
import org.llavapack.formats.pickle.PyTuple;
import org.llavapack.formats.safetensors.SafetensorsFile;
import org.llavapack.tensor.DType;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorHandle;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * The files of test-checkpoints/torch, written by torch 1.13 (generate_torch.py), must decode to exactly the bytes of
 * expected.safetensors, which the same script wrote from the tensors made contiguous.
 */
class TorchCheckpointTest {
    private static final Path DIR = TestPaths.checkpoint("torch");
    private static SafetensorsFile expected;

    @TempDir
    Path tmp;

    @BeforeAll
    static void openExpected() {
        expected = SafetensorsFile.open(DIR.resolve("expected.safetensors"));
    }

    @AfterAll
    static void closeExpected() {
        expected.close();
    }

    private static byte[] bytes(MemorySegment s) {
        return s.toArray(ValueLayout.JAVA_BYTE);
    }

    private static byte[] fileBytes(TensorStore.FileRegion r) throws IOException {
        try (FileChannel ch = FileChannel.open(r.file(), StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate((int) r.length());
            while (b.hasRemaining()) ch.read(b, r.offset() + b.position());
            return b.array();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"zip-basic.pth", "zip-archive.pth", "zip-proto4.pth", "legacy.pth", "ordered.pth", "wrapped.pth",
            "zip-bigendian.pth", "zip-deflated.pth"})
    void everyTensorMatchesTorchByteForByte(String name) throws IOException {
        try (TensorStore store = TensorStores.open(DIR.resolve(name))) {
            assertInstanceOf(TorchCheckpoint.class, store);
            assertEquals(name.equals("legacy.pth") ? "torch legacy" : "torch zip", store.format());
            assertFalse(store.tensors().isEmpty());
            for (TensorInfo info : store.tensors()) {
                String t = info.name();
                assertEquals(expected.info(t).orElseThrow(() -> new AssertionError(t + " not expected")), info, t);
                byte[] want = bytes(expected.tensor(t).data());
                assertArrayEquals(want, bytes(store.tensor(t).data()), t + " via tensor()");
                try (TensorHandle h = store.open(t)) {
                    assertArrayEquals(want, bytes(h.tensor().data()), t + " via open()");
                }
                var region = store.region(t);
                if (region.isPresent()) assertArrayEquals(want, fileBytes(region.get()), t + " via region()");
            }
        }
    }

    @Test
    void allExpectedTensorsAreFoundAndNamedAsTorchFlattensThem() {
        Set<String> seen = new HashSet<>();
        for (String f : List.of("zip-basic.pth", "ordered.pth")) {
            try (TorchCheckpoint c = TorchCheckpoint.open(DIR.resolve(f))) {
                c.tensors().forEach(t -> seen.add(t.name()));
            }
        }
        Set<String> all = new HashSet<>();
        expected.tensors().forEach(t -> all.add(t.name()));
        assertEquals(all, seen);
        assertTrue(seen.containsAll(List.of("nested.inner.x", "nested.list.0", "nested.list.1", "tied_a", "tied_b", "param")));
    }

    @Test
    void viewsShareOneStorageAndKeepTheirGeometry() {
        for (String f : List.of("zip-basic.pth", "legacy.pth", "zip-proto4.pth")) {
            try (TorchCheckpoint c = TorchCheckpoint.open(DIR.resolve(f))) {
                Map<String, TorchTensor> sd = c.stateDict();
                TorchTensor base = sd.get("base"), row = sd.get("row"), col = sd.get("col"), tr = sd.get("transposed"), block = sd.get("block");
                for (TorchTensor v : List.of(row, col, tr, block)) assertSame(base.storage(), v.storage(), f);
                assertEquals(4, row.storageOffset());
                assertTrue(row.isContiguous());
                assertArrayEquals(new long[] {1, 4}, tr.stride());
                assertFalse(tr.isContiguous());
                assertTrue(tr.region().isEmpty(), "a transposed view has no contiguous region");
                assertEquals(5, block.storageOffset());
                assertArrayEquals(new long[] {4, 1}, block.stride());
                assertArrayEquals(new long[] {1, 0}, sd.get("expanded").stride());
                var baseRegion = base.region().orElseThrow();
                assertEquals(baseRegion.offset() + 16, row.region().orElseThrow().offset(), "row view is a slice of the storage");
                assertSame(sd.get("tied_a"), sd.get("tied_b"));
                assertEquals(0, sd.get("scalar").rank());
                assertEquals(1, sd.get("scalar").numel());
                assertEquals(0, sd.get("empty").numel());
                assertEquals(DType.BOOL, sd.get("bool").dtype());
                assertEquals(DType.BF16, sd.get("bf16").dtype());
                assertFalse(c.bigEndian());
            }
        }
    }

    @Test
    void stateDictSubMapAndOtherKeys() {
        try (TorchCheckpoint c = TorchCheckpoint.open(DIR.resolve("wrapped.pth"))) {
            assertEquals(List.of("f32", "bf16", "row", "transposed", "scalar"), c.tensors().stream().map(TensorInfo::name).toList());
            Map<String, String> want = new LinkedHashMap<>();
            want.put("state_dict", "dict");
            want.put("meta", "dict");
            want.put("ds_version", "str");
            want.put("step", "int");
            want.put("flags", "dict");
            want.put("names", "list");
            assertEquals(want, c.otherKeys());
            PyDict root = (PyDict) c.root();
            assertEquals("0.14.2", root.get("ds_version"));
            assertEquals(5L, root.get("step"));
            assertEquals(Boolean.TRUE, ((PyDict) root.get("flags")).get("bf16"));
            assertEquals(List.of("state_dict.f32", "state_dict.bf16", "state_dict.row", "state_dict.transposed", "state_dict.scalar"),
                    List.copyOf(c.flatten(root).keySet()));
        }
    }

    @Test
    void orderedDictKeepsItsMetadata() {
        try (TorchCheckpoint c = TorchCheckpoint.open(DIR.resolve("ordered.pth"))) {
            PyDict root = assertInstanceOf(PyDict.class, c.root());
            assertEquals("OrderedDict", root.type().name());
            assertTrue(root.attributes().get("_metadata") instanceof PyDict, "BUILD's _metadata is kept as an attribute");
            assertEquals(List.of("lin.weight", "lin.bias", "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var",
                    "norm.num_batches_tracked"), c.tensors().stream().map(TensorInfo::name).toList());
            Tensor n = c.tensor("norm.num_batches_tracked");
            assertEquals(DType.I64, n.dtype());
            assertEquals(7, n.getLong(0));
        }
    }

    @Test
    void bigEndianAndDeflatedFilesAreReadButNotMappedInPlace() {
        try (TorchCheckpoint be = TorchCheckpoint.open(DIR.resolve("zip-bigendian.pth"));
             TorchCheckpoint df = TorchCheckpoint.open(DIR.resolve("zip-deflated.pth"))) {
            assertTrue(be.bigEndian());
            assertTrue(be.region("f32").isEmpty(), "big-endian bytes must be swapped, so no in-place region");
            assertTrue(df.region("f32").isEmpty(), "deflated members have no in-place region");
            assertEquals(expected.tensor("f32").getFloat(7), be.tensor("f32").getFloat(7));
        }
    }

    @Test
    void storageCrcIsCheckedBeforeFirstUse() throws IOException {
        Path copy = tmp.resolve("bad.pth");
        Files.copy(DIR.resolve("zip-basic.pth"), copy);
        long offset;
        try (TorchCheckpoint c = TorchCheckpoint.open(copy)) {
            offset = c.region("f32").orElseThrow().offset();
        }
        byte[] all = Files.readAllBytes(copy);
        all[(int) offset] ^= 1;
        Files.write(copy, all);
        try (TorchCheckpoint c = TorchCheckpoint.open(copy)) {
            assertArrayEquals(bytes(expected.tensor("f16").data()), bytes(c.tensor("f16").data()), "other storages still read");
            BadInputException e = assertThrows(BadInputException.class, () -> c.tensor("f32"));
            assertTrue(e.getMessage().contains("CRC-32 mismatch"), e.getMessage());
            assertThrows(BadInputException.class, () -> c.region("f32"));
            assertThrows(BadInputException.class, c::verifyCrc);
        }
        try (TorchCheckpoint c = TorchCheckpoint.open(copy, new TorchCheckpoint.Options(PickleLimits.DEFAULT, false))) {
            c.tensor("f32"); // the caller asked not to check
        }
    }

    @Test
    void barePickleIsNotACheckpoint() throws IOException {
        Path p = tmp.resolve("state.pth");
        Files.write(p, new byte[] {(byte) 0x80, 2, '}', 'q', 0, '.'});
        BadInputException e = assertThrows(BadInputException.class, () -> TorchCheckpoint.open(p));
        assertTrue(e.getMessage().contains("not a torch checkpoint"), e.getMessage());
    }

    @Test
    void gatheredViewsLiveInTheCallersArena() {
        try (TorchCheckpoint c = TorchCheckpoint.open(DIR.resolve("zip-basic.pth")); Arena arena = Arena.ofConfined()) {
            TorchTensor tr = c.stateDict().get("transposed");
            MemorySegment data = tr.data(arena);
            assertEquals(64, data.byteSize());
            assertArrayEquals(bytes(expected.tensor("transposed").data()), bytes(data));
            assertEquals(expected.tensor("transposed").info(), tr.toTensor("transposed", arena).info());
        }
    }

    /** The XTuner/DeepSpeed fixtures (generate_xtuner.py, written by torch 1.13) open, and decode as the spec says. */
    @Test
    void xtunerFixturesDecode() throws IOException {
        List<Path> files;
        try (Stream<Path> s = Files.walk(TestPaths.checkpoints())) {
            files = s.filter(Files::isRegularFile).filter(p -> p.toString().endsWith(".pt") || p.toString().endsWith(".pth"))
                    .filter(p -> p.toString().contains("xtuner")).sorted().toList();
        }
        assertTrue(files.size() > 20, "fixtures found: " + files.size());
        for (Path f : files) {
            try (TorchCheckpoint c = TorchCheckpoint.open(f)) {
                c.verifyCrc();
                for (TensorInfo t : c.tensors()) c.tensor(t.name());
                PyDict root = (PyDict) c.root();
                if (root.get("optimizer_state_dict") instanceof PyDict opt) {
                    Object stage = opt.get("zero_stage");
                    assertTrue(stage instanceof Long || stage instanceof PyEnumMember, f + ": zero_stage " + stage);
                    if (opt.get("param_slice_mappings") instanceof PyList groups && !groups.isEmpty()) {
                        PyDict g = (PyDict) groups.getFirst();
                        PyObject frag = (PyObject) g.values().iterator().next();
                        assertEquals("fragment_address", frag.type().name());
                        assertInstanceOf(Long.class, frag.attribute("numel").orElseThrow());
                        assertInstanceOf(Long.class, frag.attribute("start").orElseThrow());
                    }
                } else if (root.get("param_shapes") instanceof PyList shapes) {
                    PyDict g = (PyDict) shapes.getFirst();
                    PyTuple shape = (PyTuple) g.values().iterator().next();
                    assertInstanceOf(Long.class, shape.getFirst());
                    assertEquals("OrderedDict", PyRepr.typeName(root.get("module")));
                }
            }
        }
    }

}
