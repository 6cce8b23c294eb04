package org.llavapack.formats.safetensors;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.llavapack.OutputException;
import org.llavapack.json.PythonJson;
import org.llavapack.progress.Progress;
import org.llavapack.tensor.TensorInfo;

/**
 * Streams tensors into safetensors files: the caller supplies the list of tensors up front (so headers can be written
 * first) and then fills each tensor's bytes when asked, one at a time, in file order. Nothing but one scratch buffer
 * is held in memory. Output is byte-identical to {@code safetensors.torch.save_file} + huggingface_hub sharding for the
 * same tensors, and deterministic.
 *
 * <p>Atomicity and durability are the caller's: write into an {@link org.llavapack.io.AtomicOutput} location, whose
 * commit flushes every file once at the end (flushing per shard would stall the copy on each write-back).
 */
public final class SafetensorsWriter {
    private SafetensorsWriter() {}

    /** Produces the bytes of one tensor. */
    @FunctionalInterface
    public interface Filler {
        void fill(TensorInfo info, TensorOutput out) throws IOException;
    }

    /** What was written: file names relative to the folder, and the weight map. */
    public record Result(List<String> files, Map<String, String> weightMap, long totalBytes) {}

    public static final Map<String, String> PT_METADATA = Map.of("format", "pt");

    /** Writes a single file at {@code path}. */
    public static void writeFile(Path path, Map<String, String> metadata, List<TensorInfo> tensors, Filler filler, Progress progress) {
        SafetensorsHeader header = SafetensorsHeader.layout(metadata, tensors);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.WRITE, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING);
             Arena arena = Arena.ofConfined()) {
            byte[] json = header.encode();
            ByteBuffer head = ByteBuffer.allocate(8 + json.length).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(json.length).put(json).flip();
            while (head.hasRemaining()) ch.write(head);
            TensorOutput out = new TensorOutput(ch, arena);
            for (SafetensorsHeader.Entry e : header.entries()) {
                out.begin(e.info());
                filler.fill(e.info(), out);
                out.end();
                progress.advance(e.info().byteSize(), 1);
            }
        } catch (IOException e) {
            throw OutputException.of(path, e);
        }
    }

    /**
     * Writes {@code tensors} (in state-dict order) into {@code dir} as {@code prefix.safetensors}, or as numbered
     * shards plus {@code prefix.safetensors.index.json} when they exceed {@code maxShardBytes}.
     */
    public static Result writeSharded(Path dir, String prefix, Map<String, String> metadata, List<TensorInfo> tensors,
                                      long maxShardBytes, Filler filler, Progress progress) {
        ShardPlan plan = ShardPlan.of(tensors, maxShardBytes);
        List<List<TensorInfo>> shards = plan.shards().isEmpty() ? List.of(List.of()) : plan.shards();
        ShardPlan effective = new ShardPlan(shards, plan.totalBytes());
        List<String> files = new ArrayList<>();
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (int i = 0; i < shards.size(); i++) {
            String name = effective.fileName(prefix, i);
            writeFile(dir.resolve(name), metadata, shards.get(i), filler, progress);
            files.add(name);
            for (TensorInfo t : shards.get(i)) weightMap.put(t.name(), name);
        }
        if (shards.size() > 1) {
            writeIndex(dir.resolve(prefix + ".safetensors.index.json"), weightMap, plan.totalBytes());
            files.add(prefix + ".safetensors.index.json");
        }
        return new Result(files, weightMap, plan.totalBytes());
    }

    /** The index as transformers writes it: {@code json.dumps(index, indent=2, sort_keys=True) + "\n"}. */
    public static void writeIndex(Path path, Map<String, String> weightMap, long totalBytes) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        root.putObject("metadata").put("total_size", totalBytes);
        ObjectNode wm = root.putObject("weight_map");
        weightMap.forEach(wm::put);
        try {
            Files.writeString(path, PythonJson.dumps(root, 2, true) + "\n", StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw OutputException.of(path, e);
        }
    }
}
