package org.llavapack.bundle;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Consumer;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;
import org.llavapack.io.AtomicOutput;
import org.llavapack.progress.Progress;

/**
 * Makes a release bundle from model folders: copies or archives every file, and writes the model card, the manifest,
 * SHA256SUMS and (with a key) the OMS signature. Same inputs and options give the same bytes, for folders and for
 * archives alike (with an Ed25519 key; ECDSA signatures are randomised by design).
 */
public final class Bundler {
    private Bundler() {}

    public record Options(Optional<String> name, Optional<String> version, Optional<String> license, Optional<String> baseModel,
                          List<String> language, Optional<Keys.SigningKey> key, boolean force, int threads, long mtimeSeconds) {
        public static Options defaults() {
            return new Options(Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(), List.of("en"), Optional.empty(),
                    false, Runtime.getRuntime().availableProcessors(), 0);
        }

        public Options withKey(Keys.SigningKey k) {
            return new Options(name, version, license, baseModel, language, Optional.of(k), force, threads, mtimeSeconds);
        }

        public Options withForce(boolean f) {
            return new Options(name, version, license, baseModel, language, key, f, threads, mtimeSeconds);
        }

        public Options withNameVersionLicense(String n, String v, String l) {
            return new Options(Optional.ofNullable(n), Optional.ofNullable(v), Optional.ofNullable(l), baseModel, language, key, force, threads, mtimeSeconds);
        }
    }

    public record Result(Path output, ArchiveFormat format, BundleManifest manifest, ModelCard.FrontMatter card,
                         Optional<String> signedRootDigest, List<String> warnings) {}

    public static Result create(List<BundleInputs.Spec> specs, Path out, Options o, Progress progress, Consumer<String> warn) {
        ArchiveFormat format = ArchiveFormat.forOutput(out);
        // Refuse an existing output before hashing gigabytes (AtomicOutput checks again when it creates the output).
        if (!o.force() && Files.exists(out, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            throw new OutputException(out, "already exists (use --force to replace it)", null);
        }
        BundleInputs.Collected collected = BundleInputs.collect(specs);
        List<String> warnings = new ArrayList<>();
        Consumer<String> w = msg -> {
            warnings.add(msg);
            warn.accept(msg);
        };
        if (!collected.skipped().isEmpty()) {
            w.accept("left out " + collected.skipped().size() + " hidden or generated name(s): "
                    + String.join(", ", collected.skipped().subList(0, Math.min(5, collected.skipped().size())))
                    + (collected.skipped().size() > 5 ? ", …" : ""));
        }
        Path absOut = out.toAbsolutePath().normalize();
        for (BundleInputs.Spec s : specs) {
            Path in = s.dir().toAbsolutePath().normalize();
            if (absOut.startsWith(in) || in.startsWith(absOut)) throw new BadInputException(out, "the output must not be inside an input folder (or contain one)");
        }

        long total = 0;
        for (BundleInputs.Source s : collected.files()) total += s.file().toFile().length();
        if (format == ArchiveFormat.DIRECTORY) {
            try (AtomicOutput dir = AtomicOutput.directory(out, o.force())) {
                Map<String, Path> copies = copyAll(collected, dir.path(), total, progress);
                progress.start("hashing", total, copies.size());
                Map<String, Sha256.Facts> digests = Sha256.ofFiles(copies, o.threads(), progress);
                Plan plan = plan(specs, collected, copies, digests, o, w);
                try {
                    Files.write(dir.path().resolve(BundleLayout.CARD), plan.card());
                    Files.write(dir.path().resolve(BundleLayout.MANIFEST), plan.manifestBytes());
                    Files.write(dir.path().resolve(BundleLayout.SUMS), plan.sums());
                    if (plan.signature().isPresent()) Files.write(dir.path().resolve(BundleLayout.SIGNATURE), plan.signature().get());
                    normalisePermissions(dir.path());
                } catch (IOException e) {
                    throw OutputException.of(out, e);
                }
                dir.commit();
                return new Result(dir.target(), format, plan.manifest(), plan.frontMatter(), plan.rootDigest(), List.copyOf(warnings));
            }
        }
        Map<String, Path> sources = new LinkedHashMap<>();
        for (BundleInputs.Source s : collected.files()) sources.put(s.path(), s.file());
        progress.start("hashing", total, sources.size());
        Map<String, Sha256.Facts> digests = Sha256.ofFiles(sources, o.threads(), progress);
        Plan plan = plan(specs, collected, sources, digests, o, w);
        try (AtomicOutput file = AtomicOutput.file(out, o.force())) {
            progress.start("archiving", total, sources.size());
            try (OutputStream raw = Files.newOutputStream(file.path()); ReproducibleTar tar = new ReproducibleTar(raw, format, o.mtimeSeconds(), o.threads())) {
                tar.file(BundleLayout.MANIFEST, plan.manifestBytes());
                tar.file(BundleLayout.SUMS, plan.sums());
                if (plan.signature().isPresent()) tar.file(BundleLayout.SIGNATURE, plan.signature().get());
                TreeSet<String> items = new TreeSet<>(BundleLayout.CODE_POINT_ORDER);
                for (BundleManifest.Entry e : plan.manifest().files()) {
                    items.add(e.path());
                    for (int i = e.path().indexOf('/'); i >= 0; i = e.path().indexOf('/', i + 1)) items.add(e.path().substring(0, i + 1));
                }
                for (String item : items) {
                    if (item.endsWith("/")) {
                        tar.directory(item.substring(0, item.length() - 1));
                    } else if (item.equals(BundleLayout.CARD)) {
                        tar.file(item, plan.card());
                    } else {
                        Path src = sources.get(item);
                        Sha256.Facts expected = digests.get(item);
                        MessageDigest md = Sha256.newDigest();
                        try (InputStream in = counting(Files.newInputStream(src), progress)) {
                            tar.file(item, expected.size(), in, md);
                        } catch (IOException e) {
                            throw new BadInputException(src, e.getMessage());
                        }
                        progress.advance(0, 1);
                        if (!Sha256.hex(md.digest()).equals(expected.sha256())) {
                            throw new BadInputException(src, "changed while the bundle was being written; bundle again once it is stable");
                        }
                    }
                }
            } catch (IOException e) {
                throw OutputException.of(out, e);
            }
            file.commit();
            return new Result(file.target(), format, plan.manifest(), plan.frontMatter(), plan.rootDigest(), List.copyOf(warnings));
        }
    }

    private static InputStream counting(InputStream in, Progress progress) {
        return new FilterInputStream(in) {
            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                if (n > 0) progress.advance(n, 0);
                return n;
            }
        };
    }

