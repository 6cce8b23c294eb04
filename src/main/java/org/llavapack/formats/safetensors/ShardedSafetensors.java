package org.llavapack.formats.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;
import org.llavapack.tensor.Tensor;
import org.llavapack.tensor.TensorHandle;
import org.llavapack.tensor.TensorInfo;
import org.llavapack.tensor.TensorStore;

/**
 * A model split over several safetensors files and tied together by {@code *.safetensors.index.json}. Opening checks
 * that every shard exists and is valid, that each indexed tensor really lies in the shard the index names, and that no
 * shard holds tensors the index does not list.
 */
public final class ShardedSafetensors implements TensorStore {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final Path index;
    private final Map<String, SafetensorsFile> shardOf;
    private final List<SafetensorsFile> shards;
    private final List<TensorInfo> infos;
    private final Map<String, String> metadata;

    private ShardedSafetensors(Path index, Map<String, SafetensorsFile> shardOf, List<SafetensorsFile> shards,
                               List<TensorInfo> infos, Map<String, String> metadata) {
        this.index = index;
        this.shardOf = shardOf;
        this.shards = shards;
        this.infos = infos;
        this.metadata = metadata;
    }

    /** Opens a single file, an index json, or a model folder (index, {@code model.safetensors}, or one lone file). */
    public static TensorStore open(Path path) {
        if (Files.isDirectory(path)) return openFolder(path);
        if (!Files.exists(path)) throw new BadInputException(path, "no such file or folder");
        if (path.getFileName().toString().endsWith(".json")) return openIndex(path);
        return SafetensorsFile.open(path);
    }

    private static TensorStore openFolder(Path dir) {
        Path idx = dir.resolve("model.safetensors.index.json");
        if (Files.isRegularFile(idx)) return openIndex(idx);
        Path single = dir.resolve("model.safetensors");
        if (Files.isRegularFile(single)) return SafetensorsFile.open(single);
        List<Path> indexes = list(dir, ".safetensors.index.json");
        if (indexes.size() == 1) return openIndex(indexes.getFirst());
        if (indexes.size() > 1) throw new BadInputException(dir, "several *.safetensors.index.json files; name the one to use");
        List<Path> files = list(dir, ".safetensors");
        if (files.size() == 1) return SafetensorsFile.open(files.getFirst());
        if (files.isEmpty()) throw new BadInputException(dir, "no safetensors weights in this folder");
        throw new BadInputException(dir, "several safetensors files and no index; name the file to use");
    }

    private static List<Path> list(Path dir, String suffix) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(suffix) && Files.isRegularFile(p)).sorted().toList();
        } catch (IOException e) {
            throw OutputException.of(dir, e);
        }
    }

    public static ShardedSafetensors openIndex(Path indexPath) {
        JsonNode root;
        try {
            root = MAPPER.readTree(indexPath.toFile());
        } catch (IOException e) {
            if (e instanceof com.fasterxml.jackson.core.JacksonException je) {
                throw new BadInputException(indexPath, "index is not valid JSON: " + je.getOriginalMessage());
            }
            throw OutputException.of(indexPath, e);
        }
        if (root == null || !root.isObject()) throw new BadInputException(indexPath, "index is not a JSON object");
        JsonNode weightMap = root.get("weight_map");
        if (weightMap == null || !weightMap.isObject()) throw new BadInputException(indexPath, "index has no weight_map object");
        Map<String, String> metadata = new TreeMap<>();
        JsonNode meta = root.get("metadata");
        if (meta != null && meta.isObject()) {
            meta.properties().forEach(e -> metadata.put(e.getKey(), e.getValue().asText()));
        }
        Path dir = indexPath.toAbsolutePath().getParent();
        Map<String, SafetensorsFile> byFile = new LinkedHashMap<>();
        Map<String, SafetensorsFile> shardOf = new LinkedHashMap<>();
        List<TensorInfo> infos = new ArrayList<>();
        try {
            for (Iterator<Map.Entry<String, JsonNode>> it = weightMap.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String tensor = e.getKey();
                if (!e.getValue().isTextual()) throw new BadInputException(indexPath, "weight_map entry '" + tensor + "' is not a file name");
                String fileName = e.getValue().asText();
                Path shardPath = dir.resolve(fileName).normalize();
                if (!shardPath.getParent().equals(dir.normalize()) || fileName.contains("/") || fileName.contains("\\")) {
                    throw new BadInputException(indexPath, "weight_map entry '" + tensor + "' points outside the model folder: " + fileName);
                }
                SafetensorsFile shard = byFile.get(fileName);
                if (shard == null) {
                    if (!Files.isRegularFile(shardPath)) {
                        throw new BadInputException(indexPath, "shard " + fileName + " named for tensor '" + tensor + "' does not exist");
                    }
                    shard = SafetensorsFile.open(shardPath);
                    byFile.put(fileName, shard);
                }
                SafetensorsFile owner = shard;
                TensorInfo info = shard.info(tensor).orElseThrow(() -> new BadInputException(owner.source(),
                        "index " + indexPath.getFileName() + " places tensor '" + tensor + "' in this shard, but the shard does not hold it"));
                shardOf.put(tensor, shard);
                infos.add(info);
            }
            for (SafetensorsFile shard : byFile.values()) {
                for (TensorInfo t : shard.tensors()) {
                    if (shardOf.get(t.name()) != shard) {
                        throw new BadInputException(shard.source(), "shard holds tensor '" + t.name() + "' that the index does not place in it");
                    }
                }
            }
        } catch (RuntimeException e) {
            byFile.values().forEach(SafetensorsFile::close);
            throw e;
        }
        // The index lists names alphabetically; file order (shards by name, tensors by offset) is the closest to the
        // state-dict order the model was saved in, and it is what re-sharding should preserve.
        List<SafetensorsFile> ordered = byFile.entrySet().stream().sorted(Map.Entry.comparingByKey()).map(Map.Entry::getValue).toList();
        List<TensorInfo> fileOrder = new ArrayList<>(infos.size());
        for (SafetensorsFile shard : ordered) fileOrder.addAll(shard.tensors());
        // Report the shards' own __metadata__ (format: pt) next to the index's fields (total_size).
        if (!ordered.isEmpty()) ordered.getFirst().metadata().forEach(metadata::putIfAbsent);
        return new ShardedSafetensors(indexPath, shardOf, ordered, List.copyOf(fileOrder), metadata);
    }

    public List<SafetensorsFile> shards() {
        return shards;
    }

    @Override
    public Path source() {
        return index;
    }

    @Override
    public String format() {
        return "safetensors (" + shards.size() + " shards)";
    }

    @Override
    public List<TensorInfo> tensors() {
        return infos;
    }

    @Override
    public Map<String, String> metadata() {
        return metadata;
    }

    @Override
    public Optional<TensorInfo> info(String name) {
        SafetensorsFile f = shardOf.get(name);
        return f == null ? Optional.empty() : f.info(name);
    }

    private SafetensorsFile shard(String name) {
        SafetensorsFile f = shardOf.get(name);
        if (f == null) throw new BadInputException(index, "no tensor named '" + name + "'");
        return f;
    }

    @Override
    public Tensor tensor(String name) {
        return shard(name).tensor(name);
    }

    @Override
    public TensorHandle open(String name) {
        return shard(name).open(name);
    }

    @Override
    public Optional<FileRegion> region(String name) {
        return shard(name).region(name);
    }

    @Override
    public void close() {
        shards.forEach(SafetensorsFile::close);
    }
}