    private static Map<String, Path> copyAll(BundleInputs.Collected collected, Path root, long total, Progress progress) {
        progress.start("copying", total, collected.files().size());
        Map<String, Path> copies = new LinkedHashMap<>();
        for (BundleInputs.Source s : collected.files()) {
            Path dst = root.resolve(s.path());
            try {
                Files.createDirectories(dst.getParent());
                Files.copy(s.file(), dst); // copy_file_range / reflink where the file system offers it
            } catch (IOException e) {
                throw OutputException.of(dst, e);
            }
            progress.advance(dst.toFile().length(), 1);
            copies.put(s.path(), dst);
        }
        return copies;
    }

    /** 0644 files and 0755 folders, whatever the umask or the inputs' modes were. */
    private static void normalisePermissions(Path root) throws IOException {
        if (!root.getFileSystem().supportedFileAttributeViews().contains("posix")) return;
        try (var walk = Files.walk(root)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(Files.isDirectory(p) ? "rwxr-xr-x" : "rw-r--r--"));
            }
        }
    }

    /** Everything the bundle holds besides the input files, computed from their digests. */
    private record Plan(BundleManifest manifest, byte[] manifestBytes, byte[] card, ModelCard.FrontMatter frontMatter, byte[] sums,
                        Optional<byte[]> signature, Optional<String> rootDigest) {}

    private static Plan plan(List<BundleInputs.Spec> specs, BundleInputs.Collected collected, Map<String, Path> files,
                             Map<String, Sha256.Facts> digests, Options o, Consumer<String> warn) {
        String name = o.name().orElse(specs.getFirst().label());
        String version = o.version().orElse("unversioned");

        // Inputs, as labels and counts (never absolute paths: the bundle must not depend on where it was made).
        List<BundleManifest.Input> inputs = new ArrayList<>();
        List<ModelCard.InputInfo> inputInfos = new ArrayList<>();
        for (int i = 0; i < specs.size(); i++) {
            int idx = i;
            List<BundleInputs.Source> mine = collected.files().stream().filter(s -> s.input() == idx).toList();
            long bytes = mine.stream().mapToLong(s -> digests.get(s.path()).size()).sum();
            inputs.add(new BundleManifest.Input(specs.get(i).label(), specs.get(i).prefix(), mine.size(), bytes));
            inputInfos.add(new ModelCard.InputInfo(specs.get(i).label(), specs.get(i).prefix(), mine.size(), bytes));
        }

        Map<String, JsonNode> configs = new TreeMap<>(BundleLayout.CODE_POINT_ORDER);
        for (var e : files.entrySet()) {
            String base = e.getKey().substring(e.getKey().lastIndexOf('/') + 1);
            if (!base.equals("config.json") && !base.equals("adapter_config.json")) continue;
            try {
                JsonNode n = new ObjectMapper().readTree(e.getValue().toFile());
                if (n != null && n.isObject()) configs.put(e.getKey(), n);
            } catch (IOException ex) {
                warn.accept(e.getKey() + ": not valid JSON, so the model card does not use it");
            }
        }
        Provenance.Found provenance = Provenance.scan(files);
        provenance.warnings().forEach(warn);
        for (Provenance.Parity p : provenance.parity()) {
            if (!p.passed()) warn.accept(p.bundlePath() + ": parity verdict is '" + p.verdict() + "' (the model card says so)");
        }

        List<ModelCard.FileInfo> fileInfos = new ArrayList<>();
        for (BundleInputs.Source s : collected.files()) {
            Sha256.Facts f = digests.get(s.path());
            fileInfos.add(new ModelCard.FileInfo(s.path(), f.size(), f.sha256(), FileFormat.of(s.path())));
        }
        Optional<ModelCard.Signer> signer = o.key().map(k -> new ModelCard.Signer(k.algorithm().id(), k.fingerprint()));
        ModelCard.Card card = ModelCard.render(new ModelCard.Request(name, version, o.license(), o.baseModel(), o.language(),
                Toolkit.version(), inputInfos, fileInfos, configs, provenance, signer));
        card.notes().forEach(warn);
        byte[] cardBytes = card.text().getBytes(StandardCharsets.UTF_8);

        TreeMap<String, BundleManifest.Entry> entries = new TreeMap<>(BundleLayout.CODE_POINT_ORDER);
        for (ModelCard.FileInfo f : fileInfos) {
            entries.put(f.path(), new BundleManifest.Entry(f.path(), f.size(), f.sha256(), f.format().mediaType(), f.format().name().toLowerCase(java.util.Locale.ROOT)));
        }
        entries.put(BundleLayout.CARD, new BundleManifest.Entry(BundleLayout.CARD, cardBytes.length, Sha256.of(cardBytes),
                FileFormat.MODEL_CARD.mediaType(), "model_card"));
        List<BundleManifest.Entry> sorted = List.copyOf(entries.values());

        Optional<BundleManifest.Signer> manifestSigner = o.key().map(k -> new BundleManifest.Signer(k.algorithm().id(),
                Keys.publicPem(k.publicKey()), k.fingerprint()));
        BundleManifest manifest = new BundleManifest(name, version, o.license(), Toolkit.version(), List.copyOf(inputs), sorted,
                manifestSigner, BundleManifest.payloadRoot(sorted), provenanceJson(provenance));
        byte[] manifestBytes = manifest.toBytes();

        TreeMap<String, String> sumLines = new TreeMap<>(BundleLayout.CODE_POINT_ORDER);
        for (BundleManifest.Entry e : sorted) sumLines.put(e.path(), e.sha256());
        sumLines.put(BundleLayout.MANIFEST, Sha256.of(manifestBytes));
        byte[] sums = Sha256Sums.write(sumLines);

        Optional<byte[]> signature = Optional.empty();
        Optional<String> root = Optional.empty();
        if (o.key().isPresent()) {
            List<OmsSignature.Resource> resources = new ArrayList<>();
            sumLines.forEach((p, d) -> resources.add(new OmsSignature.Resource(p, d)));
            resources.add(new OmsSignature.Resource(BundleLayout.SUMS, Sha256.of(sums)));
            byte[] statement = OmsSignature.statement(name, resources);
            signature = Optional.of(OmsSignature.sign(statement, o.key().get()));
            resources.sort((a, b) -> BundleLayout.CODE_POINT_ORDER.compare(a.name(), b.name()));
            root = Optional.of(OmsSignature.rootDigest(resources));
        }
        return new Plan(manifest, manifestBytes, cardBytes, card.frontMatter(), sums, signature, root);
    }

    private static JsonNode provenanceJson(Provenance.Found p) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        if (!p.conversions().isEmpty()) {
            ArrayNode arr = root.putArray("conversions");
            for (Provenance.Conversion c : p.conversions()) {
                ObjectNode n = arr.addObject();
                n.put("file", c.bundlePath());
                ArrayNode files = n.putArray("checkpoint_files");
                for (Provenance.SourceFile s : c.checkpointFiles()) files.addObject().put("path", s.path()).put("size", s.size()).put("sha256", s.sha256());
                ObjectNode facts = n.putObject("facts");
                c.facts().forEach(facts::put);
            }
        }
        if (!p.parity().isEmpty()) {
            ArrayNode arr = root.putArray("parity");
            for (Provenance.Parity r : p.parity()) {
                ObjectNode n = arr.addObject();
                n.put("file", r.bundlePath());
                n.put("verdict", r.verdict());
                r.htmlPath().ifPresent(h -> n.put("html", h));
                ObjectNode comps = n.putObject("components");
                for (Provenance.Component c : r.components()) comps.put(c.name(), c.verdict());
            }
        }
        return root;
    }
}
